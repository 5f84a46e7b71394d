"""Train a channel-conditional context model (sdcodec.learned.context) for a shipped
learned codec's y, its transforms and hyperprior frozen: pure density estimation on the
codec's own y of the training crops, no decoder in the loop.

    python training/train_context.py .train-cache runs/lc4 --codec lc3 --minutes 20

Caches y, μ and s of every crop at two random levels (OUT/data.npz), then minimizes y's
bits with uniform noise in place of rounding; the last 64 crops are held out and scored
with real rounding (μ' moves the quantization grid, as in the codec). Checkpoints every
few minutes (OUT/ckpt.pt) and resumes; log in OUT/log.txt, final weights OUT/final.pt.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sdcodec.learned import coding, context, load
from sdcodec.learned.tables import SIGMA_MAX, SIGMA_MIN
from sdcodec.models.registry import codec_by_name

HOLDOUT = 64


def gaussian_bits(r: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """−log2 P of the unit interval around r under N(0, exp(s)²), per element."""
    s = s.clamp(math.log(SIGMA_MIN), math.log(SIGMA_MAX))
    inv = torch.exp(-s) / math.sqrt(2)
    p = (torch.erfc(-(r + 0.5) * inv) - torch.erfc(-(r - 0.5) * inv)) / 2
    return -torch.log2(p.clamp_min(1e-9))


def make_data(cache: Path, out: Path, codec_name: str, seed: int,
              level_range: tuple[float, float]) -> None:  # fmt: skip
    codec = load(codec_by_name(codec_name), "cpu")
    latents = np.load(cache / "latents.npy", mmap_mode="r")
    rng = np.random.default_rng(seed)
    n = latents.shape[0]
    levels = rng.uniform(*level_range, size=(2, n))
    ys, mus, ss, lv = [], [], [], []
    for rep in range(2):
        for i in range(n):
            z, _, mu, _, r = coding.analyse(codec, latents[i].astype(np.float32), levels[rep, i])
            _, s = coding.hyper_params(codec, z)
            ys.append((r + mu / 256.0).astype(np.float32))
            mus.append((mu / 256.0).astype(np.float32))
            ss.append((s / 256.0).astype(np.float32))
            lv.append(levels[rep, i])
    # held-out crops last: rep 0 and rep 1 of the last HOLDOUT crops
    order = [i for i in range(2 * n) if i % n < n - HOLDOUT] + [
        i for i in range(2 * n) if i % n >= n - HOLDOUT]  # fmt: skip
    np.savez(out, y=np.stack(ys)[order], mu=np.stack(mus)[order], s=np.stack(ss)[order],
             level=np.array(lv)[order])  # fmt: skip


def slice_bits(y, m, sp, noise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One slice's bits per sample under N(m, exp(sp)²) (uniform noise in place of rounding
    with ``noise``) and its ŷ, rounded on the m grid, as the next slices see it."""
    r = y - m
    q = torch.round(r)
    bits = gaussian_bits(r + torch.empty_like(r).uniform_(-0.5, 0.5) if noise else q, sp)
    return bits.sum((1, 2, 3)), (m + q).detach()


def total_bits(nets, y, mu, s, noise: bool) -> torch.Tensor:
    """y's bits per sample, slice after slice, each slice's ŷ rounded on its own μ' grid."""
    cs = y.shape[1] // len(nets)
    done, bits = [], 0
    for i in range(len(nets)):
        sl = slice(i * cs, (i + 1) * cs)
        m, sp = context.float_params(nets, i, mu[:, sl], s[:, sl], torch.cat(done, 1) if done
                                     else y[:, :0])  # fmt: skip
        part, y_hat = slice_bits(y[:, sl], m, sp, noise)
        bits = bits + part
        done.append(y_hat)
    return bits


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path, help="training/extract_latents.py's folder")
    p.add_argument("out", type=Path)
    p.add_argument("--codec", default="lc3")
    p.add_argument("--levels", default="0.5,4.5",
                   help="the range of levels to train for (lc3: 0.5,4.5, where the quality ladder "
                   "used it; lc1: 0,4)")  # fmt: skip
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    data = a.out / "data.npz"
    if not data.exists():
        lo, hi = (float(v) for v in a.levels.split(","))
        make_data(a.cache, data, a.codec, a.seed, (lo, hi))
    d = np.load(data)
    y, mu, s = (torch.from_numpy(d[k]) for k in ("y", "mu", "s"))
    m = y.shape[1]
    config = {"model": {"y_channels": m, "slices": context.SLICES, "hidden": context.HIDDEN},
              "codec": a.codec, "args": {k: str(v) for k, v in vars(a).items()}}  # fmt: skip
    (a.out / "config.json").write_text(json.dumps(config, indent=1))
    nets = context.build(m)
    opt = torch.optim.Adam(nets.parameters(), a.lr)
    ckpt = a.out / "ckpt.pt"
    spent, step = 0.0, 0
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        nets.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        spent, step = st["spent"], st["step"]
    n_train = y.shape[0] - 2 * HOLDOUT
    pixels = 256 * 256
    log = (a.out / "log.txt").open("a")
    gen = torch.Generator().manual_seed(a.seed + step)
    t0, last_save = time.time() - spent, time.time()
    with torch.no_grad():
        base = gaussian_bits(torch.round(y[n_train:] - mu[n_train:]), s[n_train:]).sum()
    while time.time() - t0 < a.minutes * 60:
        idx = torch.randint(0, n_train, (a.batch,), generator=gen)
        loss = total_bits(nets, y[idx], mu[idx], s[idx], noise=True).mean() / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 250 == 0 or time.time() - t0 >= a.minutes * 60:
            with torch.no_grad():
                held = total_bits(nets, y[n_train:], mu[n_train:], s[n_train:], noise=False).sum()
            line = (f"step {step} {time.time() - t0:.0f}s train {loss.item():.4f} bpp held-out "
                    f"y bits {held.item() / base.item():.4f} of the hyperprior's")  # fmt: skip
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()
        if time.time() - last_save > 180:
            torch.save({"model": nets.state_dict(), "opt": opt.state_dict(),
                        "spent": time.time() - t0, "step": step}, ckpt)  # fmt: skip
            last_save = time.time()
    torch.save(nets.state_dict(), a.out / "final.pt")
    torch.save({"model": nets.state_dict(), "opt": opt.state_dict(),
                "spent": time.time() - t0, "step": step}, ckpt)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
