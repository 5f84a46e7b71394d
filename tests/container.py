"""The container's two layouts written out again from docs/FORMAT.md, independently of
sdcodec.bitstream, for tests that take files apart and put broken ones together."""

import struct
import zlib

from sdcodec.bitstream import MAGIC

LETTERS = {b"HEAD": b"H", b"QUAN": b"Q", b"RSMP": b"R", b"ALPH": b"A", b"ICCP": b"I", b"DATA": b"D"}
NAMES = {v: k for k, v in LETTERS.items()}


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def unleb128(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[pos]
        value |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            return value, pos


def section(tag: bytes, payload: bytes, major: int = 2) -> bytes:
    """One framed section; ``tag`` by its 1.x name (2.x: its letter is used)."""
    if major == 1:
        return struct.pack("<I4s", len(payload), tag) + payload + struct.pack("<I", zlib.crc32(tag + payload))
    letter = LETTERS.get(tag, tag)
    return letter + leb128(len(payload)) + payload + struct.pack("<I", zlib.crc32(letter + payload))


def spans(data: bytes) -> list[tuple[bytes, bytes, int, int]]:
    """(tag by 1.x name, payload, start, end) of every whole section, no checks."""
    major, pos, out = data[8], 10, []
    while pos < len(data):
        start = pos
        if major == 1:
            if pos + 8 > len(data):
                break
            n, tag = struct.unpack_from("<I4s", data, pos)
            pos += 8
        else:
            letter = bytes(data[pos : pos + 1])
            n, pos = unleb128(data, pos + 1)
            tag = NAMES.get(letter, letter)
        out.append((tag, data[pos : pos + n], start, pos + n + 4))
        pos += n + 4
    return out


def split(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(t, p) for t, p, _, _ in spans(data)]


def join(sections, major: int = 2, minor: int = 0) -> bytes:
    return MAGIC + bytes([major, minor]) + b"".join(section(t, p, major) for t, p in sections)


def head_fields(p: bytes, major: int) -> dict:
    if major == 1:
        keys = ("model_id", "fingerprint", "width", "height", "mode", "quantizer", "coder",
                "denoiser", "steps", "strength", "seed")  # fmt: skip
        values = struct.unpack_from("<H8sIIBBBBHfI", p)
        return dict(zip(keys, values, strict=True)) | {"source": p[33 : 33 + p[32]]}
    f, pos = {}, 0
    f["model_id"], pos = unleb128(p, pos)
    f["fingerprint"], pos = p[pos : pos + 4], pos + 4
    f["width"], pos = unleb128(p, pos)
    f["height"], pos = unleb128(p, pos)
    f["mode"], f["quantizer"], f["coder"], f["denoiser"] = p[pos : pos + 4]
    pos += 4
    f["steps"], f["strength"], f["seed"] = (0, 1.0, 0) if f["denoiser"] else (0, 0.0, 0)
    if f["denoiser"] == 1:
        f["steps"], pos = unleb128(p, pos)
        (f["strength"],), pos = struct.unpack_from("<f", p, pos), pos + 4
        f["seed"], pos = unleb128(p, pos)
    f["source"] = p[pos + 1 : pos + 1 + p[pos]]
    return f


def head_bytes(f: dict, major: int) -> bytes:
    if major == 1:
        fixed = struct.pack("<H8sIIBBBBHfI", f["model_id"], f["fingerprint"], f["width"], f["height"],
                            f["mode"], f["quantizer"], f["coder"], f["denoiser"], f["steps"],
                            f["strength"], f["seed"])  # fmt: skip
        return fixed + bytes([len(f["source"])]) + f["source"]
    out = leb128(f["model_id"]) + f["fingerprint"] + leb128(f["width"]) + leb128(f["height"])
    out += bytes([f["mode"], f["quantizer"], f["coder"], f["denoiser"]])
    if f["denoiser"] == 1:
        out += leb128(f["steps"]) + struct.pack("<f", f["strength"]) + leb128(f["seed"])
    return out + bytes([len(f["source"])]) + f["source"]


def with_head(data: bytes, **changes) -> bytes:
    """The file with HEAD fields changed (its CRC made right again)."""
    major, minor = data[8], data[9]
    secs = split(data)
    fields = head_fields(secs[0][1], major) | changes
    return join([(b"HEAD", head_bytes(fields, major))] + secs[1:], major, minor)
