"""image → latent → symbols → bytes → file, and back. Orchestration only."""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import bitstream, entropy, imageio, models, quant
from .bitstream import DEFAULT_MAX_PIXELS, Header, SdcFile
from .entropy.plane import decode_plane, encode_plane
from .errors import InputError, SdcodecError

ImageLike = Image.Image | str | os.PathLike


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode. The defaults are the article's recipe carried over to TAEF2."""

    model: str = models.DEFAULT_MODEL
    mode: str = "palette"  # "palette", "8bit" or "scalar"
    palette_size: int = 256  # K, 2..256 (palette mode)
    groups: int = 1  # G channel groups, each with its own palette; must divide C
    dither: bool = (
        False  # Floyd–Steinberg error diffusion (off: measured better PSNR at equal size)
    )
    per_channel: bool = False  # affine map per channel instead of one global map
    step: float = 1.0  # quantization step of the scalar mode, in latent units
    deadzone: float = 0.0  # scalar mode: 0 rounds to nearest; up to 0.5 widens the zero bin
    coder: str = "ctx"  # "ctx" (context-modelled range coding) or "zlib" (the article's)
    seed: int = 0  # k-means seed
    # rate control (sdcodec/ratecontrol.py): a quality 0..100 replaces mode/palette_size/
    # step with the ladder's setting; a target bpp or byte budget searches that ladder
    quality: int | None = None
    target_bpp: float | None = None
    max_bytes: int | None = None
    models_dir: str | None = None  # weights folder; default SDCODEC_MODELS, then the cache
    device: str | None = None  # "cpu", "cuda", ...; default: CUDA when present
    max_pixels: int = DEFAULT_MAX_PIXELS

    def validate(self) -> models.ModelSpec:
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
        quant.check_options(
            spec.latent_channels,
            self.mode,
            self.palette_size,
            self.groups,
            self.step,
            self.deadzone,
        )
        return spec


def open_image(source: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file with Pillow, turning its failures into one-line InputErrors."""
    if isinstance(source, Image.Image):
        return source
    try:
        with warnings.catch_warnings():
            # our own limit applies below; Pillow's warning would be a second stderr line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
        if im.width * im.height > max_pixels:
            raise InputError(
                f"{source}: {im.width}x{im.height} exceeds the limit of {max_pixels} pixels"
            )
        im.load()
        return im
    except SdcodecError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{source}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's failures to identify or read
        raise InputError(f"{source}: cannot read image: {exc}") from None


@dataclass
class Analysis:
    """An image after the autoencoder: everything the quantizer and the container need.

    Keeping it lets a caller try many quantizer settings on one image without running
    the encoder again (rate control, benchmarks).
    """

    spec: models.ModelSpec
    prepared: imageio.Prepared
    latent: np.ndarray


def analyze(image: ImageLike, options: EncodeOptions | None = None) -> Analysis:
    """Open, convert, pad and encode an image to its latent."""
    opts = options or EncodeOptions()
    spec = opts.validate()
    im = open_image(image, opts.max_pixels)
    if im.width * im.height > opts.max_pixels:
        raise InputError(f"{im.width}x{im.height} exceeds the limit of {opts.max_pixels} pixels")
    if im.width < 1 or im.height < 1:
        raise InputError("image has no pixels")
    prep = imageio.prepare(im)
    padded = imageio.pad(prep.rgb, spec.downsample).astype(np.float32) / 255.0
    encoder = models.load(spec, "encoder", opts.models_dir, opts.device)
    return Analysis(spec, prep, encoder.encode(padded))


def pack(analysis: Analysis, options: EncodeOptions | None = None) -> bytes:
    """Quantize and code an analyzed image into the bytes of a .sdc file."""
    opts = options or EncodeOptions()
    spec = opts.validate()
    if spec.id != analysis.spec.id:
        raise InputError(
            f"image was analyzed with '{analysis.spec.name}', options ask for '{spec.name}'"
        )
    prep = analysis.prepared
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
    )
    coder = entropy.get(entropy.NAMES[opts.coder])
    height, width = prep.rgb.shape[:2]
    specs = quant.stream_specs(params, spec.latent_channels, *analysis.latent.shape[1:])
    header = Header(
        model_id=spec.id,
        fingerprint=spec.fingerprint,
        width=width,
        height=height,
        mode=prep.mode,
        source_mode=prep.source_mode,
        quantizer=params.quantizer,
        coder_id=int(coder.id),
    )
    alpha = encode_plane(prep.alpha) if prep.alpha is not None else None
    return bitstream.write(SdcFile(header, params, coder.encode(streams, specs), alpha, prep.icc))


def encode(image: ImageLike, options: EncodeOptions | None = None) -> bytes:
    """Compress an image (Pillow image or path) into the bytes of a .sdc file.

    With ``target_bpp`` or ``max_bytes`` set, the quality ladder is searched for the best
    setting that fits (``ratecontrol.fit``); it raises InputError when nothing fits.
    """
    from . import ratecontrol

    opts = options or EncodeOptions()
    analysis = analyze(image, opts)
    if opts.target_bpp is not None or opts.max_bytes is not None:
        return ratecontrol.fit(analysis, opts).data
    return pack(analysis, ratecontrol.resolve_quality(opts, analysis))


def _latent_shape(spec: models.ModelSpec, header: Header) -> tuple[int, int]:
    f = spec.downsample
    return -(-header.height // f), -(-header.width // f)


def decode_latent(f: SdcFile) -> np.ndarray:
    """The dequantized latent of a parsed file (no network involved)."""
    spec = models.by_id(f.header.model_id)
    h, w = _latent_shape(spec, f.header)
    specs = quant.stream_specs(f.quant, spec.latent_channels, h, w)
    streams = entropy.get(f.header.coder_id).decode(f.payload, specs)
    return quant.dequantize(f.quant, streams, spec.latent_channels)


def decode(
    data: bytes,
    *,
    models_dir: str | None = None,
    device: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode the bytes of a .sdc file into a Pillow image of the original size."""
    f = bitstream.read(data, max_pixels)
    hd = f.header
    latent = decode_latent(f)
    alpha = decode_plane(f.alpha, hd.height, hd.width) if f.alpha is not None else None
    decoder = models.load(models.by_id(hd.model_id), "decoder", models_dir, device)
    rgb = decoder.decode(latent)
    return imageio.finish(rgb, hd.width, hd.height, hd.mode, alpha, f.icc)


def info(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """The header of a .sdc file as plain data (validates the whole container)."""
    f = bitstream.read(data, max_pixels)
    hd = f.header
    spec = models.by_id(hd.model_id)
    q = f.quant
    qinfo: dict[str, Any] = {
        "id": int(q.quantizer),
        "name": q.quantizer.name.lower(),
        "affine": "per-channel" if q.affine.per_channel else "global",
        "offset": [float(x) for x in q.affine.offset],
        "scale": [float(x) for x in q.affine.scale],
    }
    if q.quantizer is quant.QuantizerId.PALETTE:
        qinfo.update(palette_size=q.palette_size, groups=q.groups, dithered=q.dithered)
    h, w = _latent_shape(spec, hd)
    return {
        "format_version": f"{bitstream.MAJOR}.{f.minor}",
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
        "quantizer": qinfo,
        "coder": {"id": hd.coder_id, "name": entropy.get(hd.coder_id).name},
        "decode": asdict(hd.decode),
        "alpha": f.alpha is not None,
        "icc_profile_bytes": len(f.icc) if f.icc is not None else 0,
        "sections": [{"tag": t, "bytes": n} for t, n in f.sections],
    }


def read_file(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
