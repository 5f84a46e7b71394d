"""The lossless stage alone: bytes and seconds of each coder on the same quantized latents.

    SDCODEC_MODELS=../shared/models python benchmarks/coding.py ../shared/data/kodak

For every image the latent is computed once and quantized once per mode; each coder
then codes exactly the same symbols (DATA section only; the rest of the file is the same
for both). Prints a Markdown table of means over the images.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sdcodec import entropy, models, quant

MODES = {
    "palette K=256": dict(mode="palette", palette_size=256),
    "palette K=64": dict(mode="palette", palette_size=64),
    "palette K=16": dict(mode="palette", palette_size=16),
    "8bit": dict(mode="8bit"),
    "scalar Δ=1.4": dict(mode="scalar", step=1.4),
    "scalar Δ=0.7": dict(mode="scalar", step=0.7),
    "scalar Δ=0.3": dict(mode="scalar", step=0.3),
}
CODERS = ("zlib", "ctx")


def main(argv: list[str]) -> int:
    files = sorted(Path(argv[0]).glob("*.png"))
    spec = models.by_name("taef2")
    enc = models.load(spec, "encoder")
    stats: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for path in files:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        z = enc.encode(rgb)
        for name, kw in MODES.items():
            params, streams = quant.quantize(z, **kw)
            specs = quant.stream_specs(params, spec.latent_channels, *z.shape[1:])
            for coder_name in CODERS:
                coder = entropy.get(entropy.NAMES[coder_name])
                t0 = time.perf_counter()
                payload = coder.encode(streams, specs)
                t1 = time.perf_counter()
                back = coder.decode(payload, specs)
                t2 = time.perf_counter()
                if not all(np.array_equal(a, b) for a, b in zip(streams, back, strict=True)):
                    raise SystemExit(f"{path.name} {name} {coder_name}: round trip failed")
                stats.setdefault((name, coder_name), []).append((len(payload), t1 - t0, t2 - t1))
        print(f"{path.name} done", file=sys.stderr)
    print(f"{len(files)} images. Bytes of the DATA section; seconds of the coding stage alone.\n")
    print("| mode | zlib bytes | ctx bytes | saved | zlib enc/dec s | ctx enc/dec s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in MODES:
        z_ = np.mean(stats[name, "zlib"], axis=0)
        c_ = np.mean(stats[name, "ctx"], axis=0)
        print(f"| {name} | {z_[0]:.0f} | {c_[0]:.0f} | {100 * (1 - c_[0] / z_[0]):.1f}% "
              f"| {z_[1]:.3f} / {z_[2]:.3f} | {c_[1]:.3f} / {c_[2]:.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
