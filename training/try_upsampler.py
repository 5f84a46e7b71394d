"""Would a learned 2× upsampler for half-size files pay? (Session 20; not shipped.)

A residual CNN at the coded resolution (5 3×3 convolutions, 48 channels, pixel-shuffled to
2×) added to the 2× Lanczos upscale, in place of Lanczos alone (RSMP's filter 1). After
1,000 steps the held-out crops read 23.31 dB against Lanczos' 23.33, flat from step 250
(training/logs/us1_upsampler_not_shipped.log). Why: on those 64 crops Lanczos down and up
of the clean crop reads 32.1 dB (squared error ≈40) while the coded crop reads 23.3 dB
(≈300); the half-size decode's own error (24.2 dB at half size) is the loss, not the
upscale.

Pairs: CACHE/upsample_inputs.npy (training/make_upsample_data.py: each 256×256 training
crop coded at half size and decoded, 128×128) against CACHE/crops.npy (the crop itself).
Loss: squared error of the upsampled patch against the crop's, in [0, 1]. The last HOLDOUT
crops are never trained on; every EVAL_EVERY steps their PSNR after Lanczos alone and after
the network is printed (rounded to 8 bits, as the decoder gives them).

    SDCODEC_MODELS=../shared/models python training/make_upsample_data.py .train-cache
    cd training && python try_upsampler.py ../.train-cache ../runs/us1 --steps 6000

Checkpoints OUT/ckpt.pt every EVAL_EVERY steps; a second run resumes from it.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from train_latent_codec import HOLDOUT

SEED = 20261201
EVAL_EVERY = 250


def lanczos(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of Pillow's Lanczos upscale (3 lobes, taps normalized)."""
    scale = n_in / n_out
    out = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo, hi = max(int(centre - 3 + 0.5), 0), min(int(centre + 3 + 0.5), n_in)
        t = torch.arange(lo, hi, dtype=torch.float64) - centre + 0.5
        taps = torch.sinc(t) * torch.sinc(t / 3)
        out[i, lo:hi] = taps / taps.sum()
    return out.float()


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    wy, wx = lanczos(x.shape[2], size[1]), lanczos(x.shape[3], size[0])
    return torch.einsum("yh,nchw,xw->ncyx", wy, x, wx)


class Upsampler(nn.Module):
    def __init__(self, hidden: int, depth: int) -> None:
        super().__init__()
        layers: list = [nn.Conv2d(3, hidden, 3, padding=1), nn.LeakyReLU(0.125)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.125)]
        self.body = nn.Sequential(*layers, nn.Conv2d(hidden, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, (2 * x.shape[3], 2 * x.shape[2])) + self.body(x - 0.5)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    a8 = torch.round(a.clamp(0, 1) * 255)
    return float(10 * torch.log10(255**2 / ((a8 - b * 255) ** 2).mean()))


def evaluate(net, small: np.ndarray, full: np.ndarray) -> tuple[float, float]:
    """Mean PSNR over the held-out crops: Lanczos alone, the network."""
    base, ours = [], []
    with torch.no_grad():
        for i in range(0, len(small), 16):
            x = torch.from_numpy(small[i : i + 16]).permute(0, 3, 1, 2).float() / 255
            y = torch.from_numpy(np.array(full[i : i + 16])).permute(0, 3, 1, 2).float() / 255
            size = (y.shape[3], y.shape[2])
            for xi, yi, up in zip(x, y, net(x), strict=True):
                base.append(_psnr(resize(xi[None], size)[0], yi))
                ours.append(_psnr(up, yi))
    return float(np.mean(base)), float(np.mean(ours))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64, help="coded-size patch side")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--depth", type=int, default=5)
    a = p.parse_args()
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    full = np.load(a.cache / "crops.npy", mmap_mode="r")
    small = np.load(a.cache / "upsample_inputs.npy")
    n = len(small) - HOLDOUT
    held_small, held_full = small[n:], np.asarray(full[n:])
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt = a.out / "ckpt.pt"
    net = Upsampler(a.hidden, a.depth)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    ps, size = a.patch, small.shape[1]
    t0, losses = time.time(), []
    while step < a.steps:
        rows = rng.integers(0, n, a.batch)
        ys, xs = rng.integers(0, size - ps + 1, (2, a.batch))
        x = np.stack([small[r, y : y + ps, x : x + ps] for r, y, x in zip(rows, ys, xs, strict=True)])
        y = np.stack([full[r, 2 * y : 2 * (y + ps), 2 * x : 2 * (x + ps)] for r, y, x in zip(rows, ys, xs, strict=True)])
        flip = rng.integers(0, 2, 2)
        x, y = (np.ascontiguousarray(v[:, :, ::-1] if flip[0] else v) for v in (x, y))
        x, y = (np.ascontiguousarray(v.transpose(0, 2, 1, 3) if flip[1] else v) for v in (x, y))
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
        yt = torch.from_numpy(y).permute(0, 3, 1, 2).float() / 255
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        loss = ((net(xt) - yt) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % EVAL_EVERY == 0 or step == a.steps:
            net.eval()
            base, ours = evaluate(net, held_small, held_full)
            net.train()
            print(f"step {step} loss {np.mean(losses):.6f} held-out PSNR Lanczos {base:.3f} net {ours:.3f} "
                  f"({ours - base:+.3f} dB) {time.time() - t0:.0f} s", flush=True)  # fmt: skip
            losses = []
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)


if __name__ == "__main__":
    main()
