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

from .container import join, leb128, spans, split, with_head

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


MAJORS = pytest.mark.parametrize("major", [2, 1])


@MAJORS
@pytest.mark.parametrize("mode", ["palette", "8bit"])
def test_roundtrip_fields_and_symbols(mode, major):
    icc = b"fake icc profile " * 20
    f, z, params, streams = make_file(mode=mode, icc=icc, alpha=True)
    data = bitstream.write(f, major)
    g = bitstream.read(data)
    assert g.header == f.header and g.icc == icc and g.alpha == f.alpha and g.payload == f.payload
    assert g.quant.quantizer is params.quantizer and g.quant.palette_size == params.palette_size
    assert np.array_equal(g.quant.affine.offset, params.affine.offset)
    assert g.major == major and [s for s, _ in g.sections] == ["HEAD", "QUAN", "ALPH", "ICCP", "DATA", "END "][: 6 - (major == 2)]
    from sdcodec.quant import dequantize

    assert np.array_equal(decode_latent(g), dequantize(params, streams, 32))


@MAJORS
def test_header_only_read_stops_before_data(major):
    data = bitstream.write(make_file()[0], major)
    head_end = spans(data)[1][3]
    g = bitstream.read(data[:head_end], header_only=True)
    assert g.header.width == 21 and g.quant.quantizer is QuantizerId.PALETTE


@MAJORS
def test_every_truncation_is_a_format_error(major):
    data = bitstream.write(make_file()[0], major)
    for n in range(len(data)):
        with pytest.raises(FormatError):
            bitstream.read(data[:n])


@MAJORS
def test_every_byte_flip_is_caught(major):
    data = bitstream.write(make_file()[0], major)
    minor_at = len(MAGIC) + 1
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0xFF
        if i == minor_at:  # a newer minor version is readable by design
            assert bitstream.read(bytes(bad)).minor == data[minor_at] ^ 0xFF
            continue
        with pytest.raises(FormatError):
            f = bitstream.read(bytes(bad))
            decode_latent(f)


@MAJORS
def test_payload_flip_is_a_checksum_error(major):
    data = bytearray(bitstream.write(make_file()[0], major))
    data[-20] ^= 1  # inside DATA
    with pytest.raises(ChecksumError, match="'DATA'"):  # named as in 1.x, in 2.x too
        bitstream.read(bytes(data))


def test_wrong_magic_and_future_version():
    data = bitstream.write(make_file()[0])
    with pytest.raises(FormatError, match="magic"):
        bitstream.read(b"\x89PNG\r\n\x1a\n" + data[8:])
    for major in (3, 0, 255):
        with pytest.raises(UnsupportedVersionError):
            bitstream.read(MAGIC + bytes([major, 0]) + data[10:])


@MAJORS
def test_unknown_model_and_weights_mismatch_have_their_own_errors(major):
    data = bitstream.write(make_file()[0], major)
    with pytest.raises(UnknownModelError, match="unknown model id 999"):
        bitstream.read(with_head(data, model_id=999))
    with pytest.raises(WeightsMismatchError):
        bitstream.read(with_head(data, fingerprint=b"\0" * (8 if major == 1 else 4)))


@MAJORS
@pytest.mark.parametrize(
    "field,value", [("mode", 9), ("quantizer", 77), ("coder", 77), ("denoiser", 3), ("width", 0)]
)
def test_bad_header_values(field, value, major):
    data = bitstream.write(make_file()[0], major)
    with pytest.raises(FormatError):
        decode_latent(bitstream.read(with_head(data, **{field: value})))


@MAJORS
def test_absurd_dimensions_refused_without_allocating(major):
    data = with_head(bitstream.write(make_file()[0], major), width=200_000, height=200_000)
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


@MAJORS
def test_huge_declared_section_is_truncation_not_allocation(major):
    data = bitstream.write(make_file()[0], major)
    _, head, _, end = spans(data)[0]
    huge = struct.pack("<I4s", 0xFFFFFFF0, b"HEAD") if major == 1 else b"H" + leb128(0xFFFFFFF0)
    with pytest.raises(TruncatedError):
        bitstream.read(data[:10] + huge + data[end - 4 - len(head) :])


def test_varint_lengths_have_one_encoding():
    data = bitstream.write(make_file()[0])
    _, head, _, end = spans(data)[0]
    rest = data[end:]
    n = len(head)
    crc = struct.pack("<I", zlib.crc32(b"H" + head))
    for length, error in (
        (bytes([n | 0x80, 0]), "padded"),  # the same length in two bytes
        (b"\xff" * 5 + b"\x01", "longer than"),
        (b"\xff\xff\xff\xff\x7f", "above"),  # 2^35 - 1
    ):
        with pytest.raises(FormatError, match=error):
            bitstream.read(data[:10] + b"H" + length + head + crc + rest)
    assert bitstream.read(data[:10] + b"H" + bytes([n]) + head + crc + rest).header.width == 21


def test_the_compact_layout_is_smaller():
    """2.0 against 1.8 for the same learned-codec file: HEAD 36 → 14 bytes, QUAN 14 → 10,
    section frames 12 → 6–7 bytes and no END (docs/FORMAT.md)."""
    from sdcodec.quant import QuantParams

    header = Header(SPEC.id, SPEC.fingerprint, 768, 512, "RGB", "RGB", QuantizerId.LEARNED, 3)
    f = SdcFile(header, QuantParams(QuantizerId.LEARNED, None, codec_id=5, level=0.5), bytes(2284))
    old, new = bitstream.write(f, 1), bitstream.write(f)
    assert len(old) - 2284 == 108 and len(new) - 2284 == 53
    assert bitstream.read(new).header == bitstream.read(old).header == header


@MAJORS
def test_section_rules(major):
    data = bitstream.write(make_file()[0], major)
    head, quan, dat, *end = split(data)

    def read(*secs):
        return bitstream.read(join([*secs, *end], major))

    # 2.x: the file ends with DATA, so whatever follows it is garbage
    with pytest.raises(FormatError, match="duplicate" if major == 1 else "garbage after"):
        read(head, quan, dat, dat)
    with pytest.raises(FormatError, match="out of order" if major == 1 else "garbage after"):
        read(head, dat, quan)
    with pytest.raises(FormatError, match="HEAD"):
        read(quan, head, dat)
    with pytest.raises(FormatError, match="unknown critical"):
        read(head, quan, (b"XTRA" if major == 1 else b"X", b"1"), dat)
    with pytest.raises(FormatError, match="missing" if major == 1 else "before the DATA"):
        read(head, quan)
    with pytest.raises(FormatError, match="garbage"):
        bitstream.read(data + b"\0")
    with pytest.raises(FormatError, match="needs an ALPH"):
        bitstream.read(with_head(data, mode=2))
    with pytest.raises(FormatError, match="duplicate"):
        read(head, quan, quan, dat)
    with pytest.raises(FormatError, match="out of order"):
        read(head, quan, (b"ICCP", b""), (b"ALPH", b"\0"), dat)
    # ancillary sections (lowercase first letter) are skipped: forward compatibility
    g = read(head, quan, (b"xtra" if major == 1 else b"x", b"future"), dat)
    assert g.header.width == 21


@MAJORS
def test_quant_section_checked(major):
    data = bitstream.write(make_file()[0], major)
    head, quan, dat, *end = split(data)
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
            bitstream.read(join([head, (b"QUAN", bytes(bad)), dat, *end], major))


@MAJORS
def test_icc_bomb_refused(major):
    data = bitstream.write(make_file()[0], major)
    head, quan, dat, *end = split(data)
    big = struct.pack("<I", 1 << 30) + zlib.compress(b"\0" * 1000)
    with pytest.raises(FormatError, match="ICC"):
        bitstream.read(join([head, quan, (b"ICCP", big), dat, *end], major))
    lying = struct.pack("<I", 10) + zlib.compress(b"\0" * 100000)
    with pytest.raises(FormatError):
        bitstream.read(join([head, quan, (b"ICCP", lying), dat, *end], major))


def test_decode_settings_default_none():
    f = make_file()[0]
    assert bitstream.read(bitstream.write(f)).header.decode == DecodeSettings()


@MAJORS
def test_decode_settings_round_trip(major):
    """The U-Net's settings are stored; a restorer's are implied in 2.x, so asking for one
    never changes the size (rate control decides it after the size: ratecontrol.fit)."""
    from sdcodec.models.registry import codec_by_name, restorer_for
    from sdcodec.quant import QuantParams

    sd14 = by_name("sd14")
    unet = Header(sd14.id, sd14.fingerprint, 64, 64, "RGB", "RGB", QuantizerId.UINT8, int(CoderId.ZLIB),
                  DecodeSettings(1, 66, np.float32(0.04).item(), 12345))  # fmt: skip
    params, _ = quantize(np.zeros((4, 8, 8), np.float32), "8bit", 0, 1, dither=False)
    assert bitstream.read(bitstream.write(SdcFile(unet, params, b"x"), major)).header == unet
    lc1 = codec_by_name("lc1")
    learned = QuantParams(QuantizerId.LEARNED, None, codec_id=lc1.id, level=1.0)
    plain = Header(SPEC.id, SPEC.fingerprint, 64, 64, "RGB", "L", QuantizerId.LEARNED, 3)
    rs2 = DecodeSettings(restorer_for("taef2", "learned", "lc1").id, 0, 1.0, 0)
    with_rs2 = SdcFile(Header(**{**plain.__dict__, "decode": rs2}), learned, b"1234")
    assert bitstream.read(bitstream.write(with_rs2, major)).header == with_rs2.header
    sizes = {len(bitstream.write(SdcFile(h, learned, b"1234"), major)) for h in (plain, with_rs2.header)}
    assert len(sizes) == 1
    half = SdcFile(Header(**{**plain.__dict__, "decode": DecodeSettings(rs2.denoiser, 0, 0.5, 0)}), learned, b"1234")
    if major == 2:
        with pytest.raises(ValueError, match="restorer"):
            bitstream.write(half, major)
    else:
        assert bitstream.read(bitstream.write(half, major)).header.decode.strength == 0.5


def test_resample_section_round_trip_and_rules():
    """2.1's RSMP: an image coded at 1/factor of its size; the latent follows the coded size."""
    f, z, params, streams = make_file(width=21, height=13)
    half = SdcFile(f.header, params, f.payload, factor=2)
    assert half.coded_size() == (11, 7)  # ceil: no column or row of the image is lost
    data = bitstream.write(half)
    g = bitstream.read(data)
    assert g.factor == 2 and g.header == f.header and (g.major, g.minor) == (2, bitstream.MINOR)
    assert [s for s, _ in g.sections] == ["HEAD", "QUAN", "RSMP", "DATA"]
    assert len(data) == len(bitstream.write(f)) + 8  # letter, length, 2 bytes, CRC
    # the latent the payload codes is the coded image's: here 2×1, not 3×2
    small = make_file(width=11, height=7)[0]
    g = bitstream.read(bitstream.write(SdcFile(f.header, small.quant, small.payload, factor=2)))
    assert decode_latent(g).shape == (32, 1, 2)
    with pytest.raises(ValueError, match="1.x"):
        bitstream.write(half, 1)
    head, quan, *rest = split(data)
    rsmp, dat = rest

    def read(*secs, major=2):
        return bitstream.read(join(secs, major))

    for bad, message in ((b"\x01\x01", "factor 1"), (b"\x11\x01", "factor 17"), (b"\x02\x02", "filter"),
                         (b"\x02", "length"), (b"\x02\x01\x00", "length")):  # fmt: skip
        with pytest.raises(FormatError, match=message):
            read(head, quan, (b"RSMP", bad), dat)
    with pytest.raises(FormatError, match="duplicate"):
        read(head, quan, rsmp, rsmp, dat)
    with pytest.raises(FormatError, match="out of order"):
        read(head, rsmp, quan, dat)
    with pytest.raises(FormatError, match="out of order"):
        read(head, quan, (b"ICCP", b""), rsmp, dat)
    # 1.x has no RSMP: a 1.x file carrying one is refused like any unknown critical section
    one = split(bitstream.write(f, 1))
    with pytest.raises(FormatError, match="unknown critical"):
        read(one[0], one[1], (b"RSMP", b"\x02\x01"), *one[2:], major=1)
