"""The Pillow plugin, tested the way Pillow tests its own plugins (Tests/test_file_qoi.py)."""

import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import sdcodec
from sdcodec import bitstream, codec
from sdcodec.errors import FormatError
from sdcodec.pillow_plugin import SdcImageFile

sdcodec.register_pillow()


@pytest.fixture(scope="module")
def sdc_bytes(crop):
    return sdcodec.encode(crop.resize((40, 24)), sdcodec.EncodeOptions(palette_size=8))


def test_open_reads_only_the_header(sdc_bytes, monkeypatch):
    def no_decoding(*a, **k):
        raise AssertionError("decoded on open")

    monkeypatch.setattr(codec, "decode", no_decoding)
    im = Image.open(io.BytesIO(sdc_bytes))
    assert im.format == "SDC" and im.size == (40, 24) and im.mode == "RGB"
    assert im.get_format_mimetype() == "image/x-sdc"


def test_load_decodes_like_the_api(sdc_bytes):
    im = Image.open(io.BytesIO(sdc_bytes))
    im.load()
    assert np.array_equal(np.asarray(im), np.asarray(sdcodec.decode(sdc_bytes)))


def test_foreign_file_is_not_identified(tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    with pytest.raises(SyntaxError):
        SdcImageFile(io.BytesIO(png.getvalue()))
    assert Image.open(io.BytesIO(png.getvalue())).format == "PNG"


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files(sdc_bytes, keep):
    cut = sdc_bytes[: int(len(sdc_bytes) * keep)]
    try:
        im = Image.open(io.BytesIO(cut))
    except UnidentifiedImageError:
        return  # cut inside the header
    with pytest.raises(FormatError):
        im.load()


def test_save_roundtrip(tmp_path, crop):
    path = tmp_path / "x.sdc"
    crop.save(path, quality=30)
    again = Image.open(path)
    assert again.format == "SDC" and again.size == crop.size
    assert bitstream.read(path.read_bytes()).quant.palette_size <= 256
    crop.convert("RGBA").save(tmp_path / "y.sdc", palette_size=16)
    assert Image.open(tmp_path / "y.sdc").size == crop.size


def test_decompression_bomb_check_applies(sdc_bytes):
    from .container import with_head

    bomb = with_head(sdc_bytes, width=60_000, height=60_000)  # 3.6 gigapixels
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
