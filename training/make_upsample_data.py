"""Data for the upsampler experiment (try_upsampler.py, not shipped): training crops coded at half size.

Reads CACHE/crops.npy (training/extract_latents.py: 256×256 crops of the training photos,
never Kodak) and writes CACHE/upsample_inputs.npy (N, 128, 128, 3) uint8: each crop
through ``sdcodec encode --downscale 2 --quality Q`` (Q drawn from QUALITY, the ladder's
stretch that 0.02–0.1 bpp files use at half size) and decoded up to the point where the
decoder resamples (codec.decode_coded), plus CACHE/upsample_quality.txt (one Q per crop).
Two worker processes, one torch thread each: ≈6 min for 2,826 crops on the 2 cores.

    SDCODEC_MODELS=../shared/models python training/make_upsample_data.py .train-cache
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

QUALITY = (10, 90)
SEED = 20261201


def _code(job: tuple[int, int]) -> tuple[int, np.ndarray]:
    import torch
    from PIL import Image

    import sdcodec
    from sdcodec import EncodeOptions, codec

    torch.set_num_threads(1)
    i, q = job
    crops = np.load(_code.cache / "crops.npy", mmap_mode="r")
    data = sdcodec.encode(Image.fromarray(np.asarray(crops[i])), EncodeOptions(downscale=2, quality=q))
    return i, codec.decode_coded(data)[1]


def _init(cache: Path) -> None:
    _code.cache = cache


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    n, size = np.load(a.cache / "crops.npy", mmap_mode="r").shape[:2]
    quality = np.random.default_rng(SEED).integers(QUALITY[0], QUALITY[1] + 1, n)
    out = np.zeros((n, size // 2, size // 2, 3), np.uint8)
    t = time.time()
    with Pool(a.workers, initializer=_init, initargs=(a.cache,)) as pool:
        for k, (i, rgb) in enumerate(pool.imap_unordered(_code, enumerate(quality.tolist()), chunksize=8)):
            out[i] = rgb
            if k % 200 == 0:
                print(f"{k}/{n} crops, {time.time() - t:.0f} s", flush=True)
    np.save(a.cache / "upsample_inputs.npy", out)
    (a.cache / "upsample_quality.txt").write_text("".join(f"{q}\n" for q in quality))
    print(f"{n} crops in {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
