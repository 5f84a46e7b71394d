"""Scalar quantization of the latent: q = round((z − μ_c) / Δ), signed, per channel mean μ_c.

The rate is set continuously by the step Δ, from very coarse to near-lossless. An
optional dead zone (rounding offset below ½) sends more small values to zero, which the
context coder codes cheaply. Reconstruction is z = μ_c + Δ·q (the AffineMap with a
per-channel offset and one scale), so the decoder needs only what the file stores.
"""

from __future__ import annotations

import numpy as np

from .affine import AffineMap

MAX_ABS = 255  # symbols are q + MAX_ABS in 0..2·MAX_ABS
ALPHABET = 2 * MAX_ABS + 1


def quantize(
    latent: np.ndarray, step: float, deadzone: float = 0.0
) -> tuple[AffineMap, np.ndarray]:
    """→ (map, symbols uint16 of shape (C, h, w) holding q + MAX_ABS)."""
    if not (np.isfinite(step) and step > 0):
        raise ValueError("step must be positive")
    mean = latent.reshape(latent.shape[0], -1).mean(1).astype(np.float32)
    # a step too small for the symbol range would clip: widen it to fit
    spread = float(np.abs(latent - mean[:, None, None]).max()) if latent.size else 0.0
    step32 = np.float32(max(step, spread / (MAX_ABS - 0.5)))
    amap = AffineMap(mean, np.full(latent.shape[0], step32, dtype=np.float32))
    d = (latent.astype(np.float64) - mean[:, None, None].astype(np.float64)) / float(step32)
    q = np.sign(d) * np.floor(np.abs(d) + (0.5 - deadzone))
    q = np.clip(q, -MAX_ABS, MAX_ABS).astype(np.int32)
    return amap, (q + MAX_ABS).astype(np.uint16)


def dequantize(amap: AffineMap, symbols: np.ndarray) -> np.ndarray:
    q = symbols.astype(np.int64) - MAX_ABS
    off = np.broadcast_to(amap.offset, (q.shape[0],)).astype(np.float64)[:, None, None]
    sc = np.broadcast_to(amap.scale, (q.shape[0],)).astype(np.float64)[:, None, None]
    return (off + sc * q).astype(np.float32)
