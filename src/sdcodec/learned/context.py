"""A channel-conditional context model for y (after Minnen & Singh, "Channel-wise
autoregressive entropy models", ICIP 2020), on top of a codec's hyperprior.

y's channels are coded in SLICES groups. For group i, a small network sees the hyperprior's
(μ, s) of its own channels and the already decoded ŷ of groups 0..i−1, and corrects μ and s.
lc3 kept lc1's probability model frozen while its transforms moved; for lc3's y this cuts
the bits by 38% on held-out training crops, 9–47% on Kodak (more at the finer levels;
docs/LEARNED.md, lc4).

Exact decoding: the networks run as integer networks (intnet.py) on fixed-point inputs,
so μ and the scale index of every symbol are the same on every machine. The float module
here is what training and encoder-side refinement use.
"""

from __future__ import annotations

import numpy as np

from . import intnet

SLICES = 4
HIDDEN = 96
# h_s's log σ clamped to the tables' range before the context networks see it, in
# fixed point (log 0.11 · 2^8 ≈ −565.1, log 64 · 2^8 ≈ 1064.7): literal integers, so no
# machine's log() can move them
S_FIXED_MIN, S_FIXED_MAX = -565, 1065


def build(y_channels: int, slices: int = SLICES, hidden: int = HIDDEN):
    """Float context networks: one nn.Sequential per slice, (μ, s, ŷ of earlier slices) →
    (Δμ, Δs), the last layer zero so training starts from the hyperprior alone."""
    from torch import nn

    if y_channels % slices:
        raise ValueError("y's channels must split evenly into slices")
    cs = y_channels // slices
    nets = nn.ModuleList()
    for i in range(slices):
        net = nn.Sequential(
            nn.Conv2d(2 * cs + cs * i, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, 2 * cs, 3, padding=1),
        )  # fmt: skip
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
        nets.append(net)
    return nets


def clamp_s(s):
    """h_s's log σ, in y units, clamped to the tables' range (float mirror of S_FIXED_*)."""
    return s.clamp(S_FIXED_MIN / 256, S_FIXED_MAX / 256)


def float_params(nets, i: int, mu, s, y_hat_before):
    """Slice i's (μ', s') in float: ``mu``, ``s`` the slice's hyperprior outputs (B, cs, h, w),
    ``y_hat_before`` the decoded ŷ of slices 0..i−1 (B, cs·i, h, w)."""
    import torch

    cs = mu.shape[1]
    out = nets[i](torch.cat([mu, clamp_s(s), y_hat_before], 1))
    return mu + out[:, :cs], s + out[:, cs:]


# integer weights of 15 bits and a sign (int16 in the file). With one power-of-two scale per
# layer, fewer cost bits: on lc4's held-out crops y takes 0.618 of the hyperprior's bits
# with 15 or 10, 0.626 with 8 and 0.655 with 7 (what int8 storage would hold)
WEIGHT_BITS = intnet.WEIGHT_BITS


def export(nets, weight_bits: int = WEIGHT_BITS) -> list[list[intnet.IntConv]]:
    return [intnet.export(net, weight_bits) for net in nets]


def exact_params(layers: list[intnet.IntConv], mu: np.ndarray, s: np.ndarray,
                 y_hat_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Slice i's (μ', s') in fixed point (int64, value · 2^FRAC), from fixed-point μ, s and ŷ."""
    inp = np.concatenate([mu, np.clip(s, S_FIXED_MIN, S_FIXED_MAX), y_hat_before], axis=0)
    out = intnet.run_fixed(layers, inp)
    cs = mu.shape[0]
    return mu + out[:cs], s + out[cs:]


def check(layers: list[list[intnet.IntConv]], y_channels: int) -> None:
    """The shapes exact_params relies on: slice i reads 2·cs + cs·i channels, writes 2·cs."""
    if not layers or y_channels % len(layers):
        raise ValueError("context slices do not split y's channels")
    cs = y_channels // len(layers)
    for i, net in enumerate(layers):
        if not net or net[0].weight.shape[1] != cs * (2 + i) or net[-1].weight.shape[0] != 2 * cs:
            raise ValueError(f"context network {i} has the wrong shape")
        if any(layer.shuffle for layer in net) or net[-1].relu:
            raise ValueError(f"context network {i} has the wrong form")
        for a, b in zip(net, net[1:], strict=False):
            if a.weight.shape[0] != b.weight.shape[1]:
                raise ValueError(f"context network {i} has the wrong shape")


def float_nets(layers: list[list[intnet.IntConv]], device: str = "cpu"):
    """The float networks the integer layers compute (to within their rounding)."""
    import torch
    from torch import nn

    nets = nn.ModuleList()
    for net in layers:
        mods = []
        for layer in net:
            conv = nn.Conv2d(layer.weight.shape[1], layer.weight.shape[0],
                             layer.weight.shape[-1], padding=layer.weight.shape[-1] // 2)  # fmt: skip
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(layer.weight / 2.0**layer.shift))
                conv.bias.copy_(torch.from_numpy(layer.bias / 2.0 ** (intnet.FRAC + layer.shift)))
            mods.append(conv)
            if layer.relu:
                mods.append(nn.ReLU())
        nets.append(nn.Sequential(*mods))
    return nets.to(device).eval().requires_grad_(False)
