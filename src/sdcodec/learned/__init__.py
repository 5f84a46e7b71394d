"""latent ↔ symbols ↔ bytes, learned: a hyperprior transform codec in TAEF2's latent space.

Trained here (training/train_latent_codec.py, model card docs/LEARNED.md). The float
networks (nets.py) shape the latent into y and back; everything that decides symbol
probabilities — z's tables, the integer hyper-synthesis (intnet.py), y's scale tables
(tables.py) — is integer, stored in the weights file, so any machine decodes the same
symbols. ``load`` reads and caches a codec; coding.py turns latents into payloads.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailableError, first_line
from ..models.registry import CodecSpec
from . import context
from .intnet import IntConv

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class LoadedCodec:
    spec: CodecSpec | None
    net: object  # nets.LatentCodec (float parts; h_s unused at inference)
    hyper: list[IntConv]
    y_counts: np.ndarray
    thresholds: np.ndarray
    z_counts: np.ndarray
    device: str
    context: list[list[IntConv]] | None = None  # context.py's networks, one per slice
    # net with CodecSpec.analysis in place of its g_a: what an encoder that does not refine
    # starts from (refinement from it ends further from the image: docs/LEARNED.md, ga7)
    retrained: object = None
    _context_nets: object = field(default=None, repr=False, compare=False)

    def context_nets(self):
        """The context model as float networks (for refinement), built from the integer
        layers so no second copy ships."""
        if self.context is None:
            return None
        if self._context_nets is None:
            self._context_nets = context.float_nets(self.context, self.device)
        return self._context_nets

    @property
    def levels(self) -> int:
        return int(self.net.levels)


def float_tensors(state: dict, int8: bool = True) -> dict:
    """A float state dict for safetensors: kernels int8 with a float32 scale per output
    channel (``NAME.scale``), or fp16; everything else float32."""
    import torch

    out = {}
    for name, t in state.items():
        t = t.detach().float()
        if t.ndim == 4 and int8:
            scale = t.abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / 127
            out[name] = torch.round(t / scale[:, None, None, None]).to(torch.int8)
            out[name + ".scale"] = scale
        else:
            out[name] = t.to(torch.float16) if t.ndim > 1 else t
    return out


def float_state(tensors: dict, names) -> dict:
    """The inverse of float_tensors for the parameters ``names`` (a module's state keys)."""
    return {k: _dequantize(v, tensors.get(k + ".scale")) for k, v in tensors.items() if k in names}


# what a codec fine-tuned with its probability model frozen shares with its base codec
# (training/train_latent_codec.py --freeze h_a,h_s,z_log_scale): the file leaves them out
SHARED_WITH_BASE = ("h_a.", "int_h_s.", "z_log_scale", "y_counts", "thresholds", "z_counts")
# what a codec that decodes another's symbols with its own synthesis holds
# (training/train_synthesis.py): everything else is the other codec's
SYNTHESIS = ("g_s.", "g_s_skip.")
# what a retrained analysis file holds (CodecSpec.analysis; training/train_analysis.py)
ANALYSIS = ("g_a.", "g_a_skip.")


def save(path: Path, model, config: dict, int8: bool = True, base: str | None = None) -> str:
    """Write a trained nets.LatentCodec as safetensors: the float networks' kernels as int8
    with a float32 scale per output channel (``NAME.scale``; fp16 with ``int8=False``, as
    lc1 was shipped), biases and gains float32, h_s and the probability tables integer.

    ``base``: a registry codec this one shares its probability model with; the file then
    holds only what differs, and ``save`` checks that the shared parts are the base's."""
    import torch
    from safetensors.torch import save_file

    from . import intnet, tables

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("h_s.")}
    tensors = float_tensors(state, int8)
    tensors.update(_int_tensors(intnet.export(model.h_s), "int_h_s"))
    y_counts, thresholds = tables.y_tables()
    tensors["y_counts"] = torch.from_numpy(y_counts)
    tensors["thresholds"] = torch.from_numpy(thresholds)
    tensors["z_counts"] = torch.from_numpy(
        tables.z_tables(model.z_log_scale.detach().double().numpy())
    )
    if base is not None:
        tensors = _without_base(tensors, base)
        config = {**config, "base": base}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"config": json.dumps(config)})  # fmt: skip
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _codec_file(name: str) -> tuple[dict, dict]:
    """(config, tensors) of a shipped codec's own file."""
    from ..models.registry import codec_by_name

    spec = codec_by_name(name)
    if spec is None:
        raise ValueError(f"unknown base codec {name!r}")
    return read_weights(WEIGHTS_DIR / spec.file, spec.sha256, "learned codec")


def _base_tensors(name: str) -> dict:
    return _codec_file(name)[1]


def _resolved(config: dict, tensors: dict, depth: int = 0) -> dict:
    """Every tensor a codec needs: its file's, and what it takes from the shipped codecs
    its config names (``symbols``: all but g_s, of a codec whose symbols it decodes with
    a synthesis of its own; ``transforms``: g_a, g_s and the gains; ``base``: the
    probability model, SHARED_WITH_BASE)."""
    if depth > 3:
        raise ValueError("codecs refer to each other too deeply")
    if "symbols" in config:
        other = _resolved(*_codec_file(config["symbols"]), depth + 1)
        tensors = {**{k: v for k, v in other.items() if not k.startswith(SYNTHESIS)}, **tensors}
    if "transforms" in config:
        own = _base_tensors(config["transforms"])
        tensors = {**{k: v for k, v in own.items() if not k.startswith(SHARED_WITH_BASE)}, **tensors}
    if "base" in config:
        base = _base_tensors(config["base"])
        tensors = {**{k: v for k, v in base.items() if k.startswith(SHARED_WITH_BASE)}, **tensors}
    return tensors


def _without_base(tensors: dict, base: str) -> dict:
    """``tensors`` less the probability model, after checking the base's is the same: the
    symbols must mean the same to both codecs' decoders."""
    shared = _base_tensors(base)
    for k, v in tensors.items():
        # h_a (encoder only) is stored at another precision than the base's, and z_log_scale
        # reaches the decoder only through z_counts, which is compared
        exact = k.startswith(SHARED_WITH_BASE) and not k.startswith(("h_a.", "z_log_scale"))
        if exact and (k not in shared or not np.array_equal(v.numpy(), shared[k].numpy())):
            raise ValueError(f"{k} differs from the base codec {base}'s")
    return {k: v for k, v in tensors.items() if not k.startswith(SHARED_WITH_BASE)}


def _dequantize(t, scale):
    if scale is None:
        return t.float()
    if scale.shape != t.shape[:1]:
        raise ValueError("kernel scale has the wrong shape")
    return t.float() * scale.float().view(-1, *[1] * (t.ndim - 1))


_CACHE: dict[tuple, LoadedCodec] = {}
_LOCK = threading.Lock()


def read_weights(path: Path, sha256: str | None, what: str) -> tuple[dict, dict]:
    """(config, tensors) of a safetensors weights file, checked against its pinned sha256;
    every failure is a one-line ModelUnavailableError."""
    from safetensors import SafetensorError, safe_open

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelUnavailableError(f"{path}: {exc.strerror or exc}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ModelUnavailableError(f"{path}: sha256 does not match the pinned {what}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads(f.metadata()["config"]), {k: f.get_tensor(k) for k in f.keys()}
    except (KeyError, TypeError, ValueError, OSError, SafetensorError) as exc:
        raise ModelUnavailableError(f"{path}: not a {what} weights file ({first_line(exc)})") from None


def load_file(path: Path, spec: CodecSpec | None = None, device: str = "cpu") -> LoadedCodec:
    from .nets import LatentCodec

    config, tensors = read_weights(path, spec.sha256 if spec else None, "learned codec")
    try:
        tensors = _resolved(config, tensors)
        net = LatentCodec(**config["model"])
        state = float_state(tensors, net.state_dict())
        missing = [k for k in net.state_dict() if k not in state and not k.startswith("h_s.")]
        if missing:
            raise ValueError(f"missing {missing[0]}")
        net.load_state_dict(state, strict=False)
        retrained = None
        if spec is not None and spec.analysis:
            retrained = copy.deepcopy(net)
            retrained.load_state_dict(_analysis_state(spec, net), strict=False)
        hyper = _int_layers(tensors, "int_h_s")
        ctx = None
        if "context" in config:
            ctx = [_int_layers(tensors, f"int_ctx.{i}") for i in range(config["context"]["slices"])]
            context.check(ctx, net.config["y_channels"])
        y_counts = tensors["y_counts"].numpy().astype(np.int64)
        thresholds = tensors["thresholds"].numpy().astype(np.int64)
        z_counts = tensors["z_counts"].numpy().astype(np.int64)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(
            f"{path}: not a learned-codec weights file ({first_line(exc)})"
        ) from None
    for n in (net, retrained):
        if n is not None:
            n.to(device).eval().requires_grad_(False)
    return LoadedCodec(spec, net, hyper, y_counts, thresholds, z_counts, device, ctx, retrained=retrained)


def _analysis_state(spec: CodecSpec, net) -> dict:
    _, tensors = read_weights(WEIGHTS_DIR / spec.analysis, spec.analysis_sha256, "learned analysis")
    state = float_state(tensors, net.state_dict())
    wanted = [k for k in net.state_dict() if k.startswith(ANALYSIS)]
    if sorted(state) != sorted(wanted):
        raise ValueError(f"{spec.analysis} is not an analysis for {spec.name}")
    return state


def _int_layers(tensors: dict, prefix: str) -> list[IntConv]:
    layers = []
    while f"{prefix}.{len(layers)}.weight" in tensors:
        name = f"{prefix}.{len(layers)}"
        shift, relu, shuffle = (int(v) for v in tensors[f"{name}.flags"])
        layer = IntConv(
            tensors[f"{name}.weight"].numpy().astype(np.int32),
            tensors[f"{name}.bias"].numpy().astype(np.int64),
            shift, bool(relu), bool(shuffle),
        )  # fmt: skip
        layer.check()
        layers.append(layer)
    return layers


def _int_tensors(layers: list[IntConv], prefix: str) -> dict:
    import torch

    out = {}
    for i, layer in enumerate(layers):
        out[f"{prefix}.{i}.weight"] = torch.from_numpy(layer.weight.astype(np.int16))
        out[f"{prefix}.{i}.bias"] = torch.from_numpy(layer.bias)
        flags = [layer.shift, int(layer.relu), int(layer.shuffle)]
        out[f"{prefix}.{i}.flags"] = torch.tensor(flags, dtype=torch.int32)
    return out


def save_context(path: Path, nets, codec: str, meta: dict) -> str:
    """Write a context model (context.py) for the shipped codec ``codec`` as a codec of its
    own: the integer context networks only; transforms and hyperprior are ``codec``'s."""
    from safetensors.torch import save_file

    from ..models.registry import codec_by_name

    spec = codec_by_name(codec)
    own, _ = read_weights(WEIGHTS_DIR / spec.file, spec.sha256, "learned codec")
    tensors = {}
    for i, layers in enumerate(context.export(nets)):
        tensors.update(_int_tensors(layers, f"int_ctx.{i}"))
    config = {"model": own["model"], "transforms": codec, "context": meta["model"],
              "run": meta.get("run", {})}  # fmt: skip
    if "base" in own:
        config["base"] = own["base"]
    save_file(tensors, str(path), metadata={"config": json.dumps(config)})
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_synthesis(path: Path, state: dict, codec: str, meta: dict) -> str:
    """Write a synthesis fine-tuned on the shipped codec ``codec``'s symbols
    (training/train_synthesis.py) as a codec of its own: g_s and its bypass only, kernels
    int8 (float_tensors)."""
    from safetensors.torch import save_file

    own, _ = _codec_file(codec)
    if set(k.split(".")[0] + "." for k in state) - set(SYNTHESIS):
        raise ValueError("a synthesis holds only g_s and g_s_skip")
    config = {"model": own["model"], "symbols": codec, "run": meta.get("run", {})}
    if "context" in own:
        config["context"] = own["context"]
    tensors = float_tensors(state)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"config": json.dumps(config)})  # fmt: skip
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_analysis(path: Path, state: dict, codec: str, meta: dict) -> str:
    """Write an analysis retrained for the shipped codec ``codec`` (training/train_analysis.py):
    g_a and its bypass only, kernels int8 (float_tensors); CodecSpec.analysis names it."""
    from safetensors.torch import save_file

    if set(k.split(".")[0] + "." for k in state) - set(ANALYSIS):
        raise ValueError("an analysis holds only g_a and g_a_skip")
    config = {"analysis_for": codec, "run": meta.get("run", {})}
    tensors = float_tensors(state)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"config": json.dumps(config)})  # fmt: skip
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached(spec, device: str | None, loader):
    """One loaded network per (kind, id, device) for the process: ``loader(path, spec, device)``."""
    from ..models import default_device

    device = device or default_device()
    key = (type(spec).__name__, spec.id, device)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = loader(WEIGHTS_DIR / spec.file, spec, device)
        return _CACHE[key]


def load(spec: CodecSpec, device: str | None = None) -> LoadedCodec:
    return cached(spec, device, load_file)
