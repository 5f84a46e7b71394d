"""The learned latent restorer (denoiser 2, rs1) of the hand-made modes: the files ask for
it, the decoder runs it, it improves what the palette and scalar quantizers deliver, and
headers that misuse it are refused. Its Kodak figures are in BENCHMARKS.md / LEARNED.md."""

from __future__ import annotations

import numpy as np
import pytest

import sdcodec
from sdcodec import EncodeOptions, bitstream, denoise, models
from sdcodec.errors import FormatError
from sdcodec.learned import WEIGHTS_DIR, restore

from .conftest import psnr

RS = models.registry.restorer_for("taef2")

# PSNR gained by the restorer with a 64-entry palette on 256×256 crops, measured when rs1
# was shipped; the test requires at least 60% of it
GAIN = {"kodim05": 0.529, "kodim03": 0.451, "kodim23": 0.639}


def test_shipped_restorer_loads_and_matches_its_pin():
    assert RS is not None and RS.id >= 2 and denoise.DENOISERS[RS.id] == RS.name
    net = restore.load(RS, "cpu")
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
    assert (WEIGHTS_DIR / RS.file).stat().st_size < 1 << 20


@pytest.mark.parametrize("image", list(GAIN))
def test_palette_files_ask_for_the_restorer_and_it_helps(kodak, image):
    from PIL import Image

    src = Image.open(kodak / f"{image}.png").convert("RGB").crop((200, 100, 456, 356))
    on = sdcodec.encode(src, EncodeOptions(mode="palette", palette_size=64))
    off = sdcodec.encode(src, EncodeOptions(mode="palette", palette_size=64, restore=False))
    f_on, f_off = bitstream.read(on), bitstream.read(off)
    assert f_on.header.decode == bitstream.DecodeSettings(RS.id, 0, 1.0, 0)
    assert f_off.header.decode == bitstream.DecodeSettings()
    assert f_on.payload == f_off.payload  # restoration is decode-only: the same symbols
    assert sdcodec.info(on)["decode"]["name"] == RS.name
    gain = psnr(src, sdcodec.decode(on)) - psnr(src, sdcodec.decode(off))
    assert gain >= 0.6 * GAIN[image], gain


def test_other_modes_do_not_ask_for_it(crop):
    """Learned (its own synthesis), 8-bit (near lossless) and scalar (measured worse with
    it at steps ≤ 1: docs/LEARNED.md) files leave the denoiser field empty."""
    for opts in (EncodeOptions(), EncodeOptions(mode="8bit"), EncodeOptions(mode="scalar", step=1.0)):
        assert bitstream.read(sdcodec.encode(crop, opts)).header.decode.denoiser == 0


def test_strength_scales_the_correction():
    lat = np.random.default_rng(0).normal(size=(32, 12, 16)).astype(np.float32)
    full = restore.apply(RS, lat, 1.0, "cpu")
    half = restore.apply(RS, lat, 0.5, "cpu")
    assert np.allclose(half, (lat + full) / 2, atol=1e-5)
    assert not np.allclose(full, lat, atol=1e-3)


def test_headers_that_misuse_it_are_refused():
    taef2, sd14 = models.by_name("taef2"), models.by_name("sd14")
    denoise.check(taef2, RS.id, 0, 1.0)
    for spec, steps, strength in ((taef2, 1, 1.0), (taef2, 0, 0.0), (taef2, 0, 1.5), (sd14, 0, 1.0)):
        with pytest.raises(FormatError):
            denoise.check(spec, RS.id, steps, strength)
    with pytest.raises(FormatError, match="unknown denoiser"):
        denoise.check(taef2, 200, 0, 1.0)


def test_asking_for_it_where_there_is_none_is_an_input_error():
    from sdcodec.errors import InputError

    with pytest.raises(InputError, match="no learned restorer"):
        EncodeOptions(model="sd14", mode="palette", restore=True).validate()


def test_cli_no_restore_flag(tmp_path, crop, capsys):
    import json

    from sdcodec.cli import main

    crop.save(tmp_path / "c.png")
    for flags, want in (([], RS.name), (["--no-restore"], "none")):
        out = tmp_path / f"c{len(flags)}.sdc"
        assert main(["encode", str(tmp_path / "c.png"), "-k", "16", "-o", str(out), *flags]) == 0
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        assert json.loads(capsys.readouterr().out)["decode"]["name"] == want
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"kind": "restorer", "name": RS.name}.items() <= next(r for r in rows if r["name"] == RS.name).items()


def test_encoder_declines_it_where_it_would_hurt():
    """Trained on photographs, rs1 shifts flat colours: the encoder decodes both ways and
    leaves it out there; asked for explicitly, the file carries it and decodes worse."""
    from PIL import Image

    flat = Image.new("RGB", (96, 64), (90, 140, 200))
    auto = sdcodec.encode(flat, EncodeOptions(mode="palette"))
    forced = sdcodec.encode(flat, EncodeOptions(mode="palette", restore=True))
    assert bitstream.read(auto).header.decode.denoiser == 0
    assert bitstream.read(forced).header.decode.denoiser == RS.id
    assert psnr(flat, sdcodec.decode(auto)) > psnr(flat, sdcodec.decode(forced)) + 1
