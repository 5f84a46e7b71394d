"""What do more refinement steps buy? Mean bpp / PSNR / SSIMULACRA2 / JOD and encode seconds
of ``--refine N --target-bpp X`` over the given images, for each N and X (and, with
``--lr``, each of refinement's learning rates: refine.LEARNING_RATE, set for this run).

    SDCODEC_MODELS=../shared/models python benchmarks/refine_steps.py \\
        ../shared/data/kodak/kodim{01,07,13,23}.png --steps 12,24,48 --rates 0.15,0.25

Prints one line per (steps, rate) (BENCHMARKS.md, session 8). SSIMULACRA2 and JOD need the
bench extra (``pip install -e '.[bench]'``, cvvdp).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import EncodeOptions
from sdcodec.bench import metrics
from sdcodec.errors import InputError
from sdcodec.learned import refine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--steps", default="12,24,48")
    p.add_argument("--rates", default="0.15,0.25")
    p.add_argument("--lr", default=str(refine.LEARNING_RATE), help="comma-separated learning rates")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    for lr, steps, bpp in itertools.product(
        (float(v) for v in a.lr.split(",")),
        [int(s) for s in a.steps.split(",")],
        [float(r) for r in a.rates.split(",")],
    ):
        refine.LEARNING_RATE = lr
        rows = []
        for path in a.images:
            im = Image.open(path).convert("RGB")
            ref = np.asarray(im)
            t = time.perf_counter()
            try:
                data = sdcodec.encode(im, EncodeOptions(target_bpp=bpp, refine=steps))
            except InputError as exc:  # a small image cannot get down to a low rate
                print(f"  {Path(path).name}: {exc}", flush=True)
                continue
            seconds = time.perf_counter() - t
            dec = np.asarray(sdcodec.decode(data).convert("RGB"))
            rows.append((8 * len(data) / (im.width * im.height), metrics.psnr(ref, dec),
                         metrics.ssimulacra2(ref, dec), metrics.jod(ref, dec), seconds))  # fmt: skip
            print(f"  {Path(path).name}: " + " ".join(f"{v:.3f}" for v in rows[-1]), flush=True)
        if not rows:
            print(f"lr {lr} steps {steps} target {bpp}: no image reaches it", flush=True)
            continue
        m = np.mean(rows, axis=0)
        print(f"lr {lr} steps {steps} target {bpp} ({len(rows)} images): {m[0]:.3f} bpp {m[1]:.2f} dB "
              f"SSIMULACRA2 {m[2]:.1f} JOD {m[3]:.2f} encode {m[4]:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
