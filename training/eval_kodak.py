"""Real coded rate and pixel PSNR of a learned-codec weights file on Kodak images.

    python training/eval_kodak.py src/sdcodec/learned/weights/lc1.safetensors ../shared/data/kodak \\
        --images kodim01,kodim03,kodim05,kodim07,kodim15,kodim19,kodim21,kodim23

Runs TAEF2 once per image, then every level; rate counts the learned payload only (the
container adds 53 bytes in format 2.0, 108 in 1.8). Used to choose defaults and for the model card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sdcodec import imageio, models
from sdcodec.bench.metrics import jod, ssimulacra2
from sdcodec.learned import load_file
from sdcodec.learned.coding import compress, decompress


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("weights", type=Path)
    p.add_argument("kodak", type=Path)
    p.add_argument("--images", default="kodim01,kodim03,kodim05,kodim07,kodim15,kodim19,kodim21,kodim23")
    p.add_argument("--levels", default="0,1,2,3,4,5,6,7")
    p.add_argument("--ssimulacra2", action="store_true", help="add SSIMULACRA2 (the bench's metric)")
    p.add_argument("--jod", action="store_true", help="add ColorVideoVDP's JOD (the bench's metric)")
    p.add_argument("--restorer", type=Path,
                   help="a restorer (.safetensors, or final.pt of a train_restorer.py run): adds PSNR after it")
    a = p.parse_args(argv)
    restorer = None
    if a.restorer:
        import json

        import torch

        from sdcodec.learned import restore

        if a.restorer.suffix == ".safetensors":
            restorer = restore.load_file(a.restorer)
        else:  # the run's own config says the network's size
            config = json.loads((a.restorer.parent / "config.json").read_text())["model"]
            restorer = restore.build(**config)
            restorer.load_state_dict(torch.load(a.restorer, weights_only=True))
            restorer.eval()
    # SSIMULACRA2 is computed whenever JOD is, so each metric keeps its column
    perceptual = ["SSIMULACRA2", "JOD"][: 2 if a.jod else 1 if a.ssimulacra2 else 0]
    codec = load_file(a.weights, device="cpu")
    spec = models.by_name("taef2")
    enc, dec = models.load(spec, "encoder"), models.load(spec, "decoder")
    levels = [float(x) for x in a.levels.split(",")]
    res = {lv: [] for lv in levels}
    base = []
    for name in a.images.split(","):
        im = np.asarray(Image.open(a.kodak / f"{name}.png").convert("RGB"))
        h, w = im.shape[:2]
        lat = enc.encode(imageio.pad(im, 8).astype(np.float32) / 255)
        ref = im.astype(np.float64)

        def psnr(latent, h=h, w=w, ref=ref, im=im, seen=None):
            out = np.round(dec.decode(latent)[:h, :w] * 255)
            if seen is not None:  # the perceptual metrics asked for, in the table's order
                seen += [f(im, out.astype(np.uint8)) for f in (ssimulacra2, jod)[: len(perceptual)]]
            return 10 * np.log10(255**2 / np.mean((out - ref) ** 2))

        base.append(psnr(lat))
        for lv in levels:
            data = compress(codec, lat, lv)
            rec = decompress(codec, data, *lat.shape[1:], lv)
            seen = [] if perceptual else None
            row = [8 * len(data) / (h * w), psnr(rec, seen=seen), *(seen or [])]
            if restorer is not None:
                with torch.no_grad():
                    row.append(psnr(restorer(torch.from_numpy(rec)[None])[0].numpy()))
            res[lv].append(row)
    print(f"TAEF2 ceiling {np.mean(base):.2f} dB on {len(base)} images")
    extra = " with the restorer |" if restorer is not None else ""
    extra += "".join(f" {m} |" for m in perceptual)
    print(f"| level | bpp | PSNR dB |{extra}\n|---|---|---|{'---|' * extra.count('|')}")
    for lv, rows in res.items():
        m = np.array(rows).mean(axis=0)
        after = f" {m[-1]:.2f} ({m[-1] - m[1]:+.2f}) |" if restorer is not None else ""
        after += "".join(f" {v:.{d}f} |" for v, d in zip(m[2 : 2 + len(perceptual)], (1, 3), strict=True))
        print(f"| {lv:g} | {m[0]:.3f} | {m[1]:.2f} |{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
