"""The Python API end to end on the real TAEF2, on small images."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

import sdcodec
from sdcodec import EncodeOptions
from sdcodec.errors import InputError

from .conftest import psnr


def roundtrip(im, **opts):
    data = sdcodec.encode(im, EncodeOptions(**opts))
    return data, sdcodec.decode(data)


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (513, 771)])
def test_odd_sizes(crop, size):
    src = crop.resize(size) if size != (513, 771) else Image.new("RGB", size, (90, 140, 200))
    data, out = roundtrip(src)
    assert out.size == size and out.mode == "RGB"
    assert sdcodec.info(data)["latent"]["height"] == -(-size[1] // 8)
    if size == (513, 771):
        # flat colour: TAEF2 with the hand-made palette gets it nearly right; the learned
        # codec lc1 shifts such a colour by up to ≈15 levels (known limit, docs/LEARNED.md:
        # its training crops hold no flat areas) — this pins how far, so it cannot worsen
        assert psnr(src, out) > 24
        _, pal = roundtrip(src, mode="palette")
        assert psnr(src, pal) > 30


def test_grey_stays_grey(crop):
    grey = crop.convert("L")
    data, out = roundtrip(grey)
    assert out.mode == "L" and out.size == grey.size
    assert sdcodec.info(data)["source_mode"] == "L"
    assert psnr(grey, out) > 18


def test_rgba_alpha_is_exact(crop):
    rgba = crop.convert("RGBA")
    a = np.zeros((128, 128), np.uint8)
    a[20:100, 10:110] = 255
    a[50:60] = np.arange(128, dtype=np.uint8)  # a gradient too
    rgba.putalpha(Image.fromarray(a))
    _, out = roundtrip(rgba)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[:, :, 3], a)


def test_opaque_alpha_is_dropped(crop):
    data, out = roundtrip(crop.convert("RGBA"))
    assert out.mode == "RGB" and sdcodec.info(data)["alpha"] is False


def test_la_and_palette_transparency(crop):
    la = crop.convert("LA")
    a = np.full((128, 128), 255, np.uint8)
    a[:10] = 0
    la.putalpha(Image.fromarray(a))
    _, out = roundtrip(la)
    assert out.mode == "LA" and np.array_equal(np.asarray(out)[:, :, 1], a)
    p = crop.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p.info["transparency"] = 0
    _, out = roundtrip(p)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[:, :, 3] == 0, np.asarray(p) == 0)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    _, out = roundtrip(path)
    expect = np.rint(ramp / 257.0)
    assert out.mode == "L" and psnr(expect, out) > 25  # clipping would give ~5 dB


def test_icc_profile_carried_over(crop, tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "icc.png"
    crop.save(path, icc_profile=icc)
    data, out = roundtrip(path)
    assert out.info.get("icc_profile") == icc
    assert sdcodec.info(data)["icc_profile_bytes"] == len(icc)


def test_cmyk_converted(crop):
    _, out = roundtrip(crop.convert("CMYK"))
    assert out.mode == "RGB" and psnr(crop, out) > 16


def test_exif_orientation_applied(crop):
    buf = io.BytesIO()
    tall = crop.crop((0, 0, 64, 128))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    tall.save(buf, "JPEG", exif=exif, quality=95)
    _, out = roundtrip(Image.open(buf))
    assert out.size == (128, 64)


def test_determinism(crop):
    opts = EncodeOptions(palette_size=32, dither=True)
    a, b = sdcodec.encode(crop, opts), sdcodec.encode(crop, opts)
    assert a == b
    assert np.array_equal(np.asarray(sdcodec.decode(a)), np.asarray(sdcodec.decode(a)))


def test_modes_give_expected_order(kodak):
    crop = Image.open(kodak / "kodim23.png").convert("RGB").crop((256, 0, 512, 256))
    sizes, q = {}, {}
    for name, opts in {
        "8bit": dict(mode="8bit"),
        "k256": dict(palette_size=256),
        "k16": dict(palette_size=16),
        "g8": dict(palette_size=64, groups=8),
    }.items():
        data, out = roundtrip(crop, **opts)
        sizes[name], q[name] = len(data), psnr(crop, out)
    assert sizes["k16"] < sizes["k256"] < sizes["8bit"]
    assert q["8bit"] > q["g8"] > q["k16"]
    assert q["k256"] > q["k16"]


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="cannot read image"):
        sdcodec.encode(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError):
        sdcodec.encode(junk)
    with pytest.raises(InputError, match="groups"):
        sdcodec.encode(Image.new("RGB", (8, 8)), EncodeOptions(groups=3))
    with pytest.raises(InputError, match="model"):
        sdcodec.encode(Image.new("RGB", (8, 8)), EncodeOptions(model="sd99"))
    with pytest.raises(InputError, match="limit"):
        sdcodec.encode(Image.new("RGB", (100, 100)), EncodeOptions(max_pixels=5000))
    big = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(big)
    with pytest.raises(InputError, match="limit"):  # refused from the header, before decoding
        sdcodec.encode(big, EncodeOptions(max_pixels=5000))


def test_every_kind_of_source_codes_the_same_pixels(crop, tmp_path):
    path = tmp_path / "crop.png"
    crop.save(path)
    png = path.read_bytes()
    want = sdcodec.encode(crop, EncodeOptions(refine=0))
    for source in (path, str(path), png, bytearray(png), io.BytesIO(png), np.asarray(crop)):
        assert sdcodec.encode(source, EncodeOptions(refine=0)) == want
    grey = sdcodec.decode(sdcodec.encode(np.asarray(crop.convert("L")), EncodeOptions(refine=0)))
    assert grey.mode == "L"
    (tmp_path / "crop.sdc").write_bytes(want)
    decoded = sdcodec.decode(want)
    for source in (tmp_path / "crop.sdc", str(tmp_path / "crop.sdc"), memoryview(want),
                   (tmp_path / "crop.sdc").open("rb")):  # fmt: skip
        assert sdcodec.decode(source).tobytes() == decoded.tobytes()
        assert sdcodec.info(want) == sdcodec.info(bytes(want))


@pytest.mark.parametrize(
    "source, message",
    [
        (np.zeros((16, 16, 3)), "dtype float64"),
        (np.zeros((16, 16, 2), np.uint8), r"shape \(16, 16, 2\)"),
        (np.zeros((0, 16, 3), np.uint8), "expected uint8"),
        (np.zeros((2, 16, 16, 3), np.uint8), "expected uint8"),
        (None, "type NoneType"),
        (123, "type int"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "^image bytes: cannot read image"),
    ],
)
def test_bad_sources_are_one_line_input_errors(source, message):
    with pytest.raises(InputError, match=message) as err:
        sdcodec.encode(source)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_bad_sdc_sources(tmp_path):
    for source, message in ((None, "type NoneType"), (5, "type int"), (io.StringIO("x"), "StringIO"),
                            (tmp_path / "missing.sdc", "missing.sdc: No such file")):  # fmt: skip
        with pytest.raises(InputError, match=message):
            sdcodec.decode(source)
    with pytest.raises(InputError, match="type NoneType"):
        sdcodec.info(None)


def test_oversized_files_refused_unread(tmp_path, monkeypatch):
    from sdcodec import codec

    big = tmp_path / "big.sdc"
    big.write_bytes(bytes(101))
    monkeypatch.setattr(codec, "MAX_FILE_BYTES", 100)
    for source in (big, big.open("rb")):
        with pytest.raises(InputError, match="more than 100 bytes"):
            sdcodec.decode(source)


def _png16(arr: np.ndarray, color_type: int) -> bytes:
    """A minimal 16-bit PNG (Pillow cannot write 16-bit RGB), to test what users' tools make."""
    import struct
    import zlib

    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_16bit_rgba_png(crop, tmp_path):
    rgb16 = np.asarray(crop).astype(np.uint16) * 257
    alpha16 = np.full((128, 128, 1), 65535, np.uint16)
    alpha16[:64] = 30000
    path = tmp_path / "rgba16.png"
    path.write_bytes(_png16(np.concatenate([rgb16, alpha16], axis=2), 6))
    _, out = roundtrip(path)
    assert out.mode == "RGBA" and out.size == (128, 128)
    assert np.array_equal(
        np.asarray(out)[:, :, 3],
        np.where(np.arange(128) < 64, 30000 >> 8, 255)[:, None] * np.ones((1, 128)),
    )
    assert psnr(crop, out.convert("RGB")) > 18
