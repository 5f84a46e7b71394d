"""The article's lossless stage: zlib level 9 over the streams, concatenated in order.

Streams with alphabets above 256 are stored as little-endian 16-bit values.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import FormatError
from ..quant import StreamSpec
from .bounded import inflate_exact


class ZlibCoder:
    id = 1
    name = "zlib"

    def encode(self, streams: list[np.ndarray], specs: list[StreamSpec]) -> bytes:
        raw = b"".join(
            np.ascontiguousarray(s, dtype=spec.dtype).tobytes()
            for s, spec in zip(streams, specs, strict=True)
        )
        return zlib.compress(raw, 9)

    def decode(self, payload: bytes, specs: list[StreamSpec]) -> list[np.ndarray]:
        total = sum(s.size * s.dtype.itemsize for s in specs)
        raw = inflate_exact(payload, total, "symbol data")
        out, pos = [], 0
        for spec in specs:
            n = spec.size * spec.dtype.itemsize
            part = np.frombuffer(raw[pos : pos + n], dtype=spec.dtype).reshape(spec.shape)
            pos += n
            if part.size and int(part.max()) >= spec.alphabet:
                raise FormatError("symbol outside its alphabet")
            out.append(part)
        return out
