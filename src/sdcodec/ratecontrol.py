"""The quality dial and size targets.

In the learned mode (the default) ``--quality Q`` (0..100) walks one ladder too:

* Q 0..40: lc6, levels 0..4: lc1's symbols (each level multiplies the λ lc1 was trained
  for by a fixed ratio; fractional levels interpolate the gains) through a synthesis
  retrained for squared error plus a structural term. lc1 saturates above level 4.
* Q 41..90: lc7, levels 1.25..6: lc4's symbols (lc3 — lc1 with a bypass, trained for
  higher rates — with a context model that codes them in 10–45% fewer bytes) through a
  synthesis retrained for squared error plus a structural term (lc5's) and then refinement's
  luma band term.
* Q 91..100: the scalar quantizer, steps 1.4…0.2, the same as the hand-made ladder's top:
  larger files (≈0.7 bpp and up) of higher fidelity.
With ``--refine`` lc6 stops at level 3.5 and lc7 starts lower (Q 41..90 → levels 0.5..6):
refined, lc4 (and lc5 and lc7 with it) wins from ≈0.1 bpp (LEARNED_LADDER, REFINED_LADDER). With ``--codec NAME``
Q walks that codec alone: Q 0..T over all its levels, T its ``quality_top`` (lc1 and
lc6: 80, lc3, lc4, lc5 and lc7: 100), then the scalar steps. ``--level``
reaches every level of a codec directly.

In the hand-made modes ``--quality Q`` picks a point on one ladder of quantizer settings,
ordered so that both size and quality grow with Q (measured on Kodak, BENCHMARKS.md):

* Q 0..60: palette mode, one palette over all channels, K = 2^(1 + 7·Q/60) entries
  (2 at Q 0, 256 at Q 60) — the article's tool, best below ≈0.3 bpp. K is capped at
  one entry per 16 latent vectors: on a small image a large palette would cost more
  than the scalar steps above it (the table alone is K·C bytes);
* Q 61..100: scalar mode, step Δ = 1.4 · (0.2/1.4)^((Q−61)/39) (1.4 at Q 61, 0.2 at
  Q 100) — better than any palette from ≈0.7 bpp up to near the autoencoder's ceiling.

``--target-bpp`` / ``--max-bytes`` binary-search Q on the already-encoded latent (the
autoencoder runs once) for the highest Q whose file fits. Sizes grow with Q only up to
k-means noise (a palette of K+1 entries can code a few bytes smaller than one of K), so
the result is the highest fitting Q the search meets, not always the global one. With
refinement (``--refine``) the search runs on unrefined files, scaled by how much
refinement is expected to shrink or grow them at that Q (REFINED_SIZE) and leaving
REFINE_HEADROOM of the budget, stops at Q REFINE_TOP, and the kept setting is refined
under the budget (its rate weight following the budget, so an image that refines larger
than expected still gains) — a second time, one setting higher, when the first file comes
out more than REFINE_RETRY under it (the better of the two is kept). A file never exceeds
``max_bytes``; when even Q 0 does not fit, that is an error that says the smallest size.

Below DOWNSCALE_BPP the search also codes the image at half its width and height (format
2.1's RSMP section; Lanczos back up at decode) and keeps it unless it decodes more than
DOWNSCALE_BIAS further in squared error (sharper at the half size, it looks better than its
PSNR says; with ``--refine`` the two are compared unrefined and only the kept one is
refined), and a budget under the image's smallest file is met at 1/2, else 1/4 of its
size; only when even that fails is it an error. ``downscale`` set by the caller turns this off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .codec import Analysis, EncodeOptions

PALETTE_TOP = 60
STEP_HIGH, STEP_LOW = 1.4, 0.2


VECTORS_PER_ENTRY = 16
# the default learned ladder (no --codec): (codec, from Q, to Q, level at from Q, level at
# to Q); above the last Q the scalar quantizer's steps. With --codec NAME, that codec's own
# ladder: Q 0..quality_top over all its levels, then the scalar steps. lc4 (lc3's bypass
# transforms, no restorer, a context model) codes lc3's pictures in fewer bytes (level 4.5:
# 0.35 bpp where lc3 took 0.67 on four Kodak images), so its range reaches level 6 (≈0.6
# bpp), below the scalar steps' ≈0.7; refinement gains 2–3 dB on it, 1–2.5 on lc1. Sizes
# grow with Q across the seam: lc4 starts at level 1.25 unrefined (lc1 level 4: 0.122 bpp, lc4 level 1: 0.113) and refined lc1 stops at level 3.5
# (refined on kodim01/23, lc1 level 3 0.095 bpp 25.72 dB, 4 0.123 / 25.88; lc4 level 0
# 0.094 / 25.62, 0.5 0.112 / 26.18: lc4 wins from ≈0.1 bpp)
# lc5 decodes lc4's symbols (the same bytes, so the same seam) with a synthesis retrained
# for squared error plus a structural term: +1.0…1.4 dB, +3…6 SSIMULACRA2 unrefined; lc6
# does the same for lc1's symbols (+1.1…1.2 dB, +2.8…4.5, 8 Kodak images, levels 0…4), and
# the seam holds: unrefined lc6 level 4 0.113 bpp 24.28 dB, lc5 level 0.5 0.093 / 24.07.
# lc7 is lc5 trained on with refinement's luma band term (the same bytes again): on all 24
# Kodak images, unrefined, levels 1 / 2 / 3.5, +0.05 / +0.03 / +0.01 dB, +1.0 / +1.0 / +1.2
# SSIMULACRA2, +0.025 / +0.024 / +0.028 JOD
LEARNED_LADDER = (("lc6", 0, 40, 0.0, 4.0), ("lc7", 41, 90, 1.25, 6.0))
REFINED_LADDER = (("lc6", 0, 40, 0.0, 3.5), ("lc7", 41, 90, 0.5, 6.0))
# for the spread of REFINED_SIZE between images. Below 0 the search aims over the budget and
# leaves refinement's rate weight to bring the file down (a finer level pruned rather than
# a coarser one filled): −0.1 on Kodak at 0.25 bpp, 12 steps, 0.248 bpp 28.03 dB
# SSIMULACRA2 19.0 JOD 8.85 against 0.249 / 28.08 / 18.4 / 8.85 (BENCHMARKS.md, session 17)
REFINE_HEADROOM = 0.04
# refined / unrefined size by quality on REFINED_LADDER, 12 steps, no cap. lc1 (Q ≤ 40):
# the largest of six training photos (BSDS500; means 0.77 … 1.0): at low Q refinement sheds
# bits as well as error, so the search may go higher. lc4 (Q 41..90, levels 0.5..6): on six
# other training photos (BSDS500 and ImageNet, every 200th), levels 0.5 / 1.5 / 3 / 4.5 / 6,
# means 1.06 / 1.09 / 1.09 / 1.07 / 1.02, the largest 1.45 / 1.49 / 1.36 / 1.24 / 1.13 (one
# photo far above the rest); lc3's had been 0.68–0.92 (refinement saved the bits lc1's
# probability model misjudged; lc4's context model no longer does). 1.15 sits between mean
# and largest. Since refinement under a cap steers its rate weight to the cap
# (learned/refine.py), the ratio matters less than it did: kodim01 at 0.25 bpp codes
# 24.28 dB with 1.0 here and 24.32 with 1.25 (lc3; with the weight held: 21.97 and 24.29);
# a file that lands more than REFINE_RETRY under the budget gets a second try
REFINED_SIZE = ((0, 0.86), (10, 0.915), (20, 0.955), (30, 0.99), (40, 1.02), (41, 1.15), (72, 1.15),
                (90, 1.08))  # fmt: skip
# ... measured with this many steps. Fewer move a file a proportional part of the way (the
# path is shorter): with 12's ratios 4 steps left kodim04 / 12 / 16 11–20% under 0.10 bpp
# (lc7's expected growth kept the search on lc6, or low on lc7). On Kodak, 4 steps, scaled
# against not: 0.10 / 0.15 / 0.25 bpp +0.08 / +0.21 / +0.19 dB, +0.8 / +2.7 / +2.6
# SSIMULACRA2, +0.02 / +0.05 / +0.04 JOD, at 0.05 level (+0.01 dB, +0.1, −0.01 JOD; growth
# scaled alone, the same within 0.01) (BENCHMARKS.md, session 23)
REFINED_SIZE_STEPS = 12
# refinement needs the learned codec's symbols: the ladder's scalar top is not refined
REFINE_TOP = 90
# a refined file more than this far under the budget gets a second try one setting higher
# (0, a second try for every file: the same files on 6 training photos at 0.25 bpp, in 1.6×
# the time)
REFINE_RETRY = 0.1
# where rate control also tries the image at half its size (and then 1/4, where it cannot
# fit otherwise). Unrefined at 0.07 and 0.10 bpp half the size lost on all of kodim01 / 05 /
# 08 / 13 / 15 / 24 (−0.09 … −0.70 dB); refined at 0.05 it decodes further on PSNR on 15 of
# 22 Kodak images but closer on SSIMULACRA2 on 20 and JOD on 17 (BENCHMARKS.md, session 19);
# refined at 0.10 it loses on all three on average (25.38 dB / −14.8 / 8.04 JOD against 25.67
# / −13.8 / 8.12), ahead on JOD on 3 of 23
DOWNSCALE_BPP = 0.06
# so the smaller size is kept unless its squared error is more than this fraction above the
# full size's. Kodak at 0.05 bpp (22 images, both sizes refined): 0 keeps half on 7, 24.92
# dB / SSIMULACRA2 −37.3 / 7.50 JOD; 0.1 on 20, 24.85 / −35.5 / 7.53 (JOD's own pick per
# image would be 24.85 / −35.4 / 7.54). On the 4 of 8 training photos (BSDS500, ImageNet,
# SUN) that reach 0.05 at full size, 0 keeps half on 2, anything from 0.03 on all 4 (+2.5
# SSIMULACRA2, +0.03 JOD, −0.02 dB)
# Refined, the two sizes are compared before refinement and only the kept one is refined:
# on Kodak at 0.05 bpp the unrefined files pick the size the refined ones would on 22 of 24
# images (kodim04 and 09 go to full size), 24.39 dB / −37.7 / 7.431 JOD against 24.37 /
# −37.4 / 7.437 (BENCHMARKS.md, session 20), in about half the time (one size refined)
DOWNSCALE_BIAS = 0.1
DOWNSCALES = (2, 4)


def settings(
    q: int, vectors: int = 1 << 30, mode: str = "palette", codec=None, refined: bool = False
) -> dict:
    """Quantizer settings of quality q for a latent of ``vectors`` positions (``codec``:
    the learned mode's registry.CodecSpec; None: the default ladder, REFINED_LADDER for
    files that will be ``refined``, else LEARNED_LADDER)."""
    if mode == "learned":
        if codec is None:
            ladder = REFINED_LADDER if refined else LEARNED_LADDER
            for name, q0, q1, lv0, lv1 in ladder:
                if q <= q1:
                    return {"codec": name, "level": lv0 + (lv1 - lv0) * (q - q0) / (q1 - q0)}
            top = ladder[-1][2]
        else:
            top = codec.quality_top
            if q <= top:
                return {"level": (codec.levels - 1) * q / top}
        t = (q - top - 1) / (100 - top - 1)
        return {"mode": "scalar", "step": float(STEP_HIGH * (STEP_LOW / STEP_HIGH) ** t)}
    if q <= PALETTE_TOP:
        k = round(2 ** (1 + 7 * q / PALETTE_TOP))
        k = min(k, 256, max(vectors // VECTORS_PER_ENTRY, 2))
        return {"mode": "palette", "palette_size": int(max(k, 2)), "groups": 1}
    t = (q - PALETTE_TOP - 1) / (100 - PALETTE_TOP - 1)
    return {"mode": "scalar", "step": float(STEP_HIGH * (STEP_LOW / STEP_HIGH) ** t)}


def _vectors(analysis: Analysis) -> int:
    return int(analysis.latent.shape[1] * analysis.latent.shape[2])


def resolve_quality(
    opts: EncodeOptions, analysis: Analysis, refined: bool | None = None
) -> EncodeOptions:
    """``opts`` with its quality turned into settings; ``refined``: which default ladder
    (None: refined when ``opts`` refine)."""
    from .codec import resolve_refine

    # mode "auto" and the default steps decided before the quality is read
    opts = resolve_refine(opts.resolved(), analysis)
    if opts.quality is None:
        return opts
    codec = opts.learned_codec()
    # the default ladder is TAEF2's (lc6, lc7); any other model's codec walks its own levels
    if opts.codec is None and codec is not None and codec.name == LEARNED_LADDER[0][0]:
        codec = None
    refined = bool(opts.refine) if refined is None else refined
    fixed = replace(opts, **settings(opts.quality, _vectors(analysis), opts.mode, codec, refined))
    # the learned ladder's top is the scalar quantizer: no learned symbols to refine there
    return fixed if fixed.mode == "learned" else replace(fixed, refine=0)


@dataclass
class Fit:
    data: bytes
    quality: int
    downscale: int = 1  # the quality is the ladder's at this fraction of the image's size


def _budget(analysis: Analysis, opts: EncodeOptions) -> float:
    height, width = analysis.reference.shape[:2]
    budget = opts.max_bytes if opts.max_bytes is not None else float("inf")
    if opts.target_bpp is not None:
        budget = min(budget, opts.target_bpp * width * height / 8)
    return budget


def fit(analysis: Analysis, opts: EncodeOptions) -> Fit:
    """The best file under the budget; with ``downscale`` left to the encoder, also (under
    DOWNSCALE_BPP, or where the image's own size cannot fit) the image at 1/2 of its size,
    then 1/4 if that does not fit either: the smaller size is kept unless it decodes more than
    DOWNSCALE_BIAS further. With refinement the sizes are compared unrefined, and only the
    kept one is refined (DOWNSCALE_BIAS)."""
    from .codec import rescaled, resolve_refine

    opts = resolve_refine(opts.resolved(), analysis)
    if opts.downscale is not None or analysis.factor != 1:
        return _fit(analysis, opts)
    height, width = analysis.reference.shape[:2]
    low = _budget(analysis, opts) * 8 / (width * height) <= DOWNSCALE_BPP
    deciding = low and bool(opts.refine)  # the sizes compared unrefined, the kept one refined after
    quick = replace(opts, refine=0) if deciding else opts
    fits, smallest = [], []
    for factor in (1, *DOWNSCALES):
        if fits and (factor != DOWNSCALES[0] or not low):
            break
        try:
            scaled = analysis if factor == 1 else rescaled(analysis, factor, opts)
            fits.append((scaled, _fit(scaled, quick)))
        except _Unfit as exc:
            smallest.append(f"{exc.smallest} bytes" + (f" at 1/{factor} size" if factor > 1 else ""))
    if not fits:
        raise InputError(_unfit_message(int(_budget(analysis, opts)), ", ".join(smallest)))
    # (one size: no decode to compare)
    scaled, found = fits[0] if len(fits) == 1 else min(
        fits, key=lambda f: _error(analysis, f[1].data) / (1 + DOWNSCALE_BIAS * (f[1].downscale > 1)))
    return _fit(scaled, opts) if deciding else found


class _Unfit(InputError):
    """Not even quality 0 fits; ``smallest`` is its size (fit names every size it tried)."""

    def __init__(self, budget: int, smallest: int) -> None:
        super().__init__(_unfit_message(budget, f"{smallest} bytes"))
        self.smallest = smallest


def _unfit_message(budget: int, smallest: str) -> str:
    return f"cannot fit in {budget} bytes: the smallest file at quality 0 is {smallest}"


def _fit(analysis: Analysis, opts: EncodeOptions) -> Fit:
    from .codec import pack, with_restoration

    budget = _budget(analysis, opts)
    cache: dict[int, bytes] = {}
    # the search skips the encoder's restorer check (it changes a header field, not the
    # size) and refinement (slow); refinement then runs once, capped at the budget
    search = replace(opts, restore=False if opts.restore is None else opts.restore, refine=0)

    def at(q: int, final: bool = False) -> bytes:
        if final and opts.refine:
            fixed = replace(opts, quality=q, target_bpp=None, max_bytes=int(budget))
            return pack(analysis, resolve_quality(fixed, analysis))
        if final and search.restore is not opts.restore:
            fixed = replace(opts, quality=q, target_bpp=None, max_bytes=None)
            return with_restoration(analysis, at(q), resolve_quality(fixed, analysis))
        if q not in cache:  # on the ladder the final file will use
            fixed = replace(search, quality=q, target_bpp=None, max_bytes=None)
            cache[q] = pack(analysis, resolve_quality(fixed, analysis, bool(opts.refine)))
        return cache[q]

    if len(at(0)) > budget:
        raise _Unfit(int(budget), len(at(0)))
    if not opts.refine:
        q = _highest(lambda q: len(at(q)) <= budget, 100)
        return Fit(at(q, final=True), q, analysis.factor)
    expected = partial(refined_size, steps=opts.refine)
    room = budget * (1 - REFINE_HEADROOM)
    q = _highest(lambda q: len(at(q)) * expected(q) <= room, REFINE_TOP)
    data = at(q, final=True)
    if len(data) > budget:  # refinement kept the analysis's symbols: it did not shrink them
        q = _highest(lambda q: len(at(q)) <= min(room, budget), q - 1)
        data = at(q, final=True)
    elif q > 0 and _payload(data) == _payload(at(q)):
        # the analysis's own file fits but leaves refinement no bits (the coder's slack
        # eats what is left under the cap), and every iterate it found was over: on a 128-px
        # crop of kodim03 at 300 bytes, Q 36 came out unrefined at 22.48 dB where Q 35,
        # 8 bytes smaller, refines to 25.05. One try at the next smaller file
        lower = _highest(lambda k: len(at(k)) < len(at(q)), q - 1)
        second = at(lower, final=True)
        if len(second) <= budget and _error(analysis, second) < _error(analysis, data):
            data, q = second, lower
    elif len(data) < (1 - REFINE_RETRY) * budget and q < REFINE_TOP:
        # this image shed more than REFINED_SIZE expects: one more try, higher by what
        # refinement did to this image (its ratio, following the table's trend with Q);
        # of the two files the closer to the image is kept
        ratio = len(data) / len(at(q)) / expected(q)
        higher = _highest(lambda k: len(at(k)) * ratio * expected(k) <= room, REFINE_TOP)
        if higher > q:
            second = at(higher, final=True)
            if len(second) <= budget and _error(analysis, second) < _error(analysis, data):
                data, q = second, higher
    return Fit(data, q, analysis.factor)


def refined_size(q: int, steps: int) -> float:
    """Expected refined / unrefined file size at quality ``q`` with ``steps`` refinement
    steps, uncapped (REFINED_SIZE, scaled toward 1 below REFINED_SIZE_STEPS)."""
    qs, ratios = zip(*REFINED_SIZE, strict=True)
    return 1 + (float(np.interp(q, qs, ratios)) - 1) * min(1.0, steps / REFINED_SIZE_STEPS)


def _payload(data: bytes) -> bytes:
    from .bitstream import read

    return read(data).payload


def _error(analysis: Analysis, data: bytes) -> float:
    from .codec import decode

    decoded = np.asarray(decode(data).convert("RGB"), np.float64)
    return float(np.mean((decoded - analysis.reference) ** 2))


def _highest(fits, hi: int) -> int:
    """The highest q in 0..hi the binary search meets with fits(q) (fits(0) is assumed)."""
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
