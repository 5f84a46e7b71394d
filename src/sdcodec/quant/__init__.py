"""latent ↔ symbols, numpy only.

Two quantizers (ids are part of the file format, never reused):

* ``UINT8`` (1): the latent through the affine map to 8 bits; one symbol stream of
  shape (C, h, w).
* ``PALETTE`` (2): the article's method generalized to C channels. The channels are
  split into G contiguous groups; each group's 8-bit vectors get their own palette of
  at most K entries (seeded k-means) and an index map, found by nearest entry or by
  Floyd–Steinberg dithering. Streams: G palettes (K, C/G), then G index maps (h, w).
  Entries are ordered as a nearest-neighbour chain, so neighbouring entries are similar
  (cheap to code as differences).
* ``SCALAR`` (3): q = round((z − μ_c) / Δ) per channel (quant/scalar.py); one stream of
  shape (C, h, w), alphabet 511, zero at 255.
* ``LEARNED`` (4): the trained transform codec of sdcodec.learned (torch); its symbols
  and their probabilities come from its own networks, so it has no streams here and
  is always coded with coder 3 (hyperprior).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..errors import FormatError, InputError
from . import palette as _palette
from . import scalar as _scalar
from .affine import AffineMap, fit


class QuantizerId(IntEnum):
    UINT8 = 1
    PALETTE = 2
    SCALAR = 3
    LEARNED = 4


MODES = {
    "learned": QuantizerId.LEARNED,
    "palette": QuantizerId.PALETTE,
    "scalar": QuantizerId.SCALAR,
    "8bit": QuantizerId.UINT8,
}


@dataclass(frozen=True)
class QuantParams:
    """What the decoder needs to turn symbols back into a latent (all stored in the file)."""

    quantizer: QuantizerId
    affine: AffineMap | None  # None for LEARNED
    palette_size: int = 0  # entries per palette (PALETTE only)
    groups: int = 1
    dithered: bool = False  # informational: the decoder does not need it
    codec_id: int = 0  # LEARNED: registry id of the learned codec
    level: float = 0.0  # LEARNED: rate level in [0, levels - 1]


@dataclass(frozen=True)
class StreamSpec:
    """Shape, alphabet and kind of one symbol stream, known to the decoder before it decodes.

    kind: "table" (palette entries), "map" (index map), "volume" (C × h × w codes).
    """

    shape: tuple[int, ...]
    alphabet: int
    kind: str = "volume"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.alphabet <= 256 else np.dtype("<u2")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def check_options(
    channels: int,
    mode: str,
    palette_size: int,
    groups: int,
    step: float = 0.1,
    deadzone: float = 0.0,
) -> None:
    if mode not in MODES:
        raise InputError(f"unknown quantizer mode '{mode}' (choose from {', '.join(MODES)})")
    if MODES[mode] is QuantizerId.SCALAR:
        if not (np.isfinite(step) and step > 0):
            raise InputError(f"step must be a positive number, got {step}")
        if not 0.0 <= deadzone < 0.5:
            raise InputError(f"deadzone must be in [0, 0.5), got {deadzone}")
    if MODES[mode] is QuantizerId.PALETTE:
        if not 2 <= palette_size <= 256:
            raise InputError(f"palette size must be 2..256, got {palette_size}")
        if groups < 1 or channels % groups:
            raise InputError(f"groups must divide the {channels} latent channels, got {groups}")


def quantize(
    latent: np.ndarray,
    mode: str = "palette",
    palette_size: int = 256,
    groups: int = 1,
    dither: bool = False,
    per_channel: bool = False,
    seed: int = 0,
    step: float = 0.1,
    deadzone: float = 0.0,
    amap: AffineMap | None = None,
    palette_backend: str = "kmeans",
) -> tuple[QuantParams, list[np.ndarray]]:
    """(C, h, w) float latent → parameters and symbol streams (uint8, or uint16 for scalar).

    ``amap`` fixes the 8-bit map instead of fitting it; ``palette_backend``
    "libimagequant" takes the article's palette and dithered indices (4-channel groups).
    """
    channels, h, w = latent.shape
    check_options(channels, mode, palette_size, groups, step, deadzone)
    if MODES[mode] is QuantizerId.SCALAR:
        amap, symbols = _scalar.quantize(latent, step, deadzone)
        return QuantParams(QuantizerId.SCALAR, amap), [symbols]
    amap = amap or fit(latent, per_channel)
    q = amap.to_uint8(latent)
    if MODES[mode] is QuantizerId.UINT8:
        return QuantParams(QuantizerId.UINT8, amap), [q]
    width = channels // groups
    images = [
        np.ascontiguousarray(q[g * width : (g + 1) * width].transpose(1, 2, 0))
        for g in range(groups)
    ]
    if palette_backend == "libimagequant":
        from .article import liq_palette

        if width != 4:
            raise InputError("libimagequant palettes need groups of 4 channels (RGBA)")
        pairs = [liq_palette(im, palette_size) for im in images]
        k = max(p.shape[0] for p, _ in pairs)
        pals = [np.concatenate([p, np.repeat(p[-1:], k - p.shape[0], axis=0)]) for p, _ in pairs]
        params = QuantParams(QuantizerId.PALETTE, amap, k, groups, True)
        return params, pals + [m for _, m in pairs]
    palettes = [
        _palette.kmeans(im.reshape(-1, width), palette_size, seed=seed + g)
        for g, im in enumerate(images)
    ]
    # a small image may have fewer distinct vectors than K: the file stores the largest
    # palette actually needed, and shorter palettes repeat their last entry to that size
    k = max(p.shape[0] for p in palettes)
    palettes = [np.concatenate([p, np.repeat(p[-1:], k - p.shape[0], axis=0)]) for p in palettes]
    palettes = [p[_palette.chain_order(p)] for p in palettes]
    maps = []
    for im, pal in zip(images, palettes, strict=True):
        if dither:
            maps.append(_palette.dither(im, pal))
        else:
            maps.append(_palette.nearest(im.reshape(-1, width), pal).reshape(h, w))
    params = QuantParams(QuantizerId.PALETTE, amap, k, groups, dither)
    return params, palettes + maps


def stream_specs(params: QuantParams, channels: int, h: int, w: int) -> list[StreamSpec]:
    if params.quantizer is QuantizerId.UINT8:
        return [StreamSpec((channels, h, w), 256, "volume")]
    if params.quantizer is QuantizerId.SCALAR:
        return [StreamSpec((channels, h, w), _scalar.ALPHABET, "volume")]
    width = channels // params.groups
    k = params.palette_size
    g = params.groups
    return [StreamSpec((k, width), 256, "table")] * g + [StreamSpec((h, w), k, "map")] * g


def dequantize(params: QuantParams, streams: list[np.ndarray], channels: int) -> np.ndarray:
    """Symbol streams (already shaped per ``stream_specs``) → (C, h, w) float32 latent."""
    if params.quantizer is QuantizerId.UINT8:
        return params.affine.to_float(streams[0])
    if params.quantizer is QuantizerId.SCALAR:
        if int(streams[0].max(initial=0)) >= _scalar.ALPHABET:
            raise FormatError("scalar symbol out of range")
        return _scalar.dequantize(params.affine, streams[0])
    g = params.groups
    palettes, maps = streams[:g], streams[g:]
    parts = []
    for pal, idx in zip(palettes, maps, strict=True):
        if idx.size and int(idx.max()) >= pal.shape[0]:
            raise FormatError("palette index out of range")
        parts.append(pal[idx].transpose(2, 0, 1))
    return params.affine.to_float(np.concatenate(parts, axis=0))


__all__ = [
    "MODES",
    "AffineMap",
    "QuantParams",
    "QuantizerId",
    "StreamSpec",
    "check_options",
    "dequantize",
    "quantize",
    "stream_specs",
]
