"""Stable Diffusion models and the article's recipe, on tiny random weights (tests/tiny_sd.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import sdcodec  # noqa: E402
from sdcodec import EncodeOptions, denoise, models  # noqa: E402
from sdcodec.cli import main  # noqa: E402
from sdcodec.quant.article import article_map  # noqa: E402

from . import tiny_sd  # noqa: E402


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sdmodels")
    tiny_sd.build(d)
    return d


@pytest.fixture
def crop(kodak):
    return Image.open(kodak / "kodim23.png").convert("RGB").crop((200, 100, 328, 196))


def test_encode_decode_shapes_and_scaling_from_config(sd_dir, crop):
    opts = EncodeOptions(model="sd14", models_dir=str(sd_dir))
    data = sdcodec.encode(crop, opts)
    hdr = sdcodec.info(data)
    assert hdr["model"]["name"] == "sd14" and hdr["latent"] == {"channels": 4, "height": 12, "width": 16}
    assert hdr["quantizer"]["name"] == "palette"  # no learned codec for sd14: auto → palette
    out = sdcodec.decode(data, models_dir=str(sd_dir))
    assert out.size == crop.size and out.mode == "RGB"
    enc = models.load(models.by_name("sd14"), "encoder", str(sd_dir), "cpu")
    assert enc.latent_scale == pytest.approx(0.18215) and enc.latent_shift == 0.0


def test_recipe_timesteps_are_the_articles_three():
    from diffusers import PNDMScheduler

    sched = PNDMScheduler.from_config(tiny_sd.SD14_SCHEDULER)
    assert denoise.timesteps(sched, 1000 // 15, 0.04) == [31, 16, 1]
    # the strength stored as float32 picks the same steps
    assert denoise.timesteps(sched, 66, float(np.float32(0.04))) == [31, 16, 1]


def test_strength_zero_leaves_latent_unchanged(sd_dir):
    spec = models.by_name("sd14")
    lat = np.random.default_rng(0).normal(size=(4, 8, 8)).astype(np.float32)
    assert np.array_equal(denoise.apply(spec, lat, 1, 66, 0.0, str(sd_dir), "cpu"), lat)
    # diffusers' quirk, kept: PLMS repeats one timestep, so a strength too small for a
    # step (int(66 · 0.01) = 0) still runs the last one, t = 1, as the pipeline does
    from diffusers import PNDMScheduler

    assert denoise.timesteps(PNDMScheduler.from_config(tiny_sd.SD14_SCHEDULER), 66, 0.01) == [1]
    moved = denoise.apply(spec, lat, 1, 66, 0.04, str(sd_dir), "cpu")
    assert np.abs(moved - lat).max() > 1e-4  # the three steps do change it


def test_our_loop_equals_diffusers_img2img_pipeline(sd_dir):
    """Same latents as StableDiffusionImg2ImgPipeline, except by design: the article adds
    no noise to the starting latent, so the pipeline's add_noise is made the identity."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionImg2ImgPipeline
    from transformers import CLIPTextModel, CLIPTokenizer

    spec = models.by_name("sd14")
    unet, cfg, emb = denoise._load(spec, str(sd_dir), "cpu")
    root = sd_dir / tiny_sd.REPO
    torch.manual_seed(1)
    lat = torch.randn(1, 4, 12, 16)
    ours = denoise.run(unet, cfg, emb, lat, 66, 0.04)
    pipe = StableDiffusionImg2ImgPipeline(
        vae=AutoencoderKL.from_pretrained(str(root), subfolder="vae"),
        text_encoder=CLIPTextModel.from_pretrained(str(root / "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(str(root / "tokenizer")),
        unet=unet,
        scheduler=PNDMScheduler.from_config(cfg),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    theirs_noisy = pipe(prompt="", image=lat, strength=0.04, num_inference_steps=66,
                        guidance_scale=1.0, output_type="latent").images  # fmt: skip
    assert not torch.equal(theirs_noisy, ours)  # with its noise the pipeline differs...
    pipe.scheduler.add_noise = lambda x, noise, t: x
    theirs = pipe(prompt="", image=lat, strength=0.04, num_inference_steps=66,
                  guidance_scale=1.0, output_type="latent").images  # fmt: skip
    assert torch.equal(theirs, ours)  # ...and without it, bit for bit the same


def test_empty_prompt_embedding_cached_beside_weights(sd_dir):
    spec = models.by_name("sd14")
    emb = denoise.empty_prompt_embedding(spec, str(sd_dir))
    path = sd_dir / tiny_sd.REPO / "text_encoder" / denoise.EMBEDDING_FILE
    assert path.is_file() and emb.shape == (1, 77, 32)
    again = denoise.empty_prompt_embedding(spec, str(sd_dir))
    assert torch.equal(emb, again)


def test_buhlmann_preset_round_trip_and_determinism(sd_dir, crop):
    opts = EncodeOptions(preset="buhlmann", models_dir=str(sd_dir))
    data = sdcodec.encode(crop, opts)
    hdr = sdcodec.info(data)
    assert hdr["model"]["name"] == "sd14"
    assert hdr["coder"]["name"] == "zlib"
    assert hdr["quantizer"]["name"] == "palette" and hdr["quantizer"]["dithered"]
    assert hdr["quantizer"]["palette_size"] <= 256
    d = hdr["decode"]
    assert (d["name"], d["steps"], d["seed"]) == ("unet-img2img", 66, 0)
    assert d["strength"] == pytest.approx(0.04, abs=1e-7)
    assert data == sdcodec.encode(crop, opts)  # the posterior sample is seeded
    a = np.asarray(sdcodec.decode(data, models_dir=str(sd_dir)))
    b = np.asarray(sdcodec.decode(data, models_dir=str(sd_dir)))
    assert np.array_equal(a, b)


def test_article_map_is_the_published_formula():
    s = 0.18215
    rng = np.random.default_rng(0)
    raw = rng.normal(scale=8, size=(4, 16, 16)).astype(np.float32)
    want = (np.clip(raw / (255 * s) + 0.5, 0, 1) * 255 + 0.5).astype(np.uint8)
    got = article_map(s).to_uint8(raw * s)  # our latents are normalized: raw · s
    assert np.array_equal(got, want)


def test_resize_512_is_the_articles_input(sd_dir, crop):
    data = sdcodec.encode(crop, EncodeOptions(model="sd14", resize=64, models_dir=str(sd_dir)))
    assert (sdcodec.info(data)["width"], sdcodec.info(data)["height"]) == (64, 64)


def test_libimagequant_palette_when_installed():
    pytest.importorskip("imagequant")
    from sdcodec.quant.article import liq_palette

    img = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    pal, idx = liq_palette(img, 16)
    assert pal.shape[1] == 4 and pal.shape[0] <= 16 and idx.shape == (32, 32)
    assert int(idx.max()) < pal.shape[0]


def test_missing_weights_is_one_line(tmp_path, capsys, monkeypatch, kodak):
    monkeypatch.setenv("SDCODEC_OFFLINE", "1")
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SDCODEC_MODELS", str(tmp_path / "empty"))
    out = tmp_path / "x.sdc"
    rc = main(["encode", "--model", "sd14", str(kodak / "kodim23.png"), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and not out.exists()
    assert "sd14" in err and "vae/config.json" in err and "SDCODEC_MODELS" in err


def test_hub_files_are_checked_against_the_commits_sha256(tmp_path):
    from sdcodec.errors import ModelUnavailableError
    from sdcodec.weights import check_lfs_sha256, sha256_file

    f = tmp_path / "vae" / "diffusion_pytorch_model.safetensors"
    f.parent.mkdir()
    f.write_bytes(b"weights")
    check_lfs_sha256(tmp_path, {"vae/diffusion_pytorch_model.safetensors": sha256_file(f)})
    with pytest.raises(ModelUnavailableError, match="does not match"):
        check_lfs_sha256(tmp_path, {"vae/diffusion_pytorch_model.safetensors": "0" * 64})
    assert not f.exists()  # a refused download is removed


def test_vae_only_models_reject_denoising(sd_dir):
    with pytest.raises(sdcodec.InputError):
        EncodeOptions(model="sd15-mse", denoise_steps=66, denoise_strength=0.04).validate()
    with pytest.raises(sdcodec.InputError):
        EncodeOptions(preset="buhlmann", model="flux1").validate()
