"""Synthetic 256×256 crops that photographs lack: flat colours, smooth gradients, hard-edged
shapes and text, encoded with the frozen TAEF2.

The photo crops have no flat areas, and the restorer trained on them alone learned to
invent texture and shift colours there (a uniform image lost 3.8 dB). These crops are
mixed into its training (``train_restorer.py --extra``). Writes OUT/crops.npy,
OUT/latents.npy and OUT/files.txt (the kind of each crop) in the layout of
extract_latents.py, so make_restore_data.py works on OUT unchanged.

    python training/make_synthetic.py .train-synth --n 640 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from extract_latents import CROP, encode_crops
from PIL import Image, ImageDraw, ImageFont

KINDS = ("flat", "gradient", "shapes", "text")


def colour(rng: np.random.Generator) -> tuple[int, int, int]:
    if rng.random() < 0.3:  # saturated: the corners of the RGB cube shift most
        corner = rng.choice([0, 255], 3) + rng.integers(-20, 21, 3)
        return tuple(int(v) for v in corner.clip(0, 255))
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    a, b = np.array(colour(rng), np.float32), np.array(colour(rng), np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    if rng.random() < 0.7:
        t = np.cos(rng.uniform(0, np.pi)) * xx + np.sin(rng.uniform(0, np.pi)) * yy
    else:
        cy, cx = rng.uniform(0, 1, 2)
        t = np.hypot(yy - cy, xx - cx)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return a + (b - a) * t[..., None]


def shapes(rng: np.random.Generator, base: Image.Image, size: int) -> None:
    draw = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(2, 9))):
        x0, y0 = rng.integers(-size // 4, size, 2)
        w, h = rng.integers(size // 16, size // 2, 2)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        if rng.random() < 0.5:
            draw.rectangle(box, fill=colour(rng))
        else:
            draw.ellipse(box, fill=colour(rng))


def text(rng: np.random.Generator, base: Image.Image, size: int) -> None:
    draw = ImageDraw.Draw(base)
    font = ImageFont.load_default(size=float(rng.uniform(size / 24, size / 8)))
    ink = colour(rng)
    y = int(rng.integers(0, size // 8))
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,"
    while y < size:
        line = "".join(rng.choice(list(letters), int(rng.integers(8, 30))))
        draw.text((int(rng.integers(-8, size // 4)), y), line, fill=ink, font=font)
        y += int(font.size * rng.uniform(1.2, 1.8))


def crop(rng: np.random.Generator, kind: str) -> np.ndarray:
    # drawn at twice the size and shrunk: anti-aliased edges, as in real graphics
    big = CROP * 2
    if kind == "flat" or rng.random() < 0.5:
        base = np.broadcast_to(np.array(colour(rng), np.float32), (big, big, 3))
    else:
        base = gradient(rng, big)
    im = Image.fromarray(np.round(base).astype(np.uint8))
    if kind == "gradient":
        im = Image.fromarray(np.round(gradient(rng, big)).astype(np.uint8))
    elif kind == "shapes":
        shapes(rng, im, big)
    elif kind == "text":
        text(rng, im, big)
    a = np.asarray(im.resize((CROP, CROP), Image.LANCZOS), np.float32)
    if rng.random() < 0.3:  # a little sensor noise
        a = a + rng.normal(0, rng.uniform(0.5, 3), a.shape)
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--n", type=int, default=640)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(a.n)]
    crops = np.stack([crop(rng, k) for k in kinds])
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "crops.npy", crops)
    (a.out / "files.txt").write_text("".join(f"synthetic:{k}\n" for k in kinds))
    np.save(a.out / "latents.npy", encode_crops(crops))
    print(f"{a.n} synthetic crops in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
