"""Run a benchmark: every (image, codec) task in a worker process, cached on disk.

A task searches its codec's knob for each target rate (or, for a codec with its own rate
control such as sdcodec with refinement, asks it for its best file under the target
size), encodes and decodes at the chosen setting (timed), measures the metrics against
the original and saves a crop of the result for the report. Finished tasks are stored as JSON under OUTDIR/cells/, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import metrics
from .codecs import Codec, to_rgb_array

RATE_TOLERANCE = 0.10  # a result within ±10% of the target size counts as on target
DOWNSCALES = (2, 4)
CACHE_VERSION = 1


@dataclass(frozen=True)
class Task:
    image: str
    codec: Codec
    targets: tuple[float, ...]  # bpp; for the article protocol, target sizes in bytes
    protocol: str  # "matched" or "article"
    crop_box: tuple[int, int, int, int]
    outdir: str
    matched_to: tuple[str, ...] = ()  # article protocol: the sdc cell each target came from

    def key(self) -> str:
        h = hashlib.sha256()
        h.update(Path(self.image).read_bytes())
        desc = [CACHE_VERSION, self.codec.name, self.codec.description, repr(self.codec.knob_range),
                self.targets, self.protocol, self.crop_box, self.matched_to,
                sorted(self.codec.versions().items())]  # fmt: skip
        h.update(json.dumps(desc, default=str).encode())
        return f"{Path(self.image).stem}-{self.codec.name}-{self.protocol}-{h.hexdigest()[:16]}"


def detail_crop(rgb: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """The size×size window with the most gradient energy (where artefacts show)."""
    h, w = rgb.shape[:2]
    size = min(size, h, w)
    g = rgb.astype(np.float32).mean(2)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    best, box = -1.0, (0, 0, size, size)
    step = max(size // 4, 1)
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    for y in range(0, max(h - size, 0) + 1, step):
        for x in range(0, max(w - size, 0) + 1, step):
            y1, x1 = min(y + size - 1, energy.shape[0]), min(x + size - 1, energy.shape[1])
            e = integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x]
            if e > best:
                best, box = e, (x, y, x + size, y + size)
    return box


class _Search:
    """Sizes per knob for one image and codec, computed at most once each."""

    def __init__(self, codec: Codec, im: Image.Image) -> None:
        self.codec, self.im, self.sizes, self.data = codec, im, {}, {}

    def size(self, knob: int | None) -> int:
        if knob not in self.sizes:
            self.data[knob] = self.codec.encode(self.im, knob)
            self.sizes[knob] = len(self.data[knob])
        return self.sizes[knob]

    def smallest_at_least(self, target_bytes: float) -> int:
        lo, hi = self.codec.knob_range
        if self.size(hi) < target_bytes:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if self.size(mid) >= target_bytes:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def closest(self, target_bytes: float) -> int:
        k = self.smallest_at_least(target_bytes)
        lo = self.codec.knob_range[0]
        if k > lo and abs(self.size(k - 1) - target_bytes) < abs(self.size(k) - target_bytes):
            return k - 1
        return k


def _flag(nbytes: int, target_bytes: float, fixed: bool) -> str:
    if fixed:
        return "fixed"
    if nbytes > target_bytes * (1 + RATE_TOLERANCE):
        return "floor"  # the codec cannot go this low
    if nbytes < target_bytes * (1 - RATE_TOLERANCE):
        return "ceiling"
    return "ok"


def _timed(encode: Callable[[], bytes | None]) -> tuple[bytes | None, float]:
    t0 = time.perf_counter()
    data = encode()
    return data, time.perf_counter() - t0


def _encoded(codec: Codec, src: Image.Image, knob) -> tuple[bytes, float]:
    if hasattr(codec, "_analysis"):
        codec._analysis.clear()  # time the whole encode, autoencoder included
    return _timed(lambda: codec.encode(src, knob))


def _own_fit(codec: Codec, src: Image.Image, target_bytes: float):
    """(knob, flag, data, seconds) from the codec's own rate control, None if it has none."""
    try:
        data, seconds = _timed(lambda: codec.fit(src, int(target_bytes)))
    except NotImplementedError:
        return None
    if data is None:  # below the codec's floor: its lowest setting, flagged
        knob = codec.knob_range[0]
        return (knob, "floor", *_encoded(codec, src, knob))
    return None, _flag(len(data), target_bytes, False), data, seconds


def _measure(
    task: Task, codec: Codec, data: bytes, encode_s: float, knob, ref: np.ndarray, label: str
) -> dict[str, Any]:
    t1 = time.perf_counter()
    out = codec.decode(data)
    t2 = time.perf_counter()
    if out.size != (ref.shape[1], ref.shape[0]):
        out = out.resize((ref.shape[1], ref.shape[0]), Image.LANCZOS)
    dist = to_rgb_array(out)
    crop_dir = Path(task.outdir) / "crops" / Path(task.image).stem
    crop_dir.mkdir(parents=True, exist_ok=True)
    crop_path = crop_dir / f"{label}.webp"
    Image.fromarray(dist).crop(task.crop_box).save(crop_path, "WEBP", lossless=True)
    return {
        "knob": knob,
        "bytes": len(data),
        "bpp": 8 * len(data) / (ref.shape[0] * ref.shape[1]),
        "encode_s": encode_s,
        "decode_s": t2 - t1,
        "crop": str(crop_path.relative_to(task.outdir)),
        **metrics.compute(ref, dist),
    }


def run_task(task: Task) -> list[dict[str, Any]]:
    codec = task.codec
    im = Image.open(task.image).convert("RGB")
    ref = to_rgb_array(im)
    pixels = ref.shape[0] * ref.shape[1]
    rows = []
    for i, target in enumerate(task.targets):
        fixed = codec.knob_range is None
        if task.protocol == "article":
            target_bytes = target
            search = _Search(codec, im)
            knob = search.smallest_at_least(target_bytes)
            flag = "ok" if search.size(knob) >= target_bytes else "ceiling"
            label = f"{codec.name}@{task.matched_to[i]}"
            row = _measure(task, codec, *_encoded(codec, im, knob), knob, ref, label)
            rows.append({"image": Path(task.image).name, "codec": codec.name, "protocol": "article",
                         "scale": 1, "target_bpp": 8 * target / pixels, "flag": flag,
                         "matched_to": task.matched_to[i], **row})  # fmt: skip
            continue
        target_bytes = target * pixels / 8
        for scale in (1, *DOWNSCALES):
            src = (
                im
                if scale == 1
                else im.resize(
                    (max(im.width // scale, 1), max(im.height // scale, 1)), Image.LANCZOS
                )
            )
            own = None if fixed else _own_fit(codec, src, target_bytes)
            if own is not None:
                knob, flag, data, encode_s = own
            else:
                search = _Search(codec, src)
                knob = None if fixed else search.closest(target_bytes)
                flag = _flag(search.size(knob), target_bytes, fixed)
                data, encode_s = _encoded(codec, src, knob)
            name = codec.name if scale == 1 else f"{codec.name}÷{scale}"
            label = f"{name}@{target:g}"
            row = _measure(task, codec, data, encode_s, knob, ref, label)
            rows.append({"image": Path(task.image).name, "codec": name, "protocol": "matched",
                         "scale": scale, "target_bpp": target, "flag": flag, "matched_to": "", **row})  # fmt: skip
            if flag != "floor" or fixed:
                break  # downscaled runs only below the codec's lowest reachable rate
        if fixed:
            break  # a fixed setting has one result whatever the target
    return rows


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # two workers on two cores; more threads would only contend


def run_tasks(
    tasks: list[Task], jobs: int, progress: Callable[[Iterable, int], Iterable] | None = None
) -> list[dict[str, Any]]:
    """Run (or load from the cache) every task; returns all rows."""
    rows: list[dict[str, Any]] = []
    todo = []
    for t in tasks:
        path = Path(t.outdir) / "cells" / f"{t.key()}.json"
        if path.is_file():
            rows.extend(json.loads(path.read_text()))
        else:
            todo.append((t, path))
    if not todo:
        return rows

    def save(path: Path, result: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)
        rows.extend(result)

    wrap = progress or (lambda it, total: it)
    if jobs <= 1:
        for t, path in wrap(todo, len(todo)):
            save(path, run_task(t))
        return rows
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
        futures = {pool.submit(run_task, t): path for t, path in todo}
        for fut in wrap(as_completed(futures), len(futures)):
            save(futures[fut], fut.result())
    return rows
