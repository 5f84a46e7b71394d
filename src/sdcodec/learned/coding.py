"""latent → (z, y) symbols → one range-coded payload, and back.

Payload: constriction's RangeEncoder words (little-endian u32). First z, channel by
channel with that channel's table, raster order; then y, grouped by scale index (all
symbols whose index is 0 in (channel, row, column) order, then index 1, ...). The decoder
knows every index from z before it reads y, so the order is the same on both sides.
A codec with a context model (context.py) writes y slice by slice, each slice grouped by
scale index the same way: the decoder knows a slice's indices once the slices before it
are decoded.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from . import LoadedCodec, context, intnet, tables

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


def hyper_params(codec: LoadedCodec, z_sym: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (μ, log σ) of every y symbol from z's symbols, fixed point (value · 2^FRAC)."""
    out = intnet.run(codec.hyper, z_sym)
    m = out.shape[0] // 2
    return out[:m], out[m:]


def _gain(codec: LoadedCodec, level: float):
    """(M, 1, 1) gains at a fractional level, on the CPU whatever the codec's device."""
    import torch

    with torch.inference_mode():
        return codec.net.gain(torch.tensor([float(level)]))[0].float().cpu().view(-1, 1, 1)


def encode_symbols(codec: LoadedCodec, latent: np.ndarray, level: float):
    """(C, h, w) latent → (z symbols, y symbols, μ fixed-point), as decode_symbols returns."""
    return analyse(codec, latent, level)[:3]


def slices(codec: LoadedCodec, m: int) -> list[slice]:
    """y's channel groups in coding order: one without a context model."""
    if codec.context is None:
        return [slice(0, m)]
    cs = m // len(codec.context)
    return [slice(i * cs, (i + 1) * cs) for i in range(len(codec.context))]


def _slice_params(codec: LoadedCodec, i: int, sl: slice, mu: np.ndarray, s: np.ndarray,
                  y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Exact (μ fixed point, scale index) of slice i's symbols, from the hyperprior's μ, s
    and the fixed-point ŷ of the slices before it."""
    if codec.context is None:
        return mu[sl], tables.scale_index(s[sl], codec.thresholds)
    m, sp = context.exact_params(codec.context[i], mu[sl], s[sl], y_hat[: sl.start])
    return m, tables.scale_index(sp, codec.thresholds)


def _walk(codec: LoadedCodec, z_sym: np.ndarray, shape: tuple[int, ...], symbols_of, hyper=None):
    """Slice after slice, as the decoder goes: each slice's exact (μ, scale indices) from
    the slices before it, then ``symbols_of(sl, mu, idx)`` gives its symbols. Returns
    (y symbols, μ fixed point, scale indices)."""
    mu0, s0 = hyper if hyper is not None else hyper_params(codec, z_sym)
    r_sym = np.empty(shape, dtype=np.int64)
    mu, idx, y_hat = np.empty_like(r_sym), np.empty_like(r_sym), np.empty_like(r_sym)
    for i, sl in enumerate(slices(codec, shape[0])):
        mu[sl], idx[sl] = _slice_params(codec, i, sl, mu0, s0, y_hat)
        r_sym[sl] = symbols_of(sl, mu[sl], idx[sl])
        y_hat[sl] = (r_sym[sl] << intnet.FRAC) + mu[sl]
    return r_sym, mu, idx


def quantize(codec: LoadedCodec, y: np.ndarray, z_sym: np.ndarray, hyper=None):
    """y (after the gain, float) → (y symbols, μ fixed point, scale indices, y − μ before
    rounding), slice after slice: each slice rounds on the grid its context model puts μ on.
    ``hyper``: hyper_params(codec, z_sym), where the caller has it."""
    r = np.empty(y.shape)

    def rounded(sl, mu, idx):
        r[sl] = y[sl] - mu / float(1 << intnet.FRAC)
        return np.clip(np.round(r[sl]), -tables.Y_RANGE, tables.Y_RANGE)

    return (*_walk(codec, z_sym, y.shape, rounded, hyper), r)


def symbol_params(codec: LoadedCodec, z_sym: np.ndarray, r_sym: np.ndarray):
    """(μ fixed point, scale indices) of given y symbols: what the decoder derives."""
    return _walk(codec, z_sym, r_sym.shape, lambda sl, mu, idx: r_sym[sl])[1:]


def analyse(codec: LoadedCodec, latent: np.ndarray, level: float, retrained: bool = False):
    """(C, h, w) latent → z symbols, y symbols, μ fixed-point, scale indices, and y − μ
    before rounding (what learned/refine.py starts from)."""
    z_sym, y = analysis_y(codec, latent, level, retrained)
    return (z_sym, *quantize(codec, y, z_sym))


def analysis_y(codec: LoadedCodec, latent: np.ndarray, level: float, retrained: bool = False):
    """(C, h, w) latent → (z symbols, y after the gain as float64). ``retrained``: through
    the codec's retrained analysis where it has one (LoadedCodec.retrained)."""
    import torch

    from .nets import pad_to

    net = codec.retrained if retrained and codec.retrained is not None else codec.net
    with torch.inference_mode():
        x = pad_to(torch.from_numpy(np.ascontiguousarray(latent))[None].float(), Z_DOWN)
        y = (net.analysis(x.to(codec.device))[0].float().cpu() * _gain(codec, level)).double()
        z = net.h_a(y[None].float().to(codec.device))[0].float().cpu()
    z_sym = np.clip(np.round(z.numpy()), -tables.Z_RANGE, tables.Z_RANGE).astype(np.int64)
    return z_sym, y.numpy()


def compress(codec: LoadedCodec, latent: np.ndarray, level: float, retrained: bool = False) -> bytes:
    z_sym, r_sym, _, idx, _ = analyse(codec, latent, level, retrained)
    return pack_symbols(codec, z_sym, r_sym, idx)


def pack_symbols(codec: LoadedCodec, z_sym: np.ndarray, r_sym: np.ndarray,
                 idx: np.ndarray | None = None) -> bytes:  # fmt: skip
    """z and y symbols → payload. ``idx``: y's scale indices where the caller has them from
    analyse/quantize for these very symbols; else derived as the decoder will."""
    enc = _constriction().stream.queue.RangeEncoder()
    for c in range(z_sym.shape[0]):
        enc.encode((z_sym[c].ravel() + tables.Z_RANGE).astype(np.int32),
                   _categorical(codec.z_counts[c]))  # fmt: skip
    if idx is None:
        _, idx = symbol_params(codec, z_sym, r_sym)
    for sl in slices(codec, r_sym.shape[0]):
        flat_idx, flat_r = idx[sl].ravel(), r_sym[sl].ravel()
        for k in np.unique(flat_idx):
            syms = flat_r[flat_idx == k] + tables.Y_RANGE
            enc.encode(syms.astype(np.int32), _categorical(codec.y_counts[k]))
    return enc.get_compressed().astype("<u4").tobytes()


def _fewest_z_bits(codec: LoadedCodec, positions: int) -> float:
    """A lower bound on the bits any valid payload spends on z: every symbol costs at least
    its table's most likely symbol's bits (probability rounded up generously for the coder's
    fixed point, less 3% and 64 bits of slack). A file that claims a large image with a
    tiny payload fails here, before the hyper-synthesis allocates for that image."""
    counts = codec.z_counts.astype(np.float64)
    p_max = np.minimum(counts.max(axis=1) / counts.sum(axis=1) + 2.0**-20, 1.0)
    return 0.97 * positions * float(-np.log2(p_max).sum()) - 64


def decode_symbols(codec: LoadedCodec, payload: bytes, h: int, w: int):
    """Payload → (z symbols, y symbols, μ fixed-point): the exact part of decoding."""
    if len(payload) % 4:
        raise FormatError("learned payload is not a whole number of 32-bit words")
    y_shape, z_shape = shapes(codec, h, w)
    if 32 * len(payload) // 4 < _fewest_z_bits(codec, z_shape[1] * z_shape[2]):
        raise FormatError("learned payload is too short for the image size its header gives")
    dec = _constriction().stream.queue.RangeDecoder(
        np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    )
    try:
        z_sym = np.empty(z_shape, dtype=np.int64)
        n = z_shape[1] * z_shape[2]
        for c in range(z_shape[0]):
            vals = np.asarray(dec.decode(_categorical(codec.z_counts[c]), n), dtype=np.int64)
            z_sym[c] = (vals - tables.Z_RANGE).reshape(z_shape[1:])

        def decoded(sl, mu, idx):
            flat_idx = idx.ravel()
            flat_r = np.empty(flat_idx.size, dtype=np.int64)
            for k in np.unique(flat_idx):
                sel = flat_idx == k
                vals = dec.decode(_categorical(codec.y_counts[k]), int(sel.sum()))
                flat_r[sel] = np.asarray(vals, dtype=np.int64) - tables.Y_RANGE
            return flat_r.reshape(idx.shape)

        r_sym, mu, _ = _walk(codec, z_sym, y_shape, decoded)
    except (AssertionError, ValueError, RuntimeError) as exc:  # constriction on invalid data
        raise FormatError(f"learned payload is corrupt ({type(exc).__name__})") from None
    if not dec.maybe_exhausted():
        raise FormatError("learned payload holds more data than its symbols need")
    return z_sym, r_sym, mu


def decompress(codec: LoadedCodec, payload: bytes, h: int, w: int, level: float) -> np.ndarray:
    """Payload → (C, h, w) float32 latent."""
    import torch

    _, r_sym, mu = decode_symbols(codec, payload, h, w)
    y_hat = torch.from_numpy(r_sym + mu / float(1 << intnet.FRAC)).float()
    with torch.inference_mode():
        y_hat = y_hat / _gain(codec, level)
        out = codec.net.synthesis(y_hat[None].to(codec.device))[0].float().cpu().numpy()
    return np.ascontiguousarray(out[:, :h, :w], dtype=np.float32)
