"""The container: round trips and a parser that trusts no byte (no model needed)."""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from sdcodec import bitstream
from sdcodec.bitstream import MAGIC, DecodeSettings, Header, SdcFile
from sdcodec.codec import decode_latent
from sdcodec.entropy import CoderId, get
from sdcodec.errors import (
    ChecksumError,
    FormatError,
    ImageTooLargeError,
    TruncatedError,
    UnknownModelError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from sdcodec.models import by_name
from sdcodec.quant import QuantizerId, quantize, stream_specs

SPEC = by_name("taef2")


def make_file(width=21, height=13, mode="palette", k=8, groups=2, alpha=False, icc=None, seed=0):
    h, w = -(-height // 8), -(-width // 8)
    z = np.random.default_rng(seed).normal(size=(32, h, w)).astype(np.float32)
    params, streams = quantize(z, mode, k, groups, dither=True)
    header = Header(SPEC.id, SPEC.fingerprint, width, height, "RGBA" if alpha else "RGB", "RGB",
                    params.quantizer, int(CoderId.ZLIB))  # fmt: skip
    a = bytes(10) if alpha else None
    specs = stream_specs(params, 32, h, w)
    f = SdcFile(header, params, get(CoderId.ZLIB).encode(streams, specs), a, icc)
    return f, z, params, streams


def section(tag: bytes, payload: bytes) -> bytes:
    return (
        struct.pack("<I4s", len(payload), tag)
        + payload
        + struct.pack("<I", zlib.crc32(tag + payload))
    )


def split_sections(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, out = 10, []
    while pos < len(data):
        n, tag = struct.unpack_from("<I4s", data, pos)
        out.append((tag, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def join(sections, major=1, minor=0) -> bytes:
    return MAGIC + bytes([major, minor]) + b"".join(section(t, p) for t, p in sections)


@pytest.mark.parametrize("mode", ["palette", "8bit"])
def test_roundtrip_fields_and_symbols(mode):
    icc = b"fake icc profile " * 20
    f, z, params, streams = make_file(mode=mode, icc=icc, alpha=True)
    data = bitstream.write(f)
    g = bitstream.read(data)
    assert g.header == f.header and g.icc == icc and g.alpha == f.alpha and g.payload == f.payload
    assert g.quant.quantizer is params.quantizer and g.quant.palette_size == params.palette_size
    assert np.array_equal(g.quant.affine.offset, params.affine.offset)
    assert [s for s, _ in g.sections] == ["HEAD", "QUAN", "ALPH", "ICCP", "DATA", "END "]
    from sdcodec.quant import dequantize

    assert np.array_equal(decode_latent(g), dequantize(params, streams, 32))


def test_header_only_read_stops_before_data():
    data = bitstream.write(make_file()[0])
    head_end = 10 + sum(12 + len(p) for t, p in split_sections(data)[:2])
    g = bitstream.read(data[:head_end], header_only=True)
    assert g.header.width == 21 and g.quant.quantizer is QuantizerId.PALETTE


def test_every_truncation_is_a_format_error():
    data = bitstream.write(make_file()[0])
    for n in range(len(data)):
        with pytest.raises(FormatError):
            bitstream.read(data[:n])


def test_every_byte_flip_is_caught():
    data = bitstream.write(make_file()[0])
    minor_at = len(MAGIC) + 1
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0xFF
        if i == minor_at:  # a newer minor version is readable by design
            assert bitstream.read(bytes(bad)).minor == bitstream.MINOR ^ 0xFF
            continue
        with pytest.raises(FormatError):
            f = bitstream.read(bytes(bad))
            decode_latent(f)


def test_payload_flip_is_a_checksum_error():
    data = bytearray(bitstream.write(make_file()[0]))
    data[-20] ^= 1  # inside DATA
    with pytest.raises(ChecksumError):
        bitstream.read(bytes(data))


def test_wrong_magic_and_future_version():
    data = bitstream.write(make_file()[0])
    with pytest.raises(FormatError, match="magic"):
        bitstream.read(b"\x89PNG\r\n\x1a\n" + data[8:])
    with pytest.raises(UnsupportedVersionError):
        bitstream.read(MAGIC + bytes([2, 0]) + data[10:])


def _with_head(data: bytes, **changes) -> bytes:
    secs = split_sections(data)
    head = bytearray(secs[0][1])
    layout = {"model_id": (0, "<H"), "fingerprint": (2, "8s"), "width": (10, "<I"), "height": (14, "<I"),
              "mode": (18, "<B"), "quantizer": (19, "<B"), "coder": (20, "<B"), "denoiser": (21, "<B")}  # fmt: skip
    for k, v in changes.items():
        off, fmt = layout[k]
        struct.pack_into(fmt, head, off, v)
    return join([(b"HEAD", bytes(head))] + secs[1:])


def test_unknown_model_and_weights_mismatch_have_their_own_errors():
    data = bitstream.write(make_file()[0])
    with pytest.raises(UnknownModelError, match="unknown model id 999"):
        bitstream.read(_with_head(data, model_id=999))
    with pytest.raises(WeightsMismatchError):
        bitstream.read(_with_head(data, fingerprint=b"\0" * 8))


@pytest.mark.parametrize(
    "field,value", [("mode", 9), ("quantizer", 77), ("coder", 77), ("denoiser", 3), ("width", 0)]
)
def test_bad_header_values(field, value):
    data = bitstream.write(make_file()[0])
    with pytest.raises(FormatError):
        decode_latent(bitstream.read(_with_head(data, **{field: value})))


def test_absurd_dimensions_refused_without_allocating():
    data = _with_head(bitstream.write(make_file()[0]), width=200_000, height=200_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError):
            bitstream.read(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    # the limit is configurable: a small limit refuses a small image
    with pytest.raises(ImageTooLargeError):
        bitstream.read(bitstream.write(make_file()[0]), max_pixels=100)


def test_huge_declared_section_is_truncation_not_allocation():
    data = bitstream.write(make_file()[0])
    bad = bytearray(data)
    struct.pack_into("<I", bad, 10, 0xFFFFFFF0)  # HEAD length
    with pytest.raises(TruncatedError):
        bitstream.read(bytes(bad))


def test_section_rules():
    data = bitstream.write(make_file()[0])
    secs = split_sections(data)
    head, quan, dat, end = secs
    with pytest.raises(FormatError, match="duplicate"):
        bitstream.read(join([head, quan, dat, dat, end]))
    with pytest.raises(FormatError, match="out of order"):
        bitstream.read(join([head, dat, quan, end]))
    with pytest.raises(FormatError, match="HEAD"):
        bitstream.read(join([quan, head, dat, end]))
    with pytest.raises(FormatError, match="unknown critical"):
        bitstream.read(join([head, quan, (b"XTRA", b"1"), dat, end]))
    with pytest.raises(FormatError, match="missing"):
        bitstream.read(join([head, quan, end]))
    with pytest.raises(FormatError, match="garbage"):
        bitstream.read(data + b"\0")
    with pytest.raises(FormatError, match="needs an ALPH"):
        bitstream.read(_with_head(data, mode=2))
    # ancillary sections (lowercase first letter) are skipped: forward compatibility
    g = bitstream.read(join([head, quan, (b"xtra", b"future"), dat, end]))
    assert g.header.width == 21


def test_quant_section_checked():
    data = bitstream.write(make_file()[0])
    head, quan, dat, end = split_sections(data)
    q = bytearray(quan[1])
    for mutate in (
        lambda b: b.__setitem__(0, 16),  # channel count ≠ model
        lambda b: struct.pack_into("<f", b, 6, -1.0),  # negative scale
        lambda b: struct.pack_into("<f", b, 2, float("nan")),
        lambda b: struct.pack_into("<H", b, len(b) - 4, 0),  # palette size 0
        lambda b: struct.pack_into("<B", b, len(b) - 2, 3),  # 3 groups do not divide 32
        lambda b: struct.pack_into("<B", b, len(b) - 1, 0x80),  # reserved flag
    ):
        bad = bytearray(q)
        mutate(bad)
        with pytest.raises(FormatError):
            bitstream.read(join([head, (b"QUAN", bytes(bad)), dat, end]))


def test_icc_bomb_refused():
    data = bitstream.write(make_file()[0])
    head, quan, dat, end = split_sections(data)
    big = struct.pack("<I", 1 << 30) + zlib.compress(b"\0" * 1000)
    with pytest.raises(FormatError, match="ICC"):
        bitstream.read(join([head, quan, (b"ICCP", big), dat, end]))
    lying = struct.pack("<I", 10) + zlib.compress(b"\0" * 100000)
    with pytest.raises(FormatError):
        bitstream.read(join([head, quan, (b"ICCP", lying), dat, end]))


def test_decode_settings_default_none():
    f = make_file()[0]
    assert bitstream.read(bitstream.write(f)).header.decode == DecodeSettings()
