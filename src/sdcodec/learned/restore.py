"""Decode-side latent restoration, learned: the counterpart of the article's U-Net
denoising. rs1 serves the hand-made palette mode (trained on palette and scalar errors;
on fine scalar steps it measured worse, so files of that mode do not ask for it), rs2
the learned codec lc1 (trained on lc1's own errors).

A small residual CNN at latent resolution maps a dequantized latent to a cleaner one,
latent + strength · body(latent). It is trained here on exactly the errors sdcodec's own
quantizers make (training/make_restore_data.py, training/train_restorer.py), with the
pixel error through the frozen decoder as its loss (model card: docs/LEARNED.md). It runs
after the symbols are decoded and feeds nothing back to the entropy coder, so it cannot
break exact decoding; the file names it by its denoiser id (docs/FORMAT.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailableError, first_line
from ..models.registry import RestorerSpec
from . import cached, float_state, float_tensors, read_weights


def build(channels: int = 32, hidden: int = 96, depth: int = 7):
    """The network: ``depth`` 3×3 convolutions (receptive field 2·depth + 1 latent
    pixels), the body added to its input."""
    from torch import nn

    from .nets import Residual, _conv

    act = nn.LeakyReLU(0.125)
    layers: list = [_conv(channels, hidden), act]
    for _ in range(depth - 2):
        layers += [_conv(hidden, hidden), act]
    net = Residual(*layers, _conv(hidden, channels))
    net.config = dict(channels=channels, hidden=hidden, depth=depth)
    return net


def save(path: Path, net, config: dict) -> str:
    from safetensors.torch import save_file

    tensors = float_tensors(net.state_dict())
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"config": json.dumps(config)})  # fmt: skip
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_file(path: Path, spec: RestorerSpec | None = None, device: str = "cpu"):
    config, tensors = read_weights(path, spec.sha256 if spec else None, "restorer")
    try:
        net = build(**config["model"])
        net.load_state_dict(float_state(tensors, net.state_dict()))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(f"{path}: not a restorer weights file ({first_line(exc)})") from None
    return net.to(device).eval().requires_grad_(False)


def load(spec: RestorerSpec, device: str | None = None):
    return cached(spec, device, load_file)


def apply(spec: RestorerSpec, latent: np.ndarray, strength: float = 1.0,
          device: str | None = None) -> np.ndarray:  # fmt: skip
    """Restore a (C, h, w) dequantized latent."""
    import torch

    net = load(spec, device)
    dev = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(latent, dtype=np.float32))[None].to(dev)
    with torch.inference_mode():
        y = x + strength * net.body(x)
    return y[0].float().cpu().numpy()
