"""latent → (z, y) symbols → one range-coded payload, and back.

Payload: constriction's RangeEncoder words (little-endian u32). First z, channel by
channel with that channel's table, raster order; then y, grouped by scale index (all
symbols whose index is 0 in (channel, row, column) order, then index 1, ...). The decoder
knows every index from z before it reads y, so the order is the same on both sides.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from . import LoadedCodec, intnet, tables

Z_DOWN = 8  # z is 1/8 of the latent's resolution, y 1/2


def _constriction():
    import constriction

    return constriction


def _categorical(counts: np.ndarray):
    # exact integers as float64: constriction's fixed-point quantization of them is
    # deterministic (see entropy/context.py)
    return _constriction().stream.model.Categorical(counts.astype(np.float64), perfect=False)


def shapes(codec: LoadedCodec, h: int, w: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """y and z shapes for an (h, w) latent (padded to multiples of Z_DOWN)."""
    cfg = codec.net.config
    hp, wp = -(-h // Z_DOWN), -(-w // Z_DOWN)
    return (cfg["y_channels"], hp * 4, wp * 4), (cfg["z_channels"], hp, wp)


def _hyper(codec: LoadedCodec, z_sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (μ as value·2^FRAC, scale index) of every y symbol, from z's symbols."""
    out = intnet.run(codec.hyper, z_sym)
    m = out.shape[0] // 2
    return out[:m], tables.scale_index(out[m:], codec.thresholds)


def _gain(codec: LoadedCodec, level: float):
    """(M, 1, 1) gains at a fractional level, on the CPU whatever the codec's device."""
    import torch

    with torch.inference_mode():
        return codec.net.gain(torch.tensor([float(level)]))[0].float().cpu().view(-1, 1, 1)


def encode_symbols(codec: LoadedCodec, latent: np.ndarray, level: float):
    """(C, h, w) latent → (z symbols, y symbols, μ fixed-point), as decode_symbols returns."""
    return analyse(codec, latent, level)[:3]


def analyse(codec: LoadedCodec, latent: np.ndarray, level: float):
    """(C, h, w) latent → z symbols, y symbols, μ fixed-point, scale indices, and y − μ
    before rounding (what learned/refine.py starts from)."""
    import torch

    from .nets import pad_to

    net = codec.net
    with torch.inference_mode():
        x = pad_to(torch.from_numpy(np.ascontiguousarray(latent))[None].float(), Z_DOWN)
        y = (net.analysis(x.to(codec.device))[0].float().cpu() * _gain(codec, level)).double()
        z = net.h_a(y[None].float().to(codec.device))[0].float().cpu()
    z_sym = np.clip(np.round(z.numpy()), -tables.Z_RANGE, tables.Z_RANGE).astype(np.int64)
    mu, idx = _hyper(codec, z_sym)
    r = y.numpy() - mu / float(1 << intnet.FRAC)
    r_sym = np.clip(np.round(r), -tables.Y_RANGE, tables.Y_RANGE).astype(np.int64)
    return z_sym, r_sym, mu, idx, r


def compress(codec: LoadedCodec, latent: np.ndarray, level: float) -> bytes:
    z_sym, r_sym, _, idx, _ = analyse(codec, latent, level)
    return pack_symbols(codec, z_sym, r_sym, idx)


def pack_symbols(codec: LoadedCodec, z_sym: np.ndarray, r_sym: np.ndarray, idx: np.ndarray) -> bytes:
    """z and y symbols (y's scale indices derived from z) → payload."""
    enc = _constriction().stream.queue.RangeEncoder()
    for c in range(z_sym.shape[0]):
        enc.encode((z_sym[c].ravel() + tables.Z_RANGE).astype(np.int32),
                   _categorical(codec.z_counts[c]))  # fmt: skip
    flat_idx, flat_r = idx.ravel(), r_sym.ravel()
    for k in np.unique(flat_idx):
        syms = flat_r[flat_idx == k] + tables.Y_RANGE
        enc.encode(syms.astype(np.int32), _categorical(codec.y_counts[k]))
    return enc.get_compressed().astype("<u4").tobytes()


def decode_symbols(codec: LoadedCodec, payload: bytes, h: int, w: int):
    """Payload → (z symbols, y symbols, μ fixed-point): the exact part of decoding."""
    if len(payload) % 4:
        raise FormatError("learned payload is not a whole number of 32-bit words")
    y_shape, z_shape = shapes(codec, h, w)
    dec = _constriction().stream.queue.RangeDecoder(
        np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    )
    try:
        z_sym = np.empty(z_shape, dtype=np.int64)
        n = z_shape[1] * z_shape[2]
        for c in range(z_shape[0]):
            vals = np.asarray(dec.decode(_categorical(codec.z_counts[c]), n), dtype=np.int64)
            z_sym[c] = (vals - tables.Z_RANGE).reshape(z_shape[1:])
        mu, idx = _hyper(codec, z_sym)
        flat_idx = idx.ravel()
        flat_r = np.empty(flat_idx.size, dtype=np.int64)
        for k in np.unique(flat_idx):
            sel = flat_idx == k
            vals = dec.decode(_categorical(codec.y_counts[k]), int(sel.sum()))
            flat_r[sel] = np.asarray(vals, dtype=np.int64) - tables.Y_RANGE
    except (AssertionError, ValueError, RuntimeError) as exc:  # constriction on invalid data
        raise FormatError(f"learned payload is corrupt ({type(exc).__name__})") from None
    if not dec.maybe_exhausted():
        raise FormatError("learned payload holds more data than its symbols need")
    return z_sym, flat_r.reshape(y_shape), mu


def decompress(codec: LoadedCodec, payload: bytes, h: int, w: int, level: float) -> np.ndarray:
    """Payload → (C, h, w) float32 latent."""
    import torch

    _, r_sym, mu = decode_symbols(codec, payload, h, w)
    y_hat = torch.from_numpy(r_sym + mu / float(1 << intnet.FRAC)).float()
    with torch.inference_mode():
        y_hat = y_hat / _gain(codec, level)
        out = codec.net.synthesis(y_hat[None].to(codec.device))[0].float().cpu().numpy()
    return np.ascontiguousarray(out[:, :h, :w], dtype=np.float32)
