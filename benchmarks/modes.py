"""Bytes, bpp, PSNR and seconds of each quantizer mode over a folder of images.

    python benchmarks/modes.py ../shared/data/kodak --out BENCHMARKS-modes.json

Each cell runs the public API (sdcodec.encode / sdcodec.decode) end to end, so the
seconds include the autoencoder. The model is loaded once, before timing starts.
Prints a Markdown table (means over the images) to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import models

MODES: dict[str, dict] = {
    "8bit": dict(mode="8bit"),
    "8bit per-channel": dict(mode="8bit", per_channel=True),
    "palette K=256 (default)": dict(mode="palette", palette_size=256),
    "palette K=256 dither (article)": dict(mode="palette", palette_size=256, dither=True),
    "palette K=256 per-channel": dict(mode="palette", palette_size=256, per_channel=True),
    "palette K=64": dict(mode="palette", palette_size=64),
    "palette K=64 dither": dict(mode="palette", palette_size=64, dither=True),
    "palette G=4 K=64": dict(mode="palette", palette_size=64, groups=4),
    "palette G=4 K=64 dither": dict(mode="palette", palette_size=64, groups=4, dither=True),
    "palette G=8 K=256": dict(mode="palette", palette_size=256, groups=8),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ceiling(im: Image.Image) -> float:
    """PSNR of the autoencoder alone (no quantization): what no mode can exceed."""
    spec = models.by_name(models.DEFAULT_MODEL)
    rgb = np.asarray(im.convert("RGB"))
    x = rgb.astype(np.float32) / 255.0
    z = models.load(spec, "encoder").encode(x)
    y = models.load(spec, "decoder").decode(z)
    return psnr(rgb, np.rint(y * 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--out", default=None, help="JSON with every measurement")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images")
    args = ap.parse_args(argv)
    files = sorted(Path(args.folder).glob("*.png"))
    if args.limit:
        files = files[: args.limit]
    names = [m for m in args.modes.split(",") if m]
    rows = []
    warm = Image.open(files[0]).convert("RGB").crop((0, 0, 64, 64))
    sdcodec.decode(sdcodec.encode(warm))  # load both model halves before timing
    for path in files:
        im = Image.open(path)
        ref = np.asarray(im.convert("RGB"))
        row = {
            "image": path.name,
            "width": im.width,
            "height": im.height,
            "ceiling_psnr": ceiling(im),
        }
        for name in names:
            opts = sdcodec.EncodeOptions(**MODES[name])
            t0 = time.perf_counter()
            data = sdcodec.encode(im, opts)
            t1 = time.perf_counter()
            out = sdcodec.decode(data)
            t2 = time.perf_counter()
            row[name] = {
                "bytes": len(data),
                "bpp": 8 * len(data) / (im.width * im.height),
                "psnr": psnr(ref, np.asarray(out)),
                "encode_s": t1 - t0,
                "decode_s": t2 - t1,
            }
        rows.append(row)
        print(f"{path.name} done", file=sys.stderr)
    if args.out:
        meta = {"python": platform.python_version(), "machine": platform.processor() or platform.machine(),
                "sdcodec": sdcodec.__version__, "images": len(rows)}  # fmt: skip
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(
        f"Autoencoder alone (no quantization): mean PSNR {np.mean([r['ceiling_psnr'] for r in rows]):.2f} dB\n"
    )
    print("| mode | bytes | bpp | PSNR dB (min–max) | encode s | decode s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        cells = [r[name] for r in rows]

        def mean(key: str, cells=cells) -> float:
            return float(np.mean([c[key] for c in cells]))

        lo, hi = min(c["psnr"] for c in cells), max(c["psnr"] for c in cells)
        print(f"| {name} | {mean('bytes'):.0f} | {mean('bpp'):.3f} | {mean('psnr'):.2f} ({lo:.2f}–{hi:.2f}) "
              f"| {mean('encode_s'):.2f} | {mean('decode_s'):.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
