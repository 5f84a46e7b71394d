"""Decode-side denoising with a diffusion U-Net: the article's last step.

Denoiser 1 (``unet-img2img``) is the recipe of Bühlmann's notebook: the dequantized
latent (in the U-Net's scaled units) is treated as an img2img starting point at a low
strength — PNDM scheduler built from the model's own scheduler config,
``num_inference_steps`` steps of which the last ``int(steps · strength)`` are run, the
U-Net conditioned on the empty prompt's text embedding, no classifier-free guidance, and
no noise added to the starting latent. With SD 1.4's config, 66 steps and strength 0.04
that is 3 U-Net calls at timesteps 31, 16, 1 (docs/MODELS.md).

Denoisers 2 and up are learned latent restorers for the hand-made quantizers
(sdcodec.learned.restore, registry.RESTORERS): one network run, no steps, the strength
scaling its correction.

The empty-prompt embedding is computed once with the model's text encoder and kept
beside the weights (or in the cache when that folder is read-only); encoding and
decoding never load the text encoder again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .errors import FormatError, ModelUnavailableError
from .models import ModelSpec
from .models.registry import RESTORERS, restorer_by_id

NONE, UNET_IMG2IMG = 0, 1
DENOISERS = {NONE: "none", UNET_IMG2IMG: "unet-img2img", **{r.id: r.name for r in RESTORERS}}
EMBEDDING_FILE = "sdcodec_empty_prompt.safetensors"
MAX_STEPS = 1000

_LOCK = threading.Lock()
_LOADED: dict[tuple, tuple] = {}


def check(spec: ModelSpec, denoiser: int, steps: int, strength: float) -> None:
    """Header validation: raises FormatError for settings no decoder should run."""
    if denoiser not in DENOISERS:
        raise FormatError(f"unknown denoiser id {denoiser}")
    if denoiser == NONE:
        return
    restorer = restorer_by_id(denoiser)
    if restorer is not None:
        if restorer.autoencoder != spec.name:
            raise FormatError(f"restorer {restorer.name} is for '{restorer.autoencoder}', not '{spec.name}'")
        if steps != 0 or not 0.0 < strength <= 1.0:
            raise FormatError(f"restorer {restorer.name}: steps {steps}, strength {strength} (need 0, (0, 1])")
        return
    if not spec.unet:
        raise FormatError(f"denoiser {DENOISERS[denoiser]} needs a U-Net; model '{spec.name}' has none")
    if not 1 <= steps <= MAX_STEPS:
        raise FormatError(f"denoiser steps {steps} outside 1..{MAX_STEPS}")
    if not 0.0 <= strength <= 1.0:  # also false for NaN
        raise FormatError(f"denoiser strength {strength} outside 0..1")


def timesteps(scheduler, steps: int, strength: float) -> list[int]:
    """The timesteps img2img runs for (steps, strength), as diffusers' pipeline picks them."""
    scheduler.set_timesteps(steps)
    init = min(int(steps * strength), steps)
    start = max(steps - init, 0)
    return [int(t) for t in scheduler.timesteps[start * scheduler.order :]]


def _embedding_path(root: Path, spec: ModelSpec) -> list[Path]:
    from .weights import cache_dir

    return [
        root / "text_encoder" / EMBEDDING_FILE,
        cache_dir() / "hub" / f"{spec.hub.repo}@{spec.hub.revision}" / "text_encoder" / EMBEDDING_FILE,
    ]


def empty_prompt_embedding(spec: ModelSpec, models_dir: str | os.PathLike | None = None):
    """(1, tokens, dim) float32 embedding of "", computed once and stored on disk."""
    import torch
    from safetensors.torch import load_file, save_file

    from . import weights

    root = weights.resolve_hub(spec, "denoiser", models_dir)
    for p in _embedding_path(root, spec):
        if p.is_file():
            return load_file(str(p))["embedding"]
    text_root = weights.resolve_hub(spec, "text", models_dir)
    try:
        import transformers
    except ImportError:
        raise ModelUnavailableError("the text encoder needs transformers: pip install 'sdcodec[sd]'") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    tok = transformers.CLIPTokenizer.from_pretrained(str(text_root / "tokenizer"))
    enc = transformers.CLIPTextModel.from_pretrained(str(text_root / "text_encoder")).eval()
    ids = tok([""], padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids  # fmt: skip
    with torch.inference_mode():
        emb = enc(ids)[0].float().contiguous()
    for p in _embedding_path(root, spec):
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".part")
            save_file({"embedding": emb}, str(tmp))
            os.replace(tmp, p)
            break
        except OSError:
            continue
    return emb


def _load(spec: ModelSpec, models_dir, device: str):
    from . import weights
    from .models.diffusers_vae import diffusers, from_hub

    root = weights.resolve_hub(spec, "denoiser", models_dir)
    key = (spec.id, device, str(root))
    with _LOCK:
        if key not in _LOADED:
            lib = diffusers()
            unet, config = from_hub(spec, "U-Net", lambda: (
                lib.UNet2DConditionModel.from_pretrained(str(root), subfolder="unet"),
                lib.PNDMScheduler.load_config(str(root), subfolder="scheduler"),
            ))  # fmt: skip
            import torch

            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            unet.to(device).eval().requires_grad_(False)
            if dtype != torch.float32:
                unet.half()
            emb = empty_prompt_embedding(spec, models_dir).to(device, dtype)
            _LOADED[key] = (unet, config, emb)
        return _LOADED[key]


def run(unet, scheduler_config: dict, embedding, latent, steps: int, strength: float):
    """The denoising loop on a (B, C, h, w) tensor in the U-Net's scaled latent units."""
    import torch

    from .models.diffusers_vae import diffusers

    scheduler = diffusers().PNDMScheduler.from_config(scheduler_config)
    ts = timesteps(scheduler, steps, strength)
    x = latent
    with torch.inference_mode():
        for t in ts:
            inp = scheduler.scale_model_input(x, t)
            eps = unet(inp, t, encoder_hidden_states=embedding.expand(x.shape[0], -1, -1)).sample
            x = scheduler.step(eps, t, x).prev_sample
    return x


def apply(
    spec: ModelSpec,
    latent: np.ndarray,
    denoiser: int,
    steps: int,
    strength: float,
    models_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Denoise a (C, h, w) normalized latent as the file's decode settings say."""
    import torch

    from .models import default_device

    if denoiser == NONE or strength == 0.0:
        return latent
    restorer = restorer_by_id(denoiser)
    if restorer is not None:
        from .learned import restore

        return restore.apply(restorer, latent, strength, device)
    device = device or default_device()
    unet, config, emb = _load(spec, models_dir, device)
    x = torch.from_numpy(np.ascontiguousarray(latent))[None].to(device, unet.dtype)
    return run(unet, config, emb, x, steps, strength)[0].float().cpu().numpy()
