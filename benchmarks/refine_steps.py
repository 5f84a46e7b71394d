"""What do more refinement steps buy? Mean bpp / PSNR / SSIMULACRA2 / JOD and encode seconds
of ``--refine N --target-bpp X`` over the given images, for each N and X (and, with
``--set NAME=V1,V2``, each value of one number constant of refinement, rate control or the
refined error — refine.NAME, ratecontrol.NAME or distortion.NAME — set for this run;
``--lr V1,V2`` is ``--set LEARNING_RATE=V1,V2``; ``--structure W1,W2``, each structure
weight; ``--codec NAME``, one learned codec instead of the quality ladder).

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
from sdcodec import EncodeOptions, ratecontrol
from sdcodec.bench import metrics
from sdcodec.errors import InputError
from sdcodec.learned import distortion, refine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--steps", default="12,24,48")
    p.add_argument("--rates", default="0.15,0.25")
    p.add_argument("--lr", help="comma-separated learning rates (--set LEARNING_RATE=...)")
    p.add_argument("--set", metavar="NAME=V1,V2",
                   help="comma-separated values of refine, ratecontrol or distortion.NAME")  # fmt: skip
    p.add_argument("--structure", default=str(EncodeOptions().refine_structure),
                   help="comma-separated structure weights (--structure of sdcodec encode)")  # fmt: skip
    p.add_argument("--downscale", type=int, help="code at 1/K size (--downscale of sdcodec encode)")
    p.add_argument("--codec", help="a learned codec by name (--codec of sdcodec encode; default: the ladder)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    module, name, values = refine, "LEARNING_RATE", a.lr or str(refine.LEARNING_RATE)
    if a.set:
        name, _, values = a.set.partition("=")
        module = next((m for m in (refine, ratecontrol, distortion) if hasattr(m, name)), refine)
    kind = type(getattr(module, name, None))
    if kind is bool:  # 0 / 1
        kind = lambda v: bool(int(v))  # noqa: E731
    elif kind not in (int, float) or not values:
        p.error(f"--set: {name} is not a number constant of refine, ratecontrol or distortion")
    for value, structure, steps, bpp in itertools.product(
        (kind(v) for v in values.split(",")),
        [float(w) for w in a.structure.split(",")],
        [int(s) for s in a.steps.split(",")],
        [float(r) for r in a.rates.split(",")],
    ):
        setattr(module, name, value)
        rows = []
        for path in a.images:
            im = Image.open(path).convert("RGB")
            ref = np.asarray(im)
            t = time.perf_counter()
            try:
                data = sdcodec.encode(im, EncodeOptions(target_bpp=bpp, refine=steps, refine_structure=structure,
                                                            downscale=a.downscale, codec=a.codec))
            except InputError as exc:  # a small image cannot get down to a low rate
                print(f"  {Path(path).name}: {exc}", flush=True)
                continue
            seconds = time.perf_counter() - t
            dec = np.asarray(sdcodec.decode(data).convert("RGB"))
            rows.append((8 * len(data) / (im.width * im.height), metrics.psnr(ref, dec),
                         metrics.ssimulacra2(ref, dec), metrics.jod(ref, dec), seconds))  # fmt: skip
            print(f"  {Path(path).name}: " + " ".join(f"{v:.3f}" for v in rows[-1]), flush=True)
        if not rows:
            print(f"{name} {value} structure {structure:g} steps {steps} target {bpp}: no image reaches it", flush=True)
            continue
        m = np.mean(rows, axis=0)
        print(f"{name} {value} structure {structure:g} steps {steps} target {bpp} ({len(rows)} images): {m[0]:.3f} bpp {m[1]:.2f} dB "
              f"SSIMULACRA2 {m[2]:.1f} JOD {m[3]:.2f} encode {m[4]:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
