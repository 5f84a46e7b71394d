"""Export a training run's weights for shipping: src/sdcodec/learned/weights/NAME.safetensors.

Float networks as fp16, h_s as an integer network, probability tables as integers
(sdcodec.learned.save). Prints the sha256 to pin in sdcodec/models/registry.py (CODECS).

    python training/export_codec.py runs/lc1 lc1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from sdcodec.learned import WEIGHTS_DIR, save
from sdcodec.learned.nets import LatentCodec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("name")
    a = p.parse_args(argv)
    config = json.loads((a.run / "config.json").read_text())
    model = LatentCodec(**config["model"])
    final = a.run / "final.pt"
    state = torch.load(final, weights_only=True) if final.exists() else (
        torch.load(a.run / "ckpt.pt", weights_only=False)["model"]
    )
    model.load_state_dict(state)
    WEIGHTS_DIR.mkdir(exist_ok=True)
    out = WEIGHTS_DIR / f"{a.name}.safetensors"
    sha = save(out, model, {"model": config["model"], "run": config["args"]})
    print(f"{out} {out.stat().st_size} bytes sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
