"""A codec that decodes another shipped codec's symbols with a synthesis of its own
(learned.save_synthesis, training/train_synthesis.py): the file holds g_s alone, the rest
is the other codec's, so the symbols — and exact decoding — cannot differ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from sdcodec import learned
from sdcodec.learned import SYNTHESIS, coding
from sdcodec.models.registry import codec_by_name


@pytest.fixture(scope="module")
def lc4():
    return learned.load(codec_by_name("lc4"), "cpu")


def _moved_synthesis(codec, seed=0):
    gen = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in codec.net.state_dict().items() if k.startswith(SYNTHESIS)}
    for v in state.values():
        v.add_(torch.randn(v.shape, generator=gen) * v.abs().mean() * 0.2)
    return state


def test_a_synthesis_file_holds_g_s_alone_and_reads_the_rest_from_its_codec(tmp_path, lc4):
    state = _moved_synthesis(lc4)
    path = tmp_path / "syn.safetensors"
    learned.save_synthesis(path, state, "lc4", {"run": {"seed": "0"}})
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        config = json.loads(f.metadata()["config"])
    assert keys and all(k.startswith(SYNTHESIS) for k in keys)
    assert config["symbols"] == "lc4" and config["context"] == {"y_channels": 128, "slices": 4, "hidden": 96}
    # g_s and g_s_skip are a third of lc3's transforms: far smaller than a whole codec
    assert path.stat().st_size < 0.7 * (learned.WEIGHTS_DIR / "lc3.safetensors").stat().st_size

    syn = learned.load_file(path)
    mine, theirs = syn.net.state_dict(), lc4.net.state_dict()
    for k in mine:
        if k.startswith(SYNTHESIS):  # int8 kernels: within half a step of the trained values
            assert not torch.equal(mine[k], theirs[k]), k
            step = state[k].abs().amax(dim=tuple(range(1, state[k].ndim)), keepdim=True) / 127
            assert torch.all((mine[k] - state[k]).abs() <= step * 0.5 + 1e-6), k
        elif not k.startswith("h_s."):
            assert torch.equal(mine[k], theirs[k]), k
    for a, b in zip(syn.hyper + sum(syn.context, []), lc4.hyper + sum(lc4.context, []), strict=True):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    for t in ("y_counts", "thresholds", "z_counts"):
        assert np.array_equal(getattr(syn, t), getattr(lc4, t))


def test_the_same_payload_decodes_to_the_same_symbols_and_another_latent(tmp_path, lc4):
    path = tmp_path / "syn.safetensors"
    learned.save_synthesis(path, _moved_synthesis(lc4), "lc4", {})
    syn = learned.load_file(path)
    latent = np.random.default_rng(0).normal(0, 1, (32, 16, 24)).astype(np.float32)
    payload = coding.compress(lc4, latent, 2.0)
    assert coding.compress(syn, latent, 2.0) == payload  # the encoder's half is lc4's
    for a, b in zip(coding.decode_symbols(syn, payload, 16, 24), coding.decode_symbols(lc4, payload, 16, 24),
                    strict=True):  # fmt: skip
        assert np.array_equal(a, b)
    mine = coding.decompress(syn, payload, 16, 24, 2.0)
    theirs = coding.decompress(lc4, payload, 16, 24, 2.0)
    assert mine.shape == theirs.shape and np.abs(mine - theirs).mean() > 1e-3


def test_a_synthesis_must_hold_only_the_synthesis(tmp_path, lc4):
    state = {**_moved_synthesis(lc4), "g_a.0.weight": lc4.net.state_dict()["g_a.0.weight"]}
    with pytest.raises(ValueError, match="only g_s"):
        learned.save_synthesis(tmp_path / "bad.safetensors", state, "lc4", {})


# (retrained codec, the codec whose symbols it decodes, level, least PSNR gain on the crop)
SHIPPED = [
    # kodim23 crop, level 2: 26.13 → 26.89 dB in fp32, 1,052 bytes
    ("lc5", "lc4", 2.0, 0.4),
    # kodim23 crop, level 3: 24.27 → 25.58 dB in fp32, 700 bytes
    ("lc6", "lc1", 3.0, 0.8),
    # kodim23 crop, level 2: 25.88 → 26.11 dB in bf16 (lc5 26.68: on small images lc5 is
    # closer, hence lc7's fallback), 1,056 bytes
    ("lc7", "lc4", 2.0, 0.1),
]


@pytest.mark.parametrize(("name", "base", "level", "gain"), SHIPPED, ids=[s[0] for s in SHIPPED])
def test_shipped_synthesis_codes_its_bases_bytes_and_decodes_them_better(kodak, name, base, level, gain):
    """A shipped retrained synthesis writes exactly its base codec's payload for the same
    latent, and brings the decoded crop closer to the source (the figures above were
    measured in fp32; the bounds leave room for bf16 and other CPUs)."""
    from PIL import Image

    from sdcodec import models

    theirs = learned.load(codec_by_name(base), "cpu")
    mine = learned.load(codec_by_name(name), "cpu")
    rgb = np.asarray(Image.open(kodak / "kodim23.png").convert("RGB").crop((200, 100, 456, 356)))
    spec = models.by_name("taef2")
    latent = models.load(spec, "encoder", device="cpu").encode(rgb.astype(np.float32) / 255)
    payload = coding.compress(theirs, latent, level)
    assert coding.compress(mine, latent, level) == payload
    dec = models.load(spec, "decoder", device="cpu")

    def db(codec):
        out = np.rint(dec.decode(coding.decompress(codec, payload, *latent.shape[1:], level)) * 255)
        return 10 * np.log10(255**2 / np.mean((out - rgb) ** 2))

    assert db(mine) - db(theirs) > gain


def test_the_encoder_falls_back_to_lc1_where_lc6_decodes_worse(crop):
    """lc6 learned from photographs only; on a smooth gradient lc1 with its restorer rs2
    decodes 2.8 dB closer (28.74 against 25.96 dB, 384×256, measured). The bytes are the
    same, so the encoder decodes them every way and writes lc1's id there, lc6's on a
    photograph; with the decode side pinned (restore=False) it keeps lc6 and checks nothing."""
    from PIL import Image

    import sdcodec
    from sdcodec import EncodeOptions, bitstream

    from .conftest import psnr

    g = np.zeros((256, 384, 3), np.uint8)
    g[..., 0] = np.linspace(0, 255, 384)[None]
    g[..., 1] = np.linspace(0, 255, 256)[:, None]
    g[..., 2] = 128
    grad = Image.fromarray(g)
    auto = bitstream.read(sdcodec.encode(grad, EncodeOptions(refine=0)))
    pinned = bitstream.read(sdcodec.encode(grad, EncodeOptions(restore=False, refine=0)))
    assert auto.payload == pinned.payload
    assert codec_by_name("lc1").id == auto.quant.codec_id and auto.header.decode.denoiser > 0
    assert codec_by_name("lc6").id == pinned.quant.codec_id and pinned.header.decode.denoiser == 0
    assert psnr(grad, sdcodec.decode(bitstream.write(auto))) > psnr(grad, sdcodec.decode(bitstream.write(pinned))) + 2
    photo = bitstream.read(sdcodec.encode(crop, EncodeOptions(refine=0)))
    assert photo.quant.codec_id == codec_by_name("lc6").id and photo.header.decode.denoiser == 0
    # rate control decides it once, on the file it settled on, as the encoder would have
    from sdcodec import ratecontrol
    from sdcodec.codec import analyze, pack

    an = analyze(grad)
    fit = ratecontrol.fit(an, EncodeOptions(max_bytes=600, downscale=1, refine=0))
    assert len(fit.data) <= 600
    assert fit.data == pack(an, ratecontrol.resolve_quality(EncodeOptions(quality=fit.quality, refine=0), an))


def test_lc7_falls_back_to_lc5_where_lc5_decodes_closer(kodak):
    """lc7 gains on whole photographs, not on small ones: a 128-pixel crop of kodim23 at
    lc4's level 2 decodes at 26.12 dB through lc5 and 25.30 through lc7 (measured, bf16),
    so the encoder writes lc5's id there (the same bytes); on the whole of kodim01, where
    lc7 decodes 0.15 dB closer (22.07 against 21.92 at level 1.5), lc7's."""
    from PIL import Image

    import sdcodec
    from sdcodec import EncodeOptions, bitstream

    from .conftest import psnr

    full = Image.open(kodak / "kodim23.png").convert("RGB")
    small = full.crop((200, 100, 328, 228))
    auto = bitstream.read(sdcodec.encode(small, EncodeOptions(codec="lc7", level=2.0, refine=0)))
    pinned = bitstream.read(sdcodec.encode(small, EncodeOptions(codec="lc7", level=2.0, restore=False, refine=0)))
    assert auto.payload == pinned.payload
    assert auto.quant.codec_id == codec_by_name("lc5").id and pinned.quant.codec_id == codec_by_name("lc7").id
    assert psnr(small, sdcodec.decode(bitstream.write(auto))) > psnr(small, sdcodec.decode(bitstream.write(pinned))) + 0.3
    whole = bitstream.read(sdcodec.encode(kodak / "kodim01.png", EncodeOptions(codec="lc7", refine=0)))
    assert whole.quant.codec_id == codec_by_name("lc7").id
