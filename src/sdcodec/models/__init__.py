"""image ↔ latent: the autoencoders behind the codec.

``load(spec, role)`` returns an ``Autoencoder`` half (encoder or decoder), loaded once
per process and reused. Images cross this boundary as float32 numpy arrays (H, W, 3)
with values in [0, 1]; latents as float32 numpy arrays (C, h, w), normalized by the
spec's scale and shift. Torch stays inside this package.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelUnavailableError, first_line
from .registry import DEFAULT_MODEL, REGISTRY, ModelSpec, by_id, by_name, names

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MODEL",
    "PRECISIONS",
    "REGISTRY",
    "ModelSpec",
    "Autoencoder",
    "by_id",
    "by_name",
    "load",
    "names",
]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_precision(device: str, wanted: str | None = None) -> str:
    """The autoencoder's arithmetic: SDCODEC_PRECISION or ``wanted``; "auto" is fp16 on
    CUDA, bf16 on CPUs with native bf16 (AVX-512 BF16 / AMX), fp32 elsewhere.

    Only the pixels move (bf16 vs fp32 decodes of Kodak: BENCHMARKS.md); symbols and the
    entropy path never depend on it.
    """
    import torch

    wanted = wanted or os.environ.get("SDCODEC_PRECISION", "auto")
    if wanted not in PRECISIONS:
        raise ModelUnavailableError(f"unknown precision '{wanted}' (choose from {', '.join(PRECISIONS)})")
    if wanted != "auto":
        return wanted
    if device.startswith("cuda"):
        return "fp16"
    try:
        native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native_bf16 = False
    return "bf16" if native_bf16 else "fp32"


class Autoencoder:
    """One half of a model (role "encoder" or "decoder") on one device."""

    def __init__(self, spec: ModelSpec, role: str, net: torch.nn.Module, device: str) -> None:
        self.spec = spec
        self.role = role
        self.net = net
        self.device = device
        # weights stay fp32 on the CPU (bf16 runs under autocast); fp16 weights on CUDA
        self.precision = pick_precision(device)
        self.dtype_name = "float16" if self.precision == "fp16" else "float32"
        self.latent_scale = spec.latent_scale if spec.latent_scale is not None else 1.0
        self.latent_shift = spec.latent_shift if spec.latent_shift is not None else 0.0
        from .tiling import TILE_ABOVE_PX, TILE_PX

        self.tile_above_px = TILE_ABOVE_PX  # full-resolution pixels above which passes are tiled
        self.tile_px = TILE_PX

    def _autocast(self):
        import torch

        return torch.autocast(
            self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def _run(self, x: torch.Tensor, scale: float, sample_seed: int | None = None) -> torch.Tensor:
        """The network on x (on the CPU); tiled at full resolution for large images.

        ``sample_seed`` matters only to VAEs with a posterior (diffusers_vae.py)."""
        import torch

        from . import tiling

        dtype = getattr(torch, self.dtype_name)
        full_px = x.shape[2] * x.shape[3] if scale < 1 else x.shape[2] * x.shape[3] * scale * scale
        # channels-last is what oneDNN's convolutions want: ≈1.45× on this CPU (BENCHMARKS.md)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            if full_px <= self.tile_above_px:
                return self.net(x.to(self.device, dtype)).float().cpu()
            before, local, after = tiling.split(self.net, self.role)
            f = self.spec.downsample
            if scale < 1:  # encoder: tile the image
                tile, overlap = self.tile_px, tiling.OVERLAP_PX
                feats = tiling.run_tiled(
                    lambda t: local(t.to(self.device, dtype)), x, scale, tile, overlap
                )
                return after(feats).float().cpu()
            z = before(x.to(self.device, dtype))  # decoder: tile the latent-resolution features
            tile, overlap = self.tile_px // f, -(-tiling.OVERLAP_PX // f)
            return tiling.run_tiled(lambda t: local(t).float().cpu(), z, scale, tile, overlap)

    def encode(self, rgb: np.ndarray, sample_seed: int | None = None) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1], H and W multiples of the downsample → (C, h, w).

        ``sample_seed``: VAEs with a posterior draw a seeded sample instead of its mean
        (TAEF2 is deterministic and ignores it).
        """
        import torch

        lo, hi = self.spec.image_range
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        x = x * (hi - lo) + lo
        z = self._run(x, 1 / self.spec.downsample, sample_seed).numpy()[0]
        return ((z - self.latent_shift) * self.latent_scale).astype(np.float32)

    def decode_error(
        self, latent: torch.Tensor, target: torch.Tensor, grad: bool = True, error=None
    ) -> tuple[float, torch.Tensor | None]:
        """Error of the decoded (1, C, h, w) normalized latent against ``target``
        ((1, 3, H, W) in [0, 1], H ≤ 8h, W ≤ 8w; unclipped), and its gradient with respect
        to the latent (None with ``grad=False``): for encoders that optimize through the
        decoder (learned/refine.py). ``error(decoded, reference)`` gives one tile's error
        as a scalar tensor that adds up over tiles (default: squared error).

        Memory stays bounded at any size: like ``decode``, the global (GroupNorm) part runs
        whole at latent resolution and, above ``tile_above_px``, the full-resolution part
        tile by tile, each tile's backward pass taken before the next tile runs."""
        import torch

        from . import tiling

        lo, hi = self.spec.image_range
        height, width = target.shape[2:]
        f = self.spec.downsample
        latent = latent.detach().to(self.device).requires_grad_(grad)
        before, local, _ = tiling.split(self.net, self.role)
        sse = 0.0
        with torch.set_grad_enabled(grad), self._autocast():
            feats = before(latent / self.latent_scale + self.latent_shift)
            held = feats.detach().requires_grad_(grad)
            h, w = held.shape[2:]
            whole = h * w * f * f <= self.tile_above_px
            tile, overlap = (max(h, w), 0) if whole else (self.tile_px // f, -(-tiling.OVERLAP_PX // f))
            for box, (ys, ye, xs, xe) in tiling.boxes(h, w, tile, overlap):
                piece = local(held[:, :, ys:ye, xs:xe]).float()
                part, oy, ox = tiling.centre(piece, box, (ys, ye, xs, xe), f)
                part = part[:, :, : max(height - oy, 0), : max(width - ox, 0)]
                ref = target[:, :, oy : oy + part.shape[2], ox : ox + part.shape[3]]
                unit = (part - lo) / (hi - lo)
                # in float32 whatever the decoder's precision: a bf16 SSIM's variances
                # (E[x²] − E[x]²) are rounding noise
                with torch.autocast(self.device.split(":")[0], enabled=False):
                    err = ((unit - ref) ** 2).sum() if error is None else error(unit, ref)
                if grad:
                    err.backward()
                sse += err.item()
            if grad:
                feats.backward(held.grad)
        return sse, latent.grad

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """(C, h, w) normalized latent → (8h, 8w, 3) float32 in [0, 1]."""
        import torch

        raw = latent / self.latent_scale + self.latent_shift
        z = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))[None]
        y = self._run(z, self.spec.downsample).numpy()[0].transpose(1, 2, 0)
        lo, hi = self.spec.image_range
        return np.clip((y - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


_CACHE: dict[tuple, Autoencoder] = {}
_LOCK = threading.Lock()


def _build(spec: ModelSpec, role: str) -> torch.nn.Module:
    if spec.architecture == "taesd-gn":
        from .taef2 import build_decoder, build_encoder

        builder = build_encoder if role == "encoder" else build_decoder
        return builder(spec.latent_channels, group_norm=True)
    raise ModelUnavailableError(f"model '{spec.name}': no builder for '{spec.architecture}'")


def load(
    spec: ModelSpec,
    role: str,
    models_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> Autoencoder:
    """Build, load (sha256-checked, weights_only) and cache one half of a model."""
    import torch

    from .. import weights

    device = device or default_device()
    if spec.hub is not None:
        from .diffusers_vae import load_hub

        return load_hub(spec, role, models_dir, device, _CACHE, _LOCK)
    paths = weights.resolve(spec, role, models_dir)
    key = (spec.id, role, device, pick_precision(device),
           tuple(sorted(str(p) for p in paths.values())))  # fmt: skip
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        net = _build(spec, role)
        state: dict = {}
        for wf in spec.files_for(role):
            try:
                part = torch.load(paths[wf.name], map_location="cpu", weights_only=True)
            except Exception as exc:  # a pickle that weights_only refuses, or garbage
                raise ModelUnavailableError(
                    f"{paths[wf.name]}: cannot load weights: {exc}"
                ) from exc
            state.update(part)
        try:
            net.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as exc:
            raise ModelUnavailableError(
                f"model '{spec.name}': weights do not fit: {first_line(exc)}"
            ) from exc
        ae = Autoencoder(spec, role, net, device)
        net.to(device, getattr(torch, ae.dtype_name)).eval().requires_grad_(False)
        net.to(memory_format=torch.channels_last)
        if os.environ.get("SDCODEC_COMPILE") == "1":
            # opt-in: pays off only over many images of one size (warm-up per shape,
            # BENCHMARKS.md); the tiled path calls the parts of the net, not this wrapper
            ae.net = torch.compile(net)
        _CACHE[key] = ae
        return ae
