"""`sdcodec bench`: a small run of every codec, and the pieces it is made of."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib", reason="the bench extra is not installed")

from sdcodec.bench import BenchConfig, metrics, report, run, runner  # noqa: E402
from sdcodec.bench.codecs import Codec, parse_sdc_config  # noqa: E402
from sdcodec.cli import main  # noqa: E402

RATES = (0.25, 1.0)
CODECS = ("sdc", "jpeg", "webp", "avif", "jxl")


@pytest.fixture(scope="module")
def small_run(kodak, tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    Image.open(kodak / "kodim23.png").convert("RGB").crop((300, 100, 492, 292)).save(
        folder / "a.png"
    )
    Image.open(kodak / "kodim03.png").convert("RGB").crop((200, 150, 392, 342)).save(
        folder / "b.png"
    )
    out = tmp_path_factory.mktemp("bench")
    cfg = BenchConfig([str(folder)], str(out), RATES, CODECS, jobs=2, crop=96, progress=False)
    return cfg, run(cfg)


def test_outputs_exist(small_run):
    cfg, result = small_run
    out = Path(cfg.outdir)
    for name in (
        "results.csv",
        "results.json",
        "summary.md",
        "report.html",
        "plot_psnr.png",
        "plot_jod.png",
    ):
        assert (out / name).is_file(), name
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["rates"] == list(RATES)
    assert {r["image"] for r in data["rows"]} == {"a.png", "b.png"}
    codecs = {r["codec"] for r in data["rows"]}
    assert {
        "sdc",
        "sdc-palette",
        "jpeg",
        "webp",
        "avif",
        "jxl",
        "jpeg-article",
        "webp-article",
    } <= codecs
    for r in data["rows"]:
        assert (out / r["crop"]).is_file()
        assert r["encode_s"] >= 0 and r["decode_s"] >= 0
    assert "libavif" in " ".join(data["meta"]["versions"]) and "libjxl" in " ".join(
        data["meta"]["versions"]
    )


def test_rates_on_target_or_flagged(small_run):
    _, result = small_run
    rows = result["rows"]
    for r in rows:
        if r["protocol"] != "matched" or r["flag"] == "fixed":
            continue
        target_bytes = r["target_bpp"] * 192 * 192 / 8
        err = (r["bytes"] - target_bytes) / target_bytes
        if r["flag"] == "ok":
            assert abs(err) <= runner.RATE_TOLERANCE, r
        elif r["flag"] == "floor":
            assert err > runner.RATE_TOLERANCE, r
            # below its floor, the codec was also run downscaled
            if r["scale"] == 1:
                assert any(q["codec"].startswith(r["codec"] + "÷") and q["image"] == r["image"]
                           and q["target_bpp"] == r["target_bpp"] for q in rows)  # fmt: skip
        else:
            assert r["flag"] == "ceiling" and err < -runner.RATE_TOLERANCE
    # the article's protocol: at least as large as the sdc file it is matched to
    sdc = {
        (r["image"], f"{r['codec']}@{r['target_bpp']:g}"): r["bytes"]
        for r in rows
        if r["codec"].startswith("sdc")
    }
    article = [r for r in rows if r["protocol"] == "article"]
    assert article
    for r in article:
        if r["flag"] == "ok":
            assert r["bytes"] >= sdc[(r["image"], r["matched_to"])]


def test_resume_uses_cache(small_run):
    cfg, result = small_run
    cells = sorted(Path(cfg.outdir, "cells").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cells]
    again = run(cfg)
    assert [p.stat().st_mtime_ns for p in cells] == stamps
    assert len(again["rows"]) == len(result["rows"])


def test_report_loads_in_headless_chromium(small_run, tmp_path):
    cfg, result = small_run
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium); .ci/run installs it"
        )
    html = Path(result["html"]).resolve()
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    n_images = html.read_text().count("<img ")
    assert f'data-loaded="{n_images}/{n_images}"' in dom  # every <img> decoded, none broken
    for name in ("a.png", "b.png"):
        assert f"<h3>{name}</h3>" in dom
    assert n_images >= 2 * len(RATES) * len(CODECS)


def test_paired_means_use_only_the_images_both_codecs_reach():
    def row(image, codec, psnr, flag="ok"):
        return {"image": image, "codec": codec, "protocol": "matched", "target_bpp": 0.1,
                "flag": flag, "psnr": psnr, "ssimulacra2": psnr - 30, "jod": psnr / 4}  # fmt: skip

    rows = [
        row("easy", "sdc", 30.0), row("hard", "sdc", 20.0),
        row("easy", "webp", 29.0), row("hard", "webp", 19.0, flag="floor"),
        row("easy", "sdc÷2", 40.0), row("hard", "avif", 21.0),
    ]  # fmt: skip
    pairs = {(p["codec"], p["other"]): p for p in report.paired(rows, 0.1)}
    assert set(pairs) == {("sdc", "webp"), ("sdc", "avif")}  # downscaled sdc is not "ours"
    webp = pairs["sdc", "webp"]
    assert webp["images"] == 1 and webp["ours"]["psnr"] == 30.0 and webp["theirs"]["psnr"] == 29.0
    assert pairs["sdc", "avif"]["ours"]["psnr"] == 20.0
    md = report.summary_markdown([], rows, [0.1])
    assert "| sdc | webp | 1 | **30.00** / **0.0** / **7.50** | 29.00 / -1.0 / 7.25 |" in md
    assert "| sdc | avif | 1 | 20.00 / -10.0 / 5.00 | **21.00** / **-9.0** / **5.25** |" in md


def test_identical_images_score_the_maximum():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (192, 200, 3), dtype=np.uint8)
    m = metrics.compute(img, img)
    assert m["psnr"] == 100.0 and m["ms_ssim"] == pytest.approx(1.0)
    assert m["ssimulacra2"] == pytest.approx(100.0) and m["jod"] == pytest.approx(10.0, abs=1e-3)
    noisy = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    worse = metrics.compute(img, noisy)
    for k in ("psnr", "ms_ssim", "ssimulacra2", "jod"):
        assert worse[k] < m[k]


def test_unavailable_metrics_are_marked_not_faked():
    avail = metrics.availability()
    m = metrics.compute(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))
    for name, reason in avail.items():
        if reason is not None:
            assert m[name] is None
    assert m["ms_ssim"] is None  # too small for five scales: not computed, not guessed


def test_gaussian_stand_in_matches_scipy():
    import torch
    from scipy.ndimage import gaussian_filter

    from sdcodec.bench import torchvision_shim

    torchvision_shim.install()
    from torchvision.transforms import GaussianBlur

    x = np.random.default_rng(1).normal(size=(2, 3, 40, 37))
    got = GaussianBlur(13, 3)(torch.from_numpy(x)).numpy()
    want = gaussian_filter(x, sigma=(0, 0, 3, 3), mode="mirror", truncate=2.0)
    assert np.abs(got - want).max() < 1e-9


class Steps(Codec):
    """Sizes 10·knob bytes: the search must land on the closest knob."""

    def encode(self, im, knob):
        return b"x" * (10 * knob)


def test_knob_search_closest_and_floor():
    s = runner._Search(Steps("steps", (3, 50)), None)
    assert s.closest(204) == 20 and s.closest(206) == 21
    assert s.smallest_at_least(201) == 21
    assert s.closest(5) == 3  # floor: the lowest knob
    assert runner._flag(30, 5, False) == "floor" and runner._flag(500, 1000, False) == "ceiling"


def test_detail_crop_finds_texture():
    img = np.full((200, 300, 3), 128, np.uint8)
    img[120:200, 200:300] = np.random.default_rng(2).integers(0, 256, (80, 100, 3))
    x0, y0, x1, y1 = runner.detail_crop(img, 64)
    assert x0 >= 180 and y0 >= 100 and x1 - x0 == 64


def test_sdc_config_parsing():
    c = parse_sdc_config("k64=palette_size=64,dither=true")
    assert (
        c.name == "k64"
        and c.knob_range is None
        and c.options == {"palette_size": 64, "dither": True}
    )
    assert parse_sdc_config("free=mode=palette,groups=4").knob_range == (2, 256)
    assert parse_sdc_config("learned=").knob_range == (0, 100)  # the default: quality
    assert parse_sdc_config("l3=level=3.5").knob_range is None
    assert parse_sdc_config("q=ladder=true,coder=ctx").knob_range == (0, 100)
    assert parse_sdc_config("s=mode=scalar,step=0.5").knob_range is None
    with pytest.raises(ValueError, match="unknown option"):
        parse_sdc_config("bad=colour=blue")


def test_cli_errors_one_line(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "none.png"), "-o", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    Image.new("RGB", (16, 16)).save(tmp_path / "x.png")
    assert (
        main(["bench", str(tmp_path / "x.png"), "--codecs", "gif", "-o", str(tmp_path / "o")]) == 1
    )
    assert "unknown codec" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "x.png"), "--rates", "a,b"]) == 1
    capsys.readouterr()
    args = [
        "bench",
        str(tmp_path / "x.png"),
        "--codecs",
        "sdc",
        "--sdc-config",
        "bad=palette_size=999",
        "-o",
        str(tmp_path / "o"),
    ]
    assert main(args) == 1
    assert "palette size" in capsys.readouterr().err


def test_a_changed_encoder_default_is_a_new_cell(kodak, monkeypatch):
    """Cells are cached by what was measured: a new default in EncodeOptions (as when
    refinement's structure weight came in) must not reuse cells measured with the old one."""
    import functools

    import sdcodec

    codec = parse_sdc_config("sdc-refine=refine=12")
    cell = runner.Task(str(kodak / "kodim23.png"), codec, (0.1,), "matched", (0, 0, 8, 8), "out")
    before = cell.key()
    assert cell.key() == before
    changed = functools.partial(sdcodec.EncodeOptions, refine_structure=0.02)
    monkeypatch.setattr(sdcodec, "EncodeOptions", changed)
    assert cell.key() != before


def _load_script(name: str):
    import importlib.util

    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_targets_reads_a_run_as_the_issue_states_its_targets(tmp_path):
    """benchmarks/targets.py: level is enough above 0.05 bpp, ahead is needed at and below;
    a downscaled baseline joins only where its full size missed the rate; the PSNR half-gap
    is taken on the issue's eight images against this run's AVIF."""
    import csv

    targets = _load_script("targets")
    out = []

    def add(image, codec, rate, psnr, ss2, jod, flag="ok"):
        out.append({"image": image, "codec": codec, "protocol": "matched", "target_bpp": rate,
                    "flag": flag, "bpp": rate, "psnr": psnr, "ssimulacra2": ss2, "jod": jod})  # fmt: skip

    for name in targets.ISSUE_IMAGES:
        add(name, "sdc-refine", 0.25, 28.0, 20.0, 8.9)
        add(name, "avif", 0.25, 31.0, 35.0, 9.3)  # 3.0 dB ahead: the issue's 8.2 halved is 4.1
        add(name, "webp", 0.25, 30.0, 20.0, 8.9)  # level on both: met
        add(name, "jxl", 0.25, 27.0, 21.0, 8.8)  # ahead on SSIMULACRA2, behind on JOD: not met
        add(name, "sdc-refine", 0.05, 25.0, -30.0, 7.6)
        add(name, "avif", 0.05, 25.0, -35.0, 7.5, flag="floor")  # full size missed the rate
        add(name, "avif÷2", 0.05, 24.9, -34.0, 7.5)  # level on nothing, behind on nothing
    path = tmp_path / "results.csv"

    def save():
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)

    save()
    table = {(r[0], r[1]): r for r in targets.check(str(path), "sdc-refine", [0.05, 0.25])}
    assert table["0.25", "webp"][-1] == "met"
    assert table["0.25", "jxl"][-1] == "not met"
    assert ("0.25", "webp*") not in table  # nothing downscaled reached it: the same row
    assert table["0.25", "avif"][-1].startswith("met (3.00 dB of 8.2 left)")
    assert table["0.05", "avif*"][2] == "8" and table["0.05", "avif*"][-1] == "met"
    for row in out:  # level on PSNR is not "beat"
        if row["codec"] == "avif÷2":
            row["psnr"] = 25.0
    save()
    assert targets.check(str(path), "sdc-refine", [0.05])[0][-1] == "not met"
    # an sdc run alone, its baselines from another run's file
    ours, out[:] = [r for r in out if r["codec"] == "sdc-refine"], [r for r in out if r["codec"] != "sdc-refine"]
    save()
    path, theirs = tmp_path / "sdc.csv", path
    out[:] = ours
    save()
    assert targets.check(str(path), "sdc-refine", [0.25])[0][-1] == "not measured"
    split = {(r[0], r[1]): r for r in targets.check(str(path), "sdc-refine", [0.05, 0.25], str(theirs))}
    assert split["0.25", "webp"][-1] == "met" and split["0.05", "avif*"][-1] == "not met"
