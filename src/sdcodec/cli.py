"""The `sdcodec` command: encode, decode, info, models.

``main(argv) -> int``: 0 on success, 1 when any file failed (each failure is one
line on stderr), 2 for usage errors. Outputs are written to a temporary file beside
the target and renamed into place, so a failure never leaves a partial file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__, bitstream, entropy, models, weights
from .atomic import write_atomic
from .bitstream import DEFAULT_MAX_PIXELS
from .codec import (
    AUTO_REFINE_PIXELS,
    AUTO_REFINE_STEPS,
    MAX_FILE_BYTES,
    EncodeOptions,
    decode,
    encode,
    info,
    read_file,
)
from .errors import InputError, SdcodecError
from .imageio import IMAGE_EXTENSIONS
from .learned.refine import DEFAULT_STEPS as REFINE_STEPS
from .quant import MODES

PROG = "sdcodec"
PROGRESS_MIN_FILES = 3
STDIO = "-"  # as IN: standard input; as -o: standard output
MAX_STDIN_BYTES = MAX_FILE_BYTES  # a bigger stream is refused before it is all in memory


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


def _about(src: object, exc: Exception) -> str:
    """Prefix the file name unless the message already starts with it."""
    msg = str(exc)
    return msg if msg.startswith(str(src)) else f"{src}: {msg}"


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise InputError(f"standard input: more than {MAX_STDIN_BYTES} bytes")
    if not data:
        raise InputError("standard input: empty")
    return data


def _write_stdout(data: bytes) -> None:
    if sys.stdout.isatty():
        raise InputError("will not write binary data to a terminal: redirect it or give -o FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _stdio(args: argparse.Namespace, work: Callable[[bytes], bytes]) -> int:
    """One input (a file, or standard input as IN "-") to one output (a file, or standard
    output as -o "-" or where the input is standard input and no -o is given)."""
    if len(args.inputs) != 1:
        raise InputError(f"'{STDIO}' takes one input")
    src = args.inputs[0]
    out = args.output or STDIO
    data = work(_read_stdin() if src == STDIO else read_file(src))
    if out == STDIO:
        _write_stdout(data)
    else:
        write_atomic(Path(out), lambda tmp: tmp.write_bytes(data))
    return 0


def _expand(inputs: list[str], extensions: set[str]) -> tuple[list[str], bool]:
    """Files from files and folders (a folder gives its files with these extensions).

    Returns the files and whether a folder was among the inputs.
    """
    files, had_dir = [], False
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            had_dir = True
            files.extend(
                str(q)
                for q in sorted(p.iterdir())
                if q.is_file() and q.suffix.lower() in extensions
            )
        else:
            files.append(name)
    return files, had_dir


def _outputs(inputs: list[str], out: str | None, suffix: str, many: bool = False) -> list[Path]:
    """Output path for each input: -o FILE for one input, -o DIR for many, else beside it."""
    paths = [Path(p) for p in inputs]
    if out is None:
        return [p.with_name(p.stem + suffix) for p in paths]
    o = Path(out)
    if len(paths) == 1 and not many and not o.is_dir():
        return [o]
    if o.exists() and not o.is_dir():
        raise InputError(f"-o {out}: must be a folder when several inputs are given")
    return [o / (p.stem + suffix) for p in paths]


def _progress(items: list, desc: str):
    if len(items) < PROGRESS_MIN_FILES:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img", file=sys.stderr)


def _run_each(
    pairs,
    desc: str,
    work: Callable[[Path, Path], None],
    resume: Callable[[Path], bool] | None = None,
) -> int:
    """Run work on each (src, dst); a failure is reported and skipped, the rest go on."""
    failures = skipped = done = bytes_in = bytes_out = 0
    start = time.perf_counter()
    for src, dst in _progress(pairs, desc):
        if resume is not None and dst.exists() and resume(dst):
            skipped += 1
            continue
        try:
            work(Path(src), dst)
            done += 1
            bytes_in += Path(src).stat().st_size
            bytes_out += dst.stat().st_size
        except SdcodecError as exc:
            failures += 1
            _fail(_about(src, exc))
        except OSError as exc:
            failures += 1
            _fail(f"{exc.filename or src}: {exc.strerror or exc}")
    if len(pairs) > 1:
        secs = time.perf_counter() - start
        rate = done / secs if secs > 0 else 0.0
        print(f"{desc}: {done} done, {skipped} skipped (already valid), {failures} failed; "
              f"{bytes_in} bytes in, {bytes_out} bytes out; {secs:.1f} s, {rate:.2f} images/s", file=sys.stderr)  # fmt: skip
    return 1 if failures else 0


def _valid_sdc(path: Path) -> bool:
    try:
        bitstream.read(path.read_bytes())
        return True
    except (SdcodecError, OSError):
        return False


def _valid_image(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # any reason Pillow cannot read it back means: redo it
        return False


def _save_format(path: Path) -> str:
    from PIL import Image

    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise InputError(f"{path}: cannot write images with extension '{ext or '(none)'}'")
    return fmt


def cmd_encode(args: argparse.Namespace) -> int:
    opts = EncodeOptions(
        model=args.model,
        mode=args.mode,
        palette_size=args.palette_size,
        groups=args.groups,
        dither=args.dither,
        per_channel=args.per_channel,
        step=args.step,
        deadzone=args.deadzone,
        coder=args.coder,
        level=args.level,
        codec=args.codec,
        preset=args.preset,
        resize=args.resize,
        downscale=args.downscale,
        posterior=args.posterior,
        sample_seed=args.sample_seed,
        palette_backend=args.palette_backend,
        denoise_steps=args.denoise_steps,
        denoise_strength=args.denoise_strength,
        restore=False if args.no_restore else None,
        refine=args.refine,
        refine_structure=args.structure,
        quality=args.quality,
        target_bpp=args.target_bpp,
        max_bytes=args.max_bytes,
        seed=args.seed,
        models_dir=args.models,
        device=args.device,
        max_pixels=args.max_pixels,
    )
    opts.validate()
    if args.ray:
        return _encode_with_ray(args, opts)
    if STDIO in (*args.inputs, args.output):
        return _stdio(args, lambda data: encode(data, opts))
    inputs, many = _expand(args.inputs, IMAGE_EXTENSIONS)
    pairs = list(zip(inputs, _outputs(inputs, args.output, ".sdc", many), strict=True))

    def work(src: Path, dst: Path) -> None:
        data = encode(src, opts)
        write_atomic(dst, lambda tmp: tmp.write_bytes(data))
        if args.verbose or opts.target_bpp is not None or opts.max_bytes is not None:
            hdr = info(data)
            factor = hdr["coded"]["factor"]
            scaled = f", coded at 1/{factor} size" if factor > 1 else ""
            print(f"{src} -> {dst}: {len(data)} bytes, {hdr['bpp']:.4f} bpp{scaled}", file=sys.stderr)

    return _run_each(pairs, "encode", work, _valid_sdc if args.resume else None)


def _encode_with_ray(args: argparse.Namespace, opts: EncodeOptions) -> int:
    from .distributed import encode_folder

    if len(args.inputs) != 1 or not Path(args.inputs[0]).is_dir() or not args.output:
        raise InputError("--ray takes one folder and -o OUTDIR")
    written, errors = encode_folder(args.inputs[0], args.output, opts)
    for e in errors:
        _fail(e)
    print(f"encode (ray): {written} done, {len(errors)} failed", file=sys.stderr)
    return 1 if errors else 0


def _save(im, fp, fmt: str) -> None:
    extra = {"icc_profile": im.info["icc_profile"]} if "icc_profile" in im.info else {}
    if fmt == "JPEG" and im.mode in ("RGBA", "LA"):
        im = im.convert(im.mode[:-1])  # JPEG has no alpha
    im.save(fp, format=fmt, **extra)


def cmd_decode(args: argparse.Namespace) -> int:
    if STDIO in (*args.inputs, args.output):
        fmt = "PNG" if args.output in (None, STDIO) else _save_format(Path(args.output))

        def image_bytes(data: bytes) -> bytes:
            im = decode(data, models_dir=args.models, device=args.device, max_pixels=args.max_pixels)
            buf = io.BytesIO()
            _save(im, buf, fmt)
            return buf.getvalue()

        return _stdio(args, image_bytes)
    inputs, many = _expand(args.inputs, {".sdc"})
    outs = _outputs(inputs, args.output, ".decoded.png", many)
    for o in outs:
        _save_format(o)  # refuse an unknown extension before decoding anything

    def work(src: Path, dst: Path) -> None:
        im = decode(
            read_file(src), models_dir=args.models, device=args.device, max_pixels=args.max_pixels
        )
        fmt = _save_format(dst)
        write_atomic(dst, lambda tmp: _save(im, tmp, fmt))

    return _run_each(
        list(zip(inputs, outs, strict=True)), "decode", work, _valid_image if args.resume else None
    )


def cmd_info(args: argparse.Namespace) -> int:
    results, failures = [], 0
    if args.inputs.count(STDIO) > 1:
        raise InputError(f"'{STDIO}' can be read once")
    for src in args.inputs:
        try:
            data = _read_stdin() if src == STDIO else read_file(src)
            results.append({"file": src, **info(data, args.max_pixels)})
        except SdcodecError as exc:
            failures += 1
            _fail(_about(src, exc))
    if results:
        print(json.dumps(results[0] if len(args.inputs) == 1 else results, indent=2))
    return 1 if failures else 0


def cmd_models(args: argparse.Namespace) -> int:
    rows = []
    for spec in models.REGISTRY:
        present = weights.presence(spec, args.models)
        rows.append(
            {
                "kind": "autoencoder",
                "name": spec.name,
                "id": spec.id,
                "latent_channels": spec.latent_channels,
                "downsample": spec.downsample,
                "fingerprint": spec.fingerprint.hex(),
                "license": spec.license,
                "description": spec.description,
                "files": [
                    {
                        "name": wf.name,
                        "role": wf.role,
                        "sha256": wf.sha256,
                        "url": wf.url,
                        "path": present[wf.name],
                    }
                    for wf in spec.files
                ] + [{"name": rel, "path": present[rel]} for rel in present if spec.hub],
                "hub": {"repo": spec.hub.repo, "revision": spec.hub.revision} if spec.hub else None,
                "unet": spec.unet,
                "download_mb": spec.download_mb,
                "available": all(present.values()),
            }
        )
    from .learned import WEIGHTS_DIR

    learned = [("learned codec", c) for c in models.registry.CODECS]
    learned += [("restorer", r) for r in models.registry.RESTORERS]
    extra = [
        {
            "kind": kind, "name": x.name, "id": x.id, "autoencoder": x.autoencoder,
            "sha256": x.sha256, "default": x.name == models.registry.DEFAULT_CODEC,
            "available": all((WEIGHTS_DIR / f).is_file() for f in (x.file, getattr(x, "analysis", "")) if f),
            "description": x.description,
            **({"analysis": x.analysis, "analysis_sha256": x.analysis_sha256}
               if getattr(x, "analysis", "") else {}),
        }
        for kind, x in learned
    ]  # fmt: skip
    if args.json:
        print(json.dumps(rows + extra, indent=2))
    else:
        for r in rows:
            state = "weights present" if r["available"] else "weights missing"
            print(f"{r['name']:<8} id={r['id']:<3} {r['latent_channels']}ch /{r['downsample']}  "
                  f"{state}  {r['description']}")  # fmt: skip
        for r in extra:
            default = " (default)" if r["default"] else ""
            print(f"{r['name']:<8} {r['kind']} id={r['id']} for {r['autoencoder']}{default}  "
                  f"{r['description']}")  # fmt: skip
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        from .bench import BenchConfig, run
    except ImportError as exc:
        raise InputError(
            f"sdcodec bench needs the bench extra: pip install 'sdcodec[bench]' ({exc})"
        ) from None
    try:
        rates = tuple(float(r) for r in args.rates.split(",") if r)
    except ValueError:
        raise InputError(f"--rates {args.rates!r}: expected numbers separated by commas") from None
    if not rates or any(r <= 0 for r in rates):
        raise InputError("--rates must be positive numbers")
    cfg = BenchConfig(
        images=args.images,
        outdir=args.output,
        rates=rates,
        codecs=tuple(c for c in args.codecs.split(",") if c),
        sdc_configs=tuple(args.sdc_config)
        if args.sdc_config
        else BenchConfig.__dataclass_fields__["sdc_configs"].default,
        jobs=args.jobs,
        crop=args.crop,
        article=not args.no_article,
    )
    try:
        result = run(cfg)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    print(result["summary"])
    print(f"report: {result['html']}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Image compression through diffusion-autoencoder latents.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--resume", action="store_true", help="skip inputs whose output exists and reads back"
        )
        sp.add_argument(
            "--models",
            metavar="DIR",
            help="weights folder (default: $SDCODEC_MODELS, then the cache)",
        )
        sp.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
        sp.add_argument("--precision", choices=models.PRECISIONS,
                        help="autoencoder arithmetic (default auto: fp16 on CUDA, bf16 on CPUs "
                        "with native bf16, else fp32; $SDCODEC_PRECISION)")  # fmt: skip
        sp.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse images larger than N pixels (default {DEFAULT_MAX_PIXELS})")  # fmt: skip

    dflt = EncodeOptions()  # the CLI's defaults are the API's, never a second copy
    e = sub.add_parser("encode", help="compress images into .sdc files")
    e.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
    e.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file, or folder for several inputs (default: IN with .sdc)",
    )
    e.add_argument("--model", default=dflt.model, choices=models.names())
    e.add_argument(
        "--mode",
        default=dflt.mode,
        choices=list(MODES),
        help=f"quantizer (default: {dflt.mode}, the trained latent codec)",
    )
    e.add_argument(
        "-k",
        "--palette-size",
        type=int,
        default=dflt.palette_size,
        metavar="K",
        help=f"palette entries, 2..256 (default {dflt.palette_size})",
    )
    e.add_argument(
        "-g",
        "--groups",
        type=int,
        default=dflt.groups,
        metavar="G",
        help=f"channel groups with a palette each (default {dflt.groups})",
    )
    e.add_argument(
        "--dither",
        action=argparse.BooleanOptionalAction,
        default=dflt.dither,
        help="Floyd–Steinberg dithering onto the palette",
    )
    e.add_argument(
        "--per-channel", action="store_true", help="affine map per channel instead of global"
    )
    e.add_argument(
        "--step",
        type=float,
        default=dflt.step,
        help=f"scalar mode: quantization step in latent units (default {dflt.step})",
    )
    e.add_argument(
        "--deadzone",
        type=float,
        default=dflt.deadzone,
        help="scalar mode: widen the zero bin, 0..0.5 (default 0)",
    )
    e.add_argument(
        "-q",
        "--quality",
        type=int,
        metavar="Q",
        help="0..100: the learned codecs' rate (lc6, then lc7 from 41, a lower lc7 level when refining, "
        "scalar steps above 90; --codec: that codec's levels only); with a hand-made --mode, "
        "one ladder of palette sizes up to 60 and scalar steps above (overrides --mode/-k/--step)",
    )
    e.add_argument(
        "--target-bpp",
        type=float,
        metavar="X",
        help="highest quality whose file is at most X bits per pixel",
    )
    e.add_argument(
        "--max-bytes", type=int, metavar="N", help="highest quality whose file is at most N bytes"
    )
    e.add_argument("--coder", default=dflt.coder, choices=sorted(entropy.NAMES),
                   help=f"entropy coder (default {dflt.coder})")  # fmt: skip
    e.add_argument(
        "--seed", type=int, default=dflt.seed, help=f"k-means seed (default {dflt.seed})"
    )
    e.add_argument("--level", type=float, metavar="L",
                   help="learned mode: rate level 0..7, fractional allowed (-q sets it too)")
    e.add_argument("--codec", metavar="NAME",
                   help="learned mode: which learned codec (`sdcodec models` lists them; "
                   "default: lc6, or what -q/--target-bpp/--max-bytes choose)")
    e.add_argument("--preset", choices=["buhlmann"],
                   help="buhlmann: the article's recipe exactly (SD 1.4, docs/MODELS.md)")
    e.add_argument("--resize", type=int, metavar="N",
                   help="resize to N×N (Lanczos) first; the article used 512")
    e.add_argument("--downscale", type=int, metavar="K",
                   help="code the image at 1/K of its width and height (1..16), scaled back "
                   "up at decode; default: rate control's choice (below 0.06 bpp it tries "
                   "K = 2, and goes to 2 or 4 where the budget is under the full size's "
                   "smallest file)")
    e.add_argument("--posterior", choices=["mean", "sample"], default=dflt.posterior,
                   help="diffusers VAEs: code the posterior mean or a seeded sample")
    e.add_argument("--sample-seed", type=int, default=dflt.sample_seed, metavar="S",
                   help="seed of the posterior sample (stored in the file)")
    e.add_argument("--palette-backend", choices=["kmeans", "libimagequant"],
                   default=dflt.palette_backend, help="palette quantizer (libimagequant: GPL extra)")
    e.add_argument("--denoise-steps", type=int, default=dflt.denoise_steps, metavar="N",
                   help="U-Net models: img2img inference steps at decode (the article: 66)")
    e.add_argument("--denoise-strength", type=float, default=dflt.denoise_strength,
                   metavar="X", help="U-Net models: img2img strength at decode (the article: 0.04)")  # fmt: skip
    e.add_argument("--no-restore", action="store_true",
                   help="do not ask the decoder for the learned restorer (palette mode, lc1), "
                   "nor write lc1 where it decodes lc6's bytes closer")
    e.add_argument("--refine", type=int, nargs="?", const=REFINE_STEPS, default=None, metavar="STEPS",
                   help="learned mode: refine the symbols for this image with STEPS gradient "
                   f"steps ({REFINE_STEPS} without a number): sharper at the same size, "
                   "≈1 s per step at 768×512 on 2 CPU cores; the decoder is unchanged. "
                   f"Default {AUTO_REFINE_STEPS} steps up to {AUTO_REFINE_PIXELS / 1e6:.1f} MP, "
                   "none above; 0: none (fastest)")  # fmt: skip
    e.add_argument("--structure", type=float, default=dflt.refine_structure, metavar="W",
                   help="when refining: weight of the structural (multi-scale SSIM) term in the "
                   f"error refinement lowers (default {dflt.refine_structure:g}; 0: squared "
                   "error alone, the best PSNR)")  # fmt: skip
    e.add_argument("-v", "--verbose", action="store_true", help="print each file's size")
    e.add_argument(
        "--ray", action="store_true", help="encode a folder over a Ray Dataset (the ray extra)"
    )
    common(e)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decode .sdc files to images")
    d.add_argument("inputs", nargs="+", metavar="IN", help=".sdc files or folders")
    d.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output image (format from its extension), or folder (default: IN.decoded.png)",
    )
    common(d)
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="print a file's header as JSON")
    i.add_argument("inputs", nargs="+", metavar="FILE")
    i.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N")
    i.set_defaults(func=cmd_info)

    b = sub.add_parser("bench", help="compare with JPEG, WebP, AVIF and JPEG XL at matched sizes")
    b.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    b.add_argument("--rates", default="0.05,0.1,0.15,0.25,0.5", help="target bpp list")
    b.add_argument("--codecs", default="sdc,jpeg,webp,avif,jxl", help="comma-separated codecs")
    b.add_argument("--sdc-config", action="append", metavar="NAME=OPTIONS",
                   help="an sdcodec configuration, e.g. k64=palette_size=64,dither=true (repeatable; "
                        "without palette_size the palette size is searched to hit each rate)")  # fmt: skip
    b.add_argument("-o", "--output", default="bench-out", metavar="OUTDIR")
    b.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default 2)")
    b.add_argument(
        "--crop", type=int, default=192, help="side of the crops in the report (default 192)"
    )
    b.add_argument(
        "--no-article", action="store_true", help="skip the article's JPEG/WebP protocol"
    )
    b.set_defaults(func=cmd_bench)

    m = sub.add_parser("models", help="list models and whether their weights are present")
    m.add_argument("--models", metavar="DIR")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "precision", None):
        os.environ["SDCODEC_PRECISION"] = args.precision  # read where models are loaded
    try:
        with warnings.catch_warnings():
            # our own warnings as one line each, like the errors
            warnings.showwarning = lambda msg, *_a, **_k: print(f"{PROG}: warning: {msg}", file=sys.stderr)
            return args.func(args)
    except SdcodecError as exc:
        _fail(str(exc))
        return 1
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:  # `sdcodec info x.sdc | head`: the reader left, not an error
        # Python would report the failed flush of stdout again at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug: still one line, with a way to see more
        if os.environ.get("SDCODEC_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set SDCODEC_DEBUG=1 for a traceback)")
        return 70
