"""Encoder-side refinement of the learned codec's y symbols (``--refine STEPS``).

g_a guesses y in one pass, and a small network trained for a few CPU hours guesses
poorly: on Kodak, gradient steps on y itself for *this* image recover 1–2.5 dB at the
same size (content-adaptive coding, after Campos et al. 2019 and Yang et al. 2020).

The loss is the one lc1 was trained with — bits + λ(level) · 255² · pixel MSE — measured
through g_s, the restorer the file will name (if any) and the frozen TAEF2 decoder,
against the image's own pixels. Rounding is straight-through for the distortion; the rate
term uses the continuous Gaussian of each symbol's scale so it pulls y toward μ. z, and
with it μ and every probability table, stays as the analysis chose: the decoder is
unchanged and decoding stays exact; only which y symbols are written changes. Of the
iterates, the one with the lowest true loss (integer table bits, rounded y) is kept, so
refinement never makes that loss worse, and with a byte cap only iterates under it count.

Cost: a decoder forward and backward per step at full resolution (tiled above 1 MP, like
decoding: `Autoencoder.decode_sse`): 12 steps take `sdcodec encode` from ≈1.2 s to ≈13 s
and 1.3 GB peak for 768×512 on two CPU cores, 66 s and 1.8 GB at 1536×1024, 165 s and
2.6 GB at 2304×1536; time, and more slowly memory, grow with the pixels, hence MAX_PIXELS.
"""

from __future__ import annotations

import math

import numpy as np

from . import LoadedCodec, intnet, tables

DEFAULT_STEPS = 12
LEARNING_RATE = 0.05  # Adam on y in quantization steps, decayed linearly to 0
# short memories: straight-through rounding makes the gradient jump as symbols flip, and a
# dozen steps leave no time to average. Against Adam's (0.9, 0.999) at lr 0.04, rate
# controlled on kodim01/07/13/23: +0.10 / +0.29 / +0.27 dB at 0.05 / 0.10 / 0.15 bpp
BETAS = (0.5, 0.9)
# above this (4.2 MP) refinement would take minutes on a CPU and its memory, though tiled,
# still grows (≈0.45 GB per MP above 1.5 MP: the latent-resolution passes); larger images
# are coded unrefined, with a warning
MAX_PIXELS = 1 << 22


def _log2_tables(codec: LoadedCodec) -> np.ndarray:
    counts = codec.y_counts.astype(np.float64)
    return np.log2(counts) - np.log2(counts.sum(axis=1, keepdims=True))


def refine(
    codec: LoadedCodec,
    decoder,
    restorer,
    rgb: np.ndarray,
    r: np.ndarray,
    mu: np.ndarray,
    idx: np.ndarray,
    level: float,
    steps: int,
    spare_bits: float | None = None,
) -> np.ndarray:
    """Refined y symbols (int64, y's shape).

    ``rgb``: the (H, W, 3) uint8 image; ``r``: y − μ before rounding (coding.analyse);
    ``mu``, ``idx``: μ fixed-point and scale indices from z; ``decoder``: the models
    Autoencoder; ``restorer``: the restorer network the file will name, or None;
    ``spare_bits``: how many more bits than the analysis's own symbols y may take (rate
    control's cap; None: no cap)."""
    import torch

    dev = codec.device
    net = codec.net
    height, width = rgb.shape[:2]
    lat_h, lat_w = -(-height // decoder.spec.downsample), -(-width // decoder.spec.downsample)
    target = torch.from_numpy(np.array(rgb.transpose(2, 0, 1), np.float32))[None].to(dev) / 255
    mu_t = torch.from_numpy(mu / float(1 << intnet.FRAC)).float().to(dev)
    idx_t = torch.from_numpy(idx).to(dev)
    log_sigma = torch.from_numpy(np.log(tables.sigma_table())).float().to(dev)[idx_t]
    log2p = torch.from_numpy(_log2_tables(codec)).float().to(dev)
    with torch.no_grad():
        gain = net.gain(torch.tensor([float(level)]))[0].float().to(dev).view(-1, 1, 1)
    lam = net.lam(level) * 255**2

    def table_bits(sym: torch.Tensor) -> torch.Tensor:
        k = (sym.long() + tables.Y_RANGE).clamp(0, 2 * tables.Y_RANGE)
        return -log2p[idx_t.view(-1), k.view(-1)].sum()

    y = torch.from_numpy(r).float().to(dev).requires_grad_(True)
    opt = torch.optim.Adam([y], lr=LEARNING_RATE, betas=BETAS)
    start = torch.round(y.detach()).clamp(-tables.Y_RANGE, tables.Y_RANGE)
    best, best_loss = start, math.inf
    max_bits = math.inf if spare_bits is None else table_bits(start).item() + spare_bits
    with torch.enable_grad():
        for step in range(steps + 1):
            rounded = y + (torch.round(y) - y).detach()
            latent = net.synthesis(((rounded + mu_t) / gain)[None])[:, :, :lat_h, :lat_w]
            if restorer is not None:
                latent = latent + restorer.body(latent)
            sse, grad = decoder.decode_sse(latent, target, grad=step < steps)
            mse = sse / target.numel()
            with torch.no_grad():
                sym = torch.round(y).clamp(-tables.Y_RANGE, tables.Y_RANGE)
                bits = table_bits(sym)
                true_loss = bits.item() / (height * width) + lam * mse
                if true_loss < best_loss and bits.item() <= max_bits:
                    best, best_loss = sym.clone(), true_loss
            if step == steps:
                break
            # per image, not per pixel: Adam does not care, and fp16 gradients (CUDA) do
            # not underflow
            bits_soft = -torch.log2(net.y_likelihood(y, log_sigma)).sum()
            # the surrogate's gradient on the latent is the decoder's (lam/3 · ∂SSE/∂latent)
            loss = bits_soft + lam / 3 * (latent * grad).sum()
            for group in opt.param_groups:
                group["lr"] = LEARNING_RATE * (1 - step / (steps + 1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return best.cpu().numpy().astype(np.int64)
