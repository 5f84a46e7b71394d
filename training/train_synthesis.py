"""Fine-tune a shipped codec's synthesis (g_s and its bypass) for what viewers see, its
symbols unchanged.

The codec's transforms were trained for bits + λ · pixel MSE; this retrains only the
decoder's half, on the exact symbols the shipped encoder writes (coding.analyse, integer
probability model and all), for pixel MSE + w · the structural term of
sdcodec/learned/distortion.py (multi-scale SSIM, the term refinement lowers), w tapered
with each crop's bits per pixel like refinement's (distortion.weight_at). The rate cannot
move: the file's symbols and their probabilities are the same, only what the decoder makes
of them changes, so the result ships as a new codec id that reads the base codec's
symbols (export_codec.py --synthesis).

Each sample's loss is log(distortion): every level improves by the same ratio, where λ
weighting would leave the low levels (the ultra-low rates this codec is for) with nothing.

Step 1 (once): ŷ of CROPS training crops and the held-out ones at LEVELS, OUT/symbols.npy (float16,
the synthesis input ŷ / gain) and OUT/bpp.npy. Step 2: Adam on g_s, checkpoints every
few minutes (OUT/ckpt.pt), log in OUT/log.txt, OUT/final.pt at the end.

    python training/train_synthesis.py .train-cache runs/lc5 --codec lc4 --minutes 45
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from train_latent_codec import HOLDOUT, log  # the same held-out crops and log format

from sdcodec.codec import DEFAULT_STRUCTURE
from sdcodec.learned import coding, distortion, intnet, load, refine, tables
from sdcodec.models import by_name
from sdcodec.models import load as load_autoencoder
from sdcodec.models.registry import codec_by_name

TRAINED = ("g_s.", "g_s_skip.")


def make_symbols(codec, latents: np.ndarray, rows: np.ndarray, levels: list[float], out: Path,
                 crops: np.ndarray | None = None, refine_steps: int = 0) -> None:  # fmt: skip
    """ŷ / gain and bits per pixel of the crops ``rows`` at every level, exactly as encoded
    (the integer probability model makes this ≈0.13 s per crop and level on this CPU).
    With ``refine_steps`` the symbols are what ``--refine`` writes (no byte cap, the default
    structural weight, no restorer): a synthesis trained on the analysis's own ŷ meets
    other symbols in every refined file."""
    path, bpath = out / "symbols.npy", out / "bpp.npy"
    if path.exists() and bpath.exists():
        return
    m = codec.net.config["y_channels"]
    h, w = latents.shape[2] // 2, latents.shape[3] // 2
    part = out / "symbols.part.npy"
    sym = np.lib.format.open_memmap(part, "w+", np.float16, (len(rows), len(levels), m, h, w))
    bpp = np.zeros((len(rows), len(levels)), np.float32)
    counts = codec.y_counts.astype(np.float64)
    log2p = np.log2(counts) - np.log2(counts.sum(axis=1, keepdims=True))
    decoder = None
    if refine_steps:
        decoder = load_autoencoder(by_name("taef2"), "decoder", device="cpu")
    t0 = time.time()
    for i, row in enumerate(rows):
        lat = np.asarray(latents[row], np.float32)
        for j, lv in enumerate(levels):
            z_sym, r_sym, mu, idx, r = coding.analyse(codec, lat, lv)
            if refine_steps:
                r_sym = refine.refine(codec, decoder, None, np.asarray(crops[row]), r, mu, idx, lv,
                                      refine_steps, z_sym=z_sym, structure=DEFAULT_STRUCTURE)  # fmt: skip
                mu, idx = coding.symbol_params(codec, z_sym, r_sym)  # a context model's μ follows them
            y_hat = (r_sym + mu / float(1 << intnet.FRAC)) / coding._gain(codec, lv).numpy()
            sym[i, j] = y_hat
            k = np.clip(r_sym + tables.Y_RANGE, 0, 2 * tables.Y_RANGE)
            bpp[i, j] = -log2p[idx, k].sum() / (lat.shape[1] * lat.shape[2] * 64)
        if i % 100 == 0:
            log(out, f"symbols {i}/{len(rows)} ({time.time() - t0:.0f} s)")
    sym.flush()
    del sym
    np.save(bpath, bpp)
    part.rename(path)


def batch(sym, bpp, crops, rows, rng, n: int, train_n: int, crop: int):
    """n random (crop, level) pairs of the first ``train_n`` rows: ŷ / gain (B, M, h, w),
    the image window (B, 3, crop, crop) in [0, 1], its latent window, and bits per pixel."""
    idx = rng.integers(0, train_n, n)
    lv = rng.integers(0, sym.shape[1], n)
    cl = crop // 8
    oy, ox = (int(v) for v in rng.integers(0, sym.shape[3] * 2 - cl + 1, 2))
    y = torch.from_numpy(np.stack([np.asarray(sym[i, j], np.float32) for i, j in zip(idx, lv, strict=True)]))
    img = np.stack([crops[rows[i]][oy * 8 : (oy + cl) * 8, ox * 8 : (ox + cl) * 8] for i in idx])
    img = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255
    return y, img, (oy, ox, cl), bpp[idx, lv]


def pixel_error(net, decoder, y, img, window, weights, bands=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (MSE, MSE + w · structural term + band · the luma band's squared error)
    of the decoded windows: refinement's error (distortion.tile_error) per pixel."""
    oy, ox, cl = window
    lat = net.synthesis(y)[:, :, oy : oy + cl, ox : ox + cl]
    rec = decoder(lat)
    mse = ((rec - img) ** 2).mean(dim=(1, 2, 3))
    ssim = torch.stack([distortion.ssim_error(rec[i : i + 1], img[i : i + 1]) for i in range(len(rec))])
    err = mse + torch.as_tensor(weights, dtype=mse.dtype) * ssim
    if bands is not None and any(bands):
        per = img[0].numel()
        band = torch.stack([distortion._band_sse(rec[i : i + 1] - img[i : i + 1]) / per for i in range(len(rec))])
        err = err + torch.as_tensor(bands, dtype=mse.dtype) * band
    return mse, err


def evaluate(net, decoder, sym, bpp, crops, rows, first: int) -> str:
    """Held-out crops (rows ``first`` on), every level: bpp, PSNR of the rounded pixels,
    structural term."""
    parts = []
    with torch.no_grad():
        for j in range(sym.shape[1]):
            y = torch.from_numpy(np.asarray(sym[first:, j], np.float32))
            img = torch.from_numpy(np.stack([crops[i] for i in rows[first:]])).permute(0, 3, 1, 2).float() / 255
            rec = decoder(net.synthesis(y)).clamp(0, 1)
            mse = ((torch.round(rec * 255) / 255 - img) ** 2).mean()
            ssim = np.mean([distortion.ssim_error(rec[i : i + 1], img[i : i + 1]).item() for i in range(len(y))])
            parts.append(f"{bpp[first:, j].mean():.3f} bpp {10 * np.log10(1 / mse.item()):.2f} dB s {ssim:.4f}")
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path, help="output of training/extract_latents.py")
    p.add_argument("out", type=Path)
    p.add_argument("--codec", default="lc4", help="the shipped codec whose symbols are decoded")
    p.add_argument("--levels", default="0.5,2,3.5,5", help="levels the symbols are made at")
    p.add_argument("--crops", type=int, default=1200, help="training crops, evenly spaced over the cache")
    p.add_argument("--structure", type=float, default=DEFAULT_STRUCTURE)
    p.add_argument("--minutes", type=float, default=45)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=2000, help="steps between held-out evaluations")
    p.add_argument("--refine", type=int, default=0,
                   help="make the symbols with this many refinement steps (0: the analysis's own)")
    p.add_argument("--band", action="store_true",
                   help="add refinement's luma band term (distortion.band_at each crop's bpp) to the loss")
    p.add_argument("--decoder-lr", type=float, default=0.0,
                   help="also fine-tune TAEF2's decoder at this rate (0: frozen)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    codec = load(codec_by_name(a.codec))
    levels = [float(v) for v in a.levels.split(",")]
    latents = np.load(a.cache / "latents.npy", mmap_mode="r")
    crops = np.load(a.cache / "crops.npy", mmap_mode="r")
    total = latents.shape[0] - HOLDOUT
    train_n = min(a.crops, total)
    rows = np.concatenate([np.linspace(0, total - 1, train_n).round().astype(int), np.arange(total, total + HOLDOUT)])
    make_symbols(codec, latents, rows, levels, a.out, crops, a.refine)
    # the last 16 held-out crops, every time: lc5's and lc6's logs end with a "final
    # holdout" over all 64, which does not compare with their other holdout lines
    held = train_n + HOLDOUT - 16
    sym = np.load(a.out / "symbols.npy", mmap_mode="r")
    bpp = np.load(a.out / "bpp.npy")

    decoder = load_autoencoder(by_name("taef2"), "decoder", device="cpu").net.float()
    decoder.requires_grad_(a.decoder_lr > 0)
    net = codec.net.float()
    net.requires_grad_(False)
    params = [prm for n, prm in net.named_parameters() if n.startswith(TRAINED)]
    for prm in params:
        prm.requires_grad_(True)
    groups = [{"params": params, "lr": a.lr, "base": a.lr}]
    if a.decoder_lr > 0:
        params = params + list(decoder.parameters())
        groups.append({"params": list(decoder.parameters()), "lr": a.decoder_lr, "base": a.decoder_lr})
    opt = torch.optim.Adam(groups)
    state = {"step": 0, "seconds": 0.0}
    ckpt = a.out / "ckpt.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        net.load_state_dict(saved["model"])
        if "decoder" in saved:
            decoder.load_state_dict(saved["decoder"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        log(a.out, f"resumed at {state} with {vars(a)}")
    else:
        (a.out / "config.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}}))
        log(a.out, "holdout before " + evaluate(net, decoder, sym, bpp, crops, rows, held))

    def save() -> None:
        trained = {k: v for k, v in net.state_dict().items() if k.startswith(TRAINED)}
        extra = {"decoder": decoder.state_dict()} if a.decoder_lr > 0 else {}
        torch.save({"model": net.state_dict(), "trained": trained, "opt": opt.state_dict(), "state": state, **extra}, ckpt)

    last_save = time.time()
    t0 = time.time() - state["seconds"]
    window = []
    while time.time() - t0 < a.minutes * 60:
        frac = (time.time() - t0) / (a.minutes * 60)
        for g in opt.param_groups:  # the last fifth at a third of the rate
            g["lr"] = g["base"] if frac < 0.8 else g["base"] / 3
        y, img, win, b = batch(sym, bpp, crops, rows, rng, a.batch, train_n, a.crop)
        wts = [distortion.weight_at(a.structure, float(v)) for v in b]
        bands = [distortion.band_at(float(v)) for v in b] if a.band else None
        mse, err = pixel_error(net, decoder, y, img, win, wts, bands)
        loss = torch.log(err).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] += 1
        state["seconds"] = time.time() - t0
        window.append((loss.item(), mse.mean().item()))
        if state["step"] % 200 == 0:
            lo, ms = np.mean(window, axis=0)
            window = []
            log(a.out, f"step {state['step']} loss {lo:.4f} mse {ms:.5f}")
        if state["step"] % a.eval_every == 0:
            log(a.out, "holdout " + evaluate(net, decoder, sym, bpp, crops, rows, held))
        if time.time() - last_save > 180:
            save()
            last_save = time.time()
    save()
    log(a.out, "final holdout " + evaluate(net, decoder, sym, bpp, crops, rows, held))
    torch.save({k: v for k, v in net.state_dict().items() if k.startswith(TRAINED)}, a.out / "final.pt")
    if a.decoder_lr > 0:
        torch.save(decoder.state_dict(), a.out / "decoder.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
