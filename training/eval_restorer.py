"""PSNR of the palette mode on Kodak images with and without the shipped restorer.

    python training/eval_restorer.py ../shared/data/kodak

Each file is encoded once, as the encoder writes it by default (palette mode: with the
restorer where decoding both ways shows it helps); the same bytes with the denoiser field
cleared give the figure without it. Rate is the whole file. The last column counts the
images whose file asks for the restorer.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import bitstream
from sdcodec.codec import analyze, pack

SETTINGS = {
    "palette K=16": dict(mode="palette", palette_size=16),
    "palette K=64": dict(mode="palette", palette_size=64),
    "palette K=256": dict(mode="palette", palette_size=256),
    "palette K=256 dithered": dict(mode="palette", palette_size=256, dither=True),
}


def psnr(a, b) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / np.mean(d**2)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kodak", type=Path)
    p.add_argument("--images", default="kodim01,kodim03,kodim05,kodim07,kodim15,kodim19,kodim21,kodim23")
    a = p.parse_args(argv)
    rows = {k: [] for k in SETTINGS}
    for name in a.images.split(","):
        im = Image.open(a.kodak / f"{name}.png").convert("RGB")
        an = analyze(im, sdcodec.EncodeOptions(mode="palette"))
        for label, opts in SETTINGS.items():
            data = pack(an, sdcodec.EncodeOptions(**opts))
            f = bitstream.read(data)
            plain = bitstream.write(replace(f, header=replace(f.header, decode=bitstream.DecodeSettings())))
            bpp = 8 * len(data) / (im.width * im.height)
            used = f.header.decode.denoiser != 0
            rows[label].append((bpp, psnr(im, sdcodec.decode(plain)), psnr(im, sdcodec.decode(data)), used))
    n = len(a.images.split(","))
    print(f"| setting ({n} images) | bpp | PSNR without | PSNR as encoded | gain | files using it |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        m = np.mean(r, axis=0)
        print(f"| {label} | {m[0]:.3f} | {m[1]:.2f} | {m[2]:.2f} | {m[2] - m[1]:+.2f} | {int(m[3] * n)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
