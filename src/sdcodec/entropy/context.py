"""Context-modelled range coding (coder id 2, "ctx") with constriction.

Models are adaptive frequency tables held as integers and updated from decoded data
only, so encoder and decoder derive bit-identical tables on any machine: the floats
handed to constriction are exact integers, and its fixed-point quantization of them uses
only IEEE additions, multiplications and floors. Three kinds of stream:

* ``table`` (palette entries, K × D bytes): the difference to the previous entry, per
  column, mod 256 (the quantizer orders entries so neighbours are similar); one adaptive
  table shared by the columns, updated after each entry.
* ``map`` (index maps, alphabet K): raster order; the probability of each symbol is its
  count in a context given by which neighbours (left, up, up-left, up-right) are equal,
  plus adaptive weights on the neighbours' own symbols.
* ``volume`` (C × h × w latent codes, centre = alphabet // 2): channel by channel, each in
  two checkerboard passes; a symbol's context is a bucket of the magnitudes of what is
  already decoded around it (previous channel, and in the second pass the first pass's
  four neighbours). Symbols of one context in one pass share one model, so each pass is
  coded with a few vectorized calls.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError, first_line
from ..quant import StreamSpec

INCREMENT = 32
RESCALE_AT = 1 << 22
VOLUME_BUCKETS = 16


def _constriction():
    try:
        import constriction
    except ImportError:  # pragma: no cover - a declared dependency
        raise FormatError("the ctx coder needs the 'constriction' package") from None
    return constriction


def _categorical(counts: np.ndarray):
    return _constriction().stream.model.Categorical(counts.astype(np.float64), perfect=False)


def _geometric_prior(
    alphabet: int, centre: int, mean_abs_num: int, mean_abs_den: int, mass: int
) -> np.ndarray:
    """Two-sided geometric counts around ``centre`` in integer arithmetic only."""
    # decay θ = μ / (1 + μ) as a 16-bit fraction, μ = num / den
    theta = (mean_abs_num << 16) // (mean_abs_num + mean_abs_den)
    f = np.zeros(alphabet, dtype=np.int64)
    v = mass
    for k in range(alphabet):
        for pos in {centre - k, centre + k}:
            if 0 <= pos < alphabet:
                f[pos] = v
        v = (v * theta) >> 16
        if v == 0 and k > 0 and centre - k <= 0 and centre + k >= alphabet - 1:
            break
    return f + 1


class _Adaptive:
    def __init__(self, init: np.ndarray) -> None:
        self.counts = init.astype(np.int64).copy()

    def update(self, symbols: np.ndarray) -> None:
        np.add.at(self.counts, symbols, INCREMENT)
        if self.counts.sum() > RESCALE_AT:
            self.counts = (self.counts + 1) >> 1


# ---------------------------------------------------------------- tables


def _table_io(coder, spec: StreamSpec, data: np.ndarray | None) -> np.ndarray:
    k, d = spec.shape
    model = _Adaptive(_geometric_prior(256, 128, 4, 1, 1 << 12))
    out = np.zeros((k, d), dtype=np.uint8)
    prev = np.full(d, 128, dtype=np.int64)
    for i in range(k):
        cat = _categorical(model.counts)
        if data is not None:
            res = ((data[i].astype(np.int64) - prev) % 256 + 128) % 256
            coder.encode(res.astype(np.int32), cat)
        else:
            res = np.asarray(coder.decode(cat, d), dtype=np.int64)
        row = (prev + res - 128) % 256
        out[i] = row
        prev = row
        model.update(res)
    return out


# ---------------------------------------------------------------- index maps


def _map_io(coder, spec: StreamSpec, data: np.ndarray | None) -> np.ndarray:
    h, w = spec.shape
    k = spec.alphabet
    if k == 1:  # a one-entry palette: every index is 0 and costs nothing
        return np.zeros((h, w), dtype=np.int64)
    base = [np.ones(k, dtype=np.int64) for _ in range(8)]
    hits = np.ones((8, 4), dtype=np.int64) * 4  # how often the symbol equalled each neighbour
    out = np.zeros((h, w), dtype=np.int64)
    cat_family = _constriction().stream.model.Categorical(perfect=False)
    for y in range(h):
        for x in range(w):
            up = out[y - 1, x] if y else -1
            left = out[y, x - 1] if x else up
            up = left if up < 0 else up
            ul = out[y - 1, x - 1] if (x and y) else up
            ur = out[y - 1, x + 1] if (y and x + 1 < w) else up
            if left < 0:  # the very first symbol
                ctx, nbs = 0, ()
            else:
                ctx = int(left == up) | int(left == ul) << 1 | int(up == ur) << 2
                nbs = (left, up, ur, ul)
            p = base[ctx] * 4
            total = int(base[ctx].sum())
            for j, s in enumerate(nbs):
                p[s] += (hits[ctx, j] * total * 4) // (hits[ctx].sum() + total)
            if data is not None:
                sym = int(data[y, x])
                coder.encode(
                    np.array([sym], dtype=np.int32), cat_family, p[None].astype(np.float64)
                )
            else:
                sym = int(coder.decode(cat_family, p[None].astype(np.float64))[0])
            out[y, x] = sym
            base[ctx][sym] += 1
            for j, s in enumerate(nbs):
                if s == sym:
                    hits[ctx, j] += 1
            if base[ctx].sum() > RESCALE_AT:
                base[ctx] = (base[ctx] + 1) >> 1
    return out


# ---------------------------------------------------------------- volumes


def _bucket(v: np.ndarray) -> np.ndarray:
    """⌊log2⌋-like integer buckets of a non-negative integer activity."""
    b = np.zeros(v.shape, dtype=np.int64)
    t = v.copy()
    while np.any(t > 0):
        b += t > 0
        t >>= 1
    return np.minimum(b, VOLUME_BUCKETS - 1)


def _shifted_mag(mag: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """mag moved by (dy, dx) with zeros where the neighbour is outside."""
    h, w = mag.shape
    out = np.zeros_like(mag)
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[yd, xd] = mag[ys, xs]
    return out


def _volume_io(coder, spec: StreamSpec, data: np.ndarray | None) -> np.ndarray:
    c, h, w = spec.shape
    a = spec.alphabet
    centre = a // 2
    models = {}
    for p in range(2):
        for b in range(VOLUME_BUCKETS):
            # expected magnitude grows with the bucket: about 2^b / 8 (+ a floor)
            models[p, b] = _Adaptive(_geometric_prior(a, centre, (1 << b) + 2, 16, 1 << 12))
    out = np.zeros((c, h, w), dtype=np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    anchor = (yy + xx) % 2 == 0
    prev_mag = np.zeros((h, w), dtype=np.int64)
    for ch in range(c):
        cur = np.zeros((h, w), dtype=np.int64)
        around_prev = prev_mag * 2 + sum(
            _shifted_mag(prev_mag, dy, dx) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))
        )
        for p, mask in enumerate((anchor, ~anchor)):
            if p == 0:
                activity = around_prev
            else:
                cur_mag = np.abs(cur - centre) * anchor
                near = sum(
                    _shifted_mag(cur_mag, dy, dx) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))
                )
                activity = near + prev_mag * 2
            ctx = _bucket(activity)[mask]
            ys, xs = np.nonzero(mask)
            vals = np.zeros(ys.size, dtype=np.int64)
            for b in np.unique(ctx):
                sel = ctx == b
                model = models[p, int(b)]
                cat = _categorical(model.counts)
                if data is not None:
                    syms = data[ch][ys[sel], xs[sel]].astype(np.int32)
                    coder.encode(syms, cat)
                else:
                    syms = np.asarray(coder.decode(cat, int(sel.sum())), dtype=np.int64)
                vals[sel] = syms
                model.update(np.asarray(syms, dtype=np.int64))
            cur[ys, xs] = vals
        out[ch] = cur
        prev_mag = np.abs(cur - centre)
    return out


_KINDS = {"table": _table_io, "map": _map_io, "volume": _volume_io}


class ContextCoder:
    id = 2
    name = "ctx"

    def encode(self, streams: list[np.ndarray], specs: list[StreamSpec]) -> bytes:
        enc = _constriction().stream.queue.RangeEncoder()
        for data, spec in zip(streams, specs, strict=True):
            _KINDS[spec.kind](enc, spec, np.asarray(data))
        return enc.get_compressed().astype("<u4").tobytes()

    def decode(self, payload: bytes, specs: list[StreamSpec]) -> list[np.ndarray]:
        if len(payload) % 4:
            raise FormatError("ctx payload is not a whole number of 32-bit words")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        dec = _constriction().stream.queue.RangeDecoder(words)
        out = []
        try:
            for spec in specs:
                out.append(_KINDS[spec.kind](dec, spec, None).astype(spec.dtype))
        except (AssertionError, ValueError, RuntimeError) as exc:  # constriction on invalid data
            raise FormatError(
                f"ctx payload is corrupt ({first_line(exc)})"
            ) from None
        if not dec.maybe_exhausted():
            raise FormatError("ctx payload holds more data than its symbols need")
        return out
