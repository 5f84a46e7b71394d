"""The one registry of model specs.

Every other list of models (CLI choices, ``sdcodec models``, the bitstream's model-id
lookup, benchmarks) is derived from ``REGISTRY``. A spec is frozen: once a file has
been written with a model id, that id must keep meaning the same weights forever.
Never reuse or renumber an id; add a new entry instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class WeightFile:
    """One weights file, pinned by URL and sha256."""

    name: str
    url: str
    sha256: str
    role: str  # "encoder" or "decoder": decoding needs only the decoder files


@dataclass(frozen=True)
class ModelSpec:
    """Everything the codec needs to know about an autoencoder, as data."""

    name: str
    id: int
    architecture: str  # which builder in sdcodec.models constructs it
    latent_channels: int
    downsample: int
    # normalized latent = (raw latent - latent_shift) * latent_scale
    latent_scale: float
    latent_shift: float
    image_range: tuple[float, float]  # pixel values the network expects, for 0 and 255
    files: tuple[WeightFile, ...]
    license: str
    description: str

    def files_for(self, role: str) -> tuple[WeightFile, ...]:
        return tuple(f for f in self.files if f.role == role)

    @property
    def fingerprint(self) -> bytes:
        """8 bytes written into every file: sha256 over the decoder files' sha256 digests.

        Decoding depends only on the decoder weights, so only they are hashed.
        """
        h = hashlib.sha256()
        for f in self.files_for("decoder"):
            h.update(bytes.fromhex(f.sha256))
        return h.digest()[:8]


_TAESD_COMMIT = "5cccb12dc72074a4be35680c3b108548a7c69978"
_TAESD_RAW = f"https://github.com/madebyollin/taesd/raw/{_TAESD_COMMIT}/"

REGISTRY: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="taef2",
        id=1,
        architecture="taesd-gn",
        latent_channels=32,
        downsample=8,
        latent_scale=1.0,
        latent_shift=0.0,
        image_range=(0.0, 1.0),
        files=(
            WeightFile(
                "taef2_encoder.pth",
                _TAESD_RAW + "taef2_encoder.pth",
                "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
                "encoder",
            ),
            WeightFile(
                "taef2_decoder.pth",
                _TAESD_RAW + "taef2_decoder.pth",
                "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
                "decoder",
            ),
        ),
        license="MIT (madebyollin/taesd)",
        description="Tiny autoencoder for the FLUX.2 latent space (32 channels, 8x)",
    ),
)

DEFAULT_MODEL = "taef2"


def _check_unique() -> None:
    ids = [s.id for s in REGISTRY]
    names = [s.name for s in REGISTRY]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise RuntimeError("model registry has duplicate ids or names")


_check_unique()
_BY_ID = {s.id: s for s in REGISTRY}
_BY_NAME = {s.name: s for s in REGISTRY}


def by_id(model_id: int) -> ModelSpec | None:
    return _BY_ID.get(model_id)


def by_name(name: str) -> ModelSpec | None:
    return _BY_NAME.get(name)


def names() -> list[str]:
    return [s.name for s in REGISTRY]
