"""A tiny randomly initialised Stable Diffusion 1.x repository in the hub's layout.

Real SD weights are not available to the tests; these have the published architecture
families (AutoencoderKL with 3 downsamplings, a cross-attention UNet2DConditionModel,
a CLIP text encoder and tokenizer) at toy sizes, and SD 1.4's own scheduler config, so
the loading, recipe and coding code runs end to end exactly as it would on the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = "CompVis/stable-diffusion-v1-4"

# CompVis/stable-diffusion-v1-4, scheduler/scheduler_config.json as published
SD14_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}


def _tokenizer(folder: Path) -> None:
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tok.save_pretrained(str(folder))


def build(models_dir: Path, seed: int = 0, with_unet: bool = True) -> Path:
    """Write the tiny repository under models_dir/CompVis/stable-diffusion-v1-4/."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root = models_dir / REPO
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 16, 16, 16),
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=4,
        sample_size=64,
        scaling_factor=0.18215,
    )
    vae.save_pretrained(str(root / "vae"), safe_serialization=True)
    if not with_unet:
        return root
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    unet.save_pretrained(str(root / "unet"), safe_serialization=True)
    (root / "scheduler").mkdir(parents=True)
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD14_SCHEDULER))
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=60, hidden_size=32, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
            pad_token_id=1,
        )  # fmt: skip
    )
    text.save_pretrained(str(root / "text_encoder"), safe_serialization=True)
    _tokenizer(root / "tokenizer")
    return root
