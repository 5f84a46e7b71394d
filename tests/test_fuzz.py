"""Mutation fuzzing of the parser and the integer decoding path (no network involved).

Hypothesis mutates valid files (truncations, bit flips, length fields set to 0 or huge,
sections reordered, duplicated or spliced with random bytes). Only the documented
FormatError family may escape, work stays bounded (a deadline per input) and memory stays
small (tracemalloc). Every input that ever failed is kept in tests/fuzz_corpus/.
"""

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdcodec import bitstream, codec, learned, models
from sdcodec.entropy.plane import decode_plane
from sdcodec.errors import FormatError

from .container import leb128, section, spans, split, unleb128

HERE = Path(__file__).parent
SEEDS = [p.read_bytes() for p in sorted((HERE / "golden").glob("*.sdc"))]
CORPUS = sorted((HERE / "fuzz_corpus").glob("*.sdc"))
PEAK_BYTES = 64 << 20


def decode_without_network(data: bytes) -> None:
    codec.info(data)
    f = bitstream.read(data)
    codec.decode_latent(f)
    if f.alpha is not None:
        decode_plane(f.alpha, f.header.height, f.header.width)


@pytest.fixture(scope="module", autouse=True)
def _weights_loaded():
    """Load every learned codec once first: reading the weights files (lc4 reads lc3's and
    lc1's too) is a one-time cost the memory bound is not about."""
    for spec in models.registry.CODECS:
        learned.load(spec, "cpu")


def check(data: bytes) -> None:
    tracemalloc.start()
    try:
        decode_without_network(data)
    except FormatError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK_BYTES


def sections(data: bytes) -> list[bytes]:
    """The framed sections of a 1.x or 2.x file (a mutated one: anything that parses)."""
    try:
        return [data[a:b] for _, _, a, b in spans(data)] if len(data) > 10 else []
    except IndexError:  # a length field running off the end
        return []


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "truncate",
                    "flip",
                    "length",
                    "reorder",
                    "duplicate",
                    "splice",
                    "payload",
                    "payload",
                ]
            )
        )
        secs = sections(bytes(data))
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "length" and secs:
            j = draw(st.integers(0, len(secs) - 1))
            value = draw(st.sampled_from([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(data)]))
            pos = 10 + sum(len(s) for s in secs[:j])
            if data[8] == 1:
                struct.pack_into("<I", data, pos, value)
            else:  # the varint after the tag letter, replaced whatever its length
                _, end = unleb128(data, pos + 1)
                data[pos + 1 : end] = leb128(value)
        elif kind in ("reorder", "duplicate") and len(secs) > 1:
            i = draw(st.integers(0, len(secs) - 1))
            j = draw(st.integers(0, len(secs) - 1))
            if kind == "reorder":
                secs[i], secs[j] = secs[j], secs[i]
            else:
                secs.insert(j, secs[i])
            data = bytearray(data[:10] + b"".join(secs))
        elif kind == "payload" and secs:
            # change bytes inside one section and fix its CRC, to get past the checksum
            j = draw(st.integers(0, len(secs) - 1))
            tag, body = split(data[:10] + secs[j])[0]
            body = bytearray(body)
            for _ in range(draw(st.integers(1, 4))):
                if body:
                    body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
            if draw(st.booleans()):
                body = body[: draw(st.integers(0, len(body)))] + draw(st.binary(max_size=16))
            secs[j] = section(tag, bytes(body), data[8])
            data = bytearray(data[:10] + b"".join(secs))
        elif kind == "splice":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


@settings(
    max_examples=1500, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(mutated())
def test_mutations_only_raise_format_errors(data):
    check(data)


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_regressions(path):
    check(path.read_bytes())


def test_seeds_are_valid():
    assert len(SEEDS) >= 4
    for data in SEEDS:
        decode_without_network(data)
