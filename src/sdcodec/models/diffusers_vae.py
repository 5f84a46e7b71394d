"""Stable Diffusion-family VAEs (diffusers' AutoencoderKL) behind the Autoencoder interface.

Needs the ``sd`` extra (diffusers). The latent normalization is read from the VAE's
config (``scaling_factor``, ``shift_factor``), never from constants here. Above 1 MP the
VAE runs tiled (diffusers' own tiling) so large photos fit in a few GB on a CPU.
"""

from __future__ import annotations

import os
import threading

from ..errors import ModelUnavailableError, first_line
from . import Autoencoder, ModelSpec, default_device
from .tiling import TILE_ABOVE_PX

# the SDXL VAE produces NaNs in fp16 (the reason madebyollin/sdxl-vae-fp16-fix exists)
_FP32_ONLY = {"sdxl"}


def diffusers():
    try:
        import diffusers
    except ImportError:
        raise ModelUnavailableError(
            "Stable Diffusion models need diffusers: pip install 'sdcodec[sd]'"
        ) from None
    # a codec's stderr is for its own one-line errors, not library advice and progress bars
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    return diffusers


def from_hub(spec: ModelSpec, what: str, load):
    """``load()``, with diffusers' failures to read a hub folder as one-line errors."""
    try:
        return load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(
            f"model '{spec.name}': cannot load {what}: {first_line(exc)}"
        ) from None


class DiffusersAutoencoder(Autoencoder):
    def __init__(self, spec: ModelSpec, role: str, vae, device: str) -> None:
        super().__init__(spec, role, vae, device)
        if spec.name in _FP32_ONLY or self.precision != "fp16":
            # bf16 was measured for TAEF2 only; SD VAEs stay fp32 off CUDA
            self.dtype_name, self.precision = "float32", "fp32"
        self.latent_scale = float(vae.config.scaling_factor)
        self.latent_shift = float(getattr(vae.config, "shift_factor", None) or 0.0)

    def _run(self, x, scale: float, sample_seed: int | None = None):
        """sample_seed None: the posterior mean; else a sample seeded with it."""
        import torch

        dtype = getattr(torch, self.dtype_name)
        vae = self.net
        full_px = x.shape[2] * x.shape[3] * (scale * scale if scale > 1 else 1)
        if full_px > TILE_ABOVE_PX:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
        with torch.inference_mode():
            x = x.to(self.device, dtype)
            if scale < 1:
                dist = vae.encode(x).latent_dist
                if sample_seed is None:
                    return dist.mean.float().cpu()
                g = torch.Generator(self.device).manual_seed(sample_seed)
                return dist.sample(generator=g).float().cpu()
            return vae.decode(x).sample.float().cpu()


_VAES: dict[tuple, object] = {}
_VAE_LOCK = threading.Lock()


def load_vae(spec: ModelSpec, models_dir: str | os.PathLike | None, device: str):
    from .. import weights

    root = weights.resolve_hub(spec, "decoder", models_dir)
    key = (spec.id, device, str(root))
    with _VAE_LOCK:
        if key not in _VAES:
            lib = diffusers()
            vae = from_hub(spec, "VAE", lambda: lib.AutoencoderKL.from_pretrained(
                str(root), subfolder=spec.hub.vae_subfolder or None, use_safetensors=True
            ))  # fmt: skip
            vae.to(device).eval().requires_grad_(False)
            _VAES[key] = vae
        return _VAES[key]


def load_hub(spec, role, models_dir, device, cache, lock) -> DiffusersAutoencoder:
    device = device or default_device()
    vae = load_vae(spec, models_dir, device)
    key = (spec.id, role, device, id(vae))
    with lock:
        if key not in cache:
            ae = DiffusersAutoencoder(spec, role, vae, device)
            if ae.dtype_name == "float16":
                import torch

                vae.to(dtype=torch.float16)
            cache[key] = ae
        return cache[key]
