"""zlib inflation that can never produce more bytes than the caller expects."""

from __future__ import annotations

import zlib

from ..errors import FormatError


def inflate_exact(data: bytes, expected: int, what: str) -> bytes:
    """Inflate a zlib stream that must hold exactly ``expected`` bytes and nothing after."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, expected + 1)
    except zlib.error as exc:
        raise FormatError(f"{what}: corrupt zlib stream ({exc})") from None
    if len(out) != expected or not d.eof or d.unconsumed_tail or d.unused_data:
        raise FormatError(f"{what}: expected {expected} bytes of data, stream does not match")
    return out
