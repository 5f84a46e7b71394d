"""Lossless coding of an 8-bit plane (the alpha channel): left prediction + zlib.

Residual r[y, x] = a[y, x] - a[y, x-1] (mod 256), first column predicted from the
pixel above. Flat and gently varying alpha, the common case, becomes runs of zeros.
"""

from __future__ import annotations

import zlib

import numpy as np

from .bounded import inflate_exact

METHOD_LEFT_ZLIB = 0


def encode_plane(plane: np.ndarray) -> bytes:
    a = plane.astype(np.uint8)
    res = a.copy()
    res[:, 1:] = a[:, 1:] - a[:, :-1]
    res[1:, 0] = a[1:, 0] - a[:-1, 0]
    return zlib.compress(res.tobytes(), 9)


def decode_plane(data: bytes, h: int, w: int) -> np.ndarray:
    res = np.frombuffer(inflate_exact(data, h * w, "alpha plane"), dtype=np.uint8).reshape(h, w)
    first = np.cumsum(res[:, 0], dtype=np.uint8)  # uint8 cumsum wraps mod 256, as coded
    res = res.copy()
    res[:, 0] = first
    return np.cumsum(res, axis=1, dtype=np.uint8)
