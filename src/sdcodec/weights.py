"""Where weights come from.

Resolution order for each file of a model spec:
1. ``models_dir`` (the CLI's ``--models``) or else the ``SDCODEC_MODELS`` env var,
   laid out as ``<dir>/<model name>/<file name>``;
2. the per-user cache (``platformdirs.user_cache_dir("sdcodec")/models``, or
   ``SDCODEC_CACHE``), same layout;
3. a download from the spec's pinned URL into the cache, unless ``SDCODEC_OFFLINE=1``.
Every file is checked against the pinned sha256 before it is used; a file that does
not match is refused, never loaded. If nothing works, one ModelUnavailableError names
the missing files and where to put them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from .errors import ModelUnavailableError, first_line
from .models.registry import ModelSpec, WeightFile

_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


def _downloads_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get("SDCODEC_OFFLINE", "") not in ("1", "true", "yes")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("SDCODEC_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sdcodec")) / "models"


def search_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    explicit = models_dir if models_dir is not None else os.environ.get("SDCODEC_MODELS")
    if explicit:
        dirs.append(Path(explicit))
    dirs.append(cache_dir())
    return dirs


_HASHED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → sha256, per process


def _verified(path: Path, wf: WeightFile) -> Path:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _HASHED.get(key) or sha256_file(path)
    _HASHED[key] = digest
    if digest != wf.sha256:
        raise ModelUnavailableError(
            f"{path}: sha256 {digest[:16]}… does not match the pinned {wf.sha256[:16]}…; "
            "the file is damaged or not the pinned version (delete or replace it)"
        )
    return path


def _download(wf: WeightFile, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{wf.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(wf.url, timeout=_DOWNLOAD_TIMEOUT_S) as resp,
        ):
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != wf.sha256:
            raise ModelUnavailableError(
                f"download of {wf.url} has sha256 {h.hexdigest()[:16]}…, "
                f"expected {wf.sha256[:16]}…; refusing it"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def resolve(
    spec: ModelSpec,
    role: str | None = None,
    models_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> dict[str, Path]:
    """Paths of the spec's weight files (of one role, or all), verified by sha256."""
    download = _downloads_allowed(download)
    wanted = spec.files if role is None else spec.files_for(role)
    dirs = search_dirs(models_dir)
    found: dict[str, Path] = {}
    missing: list[WeightFile] = []
    for wf in wanted:
        for d in dirs:
            candidate = d / spec.name / wf.name
            if candidate.is_file():
                found[wf.name] = _verified(candidate, wf)
                break
        else:
            missing.append(wf)
    reasons = []
    for wf in missing:
        if not download:
            reasons.append("downloads are off (SDCODEC_OFFLINE)")
            continue
        dest = cache_dir() / spec.name / wf.name
        try:
            _download(wf, dest)
        except ModelUnavailableError:
            raise
        except (OSError, ValueError) as exc:  # URLError is an OSError
            reasons.append(f"download of {wf.name} failed: {exc}")
            continue
        found[wf.name] = dest
    if len(found) != len(wanted):
        names = ", ".join(wf.name for wf in wanted if wf.name not in found)
        where = " or ".join(str(d / spec.name) for d in dirs)
        why = f" ({reasons[0]})" if reasons else ""
        raise ModelUnavailableError(
            f"weights for model '{spec.name}' missing: {names}; put them in {where}, "
            f"or set SDCODEC_MODELS / --models to a folder holding {spec.name}/{why}"
        )
    return found


def presence(spec: ModelSpec, models_dir: str | os.PathLike | None = None) -> dict[str, str | None]:
    """For `sdcodec models`: where each file is, without hashing or downloading."""
    out: dict[str, str | None] = {}
    if spec.hub is not None:
        rels = dict.fromkeys(
            rel for role in ("decoder", "denoiser", "text") for rel in spec.hub.files_for(role, spec.unet)
        )
        for rel in rels:
            out[rel] = next(
                (str(d / rel) for d in _hub_dirs(spec, models_dir) if (d / rel).is_file()), None
            )
        return out
    for wf in spec.files:
        out[wf.name] = None
        for d in search_dirs(models_dir):
            if (d / spec.name / wf.name).is_file():
                out[wf.name] = str(d / spec.name / wf.name)
                break
    return out


# ---------------------------------------------------------------- hub models


def _hub_dirs(spec: ModelSpec, models_dir: str | os.PathLike | None) -> list[Path]:
    """Hub layout: <dir>/<owner>/<repo>/ in --models / SDCODEC_MODELS, then the cache."""
    hub = spec.hub
    explicit = models_dir if models_dir is not None else os.environ.get("SDCODEC_MODELS")
    dirs = [Path(explicit) / hub.repo] if explicit else []
    return dirs + [cache_dir() / "hub" / f"{hub.repo}@{hub.revision}"]


def check_lfs_sha256(root: Path, expected: dict[str, str]) -> None:
    """Refuse downloaded files whose sha256 differs from the pinned commit's LFS record."""
    for rel, digest in expected.items():
        got = sha256_file(root / rel)
        if got != digest:
            (root / rel).unlink(missing_ok=True)
            raise ModelUnavailableError(
                f"{root / rel}: sha256 {got[:16]}… does not match the pinned commit's "
                f"{digest[:16]}…; refusing it"
            )


def _hub_download(spec: ModelSpec, files: tuple[str, ...], dest: Path) -> None:
    try:
        from huggingface_hub import HfApi, hf_hub_download
    except ImportError:
        raise OSError("huggingface_hub is not installed (pip install 'sdcodec[sd]')") from None
    hub = spec.hub
    info = HfApi().model_info(hub.repo, revision=hub.revision, files_metadata=True)
    lfs = {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs is not None}
    for rel in files:
        hf_hub_download(hub.repo, rel, revision=hub.revision, local_dir=dest)
    check_lfs_sha256(dest, {rel: lfs[rel] for rel in files if rel in lfs})


def resolve_hub(
    spec: ModelSpec,
    role: str,
    models_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Path:
    """The folder (hub layout) holding every file ``role`` needs of a diffusers model."""
    download = _downloads_allowed(download)
    files = spec.hub.files_for(role, spec.unet)
    dirs = _hub_dirs(spec, models_dir)
    for d in dirs:
        if all((d / rel).is_file() for rel in files):
            return d
    reason = "downloads are off (SDCODEC_OFFLINE)"
    if download:
        try:
            _hub_download(spec, files, dirs[-1])
            return dirs[-1]
        except ModelUnavailableError:
            raise
        except Exception as exc:  # no network, gated repo, missing package: one line
            reason = (
                f"download of {spec.hub.repo}@{spec.hub.revision[:7]} failed: {first_line(exc)}"
            )
    missing = [rel for rel in files if not (dirs[0] / rel).is_file()]
    raise ModelUnavailableError(
        f"weights for model '{spec.name}' missing: {', '.join(missing)} under {dirs[0]}; "
        f"set SDCODEC_MODELS / --models to a folder holding {spec.hub.repo}/ in the hub's "
        f"layout ({reason})"
    )
