"""image → latent → symbols → bytes → file, and back. Orchestration only."""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from . import bitstream, entropy, imageio, models, quant
from .bitstream import DEFAULT_MAX_PIXELS, Header, SdcFile
from .entropy.plane import decode_plane, encode_plane
from .errors import InputError
from .imageio import ImageLike, open_image

MAX_REFINE_STEPS = 200
MAX_STRUCTURE = 1.0  # refinement's structure weight: 100× the default, where squared error hardly counts
# paired on 8 training photos (BSDS500, ImageNet, SUN; bench at 0.1 / 0.15 / 0.25 bpp), against
# squared error alone: 0.003 +3.3 / +3.5 / +4.7 SSIMULACRA2, +0.06–0.08 JOD, −0.02…+0.16 dB;
# 0.01 +4.9 / +4.6 / +6.6, +0.08–0.11 JOD, −0.07 / −0.14 / +0.19 dB; 0.03 +5.8 / +4.0 / +5.4,
# +0.07–0.12 JOD, −0.18 / −0.38 / −0.18 dB
DEFAULT_STRUCTURE = 0.01
CODER_SLACK = 16  # bytes: range-coder words and rounding above the tables' bits
# refinement steps when the options do not say (refine=None), in learned mode: on all 24
# Kodak images, rate controlled, 4 steps against none +0.9…+2.0 dB, +10…+20 SSIMULACRA2,
# +0.27…+0.39 JOD at 0.05–0.25 bpp (BENCHMARKS.md, session 23; without them sdcodec was
# behind WebP at every rate); 6 against 4 +0.06…+0.14 dB, +0.4…+1.5, +0.01…+0.03 JOD, 8
# against 6 another +0.03…+0.06 dB, +0.2…+1.0, +0.01…+0.03 (session 24). A 768×512 image
# takes ≈0.9 s a step on 2 cores: 6 is the default's compromise, --refine gives 12
AUTO_REFINE_STEPS = 6
# ... on images up to this many pixels (1080p): each step is a decoder pass forward and
# back, seconds per megapixel on a CPU; larger images are coded unrefined unless asked
AUTO_REFINE_PIXELS = 1 << 21


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode. The default is the learned latent codec; mode="palette" with
    dither=True and coder="zlib" is the article's recipe carried over to TAEF2."""

    model: str = models.DEFAULT_MODEL
    # "auto": learned where the model has a learned codec and no palette option (-k, -g,
    # dither, per_channel, coder) is set, else palette; "learned", "palette", "8bit", "scalar"
    mode: str = "auto"
    palette_size: int = 256  # K, 2..256 (palette mode)
    groups: int = 1  # G channel groups, each with its own palette; must divide C
    dither: bool = (
        False  # Floyd–Steinberg error diffusion (off: measured better PSNR at equal size)
    )
    per_channel: bool = False  # affine map per channel instead of one global map
    step: float = 1.0  # quantization step of the scalar mode, in latent units
    deadzone: float = 0.0  # scalar mode: 0 rounds to nearest; up to 0.5 widens the zero bin
    coder: str = "ctx"  # hand-made modes: "ctx" (context-modelled range coding) or "zlib"
    level: float | None = None  # learned mode: rate level (quality sets it; default: the codec's)
    codec: str | None = None  # learned mode: a registry.CODECS name; default DEFAULT_CODEC
    seed: int = 0  # k-means seed
    # rate control (sdcodec/ratecontrol.py): a quality 0..100 replaces mode/palette_size/
    # step with the ladder's setting; a target bpp or byte budget searches that ladder
    quality: int | None = None
    target_bpp: float | None = None
    max_bytes: int | None = None
    # the article's recipe as one switch (sdcodec/presets.py); it sets the fields below
    preset: str | None = None
    resize: int | None = None  # square side to resize to first (the article: 512, Lanczos)
    posterior: str = "mean"  # diffusers VAEs: "mean" or "sample" (seeded by sample_seed)
    sample_seed: int = 0
    article_map: bool = False  # the article's fixed 8-bit map instead of a fitted one
    palette_backend: str = "kmeans"  # or "libimagequant" (the `article` extra, GPL)
    denoise_steps: int = 0  # U-Net img2img at decode (models with a U-Net): inference steps
    denoise_strength: float = 0.0  # ... and strength; 0 = no denoising
    # the learned latent restorer at decode (sdcodec.learned.restore), where one was trained
    # for this mode (and learned codec); None = when no U-Net denoising is asked for and
    # the encoder finds it brings the pixels closer (it decodes both ways to check)
    restore: bool | None = None
    # learned mode: gradient steps that refine y's symbols for this image (learned/refine.py);
    # slower encoding, the same decoder. 0 = the analysis network's symbols as they are;
    # None = AUTO_REFINE_STEPS up to AUTO_REFINE_PIXELS (refine_steps)
    refine: int | None = None
    # ... and the weight of the structural (multi-scale SSIM) term in the error it lowers
    # (learned/distortion.py); 0 = squared error alone, what PSNR rewards
    refine_structure: float = DEFAULT_STRUCTURE
    # code the image at 1/downscale of its width and height, resampled back at decode (RSMP,
    # format 2.1); None: 1, except that rate control also tries 2 at low budgets (and keeps
    # it unless it decodes much further: ratecontrol.DOWNSCALE_BIAS), and goes lower (2, 4)
    # where the budget is under the full size's smallest file
    downscale: int | None = None
    models_dir: str | None = None  # weights folder; default SDCODEC_MODELS, then the cache
    device: str | None = None  # "cpu", "cuda", ...; default: CUDA when present
    max_pixels: int = DEFAULT_MAX_PIXELS

    def learned_codec(self) -> models.registry.CodecSpec | None:
        """The learned codec these options ask for, if it exists and codes this model."""
        codec = models.registry.codec_by_name(self.codec or models.registry.DEFAULT_CODEC)
        return codec if codec is not None and codec.autoencoder == self.model else None

    def restorer(self) -> models.registry.RestorerSpec | None:
        """The learned restorer trained for these options' mode (and learned codec)."""
        codec = self.learned_codec() if self.mode == "learned" else None
        return models.registry.restorer_for(self.model, self.mode, codec.name if codec else "")

    def resolved(self) -> EncodeOptions:
        """The preset applied and mode "auto" decided."""
        from . import presets

        opts = presets.apply(self) if self.preset is not None else self
        if opts.mode == "auto":
            has_codec = opts.learned_codec() is not None
            # a palette option given means the hand-made palette was asked for
            default = EncodeOptions()
            hand_made = (opts.palette_size, opts.groups, opts.dither, opts.per_channel,
                         opts.coder, opts.article_map) != (
                default.palette_size, default.groups, default.dither, default.per_channel,
                default.coder, default.article_map)  # fmt: skip
            opts = replace(opts, mode="learned" if has_codec and not hand_made else "palette")
        return opts

    def validate(self) -> models.ModelSpec:
        if self.mode == "auto" or self.preset is not None:
            return self.resolved().validate()
        spec = models.by_name(self.model)
        if spec is None:
            raise InputError(
                f"unknown model '{self.model}' (choose from {', '.join(models.names())})"
            )
        if self.coder not in entropy.NAMES:
            raise InputError(
                f"unknown coder '{self.coder}' (choose from {', '.join(entropy.NAMES)})"
            )
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise InputError(f"quality must be 0..100, got {self.quality}")
        if self.target_bpp is not None and not self.target_bpp > 0:
            raise InputError(f"target bpp must be positive, got {self.target_bpp}")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise InputError(f"max bytes must be positive, got {self.max_bytes}")
        if self.posterior not in ("mean", "sample"):
            raise InputError(f"posterior must be 'mean' or 'sample', got '{self.posterior}'")
        if self.downscale is not None and not 1 <= self.downscale <= bitstream.MAX_FACTOR:
            raise InputError(f"downscale must be 1..{bitstream.MAX_FACTOR}, got {self.downscale}")
        if self.resize is not None and not 8 <= self.resize <= 16384:
            raise InputError(f"resize must be 8..16384 pixels, got {self.resize}")
        if self.palette_backend not in ("kmeans", "libimagequant"):
            raise InputError(f"unknown palette backend '{self.palette_backend}'")
        if self.denoise_strength:
            from .denoise import MAX_STEPS

            if not spec.unet:
                raise InputError(f"model '{spec.name}' has no U-Net to denoise with")
            if not (1 <= self.denoise_steps <= MAX_STEPS and 0 < self.denoise_strength <= 1):
                raise InputError(f"denoising needs 1..{MAX_STEPS} steps and a strength in (0, 1]")
        if self.restore:
            if self.restorer() is None:
                codec = self.learned_codec() if self.mode == "learned" else None
                what = f"learned codec '{codec.name}'" if codec else f"model '{spec.name}' in mode '{self.mode}'"
                raise InputError(f"{what} has no learned restorer")
            if self.denoise_strength:
                raise InputError("choose U-Net denoising or the learned restorer, not both")
        if self.refine is not None and not 0 <= self.refine <= MAX_REFINE_STEPS:
            raise InputError(f"refine steps must be 0..{MAX_REFINE_STEPS}, got {self.refine}")
        if not 0 <= self.refine_structure <= MAX_STRUCTURE:  # NaN fails too
            raise InputError(f"refinement's structure weight must be 0..{MAX_STRUCTURE}, got {self.refine_structure}")
        if self.refine and self.mode != "learned":
            raise InputError(f"refinement is for the learned codec's symbols, not mode '{self.mode}'")
        if self.codec is not None and models.registry.codec_by_name(self.codec) is None:
            names = ", ".join(c.name for c in models.registry.CODECS)
            raise InputError(f"unknown learned codec '{self.codec}' (choose from {names})")
        if self.mode == "learned":
            codec = self.learned_codec()
            if codec is None:
                raise InputError(
                    f"model '{spec.name}' has no learned codec {self.codec or ''}: use --mode palette"
                )
            if self.level is not None and not 0 <= self.level <= codec.levels - 1:
                raise InputError(f"level must be in 0..{codec.levels - 1}, got {self.level}")
            return spec
        quant.check_options(
            spec.latent_channels,
            self.mode,
            self.palette_size,
            self.groups,
            self.step,
            self.deadzone,
        )
        return spec


@dataclass
class Analysis:
    """An image after the autoencoder: everything the quantizer and the container need.

    Keeping it lets a caller try many quantizer settings on one image without running
    the encoder again (rate control, benchmarks).
    """

    spec: models.ModelSpec
    prepared: imageio.Prepared  # rgb: what the latent codes (the image, or 1/factor of it)
    latent: np.ndarray
    latent_scale: float = 1.0  # the autoencoder's normalization (from its config)
    latent_shift: float = 0.0
    factor: int = 1
    full: np.ndarray | None = None  # the image at its own size where factor > 1

    @property
    def reference(self) -> np.ndarray:
        """The image as the decoder must give it back (its own size)."""
        return self.prepared.rgb if self.full is None else self.full


def analyze(image: ImageLike, options: EncodeOptions | None = None) -> Analysis:
    """Open, convert, pad and encode an image to its latent."""
    opts = (options or EncodeOptions()).resolved()
    spec = opts.validate()
    im = open_image(image, opts.max_pixels)
    if opts.resize is not None:
        im = imageio.resize_square(im, opts.resize)
    if im.width * im.height > opts.max_pixels:
        raise InputError(f"{im.width}x{im.height} exceeds the limit of {opts.max_pixels} pixels")
    if im.width < 1 or im.height < 1:
        raise InputError("image has no pixels")
    prep = imageio.prepare(im)
    return _encoded(spec, prep, prep.rgb, opts.downscale or 1, opts)


def rescaled(analysis: Analysis, factor: int, options: EncodeOptions | None = None) -> Analysis:
    """The image of an analysis coded at 1/factor of its size (factor 1: at its own)."""
    opts = (options or EncodeOptions()).resolved()
    return _encoded(analysis.spec, analysis.prepared, analysis.reference, factor, opts)


def _encoded(spec: models.ModelSpec, prep: imageio.Prepared, full: np.ndarray, factor: int,
             opts: EncodeOptions) -> Analysis:  # fmt: skip
    """``full`` (the image at its own size) through the encoder at 1/factor of its size."""
    size = bitstream.coded_size(full.shape[1], full.shape[0], factor)
    rgb = imageio.downscale(full, size) if factor > 1 else full
    prep = replace(prep, rgb=rgb)
    padded = imageio.pad(rgb, spec.downsample).astype(np.float32) / 255.0
    encoder = models.load(spec, "encoder", opts.models_dir, opts.device)
    seed = opts.sample_seed if opts.posterior == "sample" else None
    latent = encoder.encode(padded, sample_seed=seed)
    return Analysis(spec, prep, latent, encoder.latent_scale, encoder.latent_shift, factor,
                    full if factor > 1 else None)  # fmt: skip


def pack(analysis: Analysis, options: EncodeOptions | None = None) -> bytes:
    """Quantize and code an analyzed image into the bytes of a .sdc file."""
    opts = (options or EncodeOptions()).resolved()
    spec = opts.validate()
    if spec.id != analysis.spec.id:
        raise InputError(
            f"image was analyzed with '{analysis.spec.name}', options ask for '{spec.name}'"
        )
    if opts.mode == "learned":
        return _pack_learned(analysis, resolve_refine(opts, analysis))
    params, streams = quant.quantize(
        analysis.latent,
        opts.mode,
        opts.palette_size,
        opts.groups,
        opts.dither,
        opts.per_channel,
        opts.seed,
        opts.step,
        opts.deadzone,
        _article_map(analysis) if opts.article_map else None,
        opts.palette_backend,
    )
    coder = entropy.get(entropy.NAMES[opts.coder])
    specs = quant.stream_specs(params, spec.latent_channels, *analysis.latent.shape[1:])
    shaped = [x.reshape(sp.shape) for x, sp in zip(streams, specs, strict=True)]
    decode = _restoration(
        analysis, lambda: quant.dequantize(params, shaped, spec.latent_channels), opts
    )
    return _write(analysis, params, int(coder.id), coder.encode(streams, specs), decode)


def _restoration(analysis: Analysis, decoded, opts: EncodeOptions) -> bitstream.DecodeSettings:
    """The decode settings, a learned restorer kept only when it brings the decoded pixels
    closer to the input — checked here with the decoder unless the options force it either
    way, since on some flat colours and hard-edged shapes it does not help (docs/LEARNED.md).
    ``decoded`` computes the latent the decoder will see before restoration."""
    settings = _decode_settings(opts)
    restorer = models.registry.restorer_by_id(settings.denoiser)
    if restorer is None or opts.restore is not None:
        return settings
    from .learned import restore

    latent = decoded()
    best = _closest(analysis, opts, [latent, restore.apply(restorer, latent, 1.0, opts.device)])
    return settings if best == 1 else bitstream.DecodeSettings()


def _closest(analysis: Analysis, opts: EncodeOptions, latents: list) -> int:
    """Which of the latents the decoder turns into pixels closest to the input (the first
    of equals)."""
    decoder = models.load(analysis.spec, "decoder", opts.models_dir, opts.device)
    ref = analysis.prepared.rgb.astype(np.float32)
    h, w = ref.shape[:2]
    # the whole image, decoded every way: sampled tiles measured wrong on 4 of 8 Kodak
    # images (TAEF2's GroupNorm statistics are global; docs/LEARNED.md)
    errors = [np.mean((np.rint(decoder.decode(x)[:h, :w] * 255) - ref) ** 2) for x in latents]
    return int(np.argmin(errors))


def _learned_decoding(analysis: Analysis, opts: EncodeOptions, spec, payload: bytes, level: float):
    """(codec, decode settings) of codec ``spec``'s payload: ``spec`` and the restorer as
    ``_restoration`` decides, or — when the decode side is left to the encoder (``restore``
    None) and ``spec`` has a fallback coding the same symbols — whichever of ``spec``, the
    fallback and the fallback's restorer decodes this image closest."""
    from . import learned
    from .learned import coding, restore

    fallback = models.registry.codec_by_name(spec.fallback) if spec.fallback else None
    h, w = analysis.latent.shape[1:]
    if fallback is None or opts.restore is not None:
        codec = learned.load(spec, opts.device)
        return spec, _restoration(analysis, lambda: coding.decompress(codec, payload, h, w, level), opts)
    choices = [(spec, bitstream.DecodeSettings())]
    latents = [coding.decompress(learned.load(spec, opts.device), payload, h, w, level)]
    base = coding.decompress(learned.load(fallback, opts.device), payload, h, w, level)
    choices.append((fallback, bitstream.DecodeSettings()))
    latents.append(base)
    restorer = models.registry.restorer_for(analysis.spec.name, "learned", fallback.name)
    if restorer is not None:
        choices.append((fallback, bitstream.DecodeSettings(restorer.id, 0, 1.0, 0)))
        latents.append(restore.apply(restorer, base, 1.0, opts.device))
    return choices[_closest(analysis, opts, latents)]


def with_restoration(analysis: Analysis, data: bytes, opts: EncodeOptions) -> bytes:
    """A file packed without the encoder's decode-side check, its decode settings (and, for
    a codec with a fallback, its codec) decided as ``pack`` with ``opts`` would: from the
    file's own symbols, without quantizing again."""
    f = bitstream.read(data)
    quant_params = f.quant
    if f.quant.quantizer is quant.QuantizerId.LEARNED:
        spec = models.registry.codec_by_id(f.quant.codec_id)
        spec, decode = _learned_decoding(analysis, opts, spec, f.payload, f.quant.level)
        quant_params = replace(f.quant, codec_id=spec.id)
    else:
        decode = _restoration(analysis, lambda: decode_latent(f, opts.device), opts)
    if (decode, quant_params) == (f.header.decode, f.quant):
        return data
    return bitstream.write(replace(f, header=replace(f.header, decode=decode), quant=quant_params))


def _article_map(analysis: Analysis) -> quant.AffineMap:
    from .quant.article import article_map

    return article_map(analysis.latent_scale, analysis.latent_shift)


def _write(
    analysis: Analysis,
    params: quant.QuantParams,
    coder_id: int,
    payload: bytes,
    decode: bitstream.DecodeSettings,
) -> bytes:
    prep, spec = analysis.prepared, analysis.spec
    height, width = analysis.reference.shape[:2]
    header = Header(
        model_id=spec.id,
        fingerprint=spec.fingerprint,
        width=width,
        height=height,
        mode=prep.mode,
        source_mode=prep.source_mode,
        quantizer=params.quantizer,
        coder_id=coder_id,
        decode=decode,
    )
    alpha = encode_plane(prep.alpha) if prep.alpha is not None else None
    return bitstream.write(SdcFile(header, params, payload, alpha, prep.icc, factor=analysis.factor))


def _decode_settings(opts: EncodeOptions) -> bitstream.DecodeSettings:
    if not opts.denoise_strength:
        # one per mode it was trained for; none for scalar (rs1 measured worse on steps ≤ 1)
        restorer = opts.restorer()
        if opts.restore is not False and restorer:
            return bitstream.DecodeSettings(restorer.id, 0, 1.0, 0)
        return bitstream.DecodeSettings()
    from .denoise import UNET_IMG2IMG

    strength = float(np.float32(opts.denoise_strength))  # as stored
    return bitstream.DecodeSettings(
        UNET_IMG2IMG, opts.denoise_steps, strength, opts.sample_seed
    )


def _pack_learned(analysis: Analysis, opts: EncodeOptions) -> bytes:
    from . import learned
    from .learned import coding

    spec = opts.learned_codec()
    codec = learned.load(spec, opts.device)
    level = spec.default_level if opts.level is None else float(opts.level)
    level = float(np.float32(level))  # what the file stores is what the encoder uses
    refining = bool(opts.refine) and _refinable(analysis)
    z_sym, r_sym, mu, idx, r = coding.analyse(codec, analysis.latent, level, retrained=not refining)
    payload = coding.pack_symbols(codec, z_sym, r_sym, idx)
    params = quant.QuantParams(quant.QuantizerId.LEARNED, None, codec_id=spec.id, level=level)
    if opts.refine:
        cap = None
        if opts.max_bytes is not None:  # rate control's budget is for the whole file
            plain = _write(analysis, params, bitstream.HYPERPRIOR_CODER, payload,
                           bitstream.DecodeSettings())  # fmt: skip
            cap = opts.max_bytes - (len(plain) - len(payload))
        payload = _refined(analysis, opts, codec, (z_sym, r_sym, mu, idx, r), level, payload, cap)
    chosen, decode = _learned_decoding(analysis, opts, spec, payload, level)
    return _write(analysis, replace(params, codec_id=chosen.id), bitstream.HYPERPRIOR_CODER, payload, decode)


def _refinable(analysis: Analysis) -> bool:
    from .learned import refine

    rgb = analysis.prepared.rgb
    return rgb.shape[0] * rgb.shape[1] <= refine.MAX_PIXELS


def _refined(analysis: Analysis, opts: EncodeOptions, codec, symbols, level: float,
             payload: bytes, cap: int | None) -> bytes:  # fmt: skip
    """The payload with refined y symbols, where the image is small enough to refine and
    they fit in ``cap`` bytes (None: no cap)."""
    from .learned import coding, refine, restore

    rgb = analysis.prepared.rgb
    if not _refinable(analysis):
        warnings.warn(
            f"refinement skipped: {rgb.shape[1]}x{rgb.shape[0]} is above its "
            f"{refine.MAX_PIXELS}-pixel limit", stacklevel=3,
        )  # fmt: skip
        return payload
    z_sym, _, mu, idx, r = symbols
    restorer = opts.restorer() if opts.restore is not False else None
    spare_bits = None
    if cap is not None:  # the range coder spends a few bytes more than the tables' bits
        spare_bits = 8 * (cap - len(payload) - CODER_SLACK)
    decoder = models.load(analysis.spec, "decoder", opts.models_dir, opts.device)
    net = restore.load(restorer, opts.device) if restorer else None
    better = refine.refine(codec, decoder, net, rgb, r, mu, idx, level, opts.refine, spare_bits,
                           z_sym=z_sym, structure=opts.refine_structure)  # fmt: skip
    refined = coding.pack_symbols(codec, z_sym, better)
    return refined if cap is None or len(refined) <= max(cap, len(payload)) else payload


def encode(image: ImageLike, options: EncodeOptions | None = None) -> bytes:
    """Compress an image (Pillow image or path) into the bytes of a .sdc file.

    With ``target_bpp`` or ``max_bytes`` set, the quality ladder is searched for the best
    setting that fits (``ratecontrol.fit``); it raises InputError when nothing fits.
    """
    from . import ratecontrol

    opts = (options or EncodeOptions()).resolved()
    analysis = analyze(image, opts)  # fit and resolve_quality decide the default steps
    if opts.target_bpp is not None or opts.max_bytes is not None:
        return ratecontrol.fit(analysis, opts).data
    return pack(analysis, ratecontrol.resolve_quality(opts, analysis))


def refine_steps(opts: EncodeOptions, pixels: int) -> int:
    """The refinement steps an encode of an image of ``pixels`` runs with (resolved) ``opts``."""
    if opts.refine is not None:
        return opts.refine
    return AUTO_REFINE_STEPS if opts.mode == "learned" and pixels <= AUTO_REFINE_PIXELS else 0


def resolve_refine(opts: EncodeOptions, analysis: Analysis) -> EncodeOptions:
    """``opts`` with the refinement steps for this image decided (refine_steps)."""
    height, width = analysis.reference.shape[:2]
    return replace(opts, refine=refine_steps(opts, height * width))


def _latent_shape(spec: models.ModelSpec, f: SdcFile) -> tuple[int, int]:
    width, height = f.coded_size()
    d = spec.downsample
    return -(-height // d), -(-width // d)


def decode_latent(f: SdcFile, device: str | None = None) -> np.ndarray:
    """The dequantized latent of a parsed file (the learned codec's synthesis included)."""
    spec = models.by_id(f.header.model_id)
    h, w = _latent_shape(spec, f)
    if f.quant.quantizer is quant.QuantizerId.LEARNED:
        from . import learned
        from .learned import coding

        codec = learned.load(models.registry.codec_by_id(f.quant.codec_id), device)
        return coding.decompress(codec, f.payload, h, w, f.quant.level)
    specs = quant.stream_specs(f.quant, spec.latent_channels, h, w)
    streams = entropy.get(f.header.coder_id).decode(f.payload, specs)
    return quant.dequantize(f.quant, streams, spec.latent_channels)


def decode(
    data: SdcLike,
    *,
    models_dir: str | None = None,
    device: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode a .sdc file (its bytes, path or open binary file) into a Pillow image of the
    original size."""
    f, rgb = decode_coded(data, models_dir=models_dir, device=device, max_pixels=max_pixels)
    hd = f.header
    alpha = decode_plane(f.alpha, hd.height, hd.width) if f.alpha is not None else None
    return imageio.finish(rgb, hd.width, hd.height, hd.mode, alpha, f.icc)


def decode_coded(
    data: SdcLike,
    *,
    models_dir: str | None = None,
    device: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[SdcFile, np.ndarray]:
    """The parsed file and the (coded height, coded width, 3) uint8 image its latent decodes
    to, before an RSMP file's resampling (the image itself for any other file)."""
    f = bitstream.read(sdc_bytes(data), max_pixels)
    hd = f.header
    latent = decode_latent(f, device)
    spec = models.by_id(hd.model_id)
    if hd.decode.denoiser:
        from . import denoise

        d = hd.decode
        latent = denoise.apply(spec, latent, d.denoiser, d.steps, d.strength, models_dir, device)
    decoder = models.load(spec, "decoder", models_dir, device)
    width, height = f.coded_size()
    return f, np.rint(decoder.decode(latent)[:height, :width] * 255.0).astype(np.uint8)


def info(data: SdcLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """The header of a .sdc file as plain data (validates the whole container)."""
    f = bitstream.read(sdc_bytes(data), max_pixels)
    hd = f.header
    spec = models.by_id(hd.model_id)
    q = f.quant
    qinfo: dict[str, Any] = {"id": int(q.quantizer), "name": q.quantizer.name.lower()}
    if q.affine is not None:
        qinfo.update(
            affine="per-channel" if q.affine.per_channel else "global",
            offset=[float(x) for x in q.affine.offset],
            scale=[float(x) for x in q.affine.scale],
        )
    if q.quantizer is quant.QuantizerId.LEARNED:
        codec = models.registry.codec_by_id(q.codec_id)
        qinfo.update(codec={"id": q.codec_id, "name": codec.name,
                            "fingerprint": codec.fingerprint.hex()}, level=q.level)  # fmt: skip
    if q.quantizer is quant.QuantizerId.PALETTE:
        qinfo.update(palette_size=q.palette_size, groups=q.groups, dithered=q.dithered)
    h, w = _latent_shape(spec, f)
    return {
        "format_version": f"{f.major}.{f.minor}",
        "mime_type": "image/x-sdc",
        "extension": ".sdc",
        "bytes": len(data),
        "bpp": round(8 * len(data) / (hd.width * hd.height), 5),
        "width": hd.width,
        "height": hd.height,
        "mode": hd.mode,
        "source_mode": hd.source_mode,
        "model": {"id": hd.model_id, "name": spec.name, "fingerprint": hd.fingerprint.hex()},
        "latent": {"channels": spec.latent_channels, "height": h, "width": w},
        "coded": dict(zip(("width", "height"), f.coded_size(), strict=True), factor=f.factor),
        "quantizer": qinfo,
        "coder": {"id": hd.coder_id, "name": entropy.ALL_NAMES[hd.coder_id]},
        "decode": {**asdict(hd.decode), "name": _denoiser_name(hd.decode.denoiser)},
        "alpha": f.alpha is not None,
        "icc_profile_bytes": len(f.icc) if f.icc is not None else 0,
        "sections": [{"tag": t, "bytes": n} for t, n in f.sections],
    }


def _denoiser_name(denoiser: int) -> str:
    from .denoise import DENOISERS

    return DENOISERS[denoiser]


# what decode() and info() take: the file's bytes, its path or an open binary file
SdcLike = bytes | bytearray | memoryview | str | os.PathLike | IO[bytes]
# the most a file read whole may hold (the largest valid .sdc, an 8-bit latent with an
# alpha plane at the pixel limit, is a small fraction of it): larger is refused unread
MAX_FILE_BYTES = 1 << 30


def sdc_bytes(data: SdcLike) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        return read_file(data)
    if hasattr(data, "read"):
        got = data.read(MAX_FILE_BYTES + 1)
        if isinstance(got, bytes):
            if len(got) > MAX_FILE_BYTES:
                raise InputError(f"more than {MAX_FILE_BYTES} bytes: not an .sdc file")
            return got
    raise InputError(f"expected the bytes of an .sdc file, got a value of type {type(data).__name__}")


def read_file(path: str | os.PathLike) -> bytes:
    try:
        if Path(path).stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: more than {MAX_FILE_BYTES} bytes")
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
