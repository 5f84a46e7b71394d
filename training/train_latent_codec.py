"""Train the learned latent codec (sdcodec.learned) on TAEF2 latents of training crops.

Phase 1 ("proxy"): distortion = the latent error seen through the decoder's average
Jacobian, eᵀ M e per latent position with M = E[Jᵀ J] (32 × 32, estimated once with
vector–Jacobian products of the frozen TAEF2 decoder): pixel MSE without running the
decoder. Phase 2 ("pixel"): the real pixel MSE against the original crop through the frozen
decoder, on smaller crops, optionally plus a structural term β · (1 − MS-SSIM).
Loss = bpp + λ(level) · 255² · MSE, level drawn at random per sample in [0, levels − 1],
λ(level) = λ0 · ratio^level.

Checkpoints every few minutes (OUT/ckpt.pt) and resumes from them; log in OUT/log.txt.

    python training/train_latent_codec.py .train-cache runs/lc1 --proxy-minutes 60 --pixel-minutes 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from sdcodec.learned.nets import LAMBDA0, LAMBDA_RATIO, LatentCodec
from sdcodec.models import by_name, load

HOLDOUT = 64  # the last crops: a fixed validation set (training photos, never Kodak)


def sensitivity(decoder: torch.nn.Module, latents: torch.Tensor, probes: int = 4) -> torch.Tensor:
    """M = E[Jᵀ J] over positions: E over v ~ N(0, I) of g gᵀ with g = Jᵀ v."""
    c = latents.shape[1]
    acc = torch.zeros(c, c, dtype=torch.float64)
    n = 0
    for i in range(latents.shape[0]):
        z = latents[i : i + 1].clone().requires_grad_(True)
        out = decoder(z)
        for _ in range(probes):
            (g,) = torch.autograd.grad(out, z, torch.randn_like(out), retain_graph=True)
            g = g[0].reshape(c, -1).double()
            acc += g @ g.T
            n += g.shape[1]
    m = (acc / n).float()
    # the decoder is not linear: scale M so small white latent noise gets its true pixel MSE
    with torch.no_grad():
        lat = latents[:4]
        e = torch.randn_like(lat) * 0.1
        real = ((decoder(lat + e) - decoder(lat)) ** 2).mean()
        proxy = torch.einsum("bchw,cd,bdhw->b", e, m, e).mean() / (lat[0, 0].numel() * 192)
    return m * (real / proxy)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Per-sample MS-SSIM (Wang et al. 2003) of images in [0, 1]: 11-tap Gaussian window
    (σ 1.5), valid borders, the first ``scales`` of the standard weights renormalised
    (4 scales fit a 128-pixel crop)."""
    w = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:scales])
    w = w / w.sum()
    t = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-(t**2) / (2 * 1.5**2))
    g = (g / g.sum()).to(a)
    win = (g[:, None] * g[None, :]).expand(a.shape[1], 1, 11, 11)
    c1, c2 = 0.01**2, 0.03**2

    def blur(x):
        return F.conv2d(x, win, groups=x.shape[1])

    out = torch.ones(a.shape[0], device=a.device)
    for i in range(scales):
        ma, mb = blur(a), blur(b)
        va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
        cs = ((2 * cov + c2) / (va + vb + c2)).mean(dim=(1, 2, 3))
        if i == scales - 1:
            lum = ((2 * ma * mb + c1) / (ma**2 + mb**2 + c1)).mean(dim=(1, 2, 3))
            cs = cs * lum
        out = out * cs.clamp_min(1e-4) ** w[i]
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return out


def pixel_batch(latents, crops, rng, n: int, train_n: int, crop: int):
    """n random training crops: the same crop×crop window of each latent and of its
    image, as float tensors (B, C, crop/8, crop/8) and (B, 3, crop, crop) in [0, 1]."""
    cl = crop // 8
    idx = rng.integers(0, train_n, n)
    oy, ox = rng.integers(0, latents.shape[2] - cl + 1, 2)
    x = torch.as_tensor(np.asarray(latents[idx][:, :, oy : oy + cl, ox : ox + cl], np.float32))
    img = np.stack([crops[i][oy * 8 : (oy + cl) * 8, ox * 8 : (ox + cl) * 8] for i in idx])
    return x, torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255


def log(out: Path, msg: str) -> None:
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(out / "log.txt", "a") as f:
        f.write(line + "\n")


def rounded_bits(model, lat, level: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bits with real rounding (what the coder spends, up to table quantization) and
    the decoded latent: the training pass estimates rate with noise instead."""
    lv = torch.full((lat.shape[0],), float(level))
    g = model.gain(lv)[:, :, None, None]
    y = model.analysis(lat) * g
    z_hat = torch.round(model.h_a(y))
    mu, s = model.hyper(z_hat)
    r = torch.round(y - mu)
    bits = -(torch.log2(model.y_likelihood(r, s)).sum() + torch.log2(model.z_likelihood(z_hat)).sum())
    return bits, model.synthesis((r + mu) / g)


def evaluate(model, lat, m, levels, decoder=None, img=None) -> str:
    """Holdout rate and PSNR with real rounding: through M (proxy dB), or through the
    decoder against the original crops when given (pixel dB, what the codec delivers)."""
    model.eval()
    parts = []
    with torch.no_grad():
        for lv in levels:
            bits, rec = rounded_bits(model, lat, lv)
            if decoder is None:
                e = rec - lat
                mse = torch.einsum("bchw,cd,bdhw->b", e, m, e).mean() / (lat[0, 0].numel() * 192)
            else:
                mse = ((torch.round(decoder(rec).clamp(0, 1) * 255) / 255 - img) ** 2).mean()
            bpp = bits / (lat.shape[0] * lat[0, 0].numel() * 64)
            parts.append(f"L{lv}: {bpp:.3f} bpp {10 * torch.log10(1 / mse):.2f} dB")
    model.train()
    return " | ".join(parts)


def fine_tune_start(a) -> LatentCodec:
    """The start model ``a.init``; with ``a.init_levels`` (or a bypass to add) a new model
    whose levels span the start's levels LO … HI: same λ and gains there, so training starts
    where the start model stood at those rates."""
    start = LatentCodec(residual=a.residual)
    start.load_state_dict(torch.load(a.init, weights_only=True))
    if not a.init_levels and not a.bypass:
        return start
    lo, hi = (float(v) for v in (a.init_levels or f"0,{start.levels - 1}").split(","))
    n = start.levels - 1
    model = LatentCodec(residual=a.residual, lambda0=start.lam(lo),
                        lambda_ratio=(start.lam(hi) / start.lam(lo)) ** (1 / n), bypass=a.bypass)  # fmt: skip
    model.load_state_dict(start.state_dict(), strict=not a.bypass)
    with torch.no_grad():
        model.log_gain.copy_(start.gain(torch.linspace(lo, hi, start.levels)).log())
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path, help="output of training/extract_latents.py")
    p.add_argument("out", type=Path)
    p.add_argument("--proxy-minutes", type=float, default=60)
    p.add_argument("--pixel-minutes", type=float, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--pixel-batch", type=int, default=4)
    p.add_argument("--pixel-crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pixel-lambda-scale", type=float, default=1.0,
                   help="multiply every level's λ in the pixel phase (shifts the rate range)")
    p.add_argument("--lambda0", type=float, default=LAMBDA0, help="λ of level 0")
    p.add_argument("--lambda-ratio", type=float, default=LAMBDA_RATIO, help="λ ratio between levels")
    p.add_argument("--pixel-msssim", type=float, default=0.0,
                   help="pixel phase: distortion = MSE + this × (1 − MS-SSIM)")
    p.add_argument("--residual", action="store_true",
                   help="lc2's architecture: y starts as the 2×2-folded latent (nets.Residual)")
    p.add_argument("--bypass", action="store_true",
                   help="a linear path beside g_a and g_s (nets.LatentCodec bypass), started silent")
    p.add_argument("--init", type=Path,
                   help="fine-tune: start from this state dict (a run's final.pt)")
    p.add_argument("--init-levels", type=str, metavar="LO,HI",
                   help="with --init: the new levels 0 … levels−1 span the start's levels LO … HI "
                        "(gains and λ interpolated geometrically, extrapolated above its top)")
    p.add_argument("--freeze", type=str, default="",
                   help="comma-separated parameter prefixes left as they are (e.g. h_a,h_s,z_log_scale: "
                        "the probability model, so the start's tables stay valid)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    lat_all = torch.from_numpy(np.load(a.cache / "latents.npy").astype(np.float32))
    crops = np.load(a.cache / "crops.npy", mmap_mode="r")
    train_n = lat_all.shape[0] - HOLDOUT
    hold = lat_all[train_n:]
    hold_img = torch.from_numpy(np.asarray(crops[train_n : train_n + 16])).permute(0, 3, 1, 2).float() / 255
    decoder = load(by_name("taef2"), "decoder", device="cpu").net.float()
    for prm in decoder.parameters():
        prm.requires_grad_(False)

    mpath = a.out / "sensitivity.npy"
    if not mpath.exists():
        m = sensitivity(decoder, lat_all[:16])
        np.save(mpath, m.numpy())
    m = torch.from_numpy(np.load(mpath))

    model = LatentCodec(residual=a.residual, lambda0=a.lambda0, lambda_ratio=a.lambda_ratio,
                        bypass=a.bypass)  # fmt: skip
    if a.init is not None:
        model = fine_tune_start(a)
    frozen = tuple(f for f in a.freeze.split(",") if f)
    for n, prm in model.named_parameters():
        prm.requires_grad_(not n.startswith(frozen))
    gains = [model.log_gain] if model.log_gain.requires_grad else []
    rest = [p for n, p in model.named_parameters() if n != "log_gain" and p.requires_grad]
    # the gains move by orders of magnitude across levels: a faster learning rate
    opt = torch.optim.Adam([{"params": rest}, {"params": gains, "lr_scale": 10.0}], lr=a.lr)
    state = {"phase": "proxy", "step": 0, "seconds": {"proxy": 0.0, "pixel": 0.0}}
    ckpt = a.out / "ckpt.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        log(a.out, f"resumed at {state} with {vars(a)}")
        cfg = json.loads((a.out / "config.json").read_text())
        cfg.setdefault("resumed", []).append(
            {"step": state["step"], "args": {k: str(v) for k, v in vars(a).items()}}
        )
        (a.out / "config.json").write_text(json.dumps(cfg))
    else:
        (a.out / "config.json").write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "model": model.config})
        )
    levels = model.levels
    last_save = time.time()

    def save() -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ckpt)

    for phase, minutes in (("proxy", a.proxy_minutes), ("pixel", a.pixel_minutes)):
        if phase == "proxy" and state["phase"] == "pixel":
            continue
        state["phase"] = phase
        t_phase = time.time() - state["seconds"][phase]
        while time.time() - t_phase < minutes * 60:
            frac = (time.time() - t_phase) / (minutes * 60)
            base = a.lr if phase == "proxy" and frac < 0.8 else a.lr / 3
            for g in opt.param_groups:  # step the learning rate down for the last fifth
                g["lr"] = base * g.get("lr_scale", 1.0)
            lv = torch.rand(a.batch if phase == "proxy" else a.pixel_batch) * (levels - 1)
            lam = model.lam(lv)
            if phase == "pixel":
                lam = lam * a.pixel_lambda_scale
            if phase == "proxy":
                idx = torch.from_numpy(rng.integers(0, train_n, a.batch))
                x = lat_all[idx]
                o = model(x, lv)
                e = o["latent_hat"] - x
                mse = torch.einsum("bchw,cd,bdhw->b", e, m, e) / (x[0, 0].numel() * 192)
                npx = x[0, 0].numel() * 64
            else:
                x, img = pixel_batch(lat_all, crops, rng, a.pixel_batch, train_n, a.pixel_crop)
                o = model(x, lv)
                rec = decoder(o["latent_hat"])
                mse = ((rec - img) ** 2).mean(dim=(1, 2, 3))
                if a.pixel_msssim:
                    mse = mse + a.pixel_msssim * (1 - ms_ssim(rec.clamp(0, 1), img))
                npx = img.shape[2] * img.shape[3]
            bpp = o["bits"] / npx
            loss = (bpp + lam * 255**2 * mse).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            state["step"] += 1
            state["seconds"][phase] = time.time() - t_phase
            if state["step"] % 200 == 0:
                log(a.out, f"{phase} step {state['step']} loss {loss.item():.4f} "
                    f"bpp {bpp.mean().item():.3f} mse {mse.mean().item():.5f}")
            if state["step"] % 1000 == 0:
                log(a.out, "holdout " + evaluate(model, hold, m, (0, 3, 7)))
                log(a.out, "holdout pixels " + evaluate(model, hold[:16], m, (0, 3, 7), decoder, hold_img))
            if time.time() - last_save > 180:
                save()
                last_save = time.time()
        save()
        if phase == "proxy" and minutes:  # kept: the pixel phase can lose what this one won (lc2)
            torch.save(model.state_dict(), a.out / "proxy_final.pt")
    log(a.out, "final holdout " + evaluate(model, hold, m, range(levels)))
    log(a.out, "final holdout pixels " + evaluate(model, hold[:16], m, range(levels), decoder, hold_img))
    torch.save(model.state_dict(), a.out / "final.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
