"""lc4: lc3's transforms with a channel-conditional context model (learned/context.py).
Exact integer context networks, symbols that survive the round trip slice by slice, fewer
bytes than lc3 for the same picture, refinement that follows the moving μ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import sdcodec
from sdcodec import EncodeOptions, learned
from sdcodec.errors import FormatError
from sdcodec.learned import coding, context, intnet
from sdcodec.models.registry import codec_by_name

from .conftest import psnr


@pytest.fixture(scope="module")
def lc4():
    return learned.load(codec_by_name("lc4"), "cpu")


def _latent(kodak, name="kodim23", box=(300, 100, 428, 228)):
    from sdcodec import models

    rgb = np.asarray(Image.open(kodak / f"{name}.png").convert("RGB").crop(box), np.float32) / 255
    return models.load(models.by_name("taef2"), "encoder", device="cpu").encode(rgb)


def test_lc4_reads_lc3s_transforms_and_lc1s_hyperprior(lc4):
    lc3 = learned.load(codec_by_name("lc3"), "cpu")
    mine, theirs = lc4.net.state_dict(), lc3.net.state_dict()
    assert mine.keys() == theirs.keys()
    for k in mine:  # h_s: the float training copy, never loaded (the integer one codes)
        assert k.startswith("h_s.") or torch.equal(mine[k], theirs[k]), k
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(lc4.hyper, lc3.hyper, strict=True))
    assert lc4.context is not None and len(lc4.context) == context.SLICES and lc3.context is None


@pytest.mark.parametrize("level", [0.5, 3.0])
def test_symbols_round_trip_slice_by_slice_on_one_and_two_threads(kodak, lc4, level):
    latent = _latent(kodak)
    z, r, mu, idx, _ = coding.analyse(lc4, latent, level)
    payload = coding.pack_symbols(lc4, z, r)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            z2, r2, mu2 = coding.decode_symbols(lc4, payload, *latent.shape[1:])
            assert np.array_equal(z2, z) and np.array_equal(r2, r) and np.array_equal(mu2, mu)
    finally:
        torch.set_num_threads(threads)
    # the context model moved μ off the hyperprior's for the later slices (else it did nothing)
    mu0, _ = coding.hyper_params(lc4, z)
    cs = r.shape[0] // context.SLICES
    assert np.mean(mu[cs:] != mu0[cs:]) > 0.5


def test_float_context_tracks_the_integer_networks(kodak, lc4):
    """Refinement's float copy of the context networks computes what the decoder's integer
    ones do, to within their rounding (a wrong export or scale would be far off)."""
    z, r, mu, _, _ = coding.analyse(lc4, _latent(kodak), 2.0)
    mu0, s0 = coding.hyper_params(lc4, z)
    y_hat = (r << intnet.FRAC) + mu
    cs = r.shape[0] // context.SLICES
    nets = lc4.context_nets()
    f = float(1 << intnet.FRAC)
    for i in range(context.SLICES):
        sl = slice(i * cs, (i + 1) * cs)
        m_int, s_int = context.exact_params(lc4.context[i], mu0[sl], s0[sl], y_hat[: sl.start])
        with torch.no_grad():
            m_f, s_f = context.float_params(
                nets, i, *(torch.from_numpy(v[None] / f).float() for v in (mu0[sl], s0[sl], y_hat[: sl.start]))
            )  # fmt: skip
        # fixed-point rounding adds up through the later slices' wider inputs: on an fp32
        # latent slice 3's μ was off by 0.067 at worst (0.0025 on average, |μ| 0.09); a
        # wrong export or scale is off by about |μ| everywhere
        dm, ds = np.abs(m_f[0].numpy() - m_int / f), np.abs(s_f[0].numpy() - s_int / f)
        assert dm.max() < 0.1 and dm.mean() < 0.01
        assert ds.max() < 0.1 and ds.mean() < 0.03


@pytest.mark.parametrize("name", ["kodim01", "kodim23"])
def test_lc4_codes_lc3s_pictures_in_fewer_bytes(kodak, name):
    """Same transforms, same level: lc4 files are at least 10% smaller on 192×192 crops
    (measured at level 2: kodim01 1,096 → 860 bytes, −22%, kodim23 812 → 684, −16%), the
    picture within 0.4 dB (+0.09 and −0.16 dB)."""
    src = Image.open(kodak / f"{name}.png").convert("RGB").crop((200, 100, 392, 292))
    out = {}
    for codec in ("lc3", "lc4"):
        data = sdcodec.encode(src, EncodeOptions(codec=codec, level=2.0))
        out[codec] = (len(data), psnr(src, sdcodec.decode(data)))
    assert out["lc4"][0] < 0.9 * out["lc3"][0], out
    assert out["lc4"][1] > out["lc3"][1] - 0.4, out


def test_refined_lc4_file_decodes_to_what_refinement_measured(kodak):
    """Refinement re-runs the integer context model at every step: the file's symbols are
    exactly the ones it scored, and it gains (measured for squared error alone, which PSNR
    scores: +1.80 dB on this crop at level 1, 292 → 280 bytes; with the default structural
    term +1.10 dB)."""
    src = Image.open(kodak / "kodim23.png").convert("RGB").crop((300, 100, 428, 228))
    plain = sdcodec.encode(src, EncodeOptions(codec="lc4", level=1.0, refine=0))
    refined = sdcodec.encode(src, EncodeOptions(codec="lc4", level=1.0, refine=8, refine_structure=0.0))
    gain = psnr(src, sdcodec.decode(refined)) - psnr(src, sdcodec.decode(plain))
    assert gain > 1.2, gain
    assert len(refined) < 1.3 * len(plain)
    # the symbols refinement returns are the ones the decoder reads back
    from sdcodec import models
    from sdcodec.learned import refine

    lc4 = learned.load(codec_by_name("lc4"), "cpu")
    rgb = np.asarray(src)
    latent = models.load(models.by_name("taef2"), "encoder", device="cpu").encode(rgb.astype(np.float32) / 255)
    z, r_sym, mu, idx, r = coding.analyse(lc4, latent, 1.0)
    decoder = models.load(models.by_name("taef2"), "decoder", device="cpu")
    better = refine.refine(lc4, decoder, None, rgb, r, mu, idx, 1.0, 4, z_sym=z)
    assert not np.array_equal(better, r_sym)
    got = coding.decode_symbols(lc4, coding.pack_symbols(lc4, z, better), *latent.shape[1:])[1]
    assert np.array_equal(got, better)


def test_corrupt_lc4_payload_is_a_format_error(kodak, lc4):
    """(Bit flips and truncation inside a file are the CRC's and test_fuzz.py's, which
    seeds from the lc4 golden file too.)"""
    latent = _latent(kodak)
    z, r = coding.analyse(lc4, latent, 2.0)[:2]
    payload = coding.pack_symbols(lc4, z, r)
    rng = np.random.default_rng(0)
    for _ in range(20):  # garbage words: an error or some symbols, never a crash
        bad = bytearray(payload)
        at = int(rng.integers(0, len(bad) // 4)) * 4
        bad[at : at + 8] = rng.integers(0, 256, len(bad[at : at + 8]), dtype=np.uint8).tobytes()
        try:
            z2, r2, mu2 = coding.decode_symbols(lc4, bytes(bad), *latent.shape[1:])
        except FormatError:
            continue
        assert r2.shape == r.shape and np.abs(r2).max() <= 255
    with pytest.raises(FormatError, match="32-bit"):
        coding.decode_symbols(lc4, payload[:-1], *latent.shape[1:])
