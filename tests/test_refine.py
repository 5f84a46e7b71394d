"""Encoder-side refinement of the learned codecs' symbols (``--refine``): better pictures from the same
decoder, within a byte budget when rate control asks, refused where it does not apply.
Kodak figures: BENCHMARKS.md ("refinement")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import sdcodec
from sdcodec import EncodeOptions, bitstream, ratecontrol
from sdcodec.bench import runner
from sdcodec.bench.codecs import parse_sdc_config
from sdcodec.cli import main
from sdcodec.codec import analyze, pack
from sdcodec.errors import InputError
from sdcodec.learned import refine

from .conftest import psnr

# PSNR gained by 8 refinement steps at lc1's quality 40 (level 3.5) on 128×128 crops, measured with Adam's
# betas (0.5, 0.9) (unrefined → refined: 19.17 → 19.99, 23.26 → 26.88, 22.40 → 24.90;
# the defaults (0.9, 0.999) had given 0.68 / 3.04 / 2.14); the test requires 60% of it
GAIN = {"kodim05": 0.82, "kodim23": 3.62, "kodim03": 2.50}


def _crop(kodak, name: str) -> Image.Image:
    return Image.open(kodak / f"{name}.png").convert("RGB").crop((200, 100, 328, 228))


def _capped_psnr(src: Image.Image, budget: int, **options) -> float:
    """PSNR of ``src`` refined with 8 steps under a cap of ``budget`` bytes (checked)."""
    data = sdcodec.encode(src, EncodeOptions(max_bytes=budget, refine=8, **options))
    assert len(data) <= budget
    return psnr(src, sdcodec.decode(data))


def _refined(src: Image.Image, **options) -> tuple[float, bytes, bytes]:
    """(PSNR gained, unrefined file, file refined with 8 steps) at the same settings."""
    plain = sdcodec.encode(src, EncodeOptions(**options, refine=0))
    refined = sdcodec.encode(src, EncodeOptions(**options, refine=8))
    return psnr(src, sdcodec.decode(refined)) - psnr(src, sdcodec.decode(plain)), plain, refined


@pytest.mark.parametrize("name", list(GAIN))
def test_refinement_improves_the_picture_at_about_the_same_size(kodak, name):
    src = _crop(kodak, name)
    gain, plain, refined = _refined(src, codec="lc1", quality=40)
    assert gain >= 0.6 * GAIN[name], gain
    assert len(refined) <= 1.1 * len(plain)
    a, b = bitstream.read(plain), bitstream.read(refined)
    # the same decoder and header: only the y symbols differ
    assert a.header == b.header and a.quant == b.quant and a.payload != b.payload


# lc3 at level 1, 8 steps, the same crops (unrefined → refined, bytes): kodim23 24.87 → 28.75
# dB (332 → 352), kodim03 21.81 → 25.32 (368 → 400); kodim05 19.20 → 21.27 but 416 → 704
# bytes (refinement spends where lc3's λ says it pays). The bypass gives refinement a
# direct path from y to the latent: it gains more than on lc1. Uncapped, how far the file
# grows follows the path: session 22's CPU (Intel, AMX) takes kodim03 from 313 to 385 bytes
# (format 2.x; ×1.23, where the AMD of sessions 1–21 had ×1.09), so the bound is ×1.3
LC3_GAIN = {"kodim23": 3.88, "kodim03": 3.51}


@pytest.mark.parametrize("name", list(LC3_GAIN))
def test_refinement_of_lc3(kodak, name):
    gain, plain, refined = _refined(_crop(kodak, name), codec="lc3", level=1.0)
    assert gain >= 0.6 * LC3_GAIN[name], gain
    assert len(refined) <= 1.3 * len(plain)
    assert bitstream.read(refined).quant == bitstream.read(plain).quant


def test_refinement_keeps_the_budget_of_rate_control(kodak):
    """Never over the budget, and better than unrefined at every budget (measured on this
    crop with format 2.0: +2.75 / +2.46 / +3.46 dB at 300 / 500 / 900 bytes; 1.8's larger
    container left +2.6 / +2.5 / +3.2). At 300 bytes the analysis's own symbols fit but the
    tables' bits plus the coder's slack say they do not: refinement used to keep them there
    (+0.0 dB); with 2.0, Q 36 is such a file and the smaller try below takes over (+0.18 dB
    without it)."""
    src = _crop(kodak, "kodim03")
    for budget in (300, 500, 900):
        refined = sdcodec.encode(src, EncodeOptions(max_bytes=budget, refine=8))
        plain = sdcodec.encode(src, EncodeOptions(max_bytes=budget, refine=0))
        assert len(refined) <= budget
        gain = psnr(src, sdcodec.decode(refined)) - psnr(src, sdcodec.decode(plain))
        assert gain > 1.0, (budget, gain)


@pytest.mark.parametrize("level", [1.0, 2.0])
def test_capped_refinement_follows_the_cap(kodak, level):
    """lc3's refinement wants more bits than the analysis gave (uncapped on this crop: 368 →
    400 bytes at level 1, 456 → 556 at level 2); capped at the unrefined size, the rate
    term's weight rises until it fits, and the picture still gains (measured: +2.9 / +2.9 dB
    at 364 / 416 bytes). With the weight held, every iterate was over the cap and the
    analysis's symbols were kept: +0.0 dB."""
    src = _crop(kodak, "kodim03")
    an = analyze(src)
    plain = pack(an, EncodeOptions(codec="lc3", level=level, refine=0).resolved())
    capped = pack(an, EncodeOptions(codec="lc3", level=level, refine=8, max_bytes=len(plain)).resolved())
    free = pack(an, EncodeOptions(codec="lc3", level=level, refine=8).resolved())
    assert len(free) > len(plain) >= len(capped) > 0.85 * len(plain)
    gain = psnr(src, sdcodec.decode(capped)) - psnr(src, sdcodec.decode(plain))
    assert gain > 1.5, gain


def _gains(kodak, monkeypatch, cases, name: str, off) -> list[float]:
    """PSNR with refine.``name`` as shipped minus with it set to ``off``, per (crop, budget).
    A single path is a poor witness: which crop's path ends over the cap, or passes an
    iterate over it that decodes closer, moves with the machine's float rounding (session
    16's cases, kodim03 at 600 bytes and kodim23 at 500, gained +1.09 / +0.93 dB there and
    +0.0 / +0.19 on session 17's machine), so each test takes the mean of three."""
    out = []
    for crop, budget in cases:
        src = _crop(kodak, crop)
        on = _capped_psnr(src, budget)
        with monkeypatch.context() as m:
            m.setattr(refine, name, off)
            out.append(on - _capped_psnr(src, budget))
    return out


def test_a_path_that_ends_over_the_cap_settles_under_it(kodak, monkeypatch):
    """Where refinement's last iterate is over the cap, settling continues from it instead
    of keeping an early one (session 17: +1.30 / +1.53 / +0.87 dB on these three; no loss
    on any of twelve crop × budget cases)."""
    monkeypatch.setattr(refine, "FILL_SEARCH", 0)  # settling alone
    gains = _gains(kodak, monkeypatch, [("kodim03", 500), ("kodim23", 600), ("kodim01", 500)],
                   "SETTLE_STEPS", 0)  # fmt: skip
    assert np.mean(gains) > 0.5 and min(gains) > -0.2, gains


def test_the_kept_iterate_is_pushed_toward_the_cap(kodak, monkeypatch):
    """Where an iterate over the cap decoded closer than every one under it, the point on
    the line toward it that fits decodes closer than both, in refinement's error. Which
    cases gain moves with the machine and the ladder (session 17: +1.12 / +1.09 / +0.57 dB
    on kodim05 at 500 and 600 bytes and kodim03 at 400; session 22, with lc7 and on another
    CPU, +1.25 / +0.03 / −0.17 there), so the test takes all twelve crop × budget cases:
    session 22 +0.20 dB on average, −0.17 at worst (where PSNR and refinement's error
    disagree), +0.67 and +1.25 at best."""
    cases = [(c, b) for c in ("kodim01", "kodim03", "kodim05", "kodim23") for b in (400, 500, 600)]
    gains = _gains(kodak, monkeypatch, cases, "FILL_SEARCH", 0)
    assert np.mean(gains) > 0.1 and min(gains) > -0.3, gains


def test_rate_control_expects_refinement_to_shrink_low_rate_files(kodak, monkeypatch):
    """At 0.05 bpp refinement sheds bits, so the search goes to a higher setting than one
    whose unrefined file fits, and the file still fits and is no worse (measured on this
    512×512 crop of the 1,638-byte budget: Q 6, 1,576 bytes, 21.36 dB, against Q 4, 1,588
    bytes, 21.33 dB; refinement under the cap fills it either way)."""
    src = Image.open(kodak / "kodim01.png").convert("RGB").crop((0, 0, 512, 512))
    opts = EncodeOptions(max_bytes=512 * 512 * 0.05 / 8, refine=12, downscale=1)
    monkeypatch.setattr(ratecontrol, "REFINE_RETRY", 1.0)  # the table alone
    analysis = analyze(src)
    expected = ratecontrol.fit(analysis, opts)
    monkeypatch.setattr(ratecontrol, "REFINED_SIZE", ((0, 1.0), (60, 1.0)))
    unexpected = ratecontrol.fit(analysis, opts)
    assert expected.quality > unexpected.quality
    assert len(expected.data) <= opts.max_bytes and len(unexpected.data) <= opts.max_bytes
    got = [psnr(src, sdcodec.decode(f.data)) for f in (expected, unexpected)]
    assert got[0] > got[1] - 0.05, got


@pytest.mark.parametrize("aim", ["hopeful-ratio", "room-over-budget"])
def test_rate_control_falls_back_when_refinement_does_not_shrink_enough(kodak, monkeypatch, aim):
    """The search aims over the budget (a size ratio far too hopeful, or a headroom below 0:
    room above the budget): refinement cannot bring the file under it, and the fallback
    takes a setting whose unrefined file fits the budget itself, not the search's room."""
    src = _crop(kodak, "kodim23")
    budget = 240
    if aim == "hopeful-ratio":
        monkeypatch.setattr(ratecontrol, "REFINED_SIZE", ((0, 0.2), (60, 0.2)))
    else:
        monkeypatch.setattr(ratecontrol, "REFINED_SIZE", ((0, 1.0), (60, 1.0)))
        monkeypatch.setattr(ratecontrol, "REFINE_HEADROOM", -4.0)
    fit = ratecontrol.fit(analyze(src), EncodeOptions(max_bytes=budget, refine=8))
    assert len(fit.data) <= budget
    plain = sdcodec.encode(src, EncodeOptions(max_bytes=budget, refine=0))
    assert psnr(src, sdcodec.decode(fit.data)) > psnr(src, sdcodec.decode(plain))


def test_refinement_through_a_tiled_decoder(kodak, monkeypatch):
    """Above 1 MP the decoder's full-resolution layers run in tiles during refinement too;
    forced here on a crop (64-pixel tiles), it gains as much as untiled."""
    from sdcodec import models

    src = _crop(kodak, "kodim23")
    untiled = sdcodec.encode(src, EncodeOptions(codec="lc1", quality=40, refine=8))
    decoder = models.load(models.by_name("taef2"), "decoder")
    monkeypatch.setattr(decoder, "tile_above_px", 0)
    monkeypatch.setattr(decoder, "tile_px", 64)
    tiled = sdcodec.encode(src, EncodeOptions(codec="lc1", quality=40, refine=8))
    plain = sdcodec.encode(src, EncodeOptions(codec="lc1", quality=40, refine=0))
    gain = psnr(src, sdcodec.decode(tiled)) - psnr(src, sdcodec.decode(plain))
    assert gain >= 0.6 * GAIN["kodim23"], gain
    assert abs(len(tiled) - len(untiled)) <= 0.05 * len(untiled)


def test_rate_control_tries_again_higher_when_far_under_budget(kodak, monkeypatch):
    """A pessimistic table makes the first refined file land far under the budget: a second
    one is refined at a higher setting, and of the two that fit the closer to the image is
    kept (on this crop, 12 steps, measured: 385 bytes at 30.03 dB beat 353 at 29.52 dB;
    with 8 steps before session 23, 260 bytes at 26.29 dB beat 376 at 26.20)."""
    src = _crop(kodak, "kodim23")
    monkeypatch.setattr(ratecontrol, "REFINED_SIZE", ((0, 1.5), (60, 1.5)))
    tried = []
    error = ratecontrol._error
    monkeypatch.setattr(ratecontrol, "_error", lambda a, d: tried.append(d) or error(a, d))
    fit = ratecontrol.fit(analyze(src), EncodeOptions(max_bytes=400, refine=12))
    assert len(tried) == 2 and len(tried[0]) > len(tried[1])  # the higher try, then the first
    assert all(len(d) <= 400 for d in tried) and len(tried[1]) < 0.9 * 400
    best = max(tried, key=lambda d: psnr(src, sdcodec.decode(d)))
    assert fit.data == best


def test_rate_control_tries_a_smaller_file_when_refinement_found_nothing(kodak, monkeypatch):
    """Where the analysis's own file fits so closely that refinement keeps it (every iterate
    over the cap), one more try at the next smaller file; it is kept where it decodes closer.
    Forced here by a refinement that keeps the analysis's symbols the first time; on this
    crop at 300 bytes it happened by itself at Q 36 (22.48 dB; Q 35 refined: 25.05)."""
    src = _crop(kodak, "kodim03")
    real, calls = refine.refine, []

    def first_keeps(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            return np.clip(np.round(args[4]), -255, 255).astype(np.int64)  # r: y − μ, unrounded
        return real(*args, **kwargs)

    monkeypatch.setattr(refine, "refine", first_keeps)
    plain = sdcodec.encode(src, EncodeOptions(max_bytes=300, refine=0))
    data = sdcodec.encode(src, EncodeOptions(max_bytes=300, refine=8))
    assert len(calls) == 2 and len(data) <= 300
    assert psnr(src, sdcodec.decode(data)) > psnr(src, sdcodec.decode(plain)) + 1.0


def test_zero_steps_write_the_analysis_symbols(kodak):
    """Zero steps returns the analysis network's own symbols, bit for bit."""
    src = _crop(kodak, "kodim05")
    level = ratecontrol.settings(30, mode="learned")["level"]
    assert sdcodec.encode(src, EncodeOptions(quality=30, refine=0)) == sdcodec.encode(
        src, EncodeOptions(codec="lc6", level=level, refine=0)
    )


def test_the_default_refines_a_few_steps_up_to_a_size(kodak, monkeypatch):
    """refine=None (the default): AUTO_REFINE_STEPS on images up to AUTO_REFINE_PIXELS, none
    above, and none in a hand-made mode, without a warning."""
    from sdcodec import codec

    src = _crop(kodak, "kodim05")
    assert codec.refine_steps(EncodeOptions().resolved(), 128 * 128) == codec.AUTO_REFINE_STEPS > 0
    assert sdcodec.encode(src, EncodeOptions(quality=30)) == sdcodec.encode(
        src, EncodeOptions(quality=30, refine=codec.AUTO_REFINE_STEPS))
    assert codec.refine_steps(EncodeOptions(mode="palette"), 128 * 128) == 0
    monkeypatch.setattr(codec, "AUTO_REFINE_PIXELS", 128 * 127)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = sdcodec.encode(src, EncodeOptions(quality=30))
    assert plain == sdcodec.encode(src, EncodeOptions(quality=30, refine=0))


def test_images_above_the_limit_are_coded_unrefined_with_a_warning(kodak, monkeypatch):
    src = _crop(kodak, "kodim23")
    monkeypatch.setattr(refine, "MAX_PIXELS", 100 * 100)
    with pytest.warns(UserWarning, match="refinement skipped"):
        data = sdcodec.encode(src, EncodeOptions(quality=30, refine=4))
    level = ratecontrol.settings(30, mode="learned", refined=True)["level"]  # the refined ladder's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data == sdcodec.encode(src, EncodeOptions(codec="lc6", level=level, refine=0))


def test_refinement_is_refused_where_it_does_not_apply(crop):
    with pytest.raises(InputError, match="learned codec"):
        sdcodec.encode(crop, EncodeOptions(mode="palette", refine=4))
    with pytest.raises(InputError, match="refine steps"):
        sdcodec.encode(crop, EncodeOptions(refine=-1))
    with pytest.raises(InputError, match="refine steps"):
        sdcodec.encode(crop, EncodeOptions(refine=100_000))


# multi-scale SSIM error of refinement (8 steps) for squared error alone → with the default
# structure weight, same budget, measured on these 128×128 crops with settling, the band
# term and the cap search (session 16; PSNR −0.07 dB). Of six crop × budget cases measured
# all gained, this one and kodim03 at 600 bytes clearly (0.403 → 0.345), kodim03 at 400,
# kodim23 at 300 and 500 and kodim05 at 400 less (0.507 → 0.491, 0.204 → 0.190, 0.139 →
# 0.129, 0.867 → 0.848); with session 15's code (no cap search) only kodim03 at 400 had
# gained clearly (0.590 → 0.534). Kodak whole: BENCHMARKS.md (sessions 9–10, before the
# band term)
STRUCTURE_GAIN = {("kodim01", 400): (1.015, 0.917)}


@pytest.mark.parametrize("name,budget", list(STRUCTURE_GAIN))
def test_refinement_lowers_the_structural_error_at_the_same_budget(kodak, name, budget):
    """The structural term (learned/distortion.py, on by default) buys structure with a
    little squared error: at the same budget the file it keeps has less multi-scale SSIM
    error than refinement for squared error alone; at least half the measured gain."""
    import torch

    from sdcodec.learned.distortion import ssim_error

    src = _crop(kodak, name)

    def coded(weight):
        data = sdcodec.encode(src, EncodeOptions(max_bytes=budget, refine=8, refine_structure=weight))
        assert len(data) <= budget
        im = sdcodec.decode(data)
        t = [torch.from_numpy(np.asarray(x, np.float32).transpose(2, 0, 1).copy())[None] / 255 for x in (src, im)]
        return ssim_error(*t).item(), psnr(src, im)

    assert EncodeOptions().refine_structure > 0
    (plain, plain_db), (structured, structured_db) = coded(0.0), coded(EncodeOptions().refine_structure)
    before, after = STRUCTURE_GAIN[name, budget]
    assert structured < plain - 0.5 * (before - after), (plain, structured)
    assert structured_db > plain_db - 0.5


def test_structure_weight_fades_out_where_lc4_saturates():
    from sdcodec.learned.distortion import TAPER_BPP, weight_at

    lo, hi = TAPER_BPP
    assert weight_at(0.01, 0.1) == weight_at(0.01, lo) == 0.01
    assert 0 < weight_at(0.01, (lo + hi) / 2) < 0.01
    assert weight_at(0.01, hi) == weight_at(0.01, 2.0) == 0.0


def test_chroma_weight_counts_luma_and_chroma_as_told(monkeypatch):
    """distortion.CHROMA_WEIGHT (a measured, unshipped knob: 1 by default): at 1 white RGB
    noise costs what plain squared error says; at 0 a difference with no luma costs
    nothing, one of pure luma the same as at 1."""
    import torch

    from sdcodec.learned import distortion

    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 3, 64, 64, generator=g)
    ref = torch.zeros_like(noise)
    plain = float((noise**2).sum())
    monkeypatch.setattr(distortion, "CHROMA_WEIGHT", 1.0 - 1e-9)  # the YCbCr path, at 1
    assert abs(float(distortion.tile_error(0.0)(noise, ref)) / plain - 1) < 0.03
    luma = torch.tensor([1.0, 1.0, 1.0]).view(1, 3, 1, 1) * noise[:, :1]  # Cb = Cr = 0
    no_luma = torch.tensor([0.0, -0.114, 0.587]).view(1, 3, 1, 1) * noise[:, :1]  # Y = 0
    at_one = float(distortion.tile_error(0.0)(luma, ref))
    monkeypatch.setattr(distortion, "CHROMA_WEIGHT", 0.0)
    assert float(distortion.tile_error(0.0)(no_luma, ref)) < 1e-9 * plain
    assert float(distortion.tile_error(0.0)(luma, ref)) > 1.5 * at_one  # luma's share rescaled up


def test_band_weight_counts_the_middle_band_only():
    """The band term adds the luma error between its two Gaussians: a flat offset and
    single-pixel noise add little, a 16-pixel pattern a lot."""
    import torch

    from sdcodec.learned import distortion

    ref = torch.zeros(1, 3, 96, 96)
    y, x = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    pattern = (torch.sin(2 * torch.pi * x / 16) * torch.sin(2 * torch.pi * y / 16)).expand(1, 3, 96, 96)
    fine = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))

    def extra(diff):
        return float(distortion.tile_error(0.0, band=1.0)(diff, ref)) / float((diff**2).sum()) - 1

    assert extra(torch.full_like(ref, 0.1)) < 0.01
    assert extra(fine) < 0.05
    assert extra(pattern) > 0.2  # 0.31
    assert float(distortion.tile_error(0.0)(pattern, ref)) == pytest.approx(float((pattern**2).sum()))


def test_band_weight_is_on_where_it_was_measured_to_help():
    """Full at 0.25 bpp (+0.05 JOD on training photos), none at 0.10 (it lost 0.1 dB)."""
    from sdcodec.learned.distortion import BAND_WEIGHT, TAPER_BPP, band_at

    assert BAND_WEIGHT > 0
    assert band_at(0.25) == BAND_WEIGHT
    assert band_at(0.10) == band_at(0.05) == 0.0
    assert 0 < band_at(0.15) < BAND_WEIGHT
    assert band_at(TAPER_BPP[1]) == 0.0


@pytest.mark.parametrize("weight", [-0.01, float("nan"), 2.0])
def test_structure_weight_out_of_range_is_refused(crop, weight):
    with pytest.raises(InputError, match="structure weight"):
        sdcodec.encode(crop, EncodeOptions(refine=2, refine_structure=weight))


def test_cli_refine(crop, tmp_path, capsys):
    src = tmp_path / "a.png"
    crop.save(src)
    out = tmp_path / "a.sdc"
    assert main(["encode", str(src), "-o", str(out), "--refine", "4", "-q", "30"]) == 0
    assert psnr(crop, sdcodec.decode(out.read_bytes())) > 20
    bad = tmp_path / "b.sdc"
    assert main(["encode", str(src), "-o", str(bad), "--refine", "--mode", "palette"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "learned codec" in err and not bad.exists()
    assert main(["encode", str(src), "-o", str(bad), "--refine", "--structure", "nan"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "structure weight" in err and not bad.exists()
    assert main(["encode", str(src), "-o", str(bad), "--refine", "2", "--structure", "0"]) == 0


def test_cli_warning_is_one_line(kodak, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(refine, "MAX_PIXELS", 100 * 100)
    src = tmp_path / "a.png"
    _crop(kodak, "kodim23").save(src)
    assert main(["encode", str(src), "-o", str(tmp_path / "a.sdc"), "--refine", "2"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("sdcodec: warning: refinement skipped") and "\n" not in err


def test_bench_uses_the_codecs_own_rate_control_when_refining(kodak):
    src = _crop(kodak, "kodim23")
    codec = parse_sdc_config("r=refine=4")
    target = 0.15 * 128 * 128 / 8
    knob, flag, data, seconds = runner._own_fit(codec, src, target)
    assert len(data) <= target and flag in ("ok", "ceiling") and seconds > 0
    assert runner._own_fit(parse_sdc_config("plain=refine=0"), src, target) is None
    knob, flag, data, _ = runner._own_fit(codec, src, 20)  # below the floor
    assert flag == "floor" and knob == 0 and len(data) > 20
    assert np.isfinite(psnr(src, sdcodec.decode(data)))


@pytest.mark.parametrize("size,mode", [((1, 1), "RGB"), ((5, 3), "L"), ((40, 33), "RGBA")])
def test_tiny_and_odd_images_refine_quietly(size, mode):
    rgba = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torch warning would reach the CLI's stderr
        data = sdcodec.encode(im, EncodeOptions(refine=3))
        capped = sdcodec.encode(im, EncodeOptions(refine=3, max_bytes=len(data) + 50))
    out = sdcodec.decode(data)
    assert out.size == im.size and out.mode == im.mode and len(capped) <= len(data) + 50


def test_refinements_adam_is_torchs_to_the_bit():
    """refine._Adam stands in for torch.optim.Adam (whose first use imports torch._dynamo,
    1.2 s per process): the same iterates, bit for bit, at a changing learning rate."""
    import torch

    gen = torch.Generator().manual_seed(0)
    start = torch.randn(4, 8, 8, generator=gen)
    ours, theirs = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    mine = refine._Adam(ours, refine.LEARNING_RATE, refine.BETAS)
    ref = torch.optim.Adam([theirs], lr=refine.LEARNING_RATE, betas=refine.BETAS)
    for step in range(12):
        grad = torch.randn(start.shape, generator=gen) * 10.0 ** (step % 3 - 1)
        lr = refine.LEARNING_RATE * (1 - step / 13)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        mine.lr = lr
        ref.param_groups[0]["lr"] = lr
        mine.step()
        ref.step()
        assert torch.equal(ours, theirs), step


def test_refining_does_not_import_torch_dynamo(kodak):
    """The whole of a refined encode, in a fresh process: no torch._dynamo (1.2 s)."""
    import subprocess
    import sys

    code = (
        "import sys; import sdcodec; from PIL import Image; "
        f"im = Image.open({str(kodak / 'kodim23.png')!r}).convert('RGB').crop((0, 0, 64, 64)); "
        "sdcodec.encode(im, sdcodec.EncodeOptions(refine=2, max_bytes=300)); "
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_shorter_paths_take_larger_steps():
    """Adam's first step: LEARNING_RATE from DEFAULT_STEPS up, SHORT_LEARNING_RATE (twice it,
    measured best at 4 steps) at SHORT_STEPS and below, linear between."""
    assert refine.learning_rate(refine.DEFAULT_STEPS) == refine.learning_rate(48) == refine.LEARNING_RATE
    assert refine.learning_rate(1) == refine.learning_rate(refine.SHORT_STEPS) == refine.SHORT_LEARNING_RATE
    assert refine.learning_rate(8) == pytest.approx((refine.LEARNING_RATE + refine.SHORT_LEARNING_RATE) / 2)
