"""Tiled autoencoder passes equal untiled ones: no seams (the bound is float rounding)."""

import numpy as np
import pytest
from PIL import Image

from sdcodec import models
from sdcodec.models import tiling

SEAM_BOUND = 1e-4  # max |tiled − untiled|, latent units or [0, 1] pixel values


@pytest.fixture(scope="module")
def halves():
    spec = models.by_name("taef2")
    return models.load(spec, "encoder", device="cpu"), models.load(spec, "decoder", device="cpu")


@pytest.mark.parametrize("tile_px", [64, 136])
def test_tiled_equals_untiled(kodak, halves, monkeypatch, tile_px):
    enc, dec = halves
    rgb = (
        np.asarray(
            Image.open(kodak / "kodim05.png").convert("RGB").crop((0, 0, 320, 256)),
            dtype=np.float32,
        )
        / 255
    )
    z_whole = enc.encode(rgb)
    y_whole = dec.decode(z_whole)
    for half in (enc, dec):
        monkeypatch.setattr(half, "tile_above_px", 0)
        monkeypatch.setattr(half, "tile_px", tile_px)
    z_tiled = enc.encode(rgb)
    y_tiled = dec.decode(z_whole)
    assert z_tiled.shape == z_whole.shape and y_tiled.shape == y_whole.shape
    assert np.abs(z_tiled - z_whole).max() < SEAM_BOUND
    assert np.abs(y_tiled - y_whole).max() < SEAM_BOUND


def test_split_keeps_group_norm_whole(halves):
    enc, dec = halves
    _, local, after = tiling.split(enc.net, "encoder")
    assert not any(tiling._has_group_norm(m) for m in local) and any(
        tiling._has_group_norm(m) for m in after
    )
    before, local, _ = tiling.split(dec.net, "decoder")
    assert not any(tiling._has_group_norm(m) for m in local) and any(
        tiling._has_group_norm(m) for m in before
    )
