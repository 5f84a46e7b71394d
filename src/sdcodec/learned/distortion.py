"""What refinement (refine.py) counts as error: squared error plus a structural term.

Squared error alone is what the PSNR column rewards, and a codec that minimizes it at a
low rate blurs: texture it cannot afford is replaced by its mean, the cheapest guess in
squared error and the most visible loss to a viewer (SSIMULACRA2 and ColorVideoVDP both
count it). The structural term is multi-scale SSIM (Wang et al. 2003), written out as
a sum over scales of the mean of 1 − SSIM, so that it adds up over decoder tiles like
squared error does and the tiled pass (Autoencoder.decode_error) stays exact up to the
tile seams.

Per tile the result is in squared-error units: SSE + weight · elements · Σ_s mean_s(1 − SSIM),
so that dividing by the image's element count gives MSE + weight · structural term.
"""

from __future__ import annotations

import functools

# the structural term's weight tapers with the rate: full up to TAPER_BPP[0], none from
# TAPER_BPP[1]. Paired on 8 training photos against squared error alone, weight 0.01:
# +4.6 SSIMULACRA2 / +0.08 JOD / −0.02 dB at 0.35 bpp, but +0.5 / −0.002 / −0.45 dB at 0.5
# (0.003 there: +0.8 / +0.002 / −0.15), where lc4 saturates and structure can no longer be
# bought; on Kodak at 0.5 bpp 0.01 had cost 0.57 dB, 0.6 SSIMULACRA2 and 0.02 JOD
TAPER_BPP = (0.35, 0.5)
SCALES = 4  # 1, 1/2, 1/4, 1/8: the coarsest still has 11-pixel windows on a 128-pixel crop
WINDOW = 11
SIGMA = 1.5
C1, C2 = 0.01**2, 0.03**2  # SSIM's constants for a [0, 1] range
# squared error in BT.601 YCbCr with Cb and Cr weighted this much against Y (scaled so
# that white RGB noise costs what it does in RGB); 1: plain RGB squared error. The error
# ColorVideoVDP sees at 0.25 bpp is luma, not chroma (BENCHMARKS.md, session 14), but
# refined on 6 training photos at 0.25 bpp, 0.5 moved the means by no more than the spread
# between runs (+0.04 dB, +0.4 SSIMULACRA2, +0.02 JOD at +0.002 bpp), and at 0.10 bpp it
# lost (−0.09 dB, −0.8, −0.02: a colourful photo −0.14 JOD); 0.25 lost at 0.25 bpp
CHROMA_WEIGHT = 1.0
# extra squared error of luma between Gaussian σ BAND_SIGMAS pixels (a difference of
# Gaussians), weighted BAND_WEIGHT: the band where ColorVideoVDP sees sdc's error at 0.25
# bpp (BENCHMARKS.md, session 14); 0: none. Refined at 0.25 bpp, 12 steps, on 6 training
# photos (refine settling), weight 12 gave 0.246 bpp 24.32 dB SSIMULACRA2 0.5 JOD 8.39
# against 0.244 / 24.33 / −1.3 / 8.34 without (30: 0.241 / 24.18 / −0.5 / 8.37); at 0.10
# bpp 0.098 / 22.02 / −40.7 / 7.31 against 0.097 / 22.13 / −39.9 / 7.31, so the weight
# rises from 0 at BAND_BPP[0] to full at BAND_BPP[1] and fades with TAPER_BPP above
BAND_WEIGHT = 12.0
BAND_BPP = (0.1, 0.2)
BAND_SIGMAS = (2.0, 8.0)
# BT.601 RGB → YCbCr (rows Y, Cb, Cr), for the two knobs above
YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


@functools.lru_cache(maxsize=8)
def _window(device, dtype, sigma: float = SIGMA, size: int = WINDOW):
    import torch

    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur(x):
    import torch.nn.functional as F

    g = _window(x.device, x.dtype)
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, WINDOW), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, WINDOW, 1), groups=c)


def ssim_error(a, b):
    """Σ over scales of the mean of 1 − SSIM between (1, C, h, w) images ``a`` and ``b``
    (range [0, 1]); scales whose side is under the window are skipped; 0 for a piece too
    small for any."""
    import torch.nn.functional as F

    total = a.new_zeros(())
    for s in range(SCALES):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        if min(a.shape[2:]) < WINDOW:
            break
        mu_a, mu_b = _blur(a), _blur(b)
        var_a = _blur(a * a) - mu_a**2
        var_b = _blur(b * b) - mu_b**2
        cov = _blur(a * b) - mu_a * mu_b
        ssim = ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / (
            (mu_a**2 + mu_b**2 + C1) * (var_a + var_b + C2)
        )
        total = total + (1 - ssim).mean()
    return total


def weight_at(weight: float, bpp: float) -> float:
    """``weight`` tapered for a file of ``bpp`` bits per pixel (TAPER_BPP)."""
    lo, hi = TAPER_BPP
    return weight * min(max((hi - bpp) / (hi - lo), 0.0), 1.0)


def band_at(bpp: float) -> float:
    """BAND_WEIGHT for a file of ``bpp`` bits per pixel (BAND_BPP, TAPER_BPP)."""
    lo, hi = BAND_BPP
    return weight_at(BAND_WEIGHT, bpp) * min(max((bpp - lo) / (hi - lo), 0.0), 1.0)


def _weighted_sse(diff):
    import torch

    m = torch.tensor(YCC, dtype=diff.dtype, device=diff.device)
    w = torch.tensor([1.0, CHROMA_WEIGHT, CHROMA_WEIGHT], dtype=diff.dtype, device=diff.device)
    scale = 3 / float((m**2).sum(1) @ w)
    return scale * (w.view(1, 3, 1, 1) * torch.einsum("ij,bjhw->bihw", m, diff) ** 2).sum()


def _gauss(x, sigma):
    import torch.nn.functional as F

    r = int(3 * sigma)
    g = _window(x.device, x.dtype, sigma, 2 * r + 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), g.view(1, 1, -1, 1))


def _band_sse(diff):
    import torch

    w = torch.tensor(YCC[0], dtype=diff.dtype, device=diff.device).view(1, 3, 1, 1)
    luma = (w * diff).sum(1, keepdim=True)
    band = _gauss(luma, BAND_SIGMAS[0]) - _gauss(luma, BAND_SIGMAS[1])
    return 3 * (band**2).sum()


def tile_error(weight: float, band: float = 0.0):
    """The per-tile error for Autoencoder.decode_error: squared error (with ``band`` × the
    luma band's, BAND_SIGMAS), plus ``weight`` × the structural term scaled to the tile's
    element count (both 0: squared error only). ``error.sse`` adds up the squared error
    alone over every call (as CHROMA_WEIGHT and ``band`` define it), so a caller can tell
    the two terms apart without a second decoder pass."""

    def error(part, ref):
        sse = ((part - ref) ** 2).sum() if CHROMA_WEIGHT == 1.0 else _weighted_sse(part - ref)
        if band:
            sse = sse + band * _band_sse(part - ref)
        error.sse += sse.item()
        if weight <= 0:
            return sse
        return sse + weight * part.numel() * ssim_error(part, ref)

    error.sse = 0.0
    return error
