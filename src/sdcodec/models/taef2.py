"""TAESD-family networks as plain nn.Sequential stacks.

The module indices are part of the weights' state-dict keys ("<index>.<...>"), so the
order of layers below is fixed by the published files, not by taste. The "GN" blocks of
the FLUX.2 variant add a pointwise branch with GroupNorm before the residual convs.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64


def _conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class SoftClamp(nn.Module):
    """Keeps latents within about ±3, the range the decoder was trained on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class Block(nn.Module):
    def __init__(self, width: int = WIDTH, group_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            _conv(width, width), nn.ReLU(), _conv(width, width), nn.ReLU(), _conv(width, width)
        )
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        self.pool: nn.Module | None = None
        if group_norm:
            self.pool = nn.Sequential(
                nn.Conv2d(width, 4 * width, 1, bias=False),
                nn.GroupNorm(4, 4 * width),
                nn.ReLU(),
                nn.Conv2d(4 * width, width, 1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def _down() -> nn.Conv2d:
    return _conv(WIDTH, WIDTH, stride=2, bias=False)


def build_encoder(latent_channels: int, group_norm: bool) -> nn.Sequential:
    gn = group_norm
    return nn.Sequential(
        _conv(3, WIDTH), Block(),
        _down(), Block(), Block(), Block(),
        _down(), Block(), Block(), Block(),
        _down(), Block(group_norm=gn), Block(group_norm=gn), Block(group_norm=gn),
        _conv(WIDTH, latent_channels),
    )  # fmt: skip


def build_decoder(latent_channels: int, group_norm: bool) -> nn.Sequential:
    gn = group_norm

    def up() -> list[nn.Module]:
        return [nn.Upsample(scale_factor=2), _conv(WIDTH, WIDTH, bias=False)]

    return nn.Sequential(
        SoftClamp(), _conv(latent_channels, WIDTH), nn.ReLU(),
        Block(group_norm=gn), Block(group_norm=gn), Block(group_norm=gn), *up(),
        Block(), Block(), Block(), *up(),
        Block(), Block(), Block(), *up(),
        Block(), _conv(WIDTH, 3),
    )  # fmt: skip
