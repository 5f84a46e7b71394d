import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcodec.errors import FormatError, InputError
from sdcodec.quant import QuantizerId, dequantize, quantize, stream_specs
from sdcodec.quant import palette as P
from sdcodec.quant.affine import fit


def _sequential_fs(image, palette):
    """Plain raster-order Floyd–Steinberg, the definition dither() must match exactly."""
    h, w, _ = image.shape
    acc = image.astype(np.int64) * 16
    p16 = palette.astype(np.int64) * 16
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            t = np.clip(acc[y, x], 0, 255 * 16)
            i = int(((t - p16) ** 2).sum(1).argmin())
            out[y, x] = i
            e = t - p16[i]
            e7, e3, e5 = (e * 7) // 16, (e * 3) // 16, (e * 5) // 16
            for dy, dx, part in ((0, 1, e7), (1, -1, e3), (1, 0, e5), (1, 1, e - e7 - e3 - e5)):
                if y + dy < h and 0 <= x + dx < w:
                    acc[y + dy, x + dx] += part
    return out


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 9), w=st.integers(1, 11), dim=st.integers(1, 5),
    k=st.integers(2, 12), seed=st.integers(0, 2**31),
)  # fmt: skip
def test_wavefront_dither_equals_sequential(h, w, dim, k, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, dim), dtype=np.uint8)
    pal = rng.integers(0, 256, (k, dim), dtype=np.uint8)
    assert np.array_equal(P.dither(img, pal), _sequential_fs(img, pal))


def test_dither_preserves_mean_better_than_nearest():
    # the point of error diffusion: the local average follows the input
    img = np.full((32, 32, 1), 100, np.uint8)
    pal = np.array([[0], [255]], np.uint8)
    assert np.all(P.nearest(img.reshape(-1, 1), pal) == 0)
    mean = pal[P.dither(img, pal)].mean()
    assert abs(mean - 100) < 3


def test_kmeans_deterministic_and_exact_when_few_vectors():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 256, (5000, 8), dtype=np.uint8)
    a, b = P.kmeans(v, 32, seed=3), P.kmeans(v, 32, seed=3)
    assert np.array_equal(a, b) and a.shape == (32, 8)
    few = v[:7]
    pal = P.kmeans(few, 32)
    assert pal.shape[0] == 7 and np.array_equal(P.nearest(few, pal).size, 7)
    assert np.array_equal(pal[P.nearest(few, pal)], few)  # lossless when K ≥ distinct


def test_kmeans_beats_random_palette():
    rng = np.random.default_rng(1)
    centers = rng.integers(0, 256, (16, 4))
    v = np.clip(centers[rng.integers(0, 16, 4000)] + rng.integers(-3, 4, (4000, 4)), 0, 255).astype(
        np.uint8
    )
    pal = P.kmeans(v, 16)
    err = ((v.astype(float) - pal[P.nearest(v, pal)]) ** 2).mean()
    assert err < 10  # 16 tight clusters, 16 entries: only the ±3 jitter remains


@pytest.mark.parametrize("per_channel", [False, True])
def test_affine_roundtrip_within_half_step(per_channel):
    rng = np.random.default_rng(2)
    z = (rng.normal(size=(32, 6, 5)) * np.linspace(0.1, 3, 32)[:, None, None]).astype(np.float32)
    amap = fit(z, per_channel)
    assert amap.offset.shape == ((32,) if per_channel else (1,))
    back = amap.to_float(amap.to_uint8(z))
    step = np.broadcast_to(amap.scale, (32,))[:, None, None]
    assert np.all(np.abs(back - z) <= step * 0.5 + 1e-5)


@pytest.mark.parametrize(
    "mode,k,groups,dither",
    [
        ("8bit", 0, 1, False),
        ("palette", 256, 1, True),
        ("palette", 16, 1, False),
        ("palette", 8, 4, True),
    ],
)
def test_quantize_dequantize_shapes_and_specs(mode, k, groups, dither):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(32, 7, 9)).astype(np.float32)
    params, streams = quantize(z, mode, k or 256, groups, dither)
    specs = stream_specs(params, 32, 7, 9)
    assert [s.shape for s in streams] == [sp.shape for sp in specs]
    for s, sp in zip(streams, specs, strict=True):
        assert s.dtype == np.uint8 and int(s.max()) < sp.alphabet
    back = dequantize(params, streams, 32)
    assert back.shape == z.shape and back.dtype == np.float32
    if mode == "8bit":
        assert params.quantizer is QuantizerId.UINT8
        assert np.abs(back - z).max() <= params.affine.scale[0] * 0.5 + 1e-5


def test_more_palette_entries_reduce_error():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(32, 16, 16)).astype(np.float32)
    errs = []
    for k in (4, 32, 256):
        params, streams = quantize(z, "palette", k)
        errs.append(float(((dequantize(params, streams, 32) - z) ** 2).mean()))
    assert errs[0] > errs[1] > errs[2]


def test_palette_shrinks_to_distinct_vectors():
    z = np.zeros((32, 2, 2), np.float32)
    z[:, 0, 0] = 1.0
    params, streams = quantize(z, "palette", 256)
    assert params.palette_size == 2
    assert np.array_equal(dequantize(params, streams, 32) > 0.5, z > 0.5)


def test_index_out_of_palette_is_a_format_error():
    z = np.random.default_rng(5).normal(size=(32, 4, 4)).astype(np.float32)
    params, streams = quantize(z, "palette", 4)
    streams[1] = streams[1].copy()
    streams[1][0, 0] = params.palette_size
    with pytest.raises(FormatError):
        dequantize(params, streams, 32)


@pytest.mark.parametrize(
    "mode,k,g", [("jpeg", 256, 1), ("palette", 1, 1), ("palette", 257, 1), ("palette", 16, 5)]
)
def test_bad_options_refused(mode, k, g):
    with pytest.raises(InputError):
        quantize(np.zeros((32, 2, 2), np.float32), mode, k, g)
