"""Would a checkerboard pass inside lc4's channel slices pay? (Measured in session 17; not shipped.)

He et al.'s checkerboard context ("Checkerboard context model for efficient learned image
compression", CVPR 2021) on top of lc4's channel context: each slice coded in two passes,
its anchors ((row + column) even) with lc4's own slice network, kept frozen, then the rest
with a second network that also reads the slice's decoded anchors. That network starts as
a copy of lc4's (the anchor inputs at zero weight), so training starts exactly at lc4.
Prints held-out y bits as a fraction of the hyperprior's, as train_context.py does.

    python training/try_checkerboard.py .train-cache runs/lc7 --minutes 8

Data: train_context.py's (OUT/data.npz, built on first use: lc3's y, μ and s of every
training crop at two random levels in 0.5..4.5, the last 64 crops held out).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from train_context import HOLDOUT, gaussian_bits, make_data, slice_bits

from sdcodec.learned import context, load
from sdcodec.models.registry import codec_by_name


def anchors(h: int, w: int) -> torch.Tensor:
    ii = torch.arange(h)[:, None] + torch.arange(w)[None, :]
    return (ii % 2 == 0).float()[None, None]


def second_pass_nets(first: nn.ModuleList, cs: int) -> nn.ModuleList:
    out = nn.ModuleList()
    for net in first:
        extra = copy.deepcopy(net)
        conv = extra[0]
        wide = nn.Conv2d(conv.in_channels + cs, conv.out_channels, 3, padding=1)
        with torch.no_grad():
            wide.weight.zero_()
            wide.weight[:, : conv.in_channels] = conv.weight
            wide.bias.copy_(conv.bias)
        extra[0] = wide
        out.append(extra.train().requires_grad_(True))
    return out


def bits(first, second, y, mu, s, noise: bool) -> torch.Tensor:
    cs = y.shape[1] // len(first)
    a = anchors(*y.shape[2:])
    done, total = [], 0
    for i in range(len(first)):
        sl = slice(i * cs, (i + 1) * cs)
        before = torch.cat(done, 1) if done else y[:, :0]
        inp = torch.cat([mu[:, sl], context.clamp_s(s[:, sl]), before], 1)
        out_a = first[i](inp)
        m_a = mu[:, sl] + out_a[:, :cs]
        y_a = ((m_a + torch.round(y[:, sl] - m_a)) * a).detach()  # what the decoder has
        out = torch.where(a > 0, out_a, second[i](torch.cat([inp, y_a], 1)))
        part, y_hat = slice_bits(y[:, sl], mu[:, sl] + out[:, :cs], s[:, sl] + out[:, cs:], noise)
        total = total + part
        done.append(y_hat)
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--minutes", type=float, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    data = a.out / "data.npz"
    if not data.exists():
        make_data(a.cache, data, "lc3", a.seed, (0.5, 4.5))
    d = np.load(data)
    y, mu, s = (torch.from_numpy(d[k]) for k in ("y", "mu", "s"))
    first = context.float_nets(load(codec_by_name("lc4"), "cpu").context)
    second = second_pass_nets(first, y.shape[1] // len(first))
    opt = torch.optim.Adam(second.parameters(), a.lr)
    n_train = y.shape[0] - 2 * HOLDOUT
    held = slice(n_train, None)
    with torch.no_grad():
        base = gaussian_bits(torch.round(y[held] - mu[held]), s[held]).sum()
        start = bits(first, second, y[held], mu[held], s[held], False).sum() / base
        print(f"lc4 alone (the second pass not yet trained): {start:.4f}")
    gen = torch.Generator().manual_seed(a.seed)
    t0, step = time.time(), 0
    while time.time() - t0 < a.minutes * 60:
        idx = torch.randint(0, n_train, (a.batch,), generator=gen)
        loss = bits(first, second, y[idx], mu[idx], s[idx], True).mean() / (256 * 256)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 250 == 0:
            with torch.no_grad():
                ratio = bits(first, second, y[held], mu[held], s[held], False).sum() / base
            print(f"step {step} {time.time() - t0:.0f}s held-out y bits {ratio:.4f} of the hyperprior's",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
