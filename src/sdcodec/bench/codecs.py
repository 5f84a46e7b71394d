"""The codecs a benchmark compares: each one knob (quality), bytes in, pixels out.

Every codec exposes an integer knob whose file size grows with it, so one binary search
finds the setting closest to a target size. Optional libraries are imported lazily; a
codec whose library is missing reports why instead of failing the whole run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from PIL import Image, features


class CodecUnavailable(RuntimeError):
    pass


@dataclass
class Codec:
    name: str
    knob_range: tuple[int, int] | None  # None: a fixed setting, no rate search
    description: str = ""

    def encode(self, im: Image.Image, knob: int | None) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Image.Image:
        return Image.open(io.BytesIO(data)).convert("RGB")

    def fit(self, im: Image.Image, max_bytes: int) -> bytes | None:
        """The codec's own rate control: its best file of at most ``max_bytes``, None when
        it cannot go that low. Not implemented (the default): the runner searches the knob."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}

    def check(self) -> None:
        """Raise CodecUnavailable with a reason when the codec cannot run here."""


def _pillow_save(im: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@dataclass
class Jpeg(Codec):
    """libjpeg-turbo through Pillow (optimized Huffman), then mozjpeg's lossless pass."""

    subsampling: str = "4:2:0"

    def encode(self, im, knob):
        data = _pillow_save(im, "JPEG", quality=knob, optimize=True, subsampling=self.subsampling)
        try:
            import mozjpeg_lossless_optimization as mozjpeg
        except ImportError:
            return data
        return mozjpeg.optimize(data)

    def versions(self):
        v = {"libjpeg-turbo": str(features.version("jpg"))}
        try:
            from importlib.metadata import version

            v["mozjpeg-lossless-optimization"] = version("mozjpeg-lossless-optimization")
        except Exception:
            v["mozjpeg-lossless-optimization"] = "not installed (plain libjpeg-turbo output)"
        return v


@dataclass
class WebP(Codec):
    def encode(self, im, knob):
        return _pillow_save(im, "WEBP", quality=knob, method=6)

    def versions(self):
        return {"libwebp": str(features.version("webp"))}


@dataclass
class Avif(Codec):
    speed: int = 4

    def check(self):
        if not features.check("avif"):
            raise CodecUnavailable("this Pillow has no AVIF support (libavif)")

    def encode(self, im, knob):
        return _pillow_save(im, "AVIF", quality=knob, speed=self.speed)

    def versions(self):
        try:
            from PIL import _avif

            codecs = _avif.codec_versions()  # e.g. "dav1d [dec]:1.5.3, aom [enc]:3.14.1"
        except (ImportError, AttributeError):
            codecs = "unknown"
        return {
            "libavif": str(features.version("avif")),
            "speed": str(self.speed),
            "codecs": codecs,
        }


@dataclass
class Jxl(Codec):
    effort: int = 7

    def check(self):
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
        except ImportError as exc:
            raise CodecUnavailable(f"pillow-jxl-plugin not installed ({exc})") from None

    def encode(self, im, knob):
        import pillow_jxl  # noqa: F401

        return _pillow_save(im, "JXL", quality=knob, effort=self.effort)

    def decode(self, data):
        import pillow_jxl  # noqa: F401

        return super().decode(data)

    def versions(self):
        from importlib.metadata import version

        return {
            "pillow-jxl-plugin (libjxl)": version("pillow-jxl-plugin"),
            "effort": str(self.effort),
        }


@dataclass
class Sdc(Codec):
    """sdcodec in one named configuration; the palette size is the knob unless fixed."""

    options: dict[str, Any] = field(default_factory=dict)
    _analysis: dict[int, Any] = field(default_factory=dict, repr=False)

    def _opts(self, knob):
        from .. import EncodeOptions

        kw = dict(self.options)
        ladder = kw.pop("ladder", False)
        if knob is not None:
            kw["quality" if ladder else "palette_size"] = knob
        return EncodeOptions(**kw)

    def check(self):
        self._opts(None).validate()

    def encode(self, im, knob):
        from ..codec import analyze, pack

        # the search encodes one image many times: run the autoencoder once per image
        if self._analysis.get("image") is not im:
            self._analysis.clear()
            self._analysis.update(image=im, analysis=analyze(im, self._opts(knob)))
        from ..ratecontrol import resolve_quality

        analysis = self._analysis["analysis"]
        return pack(analysis, resolve_quality(self._opts(knob), analysis))

    def fit(self, im, max_bytes):
        # refinement makes every encode slow: let the codec's rate control search the
        # fast unrefined sizes and refine once, as `sdcodec encode --max-bytes` does
        from ..codec import encode, refine_steps

        if not refine_steps(self._opts(None).resolved(), im.width * im.height):
            raise NotImplementedError
        from ..errors import InputError

        try:
            return encode(im, replace(self._opts(None), max_bytes=max(int(max_bytes), 1)))
        except InputError:
            return None

    def decode(self, data):
        from .. import decode

        return decode(data).convert("RGB")

    def versions(self):
        from .. import __version__
        from ..models.registry import CODECS, DEFAULT_CODEC, RESTORERS

        return {
            "sdcodec": __version__,
            "options": ",".join(f"{k}={v}" for k, v in self.options.items()) or "defaults",
            # every encoder setting, defaults included: a changed default is a new cell,
            # not a cached one measured with the old value
            "encoder": repr(self._opts(None)),
            # retrained weights change results without a version bump: new cells
            "learned": f"default {DEFAULT_CODEC}; "
            + ",".join(f"{x.name}:{x.sha256[:12]}" for x in (*CODECS, *RESTORERS)),
        }


def parse_sdc_config(text: str) -> Sdc:
    """NAME=key=value,key=value (EncodeOptions fields).

    The searched knob is the quality 0..100 for the learned mode (the default) and with
    ``ladder=true`` (the hand-made ladder); otherwise the palette size, unless the setting
    is fixed (palette_size, quality, level, 8bit or scalar).
    """
    from .. import EncodeOptions

    name, _, rest = text.partition("=")
    if not name:
        raise ValueError(f"--sdc-config {text!r}: expected NAME=OPTIONS")
    types = {f.name: f.type for f in fields(EncodeOptions)}
    types["ladder"] = "bool"
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key not in types:
            raise ValueError(
                f"--sdc-config {name}: unknown option '{key}' (choose from {', '.join(types)})"
            )
        kind = str(types[key])
        if "bool" in kind:
            options[key] = value.lower() in ("1", "true", "yes", "on")
        elif "int" in kind:
            options[key] = int(value)
        elif "float" in kind:
            options[key] = float(value)
        else:
            options[key] = value
    plain = {k: v for k, v in options.items() if k != "ladder"}
    if EncodeOptions(**plain).resolved().mode == "learned":
        options["ladder"] = True  # the learned codec's knob is its quality dial
    if options.get("ladder"):
        knob = None if "quality" in options or "level" in options else (0, 100)
    else:
        fixed = (
            options.get("mode") in ("8bit", "scalar")
            or "palette_size" in options
            or "quality" in options
        )
        knob = None if fixed else (2, 256)
    return Sdc(name, knob, "sdcodec " + (rest or "defaults"), options)


def standard_codecs() -> dict[str, Codec]:
    return {
        "jpeg": Jpeg("jpeg", (1, 95), "JPEG 4:2:0, Pillow optimize + mozjpeg lossless"),
        "webp": WebP("webp", (0, 100), "WebP method 6"),
        "avif": Avif("avif", (0, 100), "AVIF speed 4"),
        "jxl": Jxl("jxl", (0, 99), "JPEG XL effort 7 (quality 100 would be lossless)"),
    }


def article_codecs() -> dict[str, Codec]:
    """The article's comparison: the smallest quality at least as large as the sdc file."""
    return {
        "jpeg-article": Jpeg(
            "jpeg-article", (1, 95), "JPEG 4:2:2 optimize + mozjpeg", subsampling="4:2:2"
        ),
        "webp-article": WebP("webp-article", (0, 100), "WebP method 6"),
    }


def to_rgb_array(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))
