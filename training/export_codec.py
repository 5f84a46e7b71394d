"""Export a training run's weights for shipping: src/sdcodec/learned/weights/NAME.safetensors.

Kernels of the float networks as int8 with a float32 scale per output channel (half the
size of fp16, which lc1 shipped with: --fp16), h_s as an integer network, probability tables
as integers (sdcodec.learned.save). Prints the sha256 to pin in sdcodec/models/registry.py (CODECS).

    python training/export_codec.py runs/lc1 lc1 --fp16
    python training/export_codec.py runs/lc3 lc3 --base lc1   # lc1's probability model
    python training/export_codec.py runs/rs1 rs1 --restorer   # a latent restorer
    python training/export_codec.py runs/lc4 lc4 --context    # train_context.py's run
    python training/export_codec.py runs/lc5 lc5 --synthesis  # train_synthesis.py's run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from sdcodec.learned import WEIGHTS_DIR, context, restore, save, save_context, save_synthesis
from sdcodec.learned.nets import LatentCodec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder to write to")
    p.add_argument("--fp16", action="store_true", help="kernels as fp16 (lc1) instead of int8")
    p.add_argument("--restorer", action="store_true", help="a run of train_restorer.py")
    p.add_argument("--context", action="store_true", help="a run of train_context.py")
    p.add_argument("--synthesis", action="store_true", help="a run of train_synthesis.py")
    p.add_argument("--base", help="a registry codec whose probability model this run kept frozen "
                   "(--freeze h_a,h_s,z_log_scale): the file holds only what differs")
    a = p.parse_args(argv)
    config = json.loads((a.run / "config.json").read_text())
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out / f"{a.name}.safetensors"
    if a.context:
        nets = context.build(**config["model"])
        nets.load_state_dict(torch.load(a.run / "final.pt", weights_only=True))
        meta = {"model": config["model"], "run": config["args"]}
        sha = save_context(out, nets, config["codec"], meta)
        print(f"{out} {out.stat().st_size} bytes sha256 {sha}")
        return 0
    if a.synthesis:
        state = torch.load(a.run / "final.pt", weights_only=True)
        sha = save_synthesis(out, state, config["args"]["codec"], {"run": config["args"]})
        print(f"{out} {out.stat().st_size} bytes sha256 {sha}")
        return 0
    model = restore.build(**config["model"]) if a.restorer else LatentCodec(**config["model"])
    final = a.run / "final.pt"
    state = torch.load(final, weights_only=True) if final.exists() else (
        torch.load(a.run / "ckpt.pt", weights_only=False)["model"]
    )
    model.load_state_dict(state)
    meta = {"model": config["model"], "run": config["args"]}
    sha = restore.save(out, model, meta) if a.restorer else save(out, model, meta, int8=not a.fp16, base=a.base)
    print(f"{out} {out.stat().st_size} bytes sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
