"""Regenerate the .sdc golden files of the current format version.

    SDCODEC_MODELS=../shared/models python tests/golden/make_goldens.py

Only run this when the format or the shipped learned codec changes on purpose; the tests
compare against these bytes. Older goldens are frozen and must never be regenerated:
v1_0_* were written by sdcodec 0.1.0 (format 1.0), v1_1_* by the 1.1 writer, v1_2_* (lc1)
by the 1.2 writer (this script, with the entries it then had), v1_5_learned_lc3 by the 1.5
writer, v1_6_learned_lc4 by the 1.6 writer, v1_7_learned_lc5 by the 1.7 writer, v1_8_learned_lc6
by the 1.8 writer, v2_0_learned_lc6 (kodim23 cropped to 300, 100, 396, 164; lc6 level 2) by
the 2.0 writer, v2_1_learned_lc6_half (cropped to 300, 100, 397, 163; lc6 level 2 at 1/2) by
the 2.1 writer.
"""

from pathlib import Path

import numpy as np
from PIL import Image

import sdcodec
from sdcodec import bitstream, learned, models
from sdcodec.learned.coding import decode_symbols

HERE = Path(__file__).parent
KODAK = HERE.parents[2] / "shared" / "data" / "kodak"


def main() -> None:
    # v2_0's crop; restore=False: the encoder's choice of lc5 (lc7's fallback) left out
    im = Image.open(KODAK / "kodim23.png").convert("RGB").crop((300, 100, 396, 164))
    for name, codec, level, factor in (("v2_2_learned_lc7", "lc7", 2.0, 1),):
        opts = sdcodec.EncodeOptions(mode="learned", codec=codec, level=level, downscale=factor, restore=False)
        data = sdcodec.encode(im, opts)
        (HERE / f"{name}.sdc").write_bytes(data)
        f = bitstream.read(data)
        codec = learned.load(models.registry.codec_by_id(f.quant.codec_id), "cpu")
        width, height = f.coded_size()
        h, w = -(-height // 8), -(-width // 8)
        z, r, mu = decode_symbols(codec, f.payload, h, w)
        np.savez_compressed(HERE / f"{name}.npz", z=z, r=r, mu=mu)
        print(name, len(data))


if __name__ == "__main__":
    main()
