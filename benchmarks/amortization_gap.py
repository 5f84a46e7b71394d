"""How much better could the learned codec's analysis be? Refinement toward two targets.

Each image goes through TAEF2's encoder and the learned codec's analysis at one level; its
symbols are then refined (``refine.refine``, the byte cap at the analysis's own bits, so
all three files have the same size) toward

- ``image``: the image itself, as ``sdcodec encode`` does;
- ``taef2``: TAEF2's decode of the unquantized latent, the best an encoder that sees only
  the latent (as the analysis network does) can know of the image;

and all three (``none``: the analysis's own symbols) are decoded and measured against the
image. What ``taef2`` gains over ``none`` is within reach of a better analysis network
alone; what ``image`` gains beyond it needs the pixels (BENCHMARKS.md, session 24):

    SDCODEC_MODELS=../shared/models python benchmarks/amortization_gap.py \\
        ../shared/data/kodak/kodim{01,03,05,07,15,19,21,23}.png --codec lc7 --level 3.5 --steps 6

Prints bpp / PSNR / SSIMULACRA2 / JOD per image and target, then the means.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from sdcodec import models
from sdcodec.bench import metrics
from sdcodec.codec import DEFAULT_STRUCTURE
from sdcodec.learned import coding, load, refine
from sdcodec.models.registry import codec_by_name

TARGETS = ("none", "image", "taef2")


def _measure(codec, decoder, ref, lat, level, symbols) -> tuple[float, ...]:
    z_sym, r_sym = symbols
    payload = coding.pack_symbols(codec, z_sym, r_sym)
    height, width = ref.shape[:2]
    latent = coding.decompress(codec, payload, lat.shape[1], lat.shape[2], level)
    out = np.rint(decoder.decode(latent)[:height, :width] * 255).astype(np.uint8)
    return (8 * len(payload) / (height * width), metrics.psnr(ref, out),
            metrics.ssimulacra2(ref, out), metrics.jod(ref, out))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--codec", default="lc7", help="a learned codec with a context model or not")
    p.add_argument("--level", type=float, default=3.5)
    p.add_argument("--steps", type=int, default=6)
    a = p.parse_args()
    spec = codec_by_name(a.codec)
    if spec is None:
        p.error(f"unknown learned codec '{a.codec}'")
    codec = load(spec)
    taef2 = models.by_name("taef2")
    encoder, decoder = models.load(taef2, "encoder"), models.load(taef2, "decoder")
    rows = []
    for path in a.images:
        ref = np.asarray(Image.open(path).convert("RGB"))
        height, width = ref.shape[:2]
        f = taef2.downsample
        padded = np.pad(ref, ((0, -height % f), (0, -width % f), (0, 0)), mode="edge")
        lat = encoder.encode(padded.astype(np.float32) / 255)
        seen = np.rint(decoder.decode(lat)[:height, :width] * 255).astype(np.uint8)
        z_sym, r_sym, mu, idx, r = coding.analyse(codec, lat, a.level)
        row = []
        for target in TARGETS:
            sym = r_sym
            if target != "none":
                goal = ref if target == "image" else seen
                sym = refine.refine(codec, decoder, None, goal, r, mu, idx, a.level, a.steps,
                                    spare_bits=0.0, z_sym=z_sym, structure=DEFAULT_STRUCTURE)  # fmt: skip
            row.append(_measure(codec, decoder, ref, lat, a.level, (z_sym, sym)))
        rows.append(row)
        print(f"{path.name}: " + " | ".join(f"{t} " + " ".join(f"{v:.3f}" for v in m)
                                            for t, m in zip(TARGETS, row, strict=True)), flush=True)  # fmt: skip
    mean = np.mean(np.array(rows), axis=0)
    print(f"mean of {len(rows)} ({a.codec}, level {a.level:g}, {a.steps} steps; bpp / PSNR / SSIMULACRA2 / JOD):")
    for t, m in zip(TARGETS, mean, strict=True):
        print(f"  {t:6s} {m[0]:.3f} bpp {m[1]:.2f} dB {m[2]:.1f} {m[3]:.3f} JOD")


if __name__ == "__main__":
    main()
