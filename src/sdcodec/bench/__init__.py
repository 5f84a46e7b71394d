"""`sdcodec bench`: sdcodec beside JPEG, WebP, AVIF and JPEG XL at matched file sizes.

Needs the ``bench`` extra (matplotlib, pytorch-msssim, ssimulacra2, cvvdp,
pillow-jxl-plugin, mozjpeg-lossless-optimization).
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..imageio import IMAGE_EXTENSIONS

DEFAULT_RATES = (0.05, 0.1, 0.15, 0.25, 0.5)
DEFAULT_SDC_CONFIGS = ("sdc=", "sdc-palette=mode=palette")


@dataclass
class BenchConfig:
    images: list[str]
    outdir: str = "bench-out"
    rates: tuple[float, ...] = DEFAULT_RATES
    codecs: tuple[str, ...] = ("sdc", "jpeg", "webp", "avif", "jxl")
    sdc_configs: tuple[str, ...] = DEFAULT_SDC_CONFIGS
    jobs: int = 2
    crop: int = 192
    article: bool = True
    progress: bool = True
    log: Any = field(default=sys.stderr, repr=False)


def find_images(paths: list[str]) -> list[str]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(str(q) for q in sorted(p.iterdir()) if q.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            out.append(str(p))
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not out:
        raise FileNotFoundError("no images given")
    return out


def run(cfg: BenchConfig) -> dict[str, Any]:
    from ..errors import InputError
    from . import metrics, report, runner
    from .codecs import CodecUnavailable, article_codecs, parse_sdc_config, standard_codecs

    outdir = Path(cfg.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    images = [str(Path(p).resolve()) for p in find_images(cfg.images)]
    known = standard_codecs()
    codecs, skipped = [], {}
    for name in cfg.codecs:
        if name == "sdc":
            try:
                codecs.extend(parse_sdc_config(c) for c in cfg.sdc_configs)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        elif name in known:
            codecs.append(known[name])
        else:
            raise InputError(f"unknown codec '{name}' (choose from sdc, {', '.join(known)})")
    usable = []
    for c in codecs:
        try:
            c.check()
            usable.append(c)
        except InputError:
            raise  # a mistyped --sdc-config is the user's to fix, not a codec to skip
        except CodecUnavailable as exc:
            skipped[c.name] = str(exc)
            print(f"sdcodec bench: skipping {c.name}: {exc}", file=cfg.log)
    crop_refs, boxes = {}, {}
    for path in images:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        box = runner.detail_crop(rgb, cfg.crop)
        boxes[path] = box
        ref = outdir / "crops" / Path(path).stem / "original.webp"
        ref.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).crop(box).save(ref, "WEBP", lossless=True)
        crop_refs[Path(path).stem] = ref

    def progress(it, total):
        if not cfg.progress:
            return it
        from tqdm import tqdm

        return tqdm(it, total=total, desc="bench", unit="task", file=cfg.log)

    tasks = [
        runner.Task(p, c, tuple(cfg.rates), "matched", boxes[p], str(outdir))
        for p in images
        for c in usable
    ]
    rows = runner.run_tasks(tasks, cfg.jobs, progress)
    sdc_names = {c.name for c in usable if c.__class__.__name__ == "Sdc"}
    if cfg.article and sdc_names:
        art = []
        for p in images:
            cells = [
                r
                for r in rows
                if r["image"] == Path(p).name and r["codec"] in sdc_names and r["scale"] == 1
            ]
            cells.sort(key=lambda r: (r["codec"], r["target_bpp"]))
            if not cells:
                continue
            targets = tuple(float(r["bytes"]) for r in cells)
            matched = tuple(f"{r['codec']}@{r['target_bpp']:g}" for r in cells)
            for c in article_codecs().values():
                art.append(runner.Task(p, c, targets, "article", boxes[p], str(outdir), matched))
        rows += runner.run_tasks(art, cfg.jobs, progress)
    all_codecs = usable + (list(article_codecs().values()) if cfg.article and sdc_names else [])
    versions = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "pillow": Image.__version__,
    }
    for c in all_codecs:
        versions.update({f"{c.name}: {k}": v for k, v in c.versions().items()})
    versions.update(metrics.versions())
    meta = {"versions": versions, "metrics": metrics.availability(), "rates": list(cfg.rates),
            "images": [Path(p).name for p in images], "skipped_codecs": skipped,
            "rate_tolerance": runner.RATE_TOLERANCE, "averaging": report.AVERAGING}  # fmt: skip
    report.write_tables(rows, outdir, meta)
    agg = report.aggregate(rows, len(images))
    md = report.summary_markdown(agg, rows, list(cfg.rates))
    (outdir / "summary.md").write_text(md)
    plot_paths = report.plots(agg, outdir, meta["metrics"])
    html_path = report.write_html(outdir, rows, md, plot_paths, meta, images, crop_refs)
    return {"rows": rows, "aggregate": agg, "summary": md, "html": html_path, "meta": meta}
