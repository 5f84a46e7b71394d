"""Named recipes: one switch that sets many EncodeOptions fields.

``buhlmann``: Matthias Bühlmann, "Stable Diffusion based image compression" (2022) and
its notebook, step by step —
* model SD 1.4 (the article's; any model with a U-Net and 4 latent channels works);
* the VAE posterior *sampled* with a generator seeded 0 (our own default is the mean:
  sampling adds the posterior's noise to what must be coded, for nothing);
* the fixed 8-bit map q = uint8(clamp(z / (255·0.18215) + 0.5, 0, 1) · 255 + 0.5) on the raw
  latent, 0.18215 being the VAE config's scaling factor;
* the 4 channels read as an RGBA image and reduced to 256 colours by libimagequant at
  speed 1 with dithering 1.0 (our k-means + Floyd–Steinberg when the `article` extra is
  not installed);
* zlib level 9 over the palette (256 × 4 bytes) followed by the indices (coder 1);
* at decode: U-Net img2img denoising, PNDM, 1000 // 15 = 66 steps, strength 0.04, empty
  prompt, no guidance, no added noise (sdcodec.denoise).
The article also resized every image to 512 × 512; that is ``--resize 512``, not implied.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    from .codec import EncodeOptions

ARTICLE_MODEL = "sd14"
ARTICLE_STEPS = 1000 // 15
ARTICLE_STRENGTH = 0.04
PRESETS = ("buhlmann",)


def apply(opts: EncodeOptions) -> EncodeOptions:
    from . import models
    from .quant.article import have_libimagequant

    if opts.preset not in PRESETS:
        raise InputError(f"unknown preset '{opts.preset}' (choose from {', '.join(PRESETS)})")
    model = ARTICLE_MODEL if opts.model == models.DEFAULT_MODEL else opts.model
    spec = models.by_name(model)
    if spec is None or not spec.unet or spec.latent_channels != 4:
        raise InputError(f"preset buhlmann needs a 4-channel model with a U-Net, not '{model}'")
    return replace(
        opts,
        preset=None,
        model=model,
        mode="palette",
        palette_size=256,
        groups=1,
        dither=True,
        coder="zlib",
        posterior="sample",
        sample_seed=0,
        article_map=True,
        palette_backend="libimagequant" if have_libimagequant() else "kmeans",
        denoise_steps=ARTICLE_STEPS,
        denoise_strength=ARTICLE_STRENGTH,
    )
