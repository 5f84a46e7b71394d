"""The hyper-synthesis h_s as an integer network, so every machine derives the same
entropy-model parameters (Ballé, Johnston & Minnen, "Integer networks for data
compression with latent-variable models", ICLR 2019).

Activations are fixed-point integers with ``FRAC`` fractional bits; weights are integers
with a per-layer power-of-two scale. Convolutions run in float64 on the CPU, but every
operand is an integer and every partial sum stays below 2^53 (bounded below), so the
result is exact whatever order BLAS adds in, on any machine and thread count. Rescaling
is a floor division by a power of two, also exact.

Bounds: |activation| ≤ 2^ACT_BITS, |weight| < 2^15, fan-in ≤ MAX_FAN_IN, so
|sum| < 2^(ACT_BITS + 15 + log2 MAX_FAN_IN) + |bias| ≤ 2^52.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAC = 8
ACT_BITS = 24
WEIGHT_BITS = 15
MAX_FAN_IN = 4096


@dataclass(frozen=True)
class IntConv:
    weight: np.ndarray  # int32 (cout, cin, k, k)
    bias: np.ndarray  # int64 (cout,), scaled by 2^(FRAC + shift)
    shift: int  # the weights' fractional bits
    relu: bool
    shuffle: bool  # a pixel shuffle ×2 follows

    def check(self) -> None:
        cout, cin, k, k2 = self.weight.shape
        if k != k2 or k % 2 == 0 or cin * k * k > MAX_FAN_IN or not 0 <= self.shift <= 30:
            raise ValueError("integer layer outside the exactness bounds")
        if np.abs(self.weight).max(initial=0) >= 1 << WEIGHT_BITS:
            raise ValueError("integer weight outside the exactness bounds")
        if np.abs(self.bias).max(initial=0) >= 1 << 50:
            raise ValueError("integer bias outside the exactness bounds")


def export(h_s, weight_bits: int = WEIGHT_BITS) -> list[IntConv]:
    """Quantize a float nn.Sequential of Conv2d / ReLU / Up(conv, PixelShuffle) layers, the
    weights to ``weight_bits`` bits and a sign."""
    from torch import nn

    flat: list = []
    for mod in h_s:
        if isinstance(mod, nn.Sequential):
            flat.extend(mod)
        else:
            flat.append(mod)
    layers: list[IntConv] = []
    for i, mod in enumerate(flat):
        if not isinstance(mod, nn.Conv2d):
            continue
        rest = flat[i + 1 : i + 3]
        shuffle = bool(rest) and isinstance(rest[0], nn.PixelShuffle)
        relu = any(isinstance(m, nn.ReLU) for m in rest[: 2 if shuffle else 1])
        w = mod.weight.detach().double().numpy()
        b = mod.bias.detach().double().numpy()
        shift = int(np.floor(np.log2(((1 << weight_bits) - 1) / np.abs(w).max())))
        shift = min(shift, 20)
        layer = IntConv(
            np.round(w * 2.0**shift).astype(np.int32),
            np.round(b * 2.0 ** (FRAC + shift)).astype(np.int64),
            shift,
            relu,
            shuffle,
        )
        layer.check()
        layers.append(layer)
    return layers


def run(layers: list[IntConv], z: np.ndarray) -> np.ndarray:
    """Integer z symbols (Z, h, w) → fixed-point outputs (int64, value · 2^FRAC)."""
    return run_fixed(layers, z.astype(np.int64) << FRAC)


def run_fixed(layers: list[IntConv], x: np.ndarray) -> np.ndarray:
    """Fixed-point inputs (C, h, w), int64 value · 2^FRAC → fixed-point outputs. Inputs are
    clamped to the activation bound first, like every layer's output."""
    import torch
    from torch.nn import functional as F

    lim = float(1 << ACT_BITS)
    a = torch.from_numpy(x.astype(np.float64)[None]).clamp(-lim, lim)
    for layer in layers:
        w = torch.from_numpy(layer.weight.astype(np.float64))
        acc = F.conv2d(a, w, padding=w.shape[-1] // 2)
        acc = acc + torch.from_numpy(layer.bias.astype(np.float64)).view(1, -1, 1, 1)
        a = torch.floor(acc / float(1 << layer.shift))
        if layer.shuffle:
            a = F.pixel_shuffle(a, 2)
        if layer.relu:
            a = a.clamp_min(0.0)
        a = a.clamp(-lim, lim)
    return a[0].numpy().astype(np.int64)
