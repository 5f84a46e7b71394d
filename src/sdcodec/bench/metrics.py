"""Every quality metric of the benchmark, computed once, here.

``compute(ref, dist)`` takes two (H, W, 3) uint8 arrays and returns a dict of numbers;
a metric that cannot run reports None and ``availability()`` says why. Nothing is
faked: LPIPS and DISTS need pretrained networks that must be downloaded, so they are
available only when their weights load from a local cache.
"""

from __future__ import annotations

import functools
import io
from typing import Any

import numpy as np

HIGHER_IS_BETTER = {
    "psnr": True,
    "ms_ssim": True,
    "ssimulacra2": True,
    "jod": True,
    "lpips": False,
    "dists": False,
}
LABELS = {
    "psnr": "PSNR (dB, RGB)",
    "ms_ssim": "MS-SSIM (RGB)",
    "ssimulacra2": "SSIMULACRA2",
    "jod": "ColorVideoVDP (JOD)",
    "lpips": "LPIPS (lower is better)",
    "dists": "DISTS (lower is better)",
}
MS_SSIM_MIN_SIDE = 161  # five scales of an 11-tap window


def psnr(ref: np.ndarray, dist: np.ndarray) -> float:
    mse = np.mean((ref.astype(np.float64) - dist.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))  # 100 dB: identical


def _tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]


def ms_ssim(ref: np.ndarray, dist: np.ndarray) -> float | None:
    if min(ref.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    from pytorch_msssim import ms_ssim as _ms_ssim

    return float(_ms_ssim(_tensor(ref), _tensor(dist), data_range=255))


def _png(a: np.ndarray) -> io.BytesIO:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG", compress_level=1)
    buf.seek(0)
    return buf


def ssimulacra2(ref: np.ndarray, dist: np.ndarray) -> float:
    from ssimulacra2 import compute_ssimulacra2

    return float(compute_ssimulacra2(_png(ref), _png(dist)))


@functools.lru_cache(maxsize=1)
def _cvvdp():
    from .torchvision_shim import install

    install()
    import pycvvdp

    return pycvvdp.cvvdp(display_name="standard_4k", quiet=True)


def jod(ref: np.ndarray, dist: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        value, _ = _cvvdp().predict(dist, ref, dim_order="HWC")
    return float(value)


def _probe(name: str) -> str | None:
    """None when the metric can run, else the reason it cannot."""
    try:
        if name == "psnr":
            return None
        if name == "ms_ssim":
            import pytorch_msssim  # noqa: F401
        elif name == "ssimulacra2":
            import ssimulacra2  # noqa: F401
        elif name == "jod":
            _cvvdp()
        elif name == "lpips":
            import lpips

            lpips.LPIPS(net="alex", verbose=False)  # needs torchvision's pretrained AlexNet
        elif name == "dists":
            from DISTS_pytorch import DISTS

            DISTS()  # needs torchvision's pretrained VGG16
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unavailable'}"


@functools.lru_cache(maxsize=1)
def availability() -> dict[str, str | None]:
    return {name: _probe(name) for name in HIGHER_IS_BETTER}


_FUNCS = {"psnr": psnr, "ms_ssim": ms_ssim, "ssimulacra2": ssimulacra2, "jod": jod}


def compute(ref: np.ndarray, dist: np.ndarray) -> dict[str, Any]:
    avail = availability()
    out: dict[str, Any] = {}
    for name in HIGHER_IS_BETTER:
        fn = _FUNCS.get(name)
        out[name] = fn(ref, dist) if (fn is not None and avail[name] is None) else None
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    v = {}
    for pkg in ("pytorch-msssim", "ssimulacra2", "cvvdp", "lpips", "DISTS-pytorch"):
        try:
            v[pkg] = version(pkg)
        except PackageNotFoundError:
            v[pkg] = "not installed"
    return v
