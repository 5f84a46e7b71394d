"""Where is sdc's error, by colour and by scale? Oracle substitutions on decoded images.

Each image is coded (``--target-bpp``, ``--refine``), decoded, and then a part of the
original is put back in YCbCr (BT.601): the coarse band (Gaussian low-pass, σ in pixels)
of luma, chroma or both, chroma whole, or every band finer than σ 2. How much PSNR,
SSIMULACRA2 and JOD each substitution recovers says which part of the error a fix would
have to reach (BENCHMARKS.md, session 14):

    SDCODEC_MODELS=../shared/models python benchmarks/error_bands.py \\
        ../shared/data/kodak/kodim{03,07,12,20}.png --target-bpp 0.25 --refine 12
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import EncodeOptions
from sdcodec.bench import metrics
from sdcodec.learned.distortion import YCC

_YCC = np.array(YCC)


def _low(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(x[..., c], sigma) for c in range(3)], -1)


def variants(ref: np.ndarray, dec: np.ndarray) -> dict[str, np.ndarray]:
    """The decoded image and its oracle substitutions, as uint8 RGB."""
    r, d = ref.astype(np.float64) @ _YCC.T, dec.astype(np.float64) @ _YCC.T
    out = {"decoded": d}
    for sigma in (2, 8):
        coarse = d - _low(d, sigma) + _low(r, sigma)
        for name, channels in (
            ("luma+chroma", slice(0, 3)),
            ("luma", slice(0, 1)),
            ("chroma", slice(1, 3)),
        ):
            v = d.copy()
            v[..., channels] = coarse[..., channels]
            out[f"{name} above σ{sigma}"] = v
    v = d.copy()
    v[..., 1:] = r[..., 1:]
    out["chroma whole"] = v
    out["all below σ2"] = r - _low(r, 2) + _low(d, 2)
    inverse = np.linalg.inv(_YCC)
    return {k: np.clip(np.round(v @ inverse.T), 0, 255).astype(np.uint8) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--target-bpp", type=float, default=0.25)
    p.add_argument("--refine", type=int, default=12)
    a = p.parse_args()
    for path in a.images:
        im = Image.open(path).convert("RGB")
        ref = np.asarray(im)
        data = sdcodec.encode(im, EncodeOptions(target_bpp=a.target_bpp, refine=a.refine))
        dec = np.asarray(sdcodec.decode(data).convert("RGB"))
        print(f"{Path(path).name}: {8 * len(data) / (im.width * im.height):.3f} bpp", flush=True)
        for name, v in variants(ref, dec).items():
            print(f"  {name:22s} {metrics.psnr(ref, v):6.2f} dB {metrics.ssimulacra2(ref, v):6.1f} "
                  f"JOD {metrics.jod(ref, v):.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
