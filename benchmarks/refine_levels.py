"""Where does refinement pay? bpp / PSNR of each image at each quality, unrefined and
refined, plus the refined encode's seconds and peak memory (this process).

    SDCODEC_MODELS=../shared/models python benchmarks/refine_levels.py \\
        ../shared/data/kodak/kodim01.png ../shared/data/kodak/kodim23.png --qualities 20,40,60,80

Prints a Markdown table (docs/LEARNED.md, "Limits" of lc1).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import EncodeOptions


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, np.float64) - np.asarray(b.convert("RGB"), np.float64)
    return float(10 * np.log10(255**2 / np.mean(x**2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--qualities", default="20,40,60,80")
    p.add_argument("--steps", type=int, default=12)
    a = p.parse_args()
    qs = [int(q) for q in a.qualities.split(",")]
    print("| image | " + " | ".join(f"Q {q}" for q in qs) + " |")
    print("|---|" + "---|" * len(qs))
    seconds = []
    for path in a.images:
        src = Image.open(path).convert("RGB")
        px = src.width * src.height
        cells = []
        for q in qs:
            plain = sdcodec.encode(src, EncodeOptions(quality=q))
            t0 = time.perf_counter()
            refined = sdcodec.encode(src, EncodeOptions(quality=q, refine=a.steps))
            seconds.append(time.perf_counter() - t0)
            cells.append(
                f"{8 * len(plain) / px:.3f} / {psnr(src, sdcodec.decode(plain)):.2f} → "
                f"{8 * len(refined) / px:.3f} / {psnr(src, sdcodec.decode(refined)):.2f}"
            )
        print(f"| {path.rsplit('/', 1)[-1].rsplit('.', 1)[0]} | " + " | ".join(cells) + " |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nrefined encode: median {np.median(seconds):.1f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
