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


def test_tiled_error_and_gradient_equal_untiled(kodak, halves, monkeypatch):
    """decode_error, which refinement optimizes through, tiles like decode: the same error,
    the same gradient, on an image that is not a whole number of tiles and is cropped."""
    import torch

    enc, dec = halves
    src = Image.open(kodak / "kodim05.png").convert("RGB").crop((0, 0, 300, 236))
    rgb = np.asarray(src, dtype=np.float32) / 255
    padded = np.pad(rgb, ((0, 4), (0, 4), (0, 0)), mode="edge")  # to the 8-pixel grid
    latent = torch.from_numpy(enc.encode(padded))[None] + 0.1  # not the encoder's own
    target = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    whole, g_whole = dec.decode_error(latent, target)
    decoded = dec.decode(latent[0].numpy())[:236, :300]  # clipped: close, not equal
    assert abs(whole - ((decoded.transpose(2, 0, 1) - rgb.transpose(2, 0, 1)) ** 2).sum()) < 0.01 * whole
    monkeypatch.setattr(dec, "tile_above_px", 0)
    monkeypatch.setattr(dec, "tile_px", 64)
    tiled, g_tiled = dec.decode_error(latent, target)
    assert abs(tiled - whole) < 1e-3 * whole
    assert torch.nn.functional.cosine_similarity(g_tiled.flatten(), g_whole.flatten(), dim=0) > 0.999
    assert (g_tiled - g_whole).abs().max() < 0.02 * g_whole.abs().max()


def test_structural_error_is_the_decoded_pictures_and_tiles(kodak, halves, monkeypatch):
    """The structural term refinement lowers is that of the picture the decoder gives,
    whatever precision the decoder runs at (in bf16 the SSIM's variances were rounding
    noise: 0.012 against 0.336 on a training photo, and refinement chased it), and tiling
    changes it only at the seams."""
    import torch

    from sdcodec.learned import distortion

    enc, dec = halves
    rgb = np.asarray(Image.open(kodak / "kodim05.png").convert("RGB").crop((0, 0, 320, 240)), np.float32) / 255
    latent = torch.from_numpy(enc.encode(rgb))[None]
    latent = latent + 0.3 * torch.randn(latent.shape, generator=torch.Generator().manual_seed(0))
    target = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    sse, _ = dec.decode_error(latent, target, grad=False)
    whole, _ = dec.decode_error(latent, target, grad=False, error=distortion.tile_error(1.0))
    decoded = torch.from_numpy(dec.decode(latent[0].numpy()).transpose(2, 0, 1).copy())[None]
    outside = distortion.ssim_error(decoded, target).item()
    assert outside > 0.05
    assert abs((whole - sse) / target.numel() - outside) < 0.01 * outside
    monkeypatch.setattr(dec, "tile_above_px", 0)
    monkeypatch.setattr(dec, "tile_px", 128)
    tiled, _ = dec.decode_error(latent, target, grad=False, error=distortion.tile_error(1.0))
    assert abs(tiled - whole) < 0.05 * (whole - sse)


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


def _reach(diff, centre: int) -> int:
    """How far from ``centre`` (rows and columns) a difference map is non-zero."""
    ys, xs = np.nonzero(np.abs(diff).sum(0) > 0)
    return int(max(np.abs(ys - centre).max(), np.abs(xs - centre).max()))


def test_measured_receptive_field_fits_in_the_overlap(halves):
    """Perturb one input position; everything it changes must lie within the overlap."""
    import torch

    enc, dec = halves
    torch.manual_seed(0)
    _, local, _ = tiling.split(enc.net, "encoder")
    x = torch.rand(1, 3, 256, 256)
    x2 = x.clone()
    x2[:, :, 128, 128] += 1.0
    with torch.inference_mode():
        d = (local(x2) - local(x)).numpy()[0]
    enc_reach_px = (_reach(d, 16) + 1) * 8  # latent cells reached, in image pixels
    _, local, _ = tiling.split(dec.net, "decoder")
    z = torch.rand(1, 64, 24, 24)
    z2 = z.clone()
    z2[:, :, 12, 12] += 1.0
    with torch.inference_mode():
        d = (local(z2) - local(z)).numpy()[0]
    dec_reach_px = _reach(d, 12 * 8 + 4) + 4
    print(f"receptive field: encoder ≤ {enc_reach_px} px, decoder ≤ {dec_reach_px} px")
    assert enc_reach_px <= tiling.OVERLAP_PX and dec_reach_px <= tiling.OVERLAP_PX
