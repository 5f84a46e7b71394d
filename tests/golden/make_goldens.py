"""Regenerate the .sdc golden files of the current format version (not the 1.0 ones).

    SDCODEC_MODELS=../shared/models python tests/golden/make_goldens.py

Only run this when the format changes on purpose; the tests compare against these bytes.
The v1_0_* files were written by sdcodec 0.1.0 (format 1.0) and must never be regenerated.
"""

from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import bitstream, entropy, quant
from sdcodec.codec import decode_latent

HERE = Path(__file__).parent
KODAK = HERE.parents[2] / "shared" / "data" / "kodak"


def main() -> None:
    im = Image.open(KODAK / "kodim23.png").convert("RGB").crop((300, 100, 348, 140))
    cases = {
        "v1_1_ctx_palette": sdcodec.EncodeOptions(palette_size=16, groups=2, coder="ctx"),
        "v1_1_ctx_scalar": sdcodec.EncodeOptions(
            mode="scalar", step=0.6, deadzone=0.2, coder="ctx"
        ),
    }
    for name, opts in cases.items():
        data = sdcodec.encode(im, opts)
        (HERE / f"{name}.sdc").write_bytes(data)
        f = bitstream.read(data)
        h, w = -(-f.header.height // 8), -(-f.header.width // 8)
        streams = entropy.get(f.header.coder_id).decode(
            f.payload, quant.stream_specs(f.quant, 32, h, w)
        )
        np.savez_compressed(HERE / f"{name}.npz", *streams, latent=decode_latent(f))
        print(name, len(data))


if __name__ == "__main__":
    main()
