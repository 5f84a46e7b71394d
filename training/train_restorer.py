"""Train the decode-side latent restorer (sdcodec.learned.restore) for the hand-made modes.

Input: each training crop's latent after sdcodec's own palette or scalar quantization
(training/make_restore_data.py); target: the original crop. Loss: pixel MSE through the
frozen TAEF2 decoder plus β · (1 − MS-SSIM), on 128-pixel windows (16 latent pixels).
The last 64 crops are held out (the same ones as the codec's); the log reports their PSNR
without and with restoration. Checkpoints every few minutes (OUT/ckpt.pt) and resumes.

    python training/make_restore_data.py .train-cache
    python training/train_restorer.py .train-cache runs/rs1 --minutes 20

``--extra DIR`` mixes a second set into every batch (``--extra-per-batch`` of its crops),
e.g. the synthetic flat colours, gradients, shapes and text of make_synthetic.py; its last
32 crops are held out and reported too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from train_latent_codec import HOLDOUT, log, ms_ssim, pixel_batch

from sdcodec.learned.restore import build
from sdcodec.models import by_name, load

EXTRA_HOLDOUT = 32


def holdout_psnr(net, decoder, x, img) -> str:
    def psnr(lat):
        out = torch.round(decoder(lat).clamp(0, 1) * 255) / 255
        return float(10 * torch.log10(1 / ((out - img) ** 2).mean()))

    net.eval()
    with torch.no_grad():
        before, after = psnr(x), psnr(net(x))
    net.train()
    return f"holdout PSNR before / after: {before:.2f} / {after:.2f} dB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--msssim", type=float, default=0.02, help="β of the structural term")
    p.add_argument("--inputs", default="restore_inputs.npy", help="in CACHE: the degraded latents")
    p.add_argument("--extra", type=Path, help="a second cache (same layout) mixed into each batch")
    p.add_argument("--extra-per-batch", type=int, default=2)
    p.add_argument("--init", type=Path, help="start from this final.pt (a run of the same size)")
    p.add_argument("--identity-start", action="store_true",
                   help="with --init: its output layer set to zero, so training starts from the "
                   "identity on its learned features (rs2 on lc3's latents: 26.30 → 23.69 dB)")  # fmt: skip
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--depth", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    noisy = np.load(a.cache / a.inputs, mmap_mode="r")
    crops = np.load(a.cache / "crops.npy", mmap_mode="r")
    train_n = noisy.shape[0] - HOLDOUT
    hold_x = torch.from_numpy(noisy[train_n : train_n + 16].astype(np.float32))
    hold_img = torch.from_numpy(crops[train_n : train_n + 16].copy()).permute(0, 3, 1, 2).float() / 255
    decoder = load(by_name("taef2"), "decoder", device="cpu").net.float()
    decoder.requires_grad_(False)
    sets = [(noisy, crops, train_n, a.batch)]
    holdouts = [("", hold_x, hold_img)]
    if a.extra:
        e_noisy = np.load(a.extra / a.inputs, mmap_mode="r")
        e_crops = np.load(a.extra / "crops.npy", mmap_mode="r")
        e_n = e_noisy.shape[0] - EXTRA_HOLDOUT
        sets = [(noisy, crops, train_n, a.batch - a.extra_per_batch), (e_noisy, e_crops, e_n, a.extra_per_batch)]
        e_img = torch.from_numpy(e_crops[e_n : e_n + 16].copy()).permute(0, 3, 1, 2).float() / 255
        holdouts.append(("extra ", torch.from_numpy(e_noisy[e_n : e_n + 16].astype(np.float32)), e_img))

    def report(prefix: str = "") -> None:
        for name, x, img in holdouts:
            log(a.out, prefix + name + holdout_psnr(net, decoder, x, img))

    net = build(hidden=a.hidden, depth=a.depth)
    if a.init:
        net.load_state_dict(torch.load(a.init, weights_only=True))
        if a.identity_start:
            with torch.no_grad():
                net.body[-1].weight.zero_()
                net.body[-1].bias.zero_()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    state = {"step": 0, "seconds": 0.0}
    ckpt = a.out / "ckpt.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        log(a.out, f"resumed at {state}")
    else:
        (a.out / "config.json").write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "model": net.config})
        )
        report()

    def save() -> None:
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "state": state}, ckpt)

    t0 = time.time() - state["seconds"]
    last_save = time.time()
    while time.time() - t0 < a.minutes * 60:
        frac = (time.time() - t0) / (a.minutes * 60)
        for g in opt.param_groups:  # the last fifth at a third of the rate
            g["lr"] = a.lr if frac < 0.8 else a.lr / 3
        parts = [pixel_batch(n_, c_, rng, b, t_, a.crop) for n_, c_, t_, b in sets if b]
        x, img = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        rec = decoder(net(x))
        mse = ((rec - img) ** 2).mean(dim=(1, 2, 3))
        loss = (mse + a.msssim * (1 - ms_ssim(rec.clamp(0, 1), img))).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        state["seconds"] = time.time() - t0
        if state["step"] % 200 == 0:
            log(a.out, f"step {state['step']} loss {loss.item():.5f} mse {mse.mean().item():.5f}")
        if state["step"] % 1000 == 0:
            report()
        if time.time() - last_save > 180:
            save()
            last_save = time.time()
    save()
    report("final ")
    torch.save(net.state_dict(), a.out / "final.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
