"""bytes ↔ file: the .sdc container (docs/FORMAT.md, followed field by field).

Two layouts share the signature: 1.x (four-letter tags, u32 lengths, an END section; the
writer up to sdcodec's format 1.8) and 2.x (one-letter tags, varint lengths, DATA last, 4-byte
fingerprints, decode settings only for the U-Net denoiser), 55 bytes smaller for a learned
file: at 0.05 bpp on a 768×512 image that is 2% of the file, on a 192×128 thumbnail 14%.
Both are read; ``write`` writes 2.2 unless asked for 1.9 (the 1.x layout, for readers before 2.0).

The parser trusts no byte: every length is checked against what remains before it
is sliced, the declared image size is checked against a pixel limit before anything
is allocated, and every failure is a FormatError (or subclass) with a one-line message.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import (
    ChecksumError,
    FormatError,
    ImageTooLargeError,
    TruncatedError,
    UnknownModelError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from .models.registry import by_id, codec_by_id, restorer_by_id
from .quant import AffineMap, QuantizerId, QuantParams

MAGIC = b"\x89SDC\r\n\x1a\n"
MAJOR = 2  # what write() writes
MINOR = 2
# 1.1 added the scalar quantizer (3) and the ctx coder (2); 1.2 the learned quantizer (4)
# with the hyperprior coder (3); 1.3–1.8 new registry ids only (denoisers 2, 3; learned
# codecs 2, 3, 4, 5). 2.0 the compact layout, the same ids; 2.1 the RSMP section (an image
# coded at a fraction of its size); 2.2 (1.9 in the 1.x layout) learned codec 6. Older files
# still read.
MINOR_V1 = 9
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS default
MAX_ICC_BYTES = 16 << 20
MAX_SOURCE_MODE_LEN = 16

MODES = {1: "RGB", 2: "RGBA", 3: "L", 4: "LA"}
MODE_CODES = {v: k for k, v in MODES.items()}

# critical sections in the order they must appear; RSMP (2.1, 2.x only), ALPH and ICCP
# are optional
_ORDER = [b"HEAD", b"QUAN", b"RSMP", b"ALPH", b"ICCP", b"DATA", b"END "]
_REQUIRED = {b"HEAD", b"QUAN", b"DATA", b"END "}
_HEAD = struct.Struct("<H8sIIBBBBHfI")  # then u8 n + n bytes of source mode
_SECTION = struct.Struct("<I4s")
_CRC = struct.Struct("<I")
_LEARNED = struct.Struct("<B8sf")  # codec id, codec fingerprint, level
HYPERPRIOR_CODER = 3
# 2.x: one-letter tags for the critical sections; the file ends with DATA's CRC
_TAGS2 = {b"H": b"HEAD", b"Q": b"QUAN", b"R": b"RSMP", b"A": b"ALPH", b"I": b"ICCP", b"D": b"DATA"}
_LETTERS2 = {v: k for k, v in _TAGS2.items()}
FINGERPRINT2 = 4  # bytes of each weights fingerprint a 2.x file stores
_LEARNED2 = struct.Struct("<B4sf")
MAX_VARINT_BYTES = 5  # LEB128 of a u32
# 2.x stores decode settings for the U-Net denoiser only; a learned restorer's are implied
# (what every writer uses), so asking for one never changes a file's size, which rate
# control's search relies on (it decides the restorer after it has found the size)
UNET_DENOISER = 1
RESTORER_SETTINGS = (0, 1.0, 0)  # steps, strength, seed
# RSMP (2.1): the image was coded at 1/factor of its width and height and is resampled to
# its own size after decoding; the filter is Pillow's Lanczos (a = 3), the only one so far
MAX_FACTOR = 16
LANCZOS = 1


@dataclass(frozen=True)
class DecodeSettings:
    """Decode-time processing stored in the file (sdcodec.denoise): 0 none, 1 U-Net img2img
    (since 1.2). steps/strength/seed are the denoiser's; the seed is also the one the
    encoder sampled the VAE posterior with, so a decode can be reproduced exactly."""

    denoiser: int = 0
    steps: int = 0
    strength: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Header:
    model_id: int
    fingerprint: bytes
    width: int
    height: int
    mode: str  # mode of the decoded image: RGB, RGBA, L or LA
    source_mode: str  # the input's Pillow mode, for information
    quantizer: QuantizerId
    coder_id: int
    decode: DecodeSettings = DecodeSettings()


@dataclass
class SdcFile:
    header: Header
    quant: QuantParams
    payload: bytes
    alpha: bytes | None = None
    icc: bytes | None = None
    minor: int = MINOR
    sections: list[tuple[str, int]] = field(default_factory=list)  # (tag, payload length)
    major: int = MAJOR
    factor: int = 1  # RSMP: coded at ceil(width / factor) × ceil(height / factor)

    def coded_size(self) -> tuple[int, int]:
        """(width, height) of the image the latent codes: the header's, or RSMP's fraction."""
        return coded_size(self.header.width, self.header.height, self.factor)


def coded_size(width: int, height: int, factor: int) -> tuple[int, int]:
    return -(-width // factor), -(-height // factor)


# ---------------------------------------------------------------- writing


def _uvarint(n: int) -> bytes:
    """LEB128: 7 bits a byte, low first, the top bit set on every byte but the last."""
    if not 0 <= n <= 0xFFFFFFFF:
        raise ValueError(f"{n} does not fit a u32 varint")
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _section(tag: bytes, payload: bytes, major: int = MAJOR) -> bytes:
    if major == 1:
        return _SECTION.pack(len(payload), tag) + payload + _CRC.pack(zlib.crc32(tag + payload))
    letter = _LETTERS2.get(tag, tag)
    return letter + _uvarint(len(payload)) + payload + _CRC.pack(zlib.crc32(letter + payload))


def _source_mode(h: Header) -> bytes:
    return h.source_mode.encode("ascii", "replace")[:MAX_SOURCE_MODE_LEN]


def _pack_head(h: Header) -> bytes:
    src = _source_mode(h)
    d = h.decode
    fixed = _HEAD.pack(
        h.model_id, h.fingerprint, h.width, h.height, MODE_CODES[h.mode],
        int(h.quantizer), h.coder_id, d.denoiser, d.steps, d.strength, d.seed,
    )  # fmt: skip
    return fixed + bytes([len(src)]) + src


def _pack_head2(h: Header) -> bytes:
    d = h.decode
    out = _uvarint(h.model_id) + h.fingerprint[:FINGERPRINT2] + _uvarint(h.width) + _uvarint(h.height)
    out += bytes([MODE_CODES[h.mode], int(h.quantizer), h.coder_id, d.denoiser])
    if d.denoiser == UNET_DENOISER:
        out += _uvarint(d.steps) + struct.pack("<f", d.strength) + _uvarint(d.seed)
    elif d.denoiser and (d.steps, d.strength, d.seed) != RESTORER_SETTINGS:
        raise ValueError(f"2.x stores a restorer at steps, strength, seed {RESTORER_SETTINGS} only; write 1.x")
    src = b"" if h.source_mode == h.mode else _source_mode(h)
    return out + bytes([len(src)]) + src


def _pack_quant(q: QuantParams, channels: int, major: int = MAJOR) -> bytes:
    if q.quantizer is QuantizerId.LEARNED:
        codec = codec_by_id(q.codec_id)
        if codec is None:
            raise FormatError(f"unknown learned codec id {q.codec_id}")
        if major == 1:
            return bytes([channels]) + _LEARNED.pack(q.codec_id, codec.fingerprint, q.level)
        return bytes([channels]) + _LEARNED2.pack(q.codec_id, codec.fingerprint[:FINGERPRINT2], q.level)
    per_channel = q.affine.offset.shape[0] > 1
    out = bytes([channels, 1 if per_channel else 0])
    pairs = np.stack([q.affine.offset, q.affine.scale], axis=1).astype("<f4")
    out += pairs.tobytes()
    if q.quantizer is QuantizerId.PALETTE:
        out += struct.pack("<HBB", q.palette_size, q.groups, 1 if q.dithered else 0)
    return out


def write(f: SdcFile, major: int = MAJOR) -> bytes:
    """The file's bytes in layout 2.2, or with ``major=1`` in 1.9 (for readers before 2.0)."""
    spec = by_id(f.header.model_id)
    if spec is None:
        raise FormatError(f"unknown model id {f.header.model_id}")
    if major not in (1, 2):
        raise ValueError(f"cannot write format version {major}")
    head = _pack_head(f.header) if major == 1 else _pack_head2(f.header)
    parts = [MAGIC, bytes([major, MINOR_V1 if major == 1 else MINOR])]
    parts.append(_section(b"HEAD", head, major))
    parts.append(_section(b"QUAN", _pack_quant(f.quant, spec.latent_channels, major), major))
    if f.factor != 1:
        if major == 1 or not 2 <= f.factor <= MAX_FACTOR:
            raise ValueError(f"a factor of {f.factor} cannot be written in {major}.x")
        parts.append(_section(b"RSMP", bytes([f.factor, LANCZOS]), major))
    if f.alpha is not None:
        parts.append(_section(b"ALPH", bytes([0]) + f.alpha, major))
    if f.icc is not None:
        icc = struct.pack("<I", len(f.icc)) + zlib.compress(f.icc, 9)
        parts.append(_section(b"ICCP", icc, major))
    parts.append(_section(b"DATA", f.payload, major))
    if major == 1:
        parts.append(_section(b"END ", b"", major))
    return b"".join(parts)


# ---------------------------------------------------------------- reading


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the LEB128 u32 at ``pos``: TruncatedError where the data
    ends inside it; FormatError for more than 5 bytes, a value above 2^32 − 1 or a padded
    (non-minimal) encoding, so every value has one encoding and the CRC covers it."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise TruncatedError(f"truncated file: ends at byte {len(data)} inside a length")
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if i and not b:
                raise FormatError("padded varint")
            if value > 0xFFFFFFFF:
                raise FormatError("varint above 2^32 - 1")
            return value, pos + i + 1
    raise FormatError(f"varint longer than {MAX_VARINT_BYTES} bytes")


class _Fields:
    """A 2.x section's fields in order; running out is the section's own error."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.pos, self.name = data, 0, name

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise FormatError(f"{self.name} section too short")
        self.pos += n
        return bytes(self.data[self.pos - n : self.pos])

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        try:
            value, self.pos = _read_uvarint(self.data, self.pos)
        except TruncatedError:
            raise FormatError(f"{self.name} section too short") from None
        return value

    def end(self) -> None:
        if self.pos != len(self.data):
            raise FormatError(f"{self.name} section has the wrong length")


def _head_fields(p: bytes) -> tuple:
    if len(p) < _HEAD.size + 1:
        raise FormatError("HEAD section too short")
    n = p[_HEAD.size]
    if n > MAX_SOURCE_MODE_LEN or len(p) != _HEAD.size + 1 + n:
        raise FormatError("HEAD section has the wrong length")
    return (*_HEAD.unpack_from(p), p[_HEAD.size + 1 :])


def _head_fields2(p: bytes) -> tuple:
    r = _Fields(p, "HEAD")
    model_id, fp, width, height = r.varint(), r.take(FINGERPRINT2), r.varint(), r.varint()
    mode, quant_id, coder_id, denoiser = r.take(4)
    steps, strength, seed = RESTORER_SETTINGS if denoiser else (0, 0.0, 0)
    if denoiser == UNET_DENOISER:
        steps = r.varint()
        (strength,) = struct.unpack("<f", r.take(4))
        seed = r.varint()
        if steps > 0xFFFF:
            raise FormatError(f"denoise steps {steps} above 65535")
    n = r.u8()
    if n > MAX_SOURCE_MODE_LEN:
        raise FormatError("HEAD section has the wrong length")
    src = r.take(n) or MODES.get(mode, "").encode()
    r.end()
    return model_id, fp, width, height, mode, quant_id, coder_id, denoiser, steps, strength, seed, src


def _parse_head(p: bytes, max_pixels: int, major: int = MAJOR) -> Header:
    (model_id, fp, width, height, mode, quant_id, coder_id,
     denoiser, steps, strength, seed, src) = (_head_fields if major == 1 else _head_fields2)(p)  # fmt: skip
    if not all(32 <= b < 127 for b in src):
        raise FormatError("HEAD source mode is not printable ASCII")
    spec = by_id(model_id)
    if spec is None:
        raise UnknownModelError(f"unknown model id {model_id} (this sdcodec knows ids "
                                f"{', '.join(str(s) for s in _known_ids())})")  # fmt: skip
    if fp != spec.fingerprint[: len(fp)]:
        raise WeightsMismatchError(
            f"file was made with other weights than model '{spec.name}' pins "
            f"(fingerprint {fp.hex()} != {spec.fingerprint[: len(fp)].hex()})"
        )
    if width < 1 or height < 1:
        raise FormatError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image size {width}x{height} ({width * height} pixels) exceeds the limit of "
            f"{max_pixels} pixels"
        )
    if mode not in MODES:
        raise FormatError(f"unknown image mode code {mode}")
    try:
        quantizer = QuantizerId(quant_id)
    except ValueError:
        raise FormatError(f"unknown quantizer id {quant_id}") from None
    from .denoise import check

    check(spec, denoiser, steps, strength)
    if denoiser == 0 and (steps != 0 or strength != 0.0 or seed != 0):
        raise FormatError("decode settings given without a denoiser")
    return Header(
        model_id, spec.fingerprint, width, height, MODES[mode], src.decode("ascii"), quantizer,
        coder_id, DecodeSettings(denoiser, steps, strength, seed),
    )  # fmt: skip


def _check_restorer(denoiser: int, quant: QuantParams) -> None:
    """A learned restorer only on the files it was trained for: its quantizer mode and,
    for learned files, its codec (on others it was never measured)."""
    restorer = restorer_by_id(denoiser)
    if restorer is None:
        return
    mode = quant.quantizer.name.lower()
    codec = codec_by_id(quant.codec_id).name if quant.quantizer is QuantizerId.LEARNED else ""
    if (restorer.mode, restorer.codec) != (mode, codec):
        wanted = f"{restorer.mode} {restorer.codec}".strip()
        raise FormatError(f"restorer {restorer.name} is for {wanted} files, not {f'{mode} {codec}'.strip()}")


def _known_ids() -> list[int]:
    from .models.registry import REGISTRY

    return [s.id for s in REGISTRY]


def _parse_quant(p: bytes, header: Header, major: int = MAJOR) -> QuantParams:
    spec = by_id(header.model_id)
    if spec is None or len(p) < 2:
        raise FormatError("QUAN section too short")
    channels, per_channel = p[0], p[1]
    if channels != spec.latent_channels:
        raise FormatError(f"QUAN declares {channels} channels, model has {spec.latent_channels}")
    if header.quantizer is QuantizerId.LEARNED:
        return _parse_learned(p, spec.name, _LEARNED if major == 1 else _LEARNED2)
    if per_channel not in (0, 1):
        raise FormatError("QUAN affine kind must be 0 or 1")
    n = channels if per_channel else 1
    end = 2 + 8 * n
    extra = 4 if header.quantizer is QuantizerId.PALETTE else 0
    if len(p) != end + extra:
        raise FormatError("QUAN section has the wrong length")
    pairs = np.frombuffer(p[2:end], dtype="<f4").reshape(n, 2).astype(np.float32)
    if not np.isfinite(pairs).all() or (pairs[:, 1] <= 0).any():
        raise FormatError("QUAN affine map is not finite and positive")
    amap = AffineMap(pairs[:, 0].copy(), pairs[:, 1].copy())
    if header.quantizer is QuantizerId.UINT8:
        return QuantParams(QuantizerId.UINT8, amap)
    if header.quantizer is QuantizerId.SCALAR:
        if not per_channel:
            raise FormatError("the scalar quantizer needs a per-channel map")
        return QuantParams(QuantizerId.SCALAR, amap)
    k, groups, flags = struct.unpack_from("<HBB", p, end)
    if not 1 <= k <= 256:
        raise FormatError(f"palette size {k} outside 1..256")
    if groups < 1 or channels % groups:
        raise FormatError(f"{groups} palette groups do not divide {channels} channels")
    if flags & ~1:
        raise FormatError("QUAN reserved flag bits set")
    return QuantParams(QuantizerId.PALETTE, amap, k, groups, bool(flags & 1))


def _parse_learned(p: bytes, model_name: str, layout: struct.Struct) -> QuantParams:
    if len(p) != 1 + layout.size:
        raise FormatError("QUAN section has the wrong length")
    codec_id, fp, level = layout.unpack_from(p, 1)
    codec = codec_by_id(codec_id)
    if codec is None or codec.autoencoder != model_name:
        raise UnknownModelError(f"unknown learned codec id {codec_id} for model '{model_name}'")
    if fp != codec.fingerprint[: len(fp)]:
        raise WeightsMismatchError(
            f"file was made with other weights than learned codec '{codec.name}' pins "
            f"(fingerprint {fp.hex()} != {codec.fingerprint[: len(fp)].hex()})"
        )
    if not 0.0 <= level <= codec.levels - 1:  # also false for NaN
        raise FormatError(f"learned codec level {level} outside 0..{codec.levels - 1}")
    return QuantParams(QuantizerId.LEARNED, None, codec_id=codec_id, level=float(level))


def _parse_icc(p: bytes) -> bytes:
    if len(p) < 4:
        raise FormatError("ICCP section too short")
    (n,) = struct.unpack_from("<I", p)
    if n > MAX_ICC_BYTES:
        raise FormatError(f"ICC profile of {n} bytes exceeds the {MAX_ICC_BYTES}-byte limit")
    from .entropy.bounded import inflate_exact

    return inflate_exact(p[4:], n, "ICC profile")


def _parse_resample(p: bytes) -> int:
    if len(p) != 2:
        raise FormatError("RSMP section has the wrong length")
    factor, method = p
    if not 2 <= factor <= MAX_FACTOR:
        raise FormatError(f"resampling factor {factor} outside 2..{MAX_FACTOR}")
    if method != LANCZOS:
        raise FormatError(f"unknown resampling filter {method}")
    return factor


def _name(tag: bytes) -> str:
    return tag.decode("latin-1").encode("unicode_escape").decode("ascii")


def _sections(data: bytes, stop_after: bytes | None = None):
    """Yield (b"VERS", major and minor), then (tag, payload) after checking magic, version,
    lengths and CRCs; 2.x tags come back as their 1.x names."""
    if len(data) < len(MAGIC) + 2:
        if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise FormatError("not an sdcodec file (bad magic)")
        raise TruncatedError("truncated file: shorter than the file signature")
    if data[: len(MAGIC)] != MAGIC:
        raise FormatError("not an sdcodec file (bad magic)")
    major, minor = data[len(MAGIC)], data[len(MAGIC) + 1]
    if major not in (1, 2):
        raise UnsupportedVersionError(
            f"file format version {major}.{minor} is not supported (this sdcodec reads 1.x and 2.x)"
        )
    yield b"VERS", bytes([major, minor])
    yield from _frames(data, len(MAGIC) + 2, stop_after, major)


def _checked(data: bytes, pos: int, tag: bytes, length: int, name: bytes) -> tuple[bytes, int]:
    """The payload at ``pos`` and the position after its CRC, once both are checked
    (``name``: the section's 1.x name, for messages)."""
    if length > len(data) - pos - _CRC.size:
        raise TruncatedError(
            f"truncated file: section {_name(name)!r} declares {length} bytes, "
            f"only {max(len(data) - pos - _CRC.size, 0)} remain"
        )
    payload = bytes(data[pos : pos + length])
    (crc,) = _CRC.unpack_from(data, pos + length)
    if zlib.crc32(tag + payload) != crc:
        raise ChecksumError(f"CRC mismatch in section {_name(name)!r}: the file is corrupt")
    return payload, pos + length + _CRC.size


def _frame(data: bytes, pos: int) -> tuple[bytes, bytes, int, int]:
    """1.x section header at ``pos``: (tag as stored, its name, length, payload position)."""
    if len(data) - pos < _SECTION.size:
        raise TruncatedError(f"truncated file: ends at byte {len(data)}, a section header was expected")
    length, tag = _SECTION.unpack_from(data, pos)
    return tag, tag, length, pos + _SECTION.size


def _frame2(data: bytes, pos: int) -> tuple[bytes, bytes, int, int]:
    """2.x section header at ``pos``, as _frame: the letter and its 1.x name."""
    if pos >= len(data):
        raise TruncatedError(f"truncated file: ends at byte {len(data)} before the DATA section")
    letter = bytes(data[pos : pos + 1])
    length, pos = _read_uvarint(data, pos + 1)
    return letter, _TAGS2.get(letter, letter), length, pos


def _frames(data: bytes, pos: int, stop_after: bytes | None, major: int):
    header, last = (_frame, b"END ") if major == 1 else (_frame2, b"DATA")
    while True:
        stored, tag, length, pos = header(data, pos)
        payload, pos = _checked(data, pos, stored, length, tag)
        yield tag, payload
        if tag == last:
            if pos != len(data):
                raise FormatError(f"{len(data) - pos} bytes of garbage after the {tag.decode().strip()} section")
            return
        if tag == stop_after:
            return


def read(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, header_only: bool = False) -> SdcFile:
    """Parse and validate a whole file (or, with header_only, just HEAD and QUAN)."""
    header: Header | None = None
    quant: QuantParams | None = None
    found: dict[bytes, bytes] = {}
    listing: list[tuple[str, int]] = []
    major, minor = MAJOR, MINOR
    last = -1
    for tag, payload in _sections(data, stop_after=b"QUAN" if header_only else None):
        if tag == b"VERS":
            major, minor = payload
            continue
        name = _name(tag)
        listing.append((name, len(payload)))
        if not (tag.isascii() and all(65 <= b <= 90 or 97 <= b <= 122 or b == 32 for b in tag)):
            raise FormatError(f"invalid section tag {_name(tag)!r}")
        if 97 <= tag[0] <= 122:  # lowercase first letter: ancillary, safe to skip
            continue
        if tag not in _ORDER or (tag == b"RSMP" and major == 1):
            raise FormatError(f"unknown critical section {name!r}")
        if tag in found:
            raise FormatError(f"duplicate section {name!r}")
        index = _ORDER.index(tag)
        if index < last:
            raise FormatError(f"section {name!r} out of order")
        if tag != b"HEAD" and header is None:
            raise FormatError("file does not start with a HEAD section")
        last = index
        found[tag] = payload
        if tag == b"HEAD":
            header = _parse_head(payload, max_pixels, major)
        elif tag == b"QUAN":
            quant = _parse_quant(payload, header, major)
    if header is None or quant is None:
        raise FormatError("HEAD or QUAN section missing")
    if (quant.quantizer is QuantizerId.LEARNED) != (header.coder_id == HYPERPRIOR_CODER):
        raise FormatError("the learned quantizer goes with coder 3 (hyperprior), and only it")
    _check_restorer(header.decode.denoiser, quant)
    if header_only:
        return SdcFile(header, quant, b"", minor=minor, sections=listing, major=major)
    missing = (_REQUIRED if major == 1 else _REQUIRED - {b"END "}) - found.keys()
    if missing:
        raise FormatError(f"required section {sorted(missing)[0].decode()!r} missing")
    alpha = None
    if b"ALPH" in found:
        if header.mode not in ("RGBA", "LA"):
            raise FormatError("ALPH section in an image without alpha")
        a = found[b"ALPH"]
        if len(a) < 1 or a[0] != 0:
            raise FormatError("ALPH section has an unknown method")
        alpha = a[1:]
    elif header.mode in ("RGBA", "LA"):
        raise FormatError(f"mode {header.mode} needs an ALPH section")
    icc = _parse_icc(found[b"ICCP"]) if b"ICCP" in found else None
    factor = _parse_resample(found[b"RSMP"]) if b"RSMP" in found else 1
    return SdcFile(header, quant, found[b"DATA"], alpha, icc, minor, listing, major, factor)
