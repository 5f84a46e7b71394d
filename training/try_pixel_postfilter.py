"""Would a learned pixel post-filter after TAEF2 pay? (Measured in session 14; not shipped.)

A small residual CNN (2× space-to-depth, ``--width`` channels, 4 convolutions: ≈1.5 G
multiply-adds for 768×512, ≈0.1 s) on the decoded RGB, trained for MSE on what lc5's
shipped synthesis and the frozen TAEF2 decoder make of the training crops' exact symbols
(train_synthesis.py's OUT/symbols.npy, levels 2 and 3 of its four: 0.15 and 0.25 bpp).
Prints the 16 held-out crops' PSNR before → after, per level, as it trains.

    python training/try_pixel_postfilter.py .train-cache runs/lc5 --codec lc5 --crops 400 --minutes 8

Step 1 (decoding 416 crops at two levels, ≈6 min on the 2 cores) is cached in
OUT/postfilter_decoded.npy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from train_latent_codec import HOLDOUT

from sdcodec.learned import load
from sdcodec.models import by_name
from sdcodec.models import load as load_autoencoder
from sdcodec.models.registry import codec_by_name


def decoded(a, sym, index: np.ndarray, levels: list[int]) -> np.ndarray:
    path = a.out / "postfilter_decoded.npy"
    if path.exists():
        return np.load(path)
    decoder = (
        load_autoencoder(by_name("taef2"), "decoder", device="cpu")
        .net.float()
        .requires_grad_(False)
    )
    net = load(codec_by_name(a.codec)).net.float().requires_grad_(False)
    out = np.empty((len(index), len(levels), sym.shape[3] * 16, sym.shape[4] * 16, 3), np.uint8)
    for k in range(0, len(index), 8):
        rows = index[k : k + 8]
        for j, lv in enumerate(levels):
            with torch.no_grad():
                rgb = decoder(
                    net.synthesis(torch.from_numpy(np.asarray(sym[rows, lv], np.float32)))
                ).clamp(0, 1)
            out[k : k + len(rows), j] = (rgb * 255).round().byte().permute(0, 2, 3, 1).numpy()
    np.save(path, out)
    return out


class PostFilter(nn.Module):
    def __init__(self, width: int, depth: int = 4) -> None:
        super().__init__()
        layers: list = [nn.Conv2d(12, width, 3, padding=1), nn.LeakyReLU(0.125)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.125)]
        layers.append(nn.Conv2d(width, 12, 3, padding=1))
        nn.init.zeros_(layers[-1].weight)  # starts as the identity
        nn.init.zeros_(layers[-1].bias)
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + F.pixel_shuffle(self.body(F.pixel_unshuffle(x, 2)), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path, help="output of training/extract_latents.py")
    p.add_argument("out", type=Path, help="a train_synthesis.py run (its symbols.npy)")
    p.add_argument("--codec", default="lc5")
    p.add_argument("--levels", default="1,2", help="indices into the run's levels")
    p.add_argument("--crops", type=int, default=400)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--minutes", type=float, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    sym = np.load(a.out / "symbols.npy", mmap_mode="r")
    crops = np.load(a.cache / "crops.npy", mmap_mode="r")
    # the symbols' rows, as train_synthesis.py chose them: evenly spaced training crops,
    # then the HOLDOUT held-out ones; its last 16 are the held-out set here too
    total = crops.shape[0] - HOLDOUT
    train_n = sym.shape[0] - HOLDOUT
    source = np.concatenate(
        [np.linspace(0, total - 1, train_n).round().astype(int), np.arange(total, total + HOLDOUT)]
    )
    index = np.concatenate(
        [
            np.linspace(0, train_n - 1, a.crops).round().astype(int),
            np.arange(len(source) - 16, len(source)),
        ]
    )
    dec = decoded(a, sym, index, [int(v) for v in a.levels.split(",")])
    orig = np.stack([crops[source[i]] for i in index])
    n = len(index) - 16

    def tensor(v):
        return torch.from_numpy(np.ascontiguousarray(v)).permute(0, 3, 1, 2).float() / 255

    net = PostFilter(a.width)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def held_out() -> str:
        parts = []
        with torch.no_grad():
            ref = tensor(orig[n:])
            for j in range(dec.shape[1]):
                x = tensor(dec[n:, j])
                y = torch.round(net(x).clamp(0, 1) * 255) / 255
                before, after = (10 * np.log10(1 / ((v - ref) ** 2).mean().item()) for v in (x, y))
                parts.append(f"{before:.2f} -> {after:.2f} dB")
        return " | ".join(parts)

    print("held out", held_out(), flush=True)
    t0, step = time.time(), 0
    while time.time() - t0 < a.minutes * 60:
        for g in opt.param_groups:
            g["lr"] = 1e-3 * (1 - (time.time() - t0) / (a.minutes * 60)) + 1e-5
        i, j = rng.integers(0, n, 16), rng.integers(0, dec.shape[1], 16)
        oy, ox = (int(v) for v in rng.integers(0, dec.shape[2] - 128 + 1, 2))
        x, ref = (
            tensor(dec[i, j, oy : oy + 128, ox : ox + 128]),
            tensor(orig[i, oy : oy + 128, ox : ox + 128]),
        )
        loss = ((net(x) - ref) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 300 == 0:
            print(f"step {step} ({time.time() - t0:.0f} s) held out", held_out(), flush=True)
    print(f"end, step {step}: held out", held_out(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
