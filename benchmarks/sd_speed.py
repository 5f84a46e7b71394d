"""Time and peak memory of the Stable Diffusion 1.4 path on this machine, with full-size
randomly initialised networks built from the published SD 1.4 VAE and U-Net configs
(speed and memory do not depend on the weights' values).

    python benchmarks/sd_speed.py            # 512×512 and 768×512, 3 U-Net steps
    python benchmarks/sd_speed.py 2000x1500  # a large photo: VAE only, tiled as sdcodec does

Each size runs in its own process; peak RSS is that process's maximum resident memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

# AutoencoderKL and UNet2DConditionModel configs of CompVis/stable-diffusion-v1-4
VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, scaling_factor=0.18215,
)  # fmt: skip
UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)  # fmt: skip
SCHEDULER = {
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "clip_sample": False,
}  # fmt: skip


def worker(width: int, height: int) -> dict:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from sdcodec import denoise
    from sdcodec.models.tiling import TILE_ABOVE_PX

    torch.manual_seed(0)
    vae = AutoencoderKL(**VAE).eval().requires_grad_(False)
    large = width * height > TILE_ABOVE_PX
    if large:  # what sdcodec.models.diffusers_vae does above 1 MP
        vae.enable_tiling()
    unet = None if large else UNet2DConditionModel(**UNET).eval().requires_grad_(False)
    emb = torch.randn(1, 77, 768)
    x = torch.rand(1, 3, height, width) * 2 - 1
    with torch.inference_mode():
        t = time.perf_counter()
        z = vae.encode(x).latent_dist.mean * VAE["scaling_factor"]
        enc_s = time.perf_counter() - t
        rss_enc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        if unet is not None:
            z = denoise.run(unet, SCHEDULER, emb, z, 1000 // 15, 0.04)
        unet_s = time.perf_counter() - t
        t = time.perf_counter()
        _ = vae.decode(z / VAE["scaling_factor"]).sample
        dec_s = time.perf_counter() - t
    return {"size": f"{width}x{height}", "encode_s": enc_s, "unet_3_steps_s": unet_s,
            "vae_decode_s": dec_s, "peak_rss_after_encode_mb": rss_enc,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]), int(sys.argv[3]))))
        return 0
    sizes = [tuple(int(v) for v in a.split("x")) for a in sys.argv[1:]] or [(512, 512), (768, 512)]
    print("| size | VAE encode s | U-Net, 3 steps s | VAE decode s | decode total s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for w, h in sizes:
        out = subprocess.run([sys.executable, __file__, "--worker", str(w), str(h)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        total = r["unet_3_steps_s"] + r["vae_decode_s"]
        print(f"| {r['size']} | {r['encode_s']:.1f} | {r['unet_3_steps_s']:.1f} | "
              f"{r['vae_decode_s']:.1f} | {total:.1f} | {r['peak_rss_mb']:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
