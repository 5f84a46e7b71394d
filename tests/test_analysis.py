"""An analysis retrained after its codec shipped (CodecSpec.analysis, learned.save_analysis,
training/train_analysis.py): only the encoder runs g_a, so such a file changes which
symbols an encoder writes, never what a payload decodes to — files keep the codec's id
and fingerprint and older decoders read them. The encoder starts from it where it does
not refine (LoadedCodec.retrained); refinement starts from the codec's own analysis."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open

from sdcodec import learned
from sdcodec.errors import ModelUnavailableError
from sdcodec.learned import ANALYSIS, coding
from sdcodec.models.registry import codec_by_name


@pytest.fixture(scope="module")
def lc4():
    return learned.load(codec_by_name("lc4"), "cpu")


def _moved_analysis(codec, seed=0):
    gen = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in codec.net.state_dict().items() if k.startswith(ANALYSIS)}
    for v in state.values():
        v.add_(torch.randn(v.shape, generator=gen) * v.abs().mean() * 0.2)
    return state


def _with_analysis(tmp_path, codec, state):
    path = tmp_path / "ga.safetensors"
    sha = learned.save_analysis(path, state, codec.spec.name, {"run": {"seed": "0"}})
    # an absolute path joins WEIGHTS_DIR as itself
    spec = replace(codec.spec, analysis=str(path), analysis_sha256=sha)
    return learned.load_file(learned.WEIGHTS_DIR / spec.file, spec, "cpu"), path


def test_an_analysis_file_holds_g_a_alone_and_replaces_only_g_a(tmp_path, lc4):
    state = _moved_analysis(lc4)
    mine, path = _with_analysis(tmp_path, lc4, state)
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        config = json.loads(f.metadata()["config"])
    assert keys and all(k.startswith(ANALYSIS) for k in keys)
    assert config["analysis_for"] == "lc4" and config["run"] == {"seed": "0"}
    assert mine.spec.fingerprint == lc4.spec.fingerprint and mine.spec.id == lc4.spec.id
    for k, v in mine.net.state_dict().items():  # the codec's own analysis stays for refinement
        assert k.startswith("h_s.") or torch.equal(v, lc4.net.state_dict()[k]), k  # (h_s: unused floats)
    a, b = mine.retrained.state_dict(), lc4.net.state_dict()
    for k in a:
        if k.startswith(ANALYSIS):  # int8 kernels: within half a step of the trained values
            assert not torch.equal(a[k], b[k]), k
            step = state[k].abs().amax(dim=tuple(range(1, state[k].ndim)), keepdim=True) / 127
            assert torch.all((a[k] - state[k]).abs() <= step * 0.5 + 1e-6), k
        elif not k.startswith("h_s."):
            assert torch.equal(a[k], b[k]), k


def test_another_analysis_writes_other_symbols_that_decode_as_before(tmp_path, lc4):
    mine, _ = _with_analysis(tmp_path, lc4, _moved_analysis(lc4))
    latent = np.random.default_rng(0).normal(0, 1, (32, 16, 24)).astype(np.float32)
    payload = coding.compress(mine, latent, 2.0, retrained=True)
    assert payload != coding.compress(lc4, latent, 2.0)
    assert coding.compress(mine, latent, 2.0) == coding.compress(lc4, latent, 2.0)
    assert coding.compress(lc4, latent, 2.0, retrained=True) == coding.compress(lc4, latent, 2.0)
    for x, y in zip(coding.decode_symbols(mine, payload, 16, 24), coding.decode_symbols(lc4, payload, 16, 24),
                    strict=True):  # fmt: skip
        assert np.array_equal(x, y)
    assert np.array_equal(coding.decompress(mine, payload, 16, 24, 2.0), coding.decompress(lc4, payload, 16, 24, 2.0))


def test_an_analysis_file_is_pinned_and_must_be_a_whole_analysis(tmp_path, lc4):
    state = _moved_analysis(lc4)
    path = tmp_path / "ga.safetensors"
    learned.save_analysis(path, state, "lc4", {})
    spec = replace(lc4.spec, analysis=str(path), analysis_sha256="0" * 64)
    with pytest.raises(ModelUnavailableError, match="sha256"):
        learned.load_file(learned.WEIGHTS_DIR / spec.file, spec)
    part = {k: v for k, v in state.items() if k.startswith("g_a.")}  # the bypass left out
    learned.save_analysis(path, part, "lc4", {})
    spec = replace(spec, analysis_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ModelUnavailableError, match="not an analysis"):
        learned.load_file(learned.WEIGHTS_DIR / spec.file, spec)
    with pytest.raises(ValueError, match="only g_a"):
        learned.save_analysis(path, {**state, "g_s.0.weight": torch.zeros(1, 1, 3, 3)}, "lc4", {})


def test_the_encoder_starts_from_it_only_where_it_does_not_refine(kodak, monkeypatch):
    from PIL import Image

    from sdcodec import EncodeOptions, bitstream
    from sdcodec.codec import analyze, pack

    img = Image.open(kodak / "kodim23.png").convert("RGB").crop((200, 100, 328, 228))
    an = analyze(img)
    calls = []
    real = coding.analyse

    def analyse(codec, latent, level, retrained=False):
        calls.append(retrained)
        return real(codec, latent, level, retrained)

    monkeypatch.setattr(coding, "analyse", analyse)
    plain = bitstream.read(pack(an, EncodeOptions(codec="lc7", level=1.0, refine=0, restore=False).resolved()))
    lc7 = learned.load(codec_by_name("lc7"))
    assert calls == [True]
    z_sym, r_sym, _, idx, _ = real(lc7, an.latent, 1.0, True)
    assert plain.payload == coding.pack_symbols(lc7, z_sym, r_sym, idx)
    pack(an, EncodeOptions(codec="lc7", level=1.0, refine=1, restore=False).resolved())
    assert calls == [True, False]
