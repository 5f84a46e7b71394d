"""latent ↔ symbols, numpy only.

Two quantizers (ids are part of the file format, never reused):

* ``UINT8`` (1): the latent through the affine map to 8 bits; one symbol stream of
  shape (C, h, w).
* ``PALETTE`` (2): the article's method generalized to C channels. The channels are
  split into G contiguous groups; each group's 8-bit vectors get their own palette of
  at most K entries (seeded k-means) and an index map, found by nearest entry or by
  Floyd–Steinberg dithering. Streams: G palettes (K, C/G), then G index maps (h, w).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..errors import FormatError, InputError
from . import palette as _palette
from .affine import AffineMap, fit


class QuantizerId(IntEnum):
    UINT8 = 1
    PALETTE = 2


MODES = {"8bit": QuantizerId.UINT8, "palette": QuantizerId.PALETTE}


@dataclass(frozen=True)
class QuantParams:
    """What the decoder needs to turn symbols back into a latent (all stored in the file)."""

    quantizer: QuantizerId
    affine: AffineMap
    palette_size: int = 0  # entries per palette (PALETTE only)
    groups: int = 1
    dithered: bool = False  # informational: the decoder does not need it


@dataclass(frozen=True)
class StreamSpec:
    """Shape and alphabet of one symbol stream, known to the decoder before it decodes."""

    shape: tuple[int, ...]
    alphabet: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def check_options(channels: int, mode: str, palette_size: int, groups: int) -> None:
    if mode not in MODES:
        raise InputError(f"unknown quantizer mode '{mode}' (choose from {', '.join(MODES)})")
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
) -> tuple[QuantParams, list[np.ndarray]]:
    """(C, h, w) float latent → parameters and uint8 symbol streams."""
    channels, h, w = latent.shape
    check_options(channels, mode, palette_size, groups)
    amap = fit(latent, per_channel)
    q = amap.to_uint8(latent)
    if MODES[mode] is QuantizerId.UINT8:
        return QuantParams(QuantizerId.UINT8, amap), [q]
    width = channels // groups
    images = [
        np.ascontiguousarray(q[g * width : (g + 1) * width].transpose(1, 2, 0))
        for g in range(groups)
    ]
    palettes = [
        _palette.kmeans(im.reshape(-1, width), palette_size, seed=seed + g)
        for g, im in enumerate(images)
    ]
    # a small image may have fewer distinct vectors than K: the file stores the largest
    # palette actually needed, and shorter palettes repeat their last entry to that size
    k = max(p.shape[0] for p in palettes)
    palettes = [np.concatenate([p, np.repeat(p[-1:], k - p.shape[0], axis=0)]) for p in palettes]
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
        return [StreamSpec((channels, h, w), 256)]
    width = channels // params.groups
    k = params.palette_size
    return [StreamSpec((k, width), 256)] * params.groups + [StreamSpec((h, w), k)] * params.groups


def dequantize(params: QuantParams, streams: list[np.ndarray], channels: int) -> np.ndarray:
    """Symbol streams (already shaped per ``stream_specs``) → (C, h, w) float32 latent."""
    if params.quantizer is QuantizerId.UINT8:
        return params.affine.to_float(streams[0])
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
