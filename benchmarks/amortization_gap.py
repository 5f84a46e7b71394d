"""How much better could the learned codec's analysis be? Refinement toward two targets.

Each image goes through TAEF2's encoder and the learned codec's analysis at one level; its
symbols are then refined (``refine.refine``, the byte cap at the analysis's own bits, so
all three files have the same size) toward

- ``image``: the image itself, as ``sdcodec encode`` does;
- ``taef2``: TAEF2's decode of the unquantized latent, the best an encoder that sees only
  the latent (as the analysis network does) can know of the image;

and all three (``none``: the analysis's own symbols) are decoded and measured against the
image. What ``taef2`` gains over ``none`` is within reach of a better analysis network
alone; what ``image`` gains beyond it needs the pixels (BENCHMARKS.md, session 24):

    SDCODEC_MODELS=../shared/models python benchmarks/amortization_gap.py \\
        ../shared/data/kodak/kodim{01,03,05,07,15,19,21,23}.png --codec lc7 --level 3.5 --steps 6

Prints bpp / PSNR / SSIMULACRA2 / JOD per image and target, then the means.

``--targets`` adds two probes (BENCHMARKS.md, session 26), both measured the same way:

- ``latent`` / ``latent-ch``: toward the unquantized latent through g_s alone, no TAEF2
  decoder — squared latent error scaled to pixels by the analysis's own (pixel error /
  latent error), ``latent-ch`` weighing each channel by the pixel error its analysis error
  alone causes. Would refinement need the decoder's pass at all?
- ``image-rez``: ``image``, then z derived again from the refined ŷ (h_a) and y quantized
  on the new μ: does the hyperprior the analysis chose still fit refined symbols?
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from sdcodec import models
from sdcodec.bench import metrics
from sdcodec.codec import DEFAULT_STRUCTURE
from sdcodec.learned import coding, load, refine
from sdcodec.models.registry import codec_by_name

TARGETS = ("none", "image", "taef2")
PROBES = ("latent", "latent-ch", "image-rez")


class _LatentError:
    """Stands in for the TAEF2 decoder in refine.refine (its ``decode_error``): squared
    error against the unquantized latent, per channel weight ``w``, times ``k``."""

    def __init__(self, decoder, latent: np.ndarray, k: float, w: np.ndarray):
        import torch

        self.spec = decoder.spec
        self.latent = torch.from_numpy(latent)[None].float()
        self.k, self.w = k, torch.from_numpy(w).float().view(1, -1, 1, 1)

    def decode_error(self, latent, target, grad=True, error=None):
        import torch

        latent = latent.detach().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            err = self.k * (self.w * (latent[:, :, : self.latent.shape[2], : self.latent.shape[3]]
                                      - self.latent) ** 2).sum()  # fmt: skip
            if grad:
                err.backward()
        if error is not None:
            error.sse += err.item()
        return err.item(), latent.grad


def _latent_proxy(codec, decoder, lat, seen, level, symbols, per_channel: bool) -> _LatentError:
    """The proxy scaled so the analysis's own symbols score their pixel error against
    TAEF2's decode (and, per channel, weighted by what that channel's error alone costs)."""
    z_sym, r_sym = symbols
    coded = coding.decompress(codec, coding.pack_symbols(codec, z_sym, r_sym), lat.shape[1], lat.shape[2], level)
    height, width = seen.shape[:2]

    def pixel_sse(latent):
        out = np.rint(decoder.decode(latent)[:height, :width] * 255)
        return float(((out - seen) ** 2).sum()) / 255**2

    lat_sse = (coded - lat) ** 2
    w = np.ones(lat.shape[0])
    if per_channel:
        for c in range(lat.shape[0]):
            one = lat.copy()
            one[c] = coded[c]
            w[c] = pixel_sse(one) / max(float(lat_sse[c].sum()), 1e-12)
        w = w / w.mean()
    k = pixel_sse(coded) / float((lat_sse * w[:, None, None]).sum())
    return _LatentError(decoder, lat, k, w)


def _rez(codec, symbols):
    """z again from the refined ŷ (h_a), and y quantized on the μ it gives."""
    import torch

    from sdcodec.learned import intnet, tables

    z_sym, r_sym = symbols
    mu, _ = coding.symbol_params(codec, z_sym, r_sym)
    y_hat = ((r_sym << intnet.FRAC) + mu) / float(1 << intnet.FRAC)
    with torch.inference_mode():
        z = codec.net.h_a(torch.from_numpy(y_hat)[None].float().to(codec.device))[0].float().cpu().numpy()
    z_new = np.clip(np.round(z), -tables.Z_RANGE, tables.Z_RANGE).astype(np.int64)
    return z_new, coding.quantize(codec, y_hat, z_new)[0]


def _measure(codec, decoder, ref, lat, level, symbols) -> tuple[float, ...]:
    z_sym, r_sym = symbols
    payload = coding.pack_symbols(codec, z_sym, r_sym)
    height, width = ref.shape[:2]
    latent = coding.decompress(codec, payload, lat.shape[1], lat.shape[2], level)
    out = np.rint(decoder.decode(latent)[:height, :width] * 255).astype(np.uint8)
    return (8 * len(payload) / (height * width), metrics.psnr(ref, out),
            metrics.ssimulacra2(ref, out), metrics.jod(ref, out))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--codec", default="lc7", help="a learned codec with a context model or not")
    p.add_argument("--level", type=float, default=3.5)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--targets", default=",".join(TARGETS), help="of " + ", ".join(TARGETS + PROBES))
    a = p.parse_args()
    targets = a.targets.split(",")
    if not set(targets) <= set(TARGETS + PROBES):
        p.error(f"--targets: choose from {', '.join(TARGETS + PROBES)}")
    spec = codec_by_name(a.codec)
    if spec is None:
        p.error(f"unknown learned codec '{a.codec}'")
    codec = load(spec)
    taef2 = models.by_name("taef2")
    encoder, decoder = models.load(taef2, "encoder"), models.load(taef2, "decoder")
    rows = []
    for path in a.images:
        ref = np.asarray(Image.open(path).convert("RGB"))
        height, width = ref.shape[:2]
        f = taef2.downsample
        padded = np.pad(ref, ((0, -height % f), (0, -width % f), (0, 0)), mode="edge")
        lat = encoder.encode(padded.astype(np.float32) / 255)
        seen = np.rint(decoder.decode(lat)[:height, :width] * 255).astype(np.uint8)
        z_sym, r_sym, mu, idx, r = coding.analyse(codec, lat, a.level)
        row = []
        for target in targets:
            z, sym = z_sym, r_sym
            if target != "none":
                goal, through = (seen if target == "taef2" else ref), decoder
                if target.startswith("latent"):
                    through = _latent_proxy(codec, decoder, lat, seen.astype(np.float64), a.level,
                                            (z_sym, r_sym), target == "latent-ch")  # fmt: skip
                sym = refine.refine(codec, through, None, goal, r, mu, idx, a.level, a.steps,
                                    spare_bits=0.0, z_sym=z_sym, structure=DEFAULT_STRUCTURE)  # fmt: skip
                if target == "image-rez":
                    z, sym = _rez(codec, (z_sym, sym))
            row.append(_measure(codec, decoder, ref, lat, a.level, (z, sym)))
        rows.append(row)
        print(f"{path.name}: " + " | ".join(f"{t} " + " ".join(f"{v:.3f}" for v in m)
                                            for t, m in zip(targets, row, strict=True)), flush=True)  # fmt: skip
    mean = np.mean(np.array(rows), axis=0)
    print(f"mean of {len(rows)} ({a.codec}, level {a.level:g}, {a.steps} steps; bpp / PSNR / SSIMULACRA2 / JOD):")
    for t, m in zip(targets, mean, strict=True):
        print(f"  {t:6s} {m[0]:.3f} bpp {m[1]:.2f} dB {m[2]:.1f} {m[3]:.3f} JOD")


if __name__ == "__main__":
    main()
