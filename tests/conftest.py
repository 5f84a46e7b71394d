import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
KODAK = SHARED / "data" / "kodak"

# the real TAEF2 weights live beside the repo, never in it; .ci/run sets the same
os.environ.setdefault("SDCODEC_MODELS", str(SHARED / "models"))
os.environ.setdefault("SDCODEC_OFFLINE", "1")


def psnr(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="session")
def kodak():
    if not KODAK.is_dir():
        pytest.fail(f"Kodak images not found at {KODAK}")
    return KODAK


@pytest.fixture(scope="session")
def crop(kodak):
    """A 128×128 crop of kodim23 with detail in it: most tests use this, not full images."""
    return Image.open(kodak / "kodim23.png").convert("RGB").crop((300, 100, 428, 228))
