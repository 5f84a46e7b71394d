"""Weight resolution: folder → cache → pinned download with sha256, tested on local files."""

import dataclasses
import hashlib
import urllib.error

import pytest

from sdcodec import weights
from sdcodec.errors import ModelUnavailableError
from sdcodec.models import by_name
from sdcodec.models.registry import REGISTRY, WeightFile

from .conftest import SHARED

REAL = SHARED / "models" / "taef2"
SPEC = by_name("taef2")


def spec_with_urls(url_of):
    files = tuple(dataclasses.replace(f, url=url_of(f)) for f in SPEC.files)
    return dataclasses.replace(SPEC, files=files)


def test_registry_pins_match_the_real_files():
    for f in SPEC.files:
        assert weights.sha256_file(REAL / f.name) == f.sha256
        assert f.url.startswith("https://github.com/madebyollin/taesd/raw/") and "5cccb12" in f.url
    assert len({s.id for s in REGISTRY}) == len(REGISTRY)


def test_models_dir_wins_and_is_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    paths = weights.resolve(SPEC, models_dir=SHARED / "models", download=False)
    assert paths["taef2_decoder.pth"] == REAL / "taef2_decoder.pth"


def test_download_from_pinned_url_into_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SDCODEC_MODELS", raising=False)
    spec = spec_with_urls(lambda f: (REAL / f.name).as_uri())
    paths = weights.resolve(spec, role="decoder", download=True)
    got = paths["taef2_decoder.pth"]
    assert got == tmp_path / "cache" / "taef2" / "taef2_decoder.pth"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == SPEC.files_for("decoder")[0].sha256
    assert not list(got.parent.glob("*.part"))
    # second time: found in the cache, no download needed
    assert weights.resolve(spec, role="decoder", download=False)["taef2_decoder.pth"] == got


def test_download_with_wrong_hash_is_refused_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SDCODEC_MODELS", raising=False)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"not the weights")
    spec = spec_with_urls(lambda f: evil.as_uri())
    with pytest.raises(ModelUnavailableError, match="sha256"):
        weights.resolve(spec, role="decoder", download=True)
    assert not any((tmp_path / "cache").rglob("*.pth"))
    assert not any((tmp_path / "cache").rglob("*.part"))


def test_offline_error_names_files_and_places(tmp_path, monkeypatch):
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SDCODEC_MODELS", raising=False)
    spec = spec_with_urls(lambda f: (tmp_path / "nowhere" / f.name).as_uri())
    with pytest.raises(ModelUnavailableError) as exc:
        weights.resolve(spec, download=True)
    msg = str(exc.value)
    assert "taef2_encoder.pth" in msg and "taef2_decoder.pth" in msg and "SDCODEC_MODELS" in msg
    assert "\n" not in msg


def test_network_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("SDCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SDCODEC_MODELS", raising=False)

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(ModelUnavailableError, match="no network"):
        weights.resolve(SPEC, role="decoder", download=True)


def test_damaged_file_in_models_dir_refused(tmp_path):
    d = tmp_path / "taef2"
    d.mkdir()
    (d / "taef2_decoder.pth").write_bytes(b"\0" * 100)
    with pytest.raises(ModelUnavailableError, match="damaged"):
        weights.resolve(SPEC, role="decoder", models_dir=tmp_path, download=False)


def test_fingerprint_is_of_decoder_files():
    dec = SPEC.files_for("decoder")
    assert SPEC.fingerprint == hashlib.sha256(bytes.fromhex(dec[0].sha256)).digest()[:8]
    other = dataclasses.replace(SPEC, files=(WeightFile("x", "u", "00" * 32, "decoder"),))
    assert other.fingerprint != SPEC.fingerprint
