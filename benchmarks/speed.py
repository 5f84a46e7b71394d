"""Seconds and peak memory per image: sdcodec (fp32, bf16, compiled) beside JPEG, WebP,
AVIF and JPEG XL, and the CLI's throughput on a folder.

    python benchmarks/speed.py ../shared/data/kodak --images 6 > speed.md

Each configuration runs in its own process (peak RSS is that process's), on the same
images; times are medians over the images after one warm-up image. The FLOP floor of
the TAEF2 decoder at 768×512 is 214 GFLOP: 1.3 s at this CPU's fp32 peak, 0.65 s bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR_S = {"fp32": 1.3, "bf16": 0.65}


def _sdc_worker(files: list[str], precision: str, compile_: bool, restore: bool = True) -> dict:
    os.environ["SDCODEC_PRECISION"] = precision
    os.environ["SDCODEC_COMPILE"] = "1" if compile_ else "0"
    import numpy as np
    import torch  # noqa: F401  (import time is not model-load time)
    from PIL import Image

    import sdcodec
    from sdcodec import codec, models

    spec = models.by_name("taef2")
    t0 = time.perf_counter()
    models.load(spec, "encoder")
    models.load(spec, "decoder")
    from sdcodec import learned
    from sdcodec.models.registry import DEFAULT_CODEC, codec_by_name

    if codec_by_name(DEFAULT_CODEC) is not None:
        learned.load(codec_by_name(DEFAULT_CODEC))
    load_s = time.perf_counter() - t0
    enc, dec, first, psnr = [], [], {}, []
    for i, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        t = time.perf_counter()
        data = sdcodec.encode(im, sdcodec.EncodeOptions(restore=None if restore else False))
        te = time.perf_counter() - t
        t = time.perf_counter()
        out = sdcodec.decode(data)
        td = time.perf_counter() - t
        err = np.asarray(out, np.float64) - np.asarray(im, np.float64)
        psnr.append(10 * np.log10(255**2 / np.mean(err**2)))
        if i == 0:
            first = {"encode_s": te, "decode_s": td}
            if len(files) > 1:
                continue
        enc.append(te)
        dec.append(td)
    del codec
    return {"load_s": load_s, "encode_s": float(np.median(enc)), "decode_s": float(np.median(dec)),
            "first_encode_s": first["encode_s"], "first_decode_s": first["decode_s"],
            "psnr": float(np.mean(psnr))}  # fmt: skip


def _classic_worker(files: list[str], name: str) -> dict:
    import numpy as np
    from PIL import Image

    from sdcodec.bench.codecs import standard_codecs

    c = standard_codecs()[name]
    knob = {"jpeg": 30, "webp": 30, "avif": 30, "jxl": 30}[name]
    enc, dec = [], []
    for f in files:
        im = Image.open(f).convert("RGB")
        t = time.perf_counter()
        data = c.encode(im, knob)
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        c.decode(data)
        dec.append(time.perf_counter() - t)
    return {"encode_s": float(np.median(enc[1:] or enc)), "decode_s": float(np.median(dec[1:] or dec))}


def _child(kind: str, args: list[str], files: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, *args, "--", *files]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli_throughput(files: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in"
        src.mkdir()
        for f in files:
            os.symlink(os.path.abspath(f), src / Path(f).name)
        t = time.perf_counter()
        subprocess.run(["sdcodec", "encode", str(src), "-o", f"{d}/sdc"], check=True,
                       capture_output=True)  # fmt: skip
        te = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(["sdcodec", "decode", f"{d}/sdc", "-o", f"{d}/png"], check=True,
                       capture_output=True)  # fmt: skip
        td = time.perf_counter() - t
    return {"encode_img_s": len(files) / te, "decode_img_s": len(files) / td}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        kind, rest = argv[1], argv[2:]
        sep = rest.index("--")
        opts, files = rest[:sep], rest[sep + 1 :]
        if kind == "sdc":
            res = _sdc_worker(files, opts[0], opts[1] == "1", opts[2] == "1")
        else:
            res = _classic_worker(files, kind)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--images", type=int, default=6)
    a = p.parse_args(argv)
    files = sorted(str(f) for f in a.folder.glob("*.png"))[: a.images]
    rows = []
    # the default encode checks the learned restorer (two decoder runs); --no-restore does not
    for label, prec, comp, rest in (("sdcodec fp32", "fp32", "0", "1"), ("sdcodec bf16", "bf16", "0", "1"),
                                    ("sdcodec bf16 --no-restore", "bf16", "0", "0"),
                                    ("sdcodec bf16 + torch.compile", "bf16", "1", "1")):  # fmt: skip
        r = _child("sdc", [prec, comp, rest], files)
        r["ratio"] = r["decode_s"] / FLOOR_S[prec]
        rows.append((label, r))
    for name in ("jpeg", "webp", "avif", "jxl"):
        try:
            rows.append((name, _child(name, [], files)))
        except subprocess.CalledProcessError as exc:
            rows.append((name, {"error": exc.stderr.strip().splitlines()[-1]}))
    print(f"{len(files)} Kodak images (768×512), medians after one warm-up image\n")
    print("| codec | encode s | decode s | decode / FLOP floor | model load s | "
          "first image enc/dec s | peak RSS MB | PSNR (default quality) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        if "error" in r:
            print(f"| {label} | {r['error']} |||||| ")
            continue
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else ""
        load = f"{r['load_s']:.2f}" if "load_s" in r else ""
        first = f"{r['first_encode_s']:.2f} / {r['first_decode_s']:.2f}" if "first_encode_s" in r else ""
        psnr = f"{r['psnr']:.3f} dB" if "psnr" in r else ""
        print(f"| {label} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | {ratio} | {load} | "
              f"{first} | {r['peak_rss_mb']:.0f} | {psnr} |")  # fmt: skip
    cli = _cli_throughput(files)
    print(f"\nCLI on the folder (model loaded once, process start included): "
          f"encode {cli['encode_img_s']:.2f} images/s, decode {cli['decode_img_s']:.2f} images/s")
    print("\n```json\n" + json.dumps({"rows": dict(rows), "cli": cli}, indent=1) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
