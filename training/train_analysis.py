"""Retrain a shipped codec's analysis (g_a and its bypass) for its synthesis.

The shipped encoders' g_a was trained with lc3's synthesis; lc5–lc7 retrained the
synthesis on g_a's symbols, never g_a. Refinement toward TAEF2's decode of the latent
(what g_a can know) finds 3/4 of refinement's gain at 0.25 bpp (BENCHMARKS.md, session 24,
benchmarks/amortization_gap.py), so g_a leaves most of it. This trains g_a alone, through
the frozen synthesis and TAEF2 decoder, for refinement's objective: the context model's y
bits (its float twin, straight-through rounding as refinement) + λ(level) · (squared error
+ the structural and luma band terms), per crop. z, the hyperprior and every table stay
(z's symbols are rounded h_a outputs of the new y: same format, same decoder).

    (cd training && python train_analysis.py ../.train-cache ../runs/ga7 --codec lc7 --minutes 25)

``--matched`` weighs the rate up as refinement's uncapped path does (its error with the
structural and band terms over squared error alone). ``--fixed-rate`` instead holds each
level's rate at the shipped analysis's on every crop (a dual variable per level), so a
level keeps the bytes rate control expects of it and only the picture changes.

Logs held-out crops before and after, coded exactly (coding.analyse) with the kernels
rounded to int8 as they ship: bpp and PSNR. Writes ``analysis.safetensors`` (for
CodecSpec.analysis) with the run's arguments, steps, minutes and last loss window.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from train_latent_codec import HOLDOUT, log

from sdcodec.codec import DEFAULT_STRUCTURE
from sdcodec.learned import (
    coding,
    context,
    distortion,
    float_state,
    float_tensors,
    intnet,
    load,
    save_analysis,
    tables,
)
from sdcodec.models import by_name
from sdcodec.models import load as load_autoencoder
from sdcodec.models.registry import codec_by_name

TRAINED = ("g_a.", "g_a_skip.")


def _coded(codec, net, latent, level: float):
    """g_a's y for one crop through the context model's float twin: (y_hat, bits, gain)."""
    gain = net.gain(torch.tensor([level]))[0].float().view(-1, 1, 1)
    y = net.analysis(latent[None])[0] * gain
    with torch.no_grad():
        z = net.h_a(y[None])[0]
    z_sym = np.clip(np.round(z.numpy()), -tables.Z_RANGE, tables.Z_RANGE).astype(np.int64)
    mu0, s0 = (torch.from_numpy(v / float(1 << intnet.FRAC)).float() for v in coding.hyper_params(codec, z_sym))
    if codec.context is None:
        # lc1's symbols (lc6): y − μ rounded, every scale where z put it
        r = y - mu0
        y_hat = mu0 + r + (torch.round(r) - r).detach()
        return y_hat, -torch.log2(net.y_likelihood(r, context.clamp_s(s0))).sum(), gain
    ctx = codec.context_nets()
    bits, parts = 0, []
    for i, sl in enumerate(coding.slices(codec, y.shape[0])):
        before = torch.cat(parts, 0)[None] if parts else y[None, :0]
        m, sp = context.float_params(ctx, i, mu0[None, sl], s0[None, sl], before)
        r = y[sl] - m[0]
        parts.append(r + (torch.round(r) - r).detach() + m[0])
        bits = bits - torch.log2(net.y_likelihood(r, context.clamp_s(sp[0]))).sum()
    return torch.cat(parts, 0), bits, gain


def objective(codec, decoder, latent, img, level: float, matched: bool = False, rate_weight=None):
    """Refinement's uncapped score for one crop, differentiable in g_a: (loss, bits, MSE).
    ``rate_weight`` (a float) replaces the rate's weight: the fixed-rate dual variable."""
    net = codec.net
    y_hat, bits, gain = _coded(codec, net, latent, level)
    h, w = latent.shape[1:]
    rec = decoder(net.synthesis((y_hat / gain)[None])[:, :, :h, :w])
    pixels = img.shape[1] * img.shape[2]
    bpp = float(bits.detach()) / pixels
    err = distortion.tile_error(distortion.weight_at(DEFAULT_STRUCTURE, bpp), distortion.band_at(bpp))
    total = err(rec, img[None])
    sse = ((rec - img[None]) ** 2).sum()
    lam = net.lam(level) * 255**2
    # --matched: the rate weighed up as refinement weighs it (its step-0 error over squared
    # error alone), so the extra terms do not buy bits the level's λ would not
    weight = (total / sse).detach() if matched else 1.0
    if rate_weight is not None:
        weight = rate_weight
    return weight * bits / pixels + lam * total / img.numel(), bpp, float(sse.detach()) / img.numel()


def evaluate(codec, decoder, latents, crops, rows, levels) -> str:
    parts = []
    with torch.no_grad():
        for lv in levels:
            bpp, mse = [], []
            for row in rows:
                lat = np.asarray(latents[row], np.float32)
                z_sym, r_sym, mu, idx, _ = coding.analyse(codec, lat, lv)
                payload = coding.pack_symbols(codec, z_sym, r_sym, idx)
                latent = coding.decompress(codec, payload, lat.shape[1], lat.shape[2], lv)
                out = np.rint(decoder.decode(latent) * 255)
                bpp.append(8 * len(payload) / (out.shape[0] * out.shape[1]))
                mse.append(np.mean((out - np.asarray(crops[row], np.float64)) ** 2))
            parts.append(f"L{lv:g} {np.mean(bpp):.3f} bpp {10 * np.log10(255**2 / np.mean(mse)):.2f} dB")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--codec", default="lc7")
    p.add_argument("--levels", default="0.5,1,2,3,4,5,6")
    p.add_argument("--minutes", type=float, default=25)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--matched", action="store_true", help="weigh the rate as refinement does")
    p.add_argument("--fixed-rate", action="store_true",
                   help="hold each level's rate at the shipped g_a's (a dual variable per level)")
    p.add_argument("--dual-lr", type=float, default=0.05)
    p.add_argument("--dual-init", type=float, default=1.5,
                   help="every level's rate weight at the start (ga7's settled at 6–16)")
    p.add_argument("--resume", type=Path, help="start from a run's last.pt or final.pt")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    codec = load(codec_by_name(a.codec))
    net = codec.net.float()
    net.requires_grad_(False)
    params = [prm for n, prm in net.named_parameters() if n.startswith(TRAINED)]
    for prm in params:
        prm.requires_grad_(True)
    # --fixed-rate: the shipped analysis, frozen, sets each crop's rate; a log rate weight
    # per level rises while the new one spends more bits than that and falls while less
    ref = copy.deepcopy(net) if a.fixed_rate else None
    if a.resume is not None:
        net.load_state_dict(torch.load(a.resume, weights_only=True), strict=False)
    auto = load_autoencoder(by_name("taef2"), "decoder", device="cpu")
    decoder = auto.net.float()
    levels = [float(v) for v in a.levels.split(",")]
    latents = np.load(a.cache / "latents.npy", mmap_mode="r")
    crops = np.load(a.cache / "crops.npy", mmap_mode="r")
    total = latents.shape[0] - HOLDOUT
    held = np.arange(latents.shape[0] - 16, latents.shape[0])
    log(a.out, f"{vars(a)}")
    log(a.out, "holdout before " + evaluate(codec, auto, latents, crops, held, levels[1::2]))
    opt = torch.optim.Adam(params, lr=a.lr)
    log_w = {lv: float(np.log(a.dual_init)) for lv in levels}
    t0, step, window, window_summary = time.time(), 0, [], ""
    while time.time() - t0 < a.minutes * 60:
        losses = []
        for row in rng.integers(0, total, a.batch):
            lat = torch.from_numpy(np.asarray(latents[row], np.float32))
            img = torch.from_numpy(np.array(crops[row])).permute(2, 0, 1).float() / 255
            lv = float(rng.choice(levels))
            rw = None
            if ref is not None:
                with torch.no_grad():
                    ref_bits = float(_coded(codec, ref, lat, lv)[1])
                rw = float(np.exp(log_w[lv]))
            loss, bpp, mse = objective(codec, decoder, lat, img, lv, a.matched, rw)
            if ref is not None:
                pixels = img.shape[1] * img.shape[2]
                # the log of the ratio, clipped: a flat crop's few reference bits would
                # otherwise kick the weight up far more than a busy crop can pull it down
                # (lc6 level 4's weight ran away to 380 and took g_a with it)
                ratio = max(bpp * pixels, 1.0) / max(ref_bits, 1.0)
                log_w[lv] = float(np.clip(log_w[lv] + a.dual_lr * np.clip(np.log(ratio), -0.5, 0.5),
                                          np.log(0.25), np.log(64)))
            losses.append(loss)
            window.append((loss.item(), bpp, mse))
        opt.zero_grad()
        torch.stack(losses).mean().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            lo, bpp, mse = np.mean(window, axis=0)
            window = []
            duals = " ".join(f"{lv:g}:{np.exp(v):.2f}" for lv, v in log_w.items()) if ref is not None else ""
            window_summary = f"step {step} loss {lo:.4f} bpp {bpp:.3f} mse {mse:.5f} {duals}".rstrip()
            log(a.out, window_summary)
        if step % 500 == 0:
            torch.save({k: v for k, v in net.state_dict().items() if k.startswith(TRAINED)}, a.out / "last.pt")
    trained = {k: v for k, v in net.state_dict().items() if k.startswith(TRAINED)}
    torch.save(trained, a.out / "final.pt")
    run = {**{k: str(v) for k, v in vars(a).items()}, "steps": step,
           "minutes": round((time.time() - t0) / 60, 1), "last_window": window_summary}
    sha = save_analysis(a.out / "analysis.safetensors", trained, a.codec, {"run": run})
    # evaluate what ships: the kernels rounded to int8 as save_analysis stores them
    net.load_state_dict(float_state(float_tensors(trained), trained.keys()), strict=False)
    log(a.out, f"holdout after {step} steps " + evaluate(codec, auto, latents, crops, held, levels[1::2]))
    log(a.out, f"analysis.safetensors sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
