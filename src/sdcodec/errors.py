"""The exception family. Everything sdcodec raises on purpose derives from SdcodecError.

A caller that decodes untrusted files needs to catch exactly one class
(``FormatError``); the command-line tool turns every ``SdcodecError`` into one
line on stderr and a non-zero exit.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception as one line: its message's first line, or its type's name."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


class SdcodecError(Exception):
    """Base class of every error sdcodec raises deliberately."""


class InputError(SdcodecError, ValueError):
    """The image or the options given to the encoder cannot be used."""


class ModelUnavailableError(SdcodecError):
    """Weights for a model are missing, damaged, or cannot be loaded."""


class FormatError(SdcodecError, ValueError):
    """A .sdc file is malformed. Every parser failure is this class or a subclass."""


class TruncatedError(FormatError):
    """The file ends before a field or section it declares."""


class ChecksumError(FormatError):
    """A section's CRC32 does not match its contents."""


class UnsupportedVersionError(FormatError):
    """The file's major version is not one this library can read."""


class UnknownModelError(FormatError):
    """The file names a model id that is not in the registry."""


class WeightsMismatchError(FormatError):
    """The file was made with other weights than the registry pins for its model id."""


class ImageTooLargeError(FormatError):
    """The declared image size exceeds the configured pixel limit."""
