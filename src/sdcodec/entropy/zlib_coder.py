"""The article's lossless stage: zlib level 9 over the streams, concatenated in order."""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import FormatError
from ..quant import StreamSpec
from .bounded import inflate_exact


class ZlibCoder:
    id = 1
    name = "zlib"

    def encode(self, streams: list[np.ndarray]) -> bytes:
        raw = b"".join(np.ascontiguousarray(s, dtype=np.uint8).tobytes() for s in streams)
        return zlib.compress(raw, 9)

    def decode(self, payload: bytes, specs: list[StreamSpec]) -> list[np.ndarray]:
        total = sum(s.size for s in specs)
        raw = np.frombuffer(inflate_exact(payload, total, "symbol data"), dtype=np.uint8)
        out, pos = [], 0
        for spec in specs:
            part = raw[pos : pos + spec.size].reshape(spec.shape)
            pos += spec.size
            if spec.alphabet < 256 and part.size and int(part.max()) >= spec.alphabet:
                raise FormatError("symbol outside its alphabet")
            out.append(part)
        return out
