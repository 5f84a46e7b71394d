"""Cut training crops from ../shared/data/train and encode them with the frozen TAEF2.

Writes OUT/crops.npy (N, 256, 256, 3) uint8, OUT/latents.npy (N, 32, 32, 32) float16 and
OUT/files.txt (the source file of each crop). Deterministic for a given --seed.

    python training/extract_latents.py ../shared/data/train .train-cache --crops-per-image 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from sdcodec.models import by_name, load

CROP = 256


def crops_of(path: Path, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        w, h = im.size
        # images larger than Kodak are shrunk at random, so detail scales resemble the test set
        short = min(w, h)
        if short > 512:
            s = rng.uniform(512 / short, 1.0)
            im = im.resize((round(w * s), round(h * s)), Image.LANCZOS)
        a = np.asarray(im)
    h, w = a.shape[:2]
    if min(h, w) < CROP:
        return []
    out = []
    for _ in range(n):
        y = int(rng.integers(0, h - CROP + 1))
        x = int(rng.integers(0, w - CROP + 1))
        c = a[y : y + CROP, x : x + CROP]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        out.append(np.ascontiguousarray(c))
    return out


def encode_crops(crops: np.ndarray, batch: int = 16) -> np.ndarray:
    """(N, 256, 256, 3) uint8 → (N, 32, 32, 32) float16 TAEF2 latents."""
    enc = load(by_name("taef2"), "encoder", device="cpu")
    lat = np.empty((len(crops), 32, CROP // 8, CROP // 8), np.float16)
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(crops[i : i + batch]).permute(0, 3, 1, 2).float() / 255
            lat[i : i + batch] = enc.net(x).numpy().astype(np.float16)
            if i % (batch * 20) == 0:
                print(f"{i}/{len(crops)} {time.time() - t0:.0f}s", flush=True)
    return lat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--crops-per-image", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=16)
    a = p.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    files = sorted(f for f in a.src.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    crops, names = [], []
    for f in files:
        for c in crops_of(f, a.crops_per_image, rng):
            crops.append(c)
            names.append(f.name)
    crops_arr = np.stack(crops)
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "crops.npy", crops_arr)
    (a.out / "files.txt").write_text("\n".join(names) + "\n")
    lat = encode_crops(crops_arr, a.batch)
    np.save(a.out / "latents.npy", lat)
    print(f"{len(crops_arr)} crops from {len(set(names))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
