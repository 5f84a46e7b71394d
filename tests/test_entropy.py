import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcodec import entropy
from sdcodec.entropy.bounded import inflate_exact
from sdcodec.entropy.plane import decode_plane, encode_plane
from sdcodec.errors import FormatError
from sdcodec.quant import StreamSpec


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(2, 256)), min_size=1, max_size=4),
       st.integers(0, 2**31))  # fmt: skip
def test_zlib_coder_roundtrip(shapes, seed):
    rng = np.random.default_rng(seed)
    streams = [rng.integers(0, a, (h, w), dtype=np.uint8) for h, w, a in shapes]
    specs = [StreamSpec((h, w), a, "map") for h, w, a in shapes]
    coder = entropy.get(entropy.CoderId.ZLIB)
    out = coder.decode(coder.encode(streams, specs), specs)
    assert all(np.array_equal(a, b) for a, b in zip(streams, out, strict=True))


def test_zlib_coder_refuses_wrong_length_and_alphabet():
    coder = entropy.get(entropy.CoderId.ZLIB)
    data = coder.encode([np.arange(12, dtype=np.uint8).reshape(3, 4)], [StreamSpec((3, 4), 256)])
    with pytest.raises(FormatError):
        coder.decode(data, [StreamSpec((3, 5), 256)])  # declared more than coded
    with pytest.raises(FormatError):
        coder.decode(data, [StreamSpec((2, 4), 256)])  # coded more than declared
    with pytest.raises(FormatError):
        coder.decode(data, [StreamSpec((3, 4), 11)])  # symbol 11 outside alphabet 11
    with pytest.raises(FormatError):
        entropy.get(99)


def test_inflate_exact_stops_a_zip_bomb():
    bomb = zlib.compress(b"\0" * (64 << 20), 9)  # 64 MiB from ~64 kB
    with pytest.raises(FormatError):
        inflate_exact(bomb, 100, "test")
    with pytest.raises(FormatError):
        inflate_exact(b"not zlib at all", 10, "test")
    good = zlib.compress(b"abc")
    assert inflate_exact(good, 3, "t") == b"abc"
    with pytest.raises(FormatError):
        inflate_exact(good + b"x", 3, "t")  # trailing bytes


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31))
def test_alpha_plane_is_lossless(h, w, seed):
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 256, (h, w), dtype=np.uint8)
    if seed % 2:  # smooth alpha, the usual case
        plane = np.clip(np.add.outer(np.arange(h) * 7, np.arange(w) * 3), 0, 255).astype(np.uint8)
    assert np.array_equal(decode_plane(encode_plane(plane), h, w), plane)


def test_flat_alpha_is_tiny():
    plane = np.zeros((512, 512), np.uint8)
    plane[100:400, 100:400] = 255
    assert len(encode_plane(plane)) < 1500
