"""The article's quantizer, as published (Bühlmann 2022): a fixed 8-bit map and
libimagequant's 256-colour palette of the 4-channel latent read as an RGBA image.

libimagequant is GPL-3.0: it comes only with the optional ``article`` extra (the
``imagequant`` package bundles it); without it the preset uses our own palette
quantizer (k-means + Floyd–Steinberg), and says so.
"""

from __future__ import annotations

import numpy as np

from .affine import AffineMap

LIQ_SPEED = 1  # the notebook's setting: slowest, best palette
LIQ_DITHER = 1.0


def article_map(scaling_factor: float, shift_factor: float = 0.0) -> AffineMap:
    """q = uint8(clamp(z / (255·s) + 0.5, 0, 1) · 255 + 0.5) on the raw latent z, as a map
    of our normalized latent n = (z − shift)·s: n = s²·(q − 127.5 − shift/s)."""
    s = float(scaling_factor)
    scale = np.float32(s * s)
    offset = np.float32(-(s * s) * (127.5 + shift_factor / s))
    return AffineMap(np.array([offset], np.float32), np.array([scale], np.float32))


def have_libimagequant() -> bool:
    try:
        import imagequant  # noqa: F401
    except ImportError:
        return False
    return True


def liq_palette(image: np.ndarray, colours: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 4) uint8 → palette (K, 4) uint8 and index map (h, w) uint8, via libimagequant
    at speed 1 with dithering 1.0 (the Python binding's shortcut hides the speed)."""
    from imagequant import ffi, lib

    h, w = image.shape[:2]
    buf = ffi.from_buffer(np.ascontiguousarray(image, dtype=np.uint8))
    attr = lib.liq_attr_create()
    handle = result = None
    try:
        lib.liq_set_speed(attr, LIQ_SPEED)
        lib.liq_set_max_colors(attr, colours)
        handle = lib.liq_image_create_rgba(attr, buf, w, h, 0)
        out = ffi.new("liq_result **")
        if lib.liq_image_quantize(handle, attr, out) != 0:
            raise RuntimeError("libimagequant failed to quantize the latent")
        result = out[0]
        lib.liq_set_dithering_level(result, LIQ_DITHER)
        idx = ffi.new("unsigned char[]", w * h)
        if lib.liq_write_remapped_image(result, handle, idx, w * h) != 0:
            raise RuntimeError("libimagequant failed to remap the latent")
        pal = lib.liq_get_palette(result)
        entries = np.array(
            [(e.r, e.g, e.b, e.a) for e in (pal.entries[i] for i in range(pal.count))],
            dtype=np.uint8,
        )
        return entries, np.frombuffer(ffi.buffer(idx), dtype=np.uint8).reshape(h, w).copy()
    finally:
        if result is not None:
            lib.liq_result_destroy(result)
        if handle is not None:
            lib.liq_image_destroy(handle)
        lib.liq_attr_destroy(attr)
