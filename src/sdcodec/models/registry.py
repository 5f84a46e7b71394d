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
class HubSource:
    """A diffusers model on the Hugging Face hub, pinned to one commit.

    Files are looked up in the hub's layout (``<repo>/vae/config.json`` ...). LFS files
    are checked against the sha256 the pinned commit records (weights.resolve_hub).
    """

    repo: str
    revision: str  # a commit hash: the content of every file is fixed by it
    vae_subfolder: str = "vae"
    gated: bool = False  # the hub asks for a licence click-through and a token

    def files_for(self, role: str, unet: bool) -> tuple[str, ...]:
        sub = f"{self.vae_subfolder}/" if self.vae_subfolder else ""
        vae = (f"{sub}config.json", f"{sub}diffusion_pytorch_model.safetensors")
        if role in ("encoder", "decoder"):
            return vae
        if role == "denoiser" and unet:
            return (
                "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors",
                "scheduler/scheduler_config.json",
            )
        if role == "text" and unet:
            return (
                "text_encoder/config.json",
                "text_encoder/model.safetensors",
                "tokenizer/vocab.json",
                "tokenizer/merges.txt",
                "tokenizer/tokenizer_config.json",
            )
        return ()


@dataclass(frozen=True)
class ModelSpec:
    """Everything the codec needs to know about an autoencoder, as data."""

    name: str
    id: int
    architecture: str  # which builder in sdcodec.models constructs it
    latent_channels: int
    downsample: int
    # normalized latent = (raw latent - latent_shift) * latent_scale; None: read
    # scaling_factor / shift_factor from the model's own config when it is loaded
    latent_scale: float | None
    latent_shift: float | None
    image_range: tuple[float, float]  # pixel values the network expects, for 0 and 255
    files: tuple[WeightFile, ...]
    license: str
    description: str
    hub: HubSource | None = None  # diffusers models: where their files live
    unet: bool = False  # has a U-Net (and scheduler, text encoder) for decode-side denoising
    download_mb: int = 0  # what a download of the encoder + decoder (+ U-Net) fetches

    def files_for(self, role: str) -> tuple[WeightFile, ...]:
        return tuple(f for f in self.files if f.role == role)

    @property
    def fingerprint(self) -> bytes:
        """8 bytes written into every file.

        Decoding depends only on the decoder weights, so only they are hashed: the
        sha256 over the decoder files' digests, or for hub models over the pinned
        repository, commit and VAE folder (the commit fixes every file's content).
        """
        h = hashlib.sha256()
        if self.hub is not None:
            h.update(f"{self.hub.repo}@{self.hub.revision}/{self.hub.vae_subfolder}".encode())
        for f in self.files_for("decoder"):
            h.update(bytes.fromhex(f.sha256))
        return h.digest()[:8]


def _hub(name, id, channels, hub, license, description, unet=False, download_mb=0) -> ModelSpec:
    return ModelSpec(
        name=name, id=id, architecture="diffusers-autoencoderkl", latent_channels=channels,
        downsample=8, latent_scale=None, latent_shift=None, image_range=(-1.0, 1.0), files=(),
        license=license, description=description, hub=hub, unet=unet, download_mb=download_mb,
    )  # fmt: skip


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
        download_mb=5,
    ),
    # Stable Diffusion family through diffusers (the `sd` extra). Revisions are commits of
    # the hub repositories; scaling/shift factors come from each VAE's config.
    _hub(
        "sd14", 2, 4, HubSource("CompVis/stable-diffusion-v1-4",
                                "133a221b8aa7292a167afc5127cb63fb5005638b"),
        "CreativeML OpenRAIL-M", "Stable Diffusion 1.4: VAE, U-Net, text encoder (the article's model)",
        unet=True, download_mb=4_100,
    ),  # fmt: skip
    _hub(
        "sd15-mse", 3, 4, HubSource("stabilityai/sd-vae-ft-mse",
                                    "31f26fdeee1355a5c34592e401dd41e45d25a493", ""),
        "MIT", "SD 1.x VAE fine-tuned with MSE (stabilityai/sd-vae-ft-mse)", download_mb=335,
    ),  # fmt: skip
    _hub(
        "sd21", 4, 4, HubSource("stabilityai/stable-diffusion-2-1",
                                "5cae40e6a2745ae2b01ad92ae5043f95f23644d6"),
        "CreativeML OpenRAIL++-M", "Stable Diffusion 2.1 VAE", download_mb=335,
    ),  # fmt: skip
    _hub(
        "sdxl", 5, 4, HubSource("stabilityai/sdxl-vae",
                                "6f5909a7e596173e25d4e97b07fd19cdf9611c76", ""),
        "CreativeML OpenRAIL++-M", "SDXL VAE (fp32; its fp16 overflows)", download_mb=335,
    ),  # fmt: skip
    _hub(
        "sd3", 6, 16, HubSource("stabilityai/stable-diffusion-3-medium-diffusers",
                                "ea42f8cef0f178587cf766dc8129abd379c90671", gated=True),
        "Stability AI Community License (gated)", "Stable Diffusion 3 Medium VAE (16 channels)",
        download_mb=168,
    ),  # fmt: skip
    _hub(
        "flux1", 7, 16, HubSource("black-forest-labs/FLUX.1-schnell",
                                  "741f7c3ce8b383c54771c7003378a50191e9efe9"),
        "Apache-2.0", "FLUX.1 [schnell] VAE (16 channels)", download_mb=168,
    ),  # fmt: skip
)

DEFAULT_MODEL = "taef2"


@dataclass(frozen=True)
class CodecSpec:
    """A learned latent codec (sdcodec.learned) trained here for one autoencoder.

    Its weights ship inside the package (src/sdcodec/learned/weights/), pinned by sha256;
    the id and the first 8 bytes of the sha256 are written into every file it codes.
    """

    name: str
    id: int
    autoencoder: str  # REGISTRY name of the autoencoder whose latent it codes
    file: str
    sha256: str
    levels: int  # rate levels: a file's level is a float in [0, levels - 1]
    description: str
    # --quality 0..quality_top walks the levels; above it the scalar quantizer's steps
    # take over (for a codec whose top level saturates below where they start)
    quality_top: int = 100
    # the level without --quality/--level: near 0.1 bpp on Kodak, the rates sdcodec is for
    default_level: float = 4.0
    # a codec that codes the same symbols with another synthesis: the encoder decodes each
    # file both ways (and with that codec's restorer) and writes whichever id decodes this
    # image closer, when the decode-side settings are left to it
    fallback: str = ""
    # an analysis (g_a and its bypass) retrained after the codec shipped, with its sha256:
    # only the encoder runs it (where it does not refine: LoadedCodec.retrained), so the
    # files keep this codec's id and fingerprint and decode as before; none ships yet
    # (docs/LEARNED.md, ga7)
    analysis: str = ""
    analysis_sha256: str = ""

    @property
    def fingerprint(self) -> bytes:
        return bytes.fromhex(self.sha256)[:8]


# never renumber or reuse an id; a retrained codec is a new entry
CODECS: tuple[CodecSpec, ...] = (
    CodecSpec(
        name="lc1",
        id=1,
        autoencoder="taef2",
        file="lc1.safetensors",
        sha256="0a1d1f2c9c3ff13fe8110bf3f85028e817b35742a1cffc5618ca6a079e5c1149",
        levels=8,
        description="hyperprior latent codec for TAEF2, trained here (docs/LEARNED.md)",
        quality_top=80,
    ),
    CodecSpec(
        name="lc3",
        id=2,
        autoencoder="taef2",
        file="lc3.safetensors",
        sha256="5ac1e5867ba148055aef09156e5a8f560f7618ade806d44aa837b0e8af67be78",
        levels=8,
        description="lc1 fine-tuned for 0.1–1 bpp with a bypass past its transforms; lc1's "
        "probability model (docs/LEARNED.md)",
        default_level=1.5,
    ),
    CodecSpec(
        name="lc4",
        id=3,
        autoencoder="taef2",
        file="lc4.safetensors",
        sha256="473bc17c3724b43d9ec1ec753ed304a7da12d5c4c82831c185d973bdc61ae0f6",
        levels=8,
        description="lc3 with a channel-conditional context model for y: the same pictures "
        "in fewer bytes (docs/LEARNED.md)",
        default_level=1.5,
    ),
    CodecSpec(
        name="lc5",
        id=4,
        autoencoder="taef2",
        file="lc5.safetensors",
        sha256="f84213210674aa0550fc407449df3049f6abc8ced7845bbe3dcb621f0d1dbad9",
        levels=8,
        description="lc4's symbols through a synthesis retrained for squared error plus a "
        "structural term: the same bytes, better pictures (docs/LEARNED.md)",
        default_level=1.5,
    ),
    CodecSpec(
        name="lc6",
        id=5,
        autoencoder="taef2",
        file="lc6.safetensors",
        sha256="f7569ae1b60361d02cb9632bb5b4e79b51364ce4bb533b269ea61f89c581b8cc",
        levels=8,
        description="lc1's symbols through a synthesis retrained for squared error plus a "
        "structural term: the same bytes, better pictures (docs/LEARNED.md)",
        quality_top=80,
        # trained on photographs only: on flat colours and gradients lc1 with rs2 decodes
        # 2–3 dB closer (docs/LEARNED.md, lc6)
        fallback="lc1",
    ),
    CodecSpec(
        name="lc7",
        id=6,
        autoencoder="taef2",
        file="lc7.safetensors",
        sha256="70be1720501cfd3d5e70c84b81f9a8271d5f6e859373ea3e6e4dcf8ad7de3043",
        levels=8,
        description="lc4's symbols through lc5's synthesis trained on with refinement's luma "
        "band term: the same bytes, +1 SSIMULACRA2 and +0.025 JOD (docs/LEARNED.md)",
        default_level=1.5,
        # closer than lc5 on whole photographs, not on small ones: eight 128–256-pixel Kodak
        # crops decode 0.22 dB further on average (docs/LEARNED.md, lc7)
        fallback="lc5",
    ),
)
DEFAULT_CODEC = "lc6"


@dataclass(frozen=True)
class RestorerSpec:
    """A learned decode-side latent restorer (sdcodec.learned.restore) for one quantizer
    mode of one autoencoder — for mode "learned", of one learned codec, whose errors it
    was trained on. Its id is the file's denoiser id (0 and 1 are taken: none, the U-Net);
    the weights ship in the package, pinned by sha256."""

    name: str
    id: int
    autoencoder: str
    file: str
    sha256: str
    description: str
    mode: str = "palette"  # the quantizer mode whose errors it was trained on
    codec: str = ""  # mode "learned": the learned codec's name


# never renumber or reuse an id; a retrained restorer is a new entry
RESTORERS: tuple[RestorerSpec, ...] = (
    RestorerSpec(
        name="rs1",
        id=2,
        autoencoder="taef2",
        file="rs1.safetensors",
        sha256="5394bcf6aaa6862ede8230eb4651cf08353730e1c558ba31c4029ac52518196d",
        description="latent restorer for the palette mode, trained here (docs/LEARNED.md)",
    ),
    RestorerSpec(
        name="rs2",
        id=3,
        autoencoder="taef2",
        file="rs2.safetensors",
        sha256="b5486fda8670eb26c83f9761c7bc698157a95313611fb21c6cee1b4f01c529b5",
        description="latent restorer for the learned codec lc1, trained here (docs/LEARNED.md)",
        mode="learned",
        codec="lc1",
    ),
)


def _check_unique() -> None:
    ids = [s.id for s in REGISTRY]
    names = [s.name for s in REGISTRY]
    if len(set(ids)) != len(ids) or len(set(names)) != len(names):
        raise RuntimeError("model registry has duplicate ids or names")


_check_unique()
_BY_ID = {s.id: s for s in REGISTRY}
_BY_NAME = {s.name: s for s in REGISTRY}
_CODEC_BY_ID = {c.id: c for c in CODECS}
_CODEC_BY_NAME = {c.name: c for c in CODECS}
_RESTORER_BY_ID = {r.id: r for r in RESTORERS}


def by_id(model_id: int) -> ModelSpec | None:
    return _BY_ID.get(model_id)


def by_name(name: str) -> ModelSpec | None:
    return _BY_NAME.get(name)


def names() -> list[str]:
    return [s.name for s in REGISTRY]


def codec_by_id(codec_id: int) -> CodecSpec | None:
    return _CODEC_BY_ID.get(codec_id)


def codec_by_name(name: str) -> CodecSpec | None:
    return _CODEC_BY_NAME.get(name)


def restorer_by_id(denoiser_id: int) -> RestorerSpec | None:
    return _RESTORER_BY_ID.get(denoiser_id)


def restorer_for(autoencoder: str, mode: str = "palette", codec: str = "") -> RestorerSpec | None:
    """The newest restorer trained for an autoencoder's mode (and learned codec), if any."""
    found = [r for r in RESTORERS if (r.autoencoder, r.mode, r.codec) == (autoencoder, mode, codec)]
    return max(found, key=lambda r: r.id) if found else None
