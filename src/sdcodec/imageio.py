"""What surrounds the latent: input modes, alpha, ICC, EXIF orientation, padding.

``prepare`` turns any Pillow image into what the codec codes: an RGB float array padded
to a multiple of the model's downsample factor, plus the alpha plane (only if not fully
opaque), the ICC profile (only if it describes the colour space we output) and the
mode the decoded image will have. ``finish`` does the reverse after decoding.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, SdcodecError

# what encode() takes: a Pillow image, a path, an image file's bytes or an open binary
# file, or an array of 8-bit pixels — (H, W) or (H, W, 1) grey, (H, W, 3) RGB, (H, W, 4) RGBA
ImageLike = (
    Image.Image | str | os.PathLike | bytes | bytearray | memoryview | IO[bytes] | np.ndarray
)
_ARRAY_CHANNELS = (1, 3, 4)

# what a folder given as input contributes (encode, bench)
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".avif", ".jxl"}
)
_GREY_MODES = {"1", "L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_ICC_SPACE = {"RGB": b"RGB ", "L": b"GRAY"}


@dataclass
class Prepared:
    rgb: np.ndarray  # (H, W, 3) uint8, unpadded
    alpha: np.ndarray | None  # (H, W) uint8, None when fully opaque or absent
    mode: str  # RGB, RGBA, L or LA: the decoded image's mode
    source_mode: str
    icc: bytes | None


def _from_array(a: np.ndarray) -> Image.Image:
    channels = a.shape[2] if a.ndim == 3 else 1 if a.ndim == 2 else 0
    if a.dtype != np.uint8 or channels not in _ARRAY_CHANNELS or 0 in a.shape:
        raise InputError(
            f"array of shape {a.shape} and dtype {a.dtype}: expected uint8 pixels shaped "
            "(H, W), (H, W, 3) or (H, W, 4)"
        )
    pixels = np.ascontiguousarray(a.reshape(a.shape[:2]) if channels == 1 else a)
    return Image.fromarray(pixels)  # uint8 (H, W) → L, (H, W, 3) → RGB, (H, W, 4) → RGBA


def open_image(source: ImageLike, max_pixels: int) -> Image.Image:
    """Any ImageLike as a loaded Pillow image, its failures as one-line InputErrors."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    name = source
    if isinstance(source, (bytes, bytearray, memoryview)):
        source, name = io.BytesIO(source), "image bytes"
    elif not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        raise InputError(f"cannot read an image from a value of type {type(source).__name__}")
    elif hasattr(source, "read"):
        name = getattr(source, "name", "image file")
    try:
        with warnings.catch_warnings():
            # our own limit applies below; Pillow's warning would be a second stderr line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
        if im.width * im.height > max_pixels:
            raise InputError(
                f"{name}: {im.width}x{im.height} exceeds the limit of {max_pixels} pixels"
            )
        im.load()
        return im
    except SdcodecError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{name}: {exc}") from None
    except UnidentifiedImageError:  # its message names the file object, not the file
        raise InputError(f"{name}: cannot read image: not in a format Pillow reads") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's failures to identify or read
        raise InputError(f"{name}: cannot read image: {exc}") from None


def _icc_space(icc: bytes) -> bytes | None:
    # the colour-space signature sits at bytes 16..20 of every ICC header
    return icc[16:20] if len(icc) >= 128 else None


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """Colour-managed conversion of e.g. a CMYK image to sRGB; None when it cannot be done."""
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception:  # a broken profile or no littlecms: fall back to Pillow's formula
        return None


def _grey_to_8bit(im: Image.Image) -> np.ndarray:
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    a = np.asarray(im)
    if im.mode == "F":
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    # 16-bit and 32-bit integer grey: Pillow's convert("L") clips instead of scaling
    a = a.astype(np.float64)
    return np.clip(np.rint(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)


def prepare(im: Image.Image) -> Prepared:
    source_mode = im.mode
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # unreadable EXIF must not stop the encode; orientation is a nicety
        pass
    icc = im.info.get("icc_profile") or None
    alpha = None
    if im.mode in _GREY_MODES:
        grey = _grey_to_8bit(im)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        mode = "L"
    elif im.mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        rgb = np.repeat(la[:, :, :1], 3, axis=2)
        alpha, mode = la[:, :, 1], "L"
    else:
        if im.mode == "CMYK" and icc and _icc_space(icc) == b"CMYK":
            converted = _to_srgb(im, icc)
            im, icc = (converted if converted is not None else im.convert("RGB")), None
        has_alpha = (
            im.mode in ("RGBA", "RGBa", "PA")
            or (im.mode == "P" and "transparency" in im.info)
            or (im.mode in ("RGB", "L") and "transparency" in im.info)
        )
        try:
            im = im.convert("RGBA" if has_alpha else "RGB")
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot convert image mode {source_mode} to RGB: {exc}") from None
        arr = np.asarray(im)
        rgb = arr[:, :, :3]
        if has_alpha:
            alpha = arr[:, :, 3]
        mode = "RGB"
    if alpha is not None and alpha.min() == 255:
        alpha = None
    if alpha is not None:
        mode += "A"
    if icc is not None and _icc_space(icc) != _ICC_SPACE[mode.rstrip("A")]:
        icc = None  # a profile for another colour space would mislabel our output
    return Prepared(np.ascontiguousarray(rgb), alpha, mode, source_mode, icc)


def pad(rgb: np.ndarray, multiple: int) -> np.ndarray:
    """Edge-replicate to the next multiple of ``multiple`` (the model's downsample factor)."""
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return rgb


def finish(
    rgb: np.ndarray, width: int, height: int, mode: str, alpha: np.ndarray | None, icc: bytes | None
) -> Image.Image:
    """Decoded (h, w, 3) uint8 → a Pillow image of the original size and mode (an image
    coded smaller, an RSMP file's, Lanczos-resampled to it)."""
    im = Image.fromarray(rgb, "RGB")
    if im.size != (width, height):
        im = im.resize((width, height), Image.LANCZOS)
    if mode.startswith("L"):
        im = im.convert("L")
    if alpha is not None:
        im.putalpha(Image.fromarray(alpha, "L"))
    if icc is not None:
        im.info["icc_profile"] = icc
    return im


def downscale(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image an RSMP file codes: Lanczos to (width, height) ``size``."""
    return np.asarray(Image.fromarray(rgb, "RGB").resize(size, Image.LANCZOS))


def resize_square(im: Image.Image, side: int) -> Image.Image:
    """The article's input: a side × side Lanczos resize (aspect ratio not kept)."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)
    return im.resize((side, side), Image.LANCZOS)
