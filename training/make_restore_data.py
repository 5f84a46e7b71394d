"""Quantize the training latents the way the hand-made modes do, for the restorer.

Reads CACHE/latents.npy (training/extract_latents.py) and writes CACHE/restore_inputs.npy
(N, 32, 32, 32) float16: each crop's latent after sdcodec's own quantize → dequantize, with
a setting drawn from the quality ladder's hand-made rungs — a palette of K = 16…256
entries (a quarter of them dithered) or the scalar quantizer with a step of 0.2…1.4 —
and CACHE/restore_settings.txt (one setting per crop). Palettes are fitted over groups of
six crops (three photos, 6,144 latent vectors: a 768×512 image's worth), so that entries
are as scarce per vector as on a real image.

    python training/make_restore_data.py .train-cache
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sdcodec import quant

GROUP = 6


def setting(rng: np.random.Generator) -> dict:
    if rng.random() < 0.7:
        k = int(2 ** rng.uniform(4, 8))
        return {"mode": "palette", "palette_size": k, "dither": bool(rng.random() < 0.25)}
    return {"mode": "scalar", "step": float(1.4 * (0.2 / 1.4) ** rng.random())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    lat = np.load(a.cache / "latents.npy", mmap_mode="r")
    n, c, h, w = lat.shape
    out = np.empty(lat.shape, np.float16)
    lines = []
    t0 = time.time()
    for g in range(0, n, GROUP):
        part = lat[g : g + GROUP].astype(np.float32)
        wide = np.concatenate(list(part), axis=2)  # side by side: (C, h, w·GROUP)
        s = setting(rng)
        params, streams = quant.quantize(wide, seed=a.seed, **s)
        shaped = [x.reshape(spec.shape) for x, spec in
                  zip(streams, quant.stream_specs(params, c, h, wide.shape[2]), strict=True)]  # fmt: skip
        back = quant.dequantize(params, shaped, c)
        for i in range(part.shape[0]):
            out[g + i] = back[:, :, i * w : (i + 1) * w]
            lines.append(" ".join(f"{k}={v}" for k, v in s.items()))
        if g % 300 == 0:
            print(f"{g}/{n} {time.time() - t0:.0f} s", flush=True)
    np.save(a.cache / "restore_inputs.npy", out)
    (a.cache / "restore_settings.txt").write_text("\n".join(lines) + "\n")
    err = np.mean((out.astype(np.float32) - lat.astype(np.float32)) ** 2)
    print(f"done in {time.time() - t0:.0f} s, latent MSE {err:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
