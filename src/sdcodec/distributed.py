"""Encode or decode many images with Ray Data (the optional ``ray`` extra).

One model per actor: each actor loads the autoencoder once and then takes batches of
rows. A row that fails carries its one-line error in ``error`` instead of stopping the
dataset. GPU actors are used when ``num_gpus`` is given (and CUDA is present).

    import ray, sdcodec.distributed as sd
    ds = ray.data.read_binary_files("photos/", include_paths=True)
    out = sd.encode_dataset(ds, sdcodec.EncodeOptions(quality=40))
    # rows: path, sdc (bytes), error (str, empty on success)
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .codec import EncodeOptions
from .errors import InputError, SdcodecError


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError("Ray is not installed: pip install 'sdcodec[ray]'") from None
    return ray


class _EncodeActor:
    def __init__(self, options: EncodeOptions) -> None:
        from . import models

        self.options = options
        spec = options.validate()
        models.load(spec, "encoder", options.models_dir, options.device)  # once per actor

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from PIL import Image

        from .codec import encode

        sdc, errors = [], []
        for blob in batch["bytes"]:
            try:
                sdc.append(encode(Image.open(io.BytesIO(blob)), self.options))
                errors.append("")
            except (SdcodecError, OSError, ValueError) as exc:
                sdc.append(b"")
                errors.append(str(exc))
        return {"path": batch["path"], "sdc": sdc, "error": errors}


class _DecodeActor:
    def __init__(self, models_dir: str | None, device: str | None) -> None:
        self.models_dir, self.device = models_dir, device

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from .codec import decode

        png, errors = [], []
        for blob in batch["bytes"]:
            try:
                buf = io.BytesIO()
                decode(bytes(blob), models_dir=self.models_dir, device=self.device).save(buf, "PNG")
                png.append(buf.getvalue())
                errors.append("")
            except SdcodecError as exc:
                png.append(b"")
                errors.append(str(exc))
        return {"path": batch["path"], "png": png, "error": errors}


def _with_models_dir(options: EncodeOptions) -> EncodeOptions:
    # actors may run elsewhere: pass the weights folder explicitly, not through the env
    if options.models_dir is None and os.environ.get("SDCODEC_MODELS"):
        return replace(options, models_dir=os.environ["SDCODEC_MODELS"])
    return options


def encode_dataset(
    ds, options: EncodeOptions | None = None, concurrency: int = 2, num_gpus: float = 0
):
    """rows with ``bytes`` and ``path`` → rows with ``path``, ``sdc``, ``error``."""
    _require_ray()
    opts = _with_models_dir(options or EncodeOptions())
    # half a CPU per actor leaves room for Ray's read tasks on a small machine
    return ds.map_batches(_EncodeActor, fn_constructor_args=(opts,), batch_size=1,
                          concurrency=concurrency, num_cpus=0.5, num_gpus=num_gpus)  # fmt: skip


def decode_dataset(ds, models_dir: str | None = None, concurrency: int = 2, num_gpus: float = 0):
    """rows with ``bytes`` (.sdc) and ``path`` → rows with ``path``, ``png``, ``error``."""
    _require_ray()
    models_dir = models_dir or os.environ.get("SDCODEC_MODELS")
    return ds.map_batches(_DecodeActor, fn_constructor_args=(models_dir, None), batch_size=1,
                          concurrency=concurrency, num_cpus=0.5, num_gpus=num_gpus)  # fmt: skip


def encode_folder(
    folder: str, outdir: str, options: EncodeOptions | None = None, concurrency: int = 2
) -> tuple[int, list[str]]:
    """Encode every image of a folder into outdir with Ray; returns (files written, errors)."""
    ray = _require_ray()
    from .atomic import write_atomic
    from .imageio import IMAGE_EXTENSIONS

    if not ray.is_initialized():
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    files = [str(p) for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise InputError(f"{folder}: no images")
    ds = ray.data.read_binary_files(files, include_paths=True)
    written, errors = 0, []
    Path(outdir).mkdir(parents=True, exist_ok=True)
    for row in encode_dataset(ds, options, concurrency).iter_rows():
        name = Path(row["path"]).stem + ".sdc"
        if row["error"]:
            errors.append(f"{row['path']}: {row['error']}")
            continue
        data = bytes(row["sdc"])
        write_atomic(Path(outdir) / name, lambda tmp, data=data: tmp.write_bytes(data))
        written += 1
    return written, errors
