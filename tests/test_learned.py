"""The learned latent codec: integer entropy path, exactness, payload round trips.

Most tests use a randomly initialised codec saved to a temporary file, so they do not
depend on the shipped weights; tests/test_learned_shipped.py checks those.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdcodec.errors import FormatError
from sdcodec.learned import intnet, load_file, save, tables
from sdcodec.learned.coding import compress, decode_symbols, decompress, encode_symbols
from sdcodec.learned.nets import LatentCodec


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    torch.manual_seed(0)
    model = LatentCodec()
    with torch.no_grad():  # give h_s a spread of outputs like a trained one
        for p in model.h_s.parameters():
            p.mul_(3.0)
    path = tmp_path_factory.mktemp("lc") / "random.safetensors"
    save(path, model, {"model": model.config})
    return load_file(path), model


def _latent(seed=0, h=20, w=27):
    return np.random.default_rng(seed).normal(size=(32, h, w)).astype(np.float32)


def _int_reference(layers, z):
    """The integer network in pure int64 numpy (im2col): an independent exact path."""
    a = z.astype(np.int64) << intnet.FRAC
    for layer in layers:
        k = layer.weight.shape[-1]
        p = k // 2
        c, h, w = a.shape
        pad = np.pad(a, ((0, 0), (p, p), (p, p)))
        cols = np.stack([pad[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)], 1)
        wt = layer.weight.astype(np.int64).reshape(layer.weight.shape[0], c, k * k)
        acc = np.einsum("oct,cthw->ohw", wt, cols) + layer.bias[:, None, None]
        a = acc >> layer.shift  # floor division by 2^shift
        if layer.shuffle:
            o = a.shape[0] // 4
            a = a.reshape(o, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(o, 2 * h, 2 * w)
        if layer.relu:
            a = np.maximum(a, 0)
        lim = 1 << intnet.ACT_BITS
        a = np.clip(a, -lim, lim)
    return a


def test_integer_hyper_synthesis_is_exact_on_every_path(codec):
    lc, _ = codec
    z = np.random.default_rng(1).integers(-6, 7, size=(64, 3, 4))
    ref = _int_reference(lc.hyper, z)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            assert np.array_equal(intnet.run(lc.hyper, z), ref)
    finally:
        torch.set_num_threads(threads)


def test_integer_network_follows_the_float_one(codec):
    lc, model = codec
    z = np.random.default_rng(2).integers(-4, 5, size=(64, 3, 4))
    with torch.no_grad():
        mu_f, s_f = model.hyper(torch.from_numpy(z).float()[None])
    out = intnet.run(lc.hyper, z) / float(1 << intnet.FRAC)
    m = out.shape[0] // 2
    assert np.abs(out[:m] - mu_f[0].numpy()).max() < 0.05
    s_clamped = np.clip(out[m:], np.log(tables.SIGMA_MIN), np.log(tables.SIGMA_MAX))
    assert np.abs(s_clamped - s_f[0].numpy()).max() < 0.05


def test_scale_index_is_nearest_table_entry(codec):
    lc, _ = codec
    logs = np.log(tables.sigma_table())
    s = np.linspace(logs[0] - 1, logs[-1] + 1, 1001)
    fixed = np.floor(s * (1 << intnet.FRAC)).astype(np.int64)
    idx = tables.scale_index(fixed, lc.thresholds)
    near = np.abs(fixed[:, None] / (1 << intnet.FRAC) - logs[None]).argmin(1)
    assert np.array_equal(idx, near) and idx.min() == 0 and idx.max() == tables.SCALES - 1


def test_payload_round_trip_recovers_every_symbol(codec):
    lc, _ = codec
    lat = _latent()
    for level in (0.0, 3.3, 7.0):
        z, r, mu = encode_symbols(lc, lat, level)
        payload = compress(lc, lat, level)
        z2, r2, mu2 = decode_symbols(lc, payload, 20, 27)
        assert np.array_equal(z, z2) and np.array_equal(r, r2) and np.array_equal(mu, mu2)
        out = decompress(lc, payload, 20, 27, level)
        assert out.shape == (32, 20, 27) and out.dtype == np.float32


def test_symbols_do_not_depend_on_threads_or_float_precision(codec):
    """The decoder's symbols come only from integers; the float synthesis runs after them."""
    lc, _ = codec
    lat = _latent(3)
    payload = compress(lc, lat, 2.0)
    threads = torch.get_num_threads()
    try:
        got = []
        for n in (1, 2):
            torch.set_num_threads(n)
            got.append(decode_symbols(lc, payload, 20, 27))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*got, strict=True):
        assert np.array_equal(a, b)
    lc.net.double()
    try:
        assert np.array_equal(decode_symbols(lc, payload, 20, 27)[1], got[0][1])
    finally:
        lc.net.float()


def test_corrupt_payloads_raise_format_error(codec):
    lc, _ = codec
    payload = compress(lc, _latent(4), 3.0)
    rng = np.random.default_rng(0)
    with pytest.raises(FormatError):
        decode_symbols(lc, payload[:-2], 20, 27)
    for _ in range(20):
        bad = bytearray(payload)
        bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        try:
            z, r, _ = decode_symbols(lc, bytes(bad), 20, 27)
        except FormatError:
            continue
        assert np.abs(r).max() <= tables.Y_RANGE and np.abs(z).max() <= tables.Z_RANGE
    with pytest.raises(FormatError):
        decode_symbols(lc, payload + bytes(range(12)), 20, 27)


def test_weights_file_refused_when_tampered(codec, tmp_path):
    from dataclasses import replace

    from sdcodec.errors import ModelUnavailableError
    from sdcodec.models.registry import CodecSpec

    spec = CodecSpec("x", 99, "taef2", "x.safetensors", "0" * 64, 8, "test")
    src = tmp_path / "x.safetensors"
    torch.manual_seed(1)
    m = LatentCodec()
    save(src, m, {"model": m.config})
    with pytest.raises(ModelUnavailableError, match="sha256"):
        load_file(src, spec)
    assert load_file(src, replace(spec, sha256=_sha(src))).levels == 8
    (tmp_path / "junk.safetensors").write_bytes(b"not a weights file")
    with pytest.raises(ModelUnavailableError):
        load_file(tmp_path / "junk.safetensors")


def _sha(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_residual_codec_folds_and_unfolds_the_latent():
    """lc2's g_a starts from the 2×2 fold of the latent and g_s from the unfold: with the
    residual bodies silenced the pair is exactly the identity (the order of the folds
    pairs up), so fine quantization can reach the autoencoder's own quality."""
    torch.manual_seed(3)
    m = LatentCodec(residual=True)
    with torch.no_grad():
        for block in (m.g_a[1], m.g_s[0], m.g_s[2]):
            block.body[-1].weight.zero_()
    x = torch.from_numpy(_latent(h=16, w=24))[None]
    assert torch.equal(m.g_s(m.g_a(x)), x)
    with pytest.raises(ValueError, match="4 ×"):
        LatentCodec(residual=True, y_channels=96)


def test_int8_and_fp16_kernels_load_alike(tmp_path):
    torch.manual_seed(2)
    m = LatentCodec(residual=True)
    sizes = {}
    for int8 in (True, False):
        path = tmp_path / f"{int8}.safetensors"
        save(path, m, {"model": m.config}, int8=int8)
        sizes[int8] = path.stat().st_size
        net = load_file(path).net
        assert net.config["residual"]
        for k, v in net.state_dict().items():
            if k.startswith("h_s."):
                continue
            ref = m.state_dict()[k]
            tol = ref.abs().max().item() / (127 if int8 else 1000) + 1e-6
            assert (v - ref).abs().max().item() <= tol, k
    assert sizes[True] < 0.7 * sizes[False]


def test_silent_bypass_leaves_the_codec_as_it_was():
    """A bypass started at zero adds nothing: fine-tuning starts exactly where its start
    model stood (training/train_latent_codec.py --bypass --init)."""
    torch.manual_seed(4)
    plain = LatentCodec()
    by = LatentCodec(bypass=True)
    by.load_state_dict(plain.state_dict(), strict=False)
    x = torch.from_numpy(_latent(h=16, w=24))[None]
    with torch.no_grad():
        y = plain.analysis(x)
        assert torch.equal(by.analysis(x), y)
        assert torch.equal(by.synthesis(y), plain.synthesis(y))
        by.g_s_skip.bias.fill_(0.5)  # not silent: the bypass reaches the output, unfolded
        assert torch.allclose(by.synthesis(y) - plain.synthesis(y), torch.full_like(x, 0.5))


def test_codec_sharing_its_base_probability_model(tmp_path, monkeypatch):
    """A codec fine-tuned with the probability model frozen ships only what differs; it
    loads with the base's tables and codes the same symbols from the same y. A file whose
    probability model is not the base's is refused at export."""
    import dataclasses

    import sdcodec.learned as learned_pkg
    from sdcodec.models import registry

    torch.manual_seed(5)
    base = LatentCodec()
    (tmp_path / "w").mkdir()
    save(tmp_path / "w" / "base.safetensors", base, {"model": base.config})
    spec = dataclasses.replace(registry.CODECS[0], name="basetest", file="base.safetensors",
                               sha256=_sha(tmp_path / "w" / "base.safetensors"))  # fmt: skip
    monkeypatch.setattr(learned_pkg, "WEIGHTS_DIR", tmp_path / "w")
    monkeypatch.setattr(registry, "_CODEC_BY_NAME", {**registry._CODEC_BY_NAME, "basetest": spec})

    tuned = LatentCodec(bypass=True, lambda0=1e-3)
    tuned.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        for p in list(tuned.g_s.parameters()) + list(tuned.g_s_skip.parameters()):
            p.add_(0.01)
    path = tmp_path / "tuned.safetensors"
    save(path, tuned, {"model": tuned.config}, base="basetest")
    full = tmp_path / "full.safetensors"
    save(full, tuned, {"model": tuned.config})
    assert path.stat().st_size < 0.8 * full.stat().st_size
    lc = load_file(path)
    assert lc.net.lam(0) == pytest.approx(1e-3) and lc.net.g_s_skip is not None
    ref = load_file(tmp_path / "w" / "base.safetensors")
    for name in ("y_counts", "thresholds", "z_counts"):
        assert np.array_equal(getattr(lc, name), getattr(ref, name))
    lat = _latent(h=16, w=16)
    data = compress(lc, lat, 3.0)
    assert np.array_equal(decode_symbols(lc, data, 16, 16)[1], encode_symbols(lc, lat, 3.0)[1])
    out = decompress(lc, data, 16, 16, 3.0)
    with torch.no_grad():
        r, mu = decode_symbols(lc, data, 16, 16)[1:]
        y_hat = torch.from_numpy(r + mu / 256.0).float() / lc.net.gain(torch.tensor([3.0]))[0].view(-1, 1, 1)
        want = tuned.synthesis(y_hat[None])[0].numpy()
    assert np.abs(out - want).max() < 0.01 * np.abs(want).max()  # int8 kernels only

    with torch.no_grad():
        tuned.h_s[0].weight.mul_(1.5)
    with pytest.raises(ValueError, match="differs from the base"):
        save(tmp_path / "bad.safetensors", tuned, {"model": tuned.config}, base="basetest")
