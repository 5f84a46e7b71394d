"""symbols ↔ bytes.

A coder turns a list of uint8 symbol streams into one payload and back. The decoder
is told each stream's shape and alphabet (from the header) before it reads a byte, so
it never allocates more than the header allows. Coder ids are part of the file format
and are never reused.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol

import numpy as np

from ..errors import FormatError
from ..quant import StreamSpec
from .context import ContextCoder
from .zlib_coder import ZlibCoder


class CoderId(IntEnum):
    ZLIB = 1
    CTX = 2
    HYPERPRIOR = 3  # learned latents only (sdcodec.learned.coding): not a stream coder


class Coder(Protocol):
    id: CoderId
    name: str

    def encode(self, streams: list[np.ndarray], specs: list[StreamSpec]) -> bytes: ...

    def decode(self, payload: bytes, specs: list[StreamSpec]) -> list[np.ndarray]: ...


_CODERS: dict[int, Coder] = {CoderId.ZLIB: ZlibCoder(), CoderId.CTX: ContextCoder()}
NAMES = {c.name: c.id for c in _CODERS.values()}
ALL_NAMES = {**{c.id: c.name for c in _CODERS.values()}, CoderId.HYPERPRIOR: "hyperprior"}


def get(coder_id: int) -> Coder:
    try:
        return _CODERS[coder_id]
    except KeyError:
        raise FormatError(f"unknown entropy coder id {coder_id}") from None


__all__ = ["ALL_NAMES", "NAMES", "Coder", "CoderId", "get"]
