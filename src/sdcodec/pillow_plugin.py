"""Pillow integration: ``Image.open("x.sdc")`` and ``img.save("x.sdc")``.

Explicit, like pillow-heif: call ``sdcodec.register_pillow()`` first. Opening reads only
the header (HEAD and QUAN sections), so size and mode are known before any decoding and
Pillow's decompression-bomb check applies; ``load()`` decodes the whole file. Saving
takes ``EncodeOptions`` fields as keyword arguments: ``img.save("x.sdc", quality=40)``.
"""

from __future__ import annotations

import dataclasses

from PIL import Image, ImageFile

from . import bitstream
from .errors import FormatError

FORMAT = "SDC"
MIME = "image/x-sdc"
EXTENSION = ".sdc"
_HEADER_READ = 1 << 16  # HEAD + QUAN are at most a few kB


def _accept(prefix: bytes) -> bool:
    return prefix[: len(bitstream.MAGIC)] == bitstream.MAGIC


class SdcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "sdcodec latent-diffusion image"

    def _open(self) -> None:
        head = self.fp.read(_HEADER_READ)
        if not _accept(head):
            raise SyntaxError("not an sdcodec file")
        try:
            # no pixel limit here: Pillow's decompression-bomb check runs on self.size
            f = bitstream.read(head, max_pixels=1 << 62, header_only=True)
        except FormatError as exc:
            raise SyntaxError(f"sdcodec: {exc}") from None
        self._size = (f.header.width, f.header.height)
        self._mode = f.header.mode
        self.info["sdc_header"] = f.header
        self.tile = []
        self._sdc_loaded = False

    def load(self):
        if not self._sdc_loaded:
            from .codec import decode

            self.fp.seek(0)
            decoded = decode(self.fp.read(), max_pixels=1 << 62)  # size already checked on open
            self.im = decoded.im
            self._mode = decoded.mode
            self.info.update(decoded.info)
            self._sdc_loaded = True
        return Image.Image.load(self)


def _save(im: Image.Image, fp, filename) -> None:
    from .codec import EncodeOptions, encode

    names = {f.name for f in dataclasses.fields(EncodeOptions)}
    options = {k: v for k, v in im.encoderinfo.items() if k in names}
    fp.write(encode(im, EncodeOptions(**options)))


def register() -> None:
    Image.register_open(FORMAT, SdcImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)
