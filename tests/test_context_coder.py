"""The context-modelled range coder: exact round trips, golden bytes, hostile payloads."""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcodec import bitstream, entropy
from sdcodec.codec import decode_latent
from sdcodec.entropy import CoderId
from sdcodec.errors import FormatError
from sdcodec.quant import StreamSpec, scalar

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("SDCODEC_REGENERATE_GOLDEN") == "1"
CTX = entropy.get(CoderId.CTX)


def _streams(seed: int, h: int, w: int, k: int, c: int):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 256, (k, 4), dtype=np.uint8)
    # index maps with runs, as real ones have
    imap = np.repeat(rng.integers(0, k, (h, (w + 1) // 2)), 2, axis=1)[:, :w].astype(np.uint8)
    vol = np.clip(rng.laplace(scalar.MAX_ABS, 3, (c, h, w)), 0, scalar.ALPHABET - 1).astype(
        np.uint16
    )
    vol8 = rng.integers(100, 160, (c, h, w), dtype=np.uint8)
    specs = [StreamSpec((k, 4), 256, "table"), StreamSpec((h, w), k, "map"),
             StreamSpec((c, h, w), scalar.ALPHABET, "volume"), StreamSpec((c, h, w), 256, "volume")]  # fmt: skip
    return [table, imap, vol, vol8], specs


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 2**31),
    st.integers(1, 9),
    st.integers(1, 11),
    st.integers(1, 40),
    st.integers(1, 4),
)
def test_roundtrip_every_kind(seed, h, w, k, c):
    streams, specs = _streams(seed, h, w, k, c)
    back = CTX.decode(CTX.encode(streams, specs), specs)
    for a, b, spec in zip(streams, back, specs, strict=True):
        assert b.dtype == spec.dtype and np.array_equal(a, b)


def test_beats_zlib_on_structured_data():
    streams, specs = _streams(7, 48, 64, 64, 8)
    zlib_coder = entropy.get(CoderId.ZLIB)
    assert len(CTX.encode(streams, specs)) < 0.9 * len(zlib_coder.encode(streams, specs))


def test_golden_payload_bytes():
    """Symbols → bytes must be identical on every machine, and bytes → symbols too."""
    streams, specs = _streams(2026, 6, 7, 12, 3)
    payload = CTX.encode(streams, specs)
    path = GOLDEN / "ctx_payload.bin"
    if REGENERATE:
        path.write_bytes(payload)
        np.savez_compressed(GOLDEN / "ctx_symbols.npz", *streams)
    assert payload == path.read_bytes()
    expected = np.load(GOLDEN / "ctx_symbols.npz")
    for i, arr in enumerate(CTX.decode(path.read_bytes(), specs)):
        assert np.array_equal(arr, expected[f"arr_{i}"])


@pytest.mark.parametrize(
    "name", ["v1_0_palette", "v1_0_8bit", "v1_1_ctx_palette", "v1_1_ctx_scalar"]
)
def test_golden_files_decode_to_their_symbols(name):
    f = bitstream.read((GOLDEN / f"{name}.sdc").read_bytes())
    expected = np.load(GOLDEN / f"{name}.npz")
    assert np.array_equal(decode_latent(f), expected["latent"])
    if name.startswith("v1_0"):
        assert f.minor == 0


def test_hostile_payloads_end_in_format_error():
    """Random payload bytes behind a valid header (CRC fixed up): FormatError or a clean decode."""
    import struct
    import zlib

    data = (GOLDEN / "v1_1_ctx_palette.sdc").read_bytes()
    pos, secs = 10, []
    while pos < len(data):
        n, tag = struct.unpack_from("<I4s", data, pos)
        secs.append((tag, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    rng = np.random.default_rng(0)
    errors = 0
    for trial in range(60):
        size = int(rng.integers(0, 200)) * (1 if trial % 3 else 4)
        junk = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        blob = (
            bitstream.MAGIC
            + bytes([1, 1])
            + b"".join(
                struct.pack("<I4s", len(p), t) + p + struct.pack("<I", zlib.crc32(t + p))
                for t, p in ((t, junk if t == b"DATA" else p) for t, p in secs)
            )
        )
        try:
            decode_latent(bitstream.read(blob))
        except FormatError:
            errors += 1
    assert errors >= 50  # nearly all random payloads are detected as not matching
