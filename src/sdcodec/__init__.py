"""sdcodec: images compressed through the latent space of diffusion autoencoders.

>>> import sdcodec
>>> data = sdcodec.encode("photo.png", sdcodec.EncodeOptions(palette_size=64))  # doctest: +SKIP
>>> image = sdcodec.decode(data)  # doctest: +SKIP
"""

from .bitstream import DEFAULT_MAX_PIXELS
from .codec import EncodeOptions, decode, encode, info
from .errors import (
    ChecksumError,
    FormatError,
    ImageTooLargeError,
    InputError,
    ModelUnavailableError,
    SdcodecError,
    TruncatedError,
    UnknownModelError,
    UnsupportedVersionError,
    WeightsMismatchError,
)

__version__ = "0.1.0"


def register_pillow() -> None:
    """Let Pillow open and save .sdc files (``Image.open("x.sdc")``, ``img.save("x.sdc")``)."""
    from .pillow_plugin import register

    register()


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ChecksumError",
    "EncodeOptions",
    "FormatError",
    "ImageTooLargeError",
    "InputError",
    "ModelUnavailableError",
    "SdcodecError",
    "TruncatedError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "WeightsMismatchError",
    "decode",
    "encode",
    "info",
    "register_pillow",
]
