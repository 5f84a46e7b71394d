"""Quantize the training latents the way the hand-made modes do, for the restorer.

Reads CACHE/latents.npy (training/extract_latents.py) and writes CACHE/restore_inputs.npy
(N, 32, 32, 32) float16: each crop's latent after sdcodec's own quantize → dequantize, with
a setting drawn from the quality ladder's hand-made rungs — a palette of K = 16…256
entries (a quarter of them dithered) or the scalar quantizer with a step of 0.2…1.4 —
and CACHE/restore_settings.txt (one setting per crop). Palettes are fitted over groups of
six crops (three photos, 6,144 latent vectors: a 768×512 image's worth), so that entries
are as scarce per vector as on a real image.

    python training/make_restore_data.py .train-cache
    python training/make_restore_data.py .train-cache --codec lc1   # lc1's own errors

With ``--codec NAME`` the crops go through that shipped learned codec instead (its real
compress → decompress), each at a random level, into
CACHE/restore_inputs_NAME.npy.
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


def learned_errors(a) -> int:
    from sdcodec import learned, models
    from sdcodec.learned.coding import compress, decompress

    codec = learned.load(models.registry.codec_by_name(a.codec), "cpu")
    rng = np.random.default_rng(a.seed)
    lat = np.load(a.cache / "latents.npy", mmap_mode="r")
    n, _, h, w = lat.shape
    out = np.empty(lat.shape, np.float16)
    levels = rng.uniform(0, codec.levels - 1, n)
    for i in range(n):  # the real coder: integer hyper-synthesis, rounding, tables
        x = lat[i].astype(np.float32)
        out[i] = decompress(codec, compress(codec, x, levels[i]), h, w, levels[i])
    np.save(a.cache / f"restore_inputs_{a.codec}.npy", out)
    (a.cache / f"restore_settings_{a.codec}.txt").write_text("".join(f"level={v:.3f}\n" for v in levels))
    print(f"latent MSE {np.mean((out.astype(np.float32) - lat.astype(np.float32)) ** 2):.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--codec", help="a shipped learned codec instead of the hand-made modes")
    a = p.parse_args(argv)
    if a.codec:
        return learned_errors(a)
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
