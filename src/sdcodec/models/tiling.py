"""Bounded-memory autoencoder passes for large images: tile the local part of the network.

TAEF2's GroupNorm blocks see the whole image (their statistics are global), but they all
run at latent resolution, where even a 24-megapixel photo is small. The full-resolution
part of each half is plain convolutions, upsampling and ReLUs: its output at a pixel
depends only on a bounded neighbourhood (the receptive field: ≤73 full-resolution pixels
for both halves of TAEF2, measured in tests/test_tiling.py). So: run the global part
whole, and the local part tile by tile with an overlap wider than the receptive field, keeping each tile's centre.
The result equals the untiled pass up to float rounding (tests/test_tiling.py).
"""

from __future__ import annotations

import torch
from torch import nn

# full-resolution pixels of overlap on each side; the measured receptive field reaches ≤73
OVERLAP_PX = 96
TILE_PX = 512
TILE_ABOVE_PX = 1024 * 1024  # images up to this size run in one piece


def _has_group_norm(m: nn.Module) -> bool:
    return getattr(m, "pool", None) is not None


def split(net: nn.Sequential, role: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(before, local, after): only ``local`` runs at full resolution and is tiled."""
    gn = [i for i, m in enumerate(net) if _has_group_norm(m)]
    if not gn:
        return nn.Identity(), net, nn.Identity()
    if role == "encoder":  # full-res convs first, GN blocks at the end
        return nn.Identity(), net[: gn[0]], net[gn[0] :]
    return net[: gn[-1] + 1], net[gn[-1] + 1 :], nn.Identity()  # decoder: GN blocks first


def boxes(h: int, w: int, tile: int, overlap: int):
    """(y0, y1, x0, x1) of each tile and (ys, ye, xs, xe) of it with its overlap, in input
    pixels, raster order."""
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ys, xs = max(y0 - overlap, 0), max(x0 - overlap, 0)
            yield (y0, y1, x0, x1), (ys, min(y1 + overlap, h), xs, min(x1 + overlap, w))


def centre(piece: torch.Tensor, box, padded, scale: float) -> tuple[torch.Tensor, int, int]:
    """The part of ``piece`` (the network's output on ``padded``) that belongs to ``box``,
    and where it starts in the output."""
    (y0, y1, x0, x1), (ys, _, xs, _) = box, padded
    oy, ox = round((y0 - ys) * scale), round((x0 - xs) * scale)
    th, tw = round((y1 - y0) * scale), round((x1 - x0) * scale)
    return piece[:, :, oy : oy + th, ox : ox + tw], round(y0 * scale), round(x0 * scale)


def run_tiled(
    local: nn.Module, x: torch.Tensor, scale: float, tile: int, overlap: int
) -> torch.Tensor:
    """Apply ``local`` (output size = input size × scale) to x in tiles of ``tile`` input pixels.

    ``tile`` and ``overlap`` are in input pixels; with scale < 1 they must be multiples of
    1/scale so every tile starts on the network's downsampling grid.
    """
    _, _, h, w = x.shape
    out = None
    for box, (ys, ye, xs, xe) in boxes(h, w, tile, overlap):
        piece = local(x[:, :, ys:ye, xs:xe])
        if out is None:
            out = piece.new_empty((1, piece.shape[1], round(h * scale), round(w * scale)))
        part, oy, ox = centre(piece, box, (ys, ye, xs, xe), scale)
        out[:, :, oy : oy + part.shape[2], ox : ox + part.shape[3]] = part
    return out
