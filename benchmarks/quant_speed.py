"""Seconds of k-means and dithering against the autoencoder, on real TAEF2 latents.

    python benchmarks/quant_speed.py ../shared/data/kodak/kodim23.png

Prints the times for the image as it is and for a 2048×1536 upscale of it (a larger
photo), to show whether the quantizer is ever the bottleneck.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from PIL import Image

from sdcodec import models
from sdcodec.quant import affine, palette


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    spec = models.by_name("taef2")
    enc = models.load(spec, "encoder")
    base = Image.open(argv[0]).convert("RGB")
    print("| image | latent | encoder s | k-means K=256 s | nearest s | dither s |")
    print("|---|---|---:|---:|---:|---:|")
    for size in (base.size, (2048, 1536)):
        rgb = np.asarray(base.resize(size, Image.LANCZOS), dtype=np.float32) / 255.0
        z, t_enc = timed(enc.encode, rgb)
        q = affine.fit(z).to_uint8(z)
        img = np.ascontiguousarray(q.transpose(1, 2, 0))
        vecs = img.reshape(-1, img.shape[2])
        pal, t_km = timed(palette.kmeans, vecs, 256)
        _, t_near = timed(palette.nearest, vecs, pal)
        _, t_dith = timed(palette.dither, img, pal)
        print(f"| {size[0]}×{size[1]} | {z.shape[1]}×{z.shape[2]}×{z.shape[0]} | {t_enc:.2f} "
              f"| {t_km:.2f} | {t_near:.3f} | {t_dith:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
