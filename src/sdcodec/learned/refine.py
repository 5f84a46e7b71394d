"""Encoder-side refinement of the learned codec's y symbols (``--refine STEPS``).

g_a guesses y in one pass, and a small network trained for a few CPU hours guesses
poorly: on Kodak, gradient steps on y itself for *this* image recover 1–2.5 dB at the
same size (content-adaptive coding, after Campos et al. 2019 and Yang et al. 2020).

The loss is bits + λ(level) · 255² · (pixel MSE + w · structural term) — lc1's training
loss with the structural term of distortion.py (multi-scale SSIM; w = ``structure``, 0.01
by default, tapering to 0 from 0.35 to 0.5 bpp: squared error alone blurs what the rate
cannot pay for, and SSIMULACRA2 and ColorVideoVDP see it; above 0.1 bpp the squared
error counts the luma band between σ 2 and 8 px more, distortion.band_at) — measured
through g_s, the restorer the file will name (if any) and the frozen TAEF2 decoder,
against the image's own pixels. Rounding is straight-through for the distortion; the
rate term uses the continuous Gaussian of each symbol's scale so it pulls y toward μ. z,
and with it μ and every probability table, stays as the analysis chose: the decoder is
unchanged and decoding stays exact; only which y symbols are written changes. Of the
iterates, the one with the lowest true loss (integer table bits, rounded y) is kept, so
refinement never makes that loss worse.

With a context model (lc4, context.py) μ and the scales of a slice follow the symbols of
the slices before it, so the steps move y itself: at each step the integer model
re-quantizes y slice by slice (the symbols scored, and kept, are what the file will hold),
and the rate term runs the float copy of the context networks on those symbols.

Under a byte cap (rate control's budget) the question is another one: the least error in
at most so many bits. The rate term's weight then follows the cap (a dual ascent: up while
the symbols take more bits than CAP_FILL of it, down while fewer), and of the iterates
under the cap the one with the least pixel error is kept. With the weight held at 1, an
image whose refined file wants to grow past the cap kept the analysis's symbols: on Kodak
at 0.25 bpp kodim05 / 13 / 02 coded 21.88 / 20.57 / 29.81 dB at 0.93 / 0.93 / 0.84 of
the budget; following the cap, 22.92 / 21.25 / 30.13 dB at 0.98 / 0.98 / 0.94. A path
that still ends over the cap settles: a few more small steps with the rate weight rising
until an iterate fits (SETTLE_STEPS), rather than fall back to an early one. Where an
iterate over the cap decoded closer than the kept one, a bisection on the line between the
two moves the kept symbols up to the cap (FILL_SEARCH): the path crosses the cap in steps of
a few per cent, and the bytes between were left unspent.

Cost: a decoder forward and backward per step at full resolution (tiled above 1 MP, like
decoding: `Autoencoder.decode_error`): 12 steps take `sdcodec encode` from ≈1.2 s to ≈13 s
and 1.3 GB peak for 768×512 on two CPU cores, 66 s and 1.8 GB at 1536×1024, 165 s and
2.6 GB at 2304×1536; time, and more slowly memory, grow with the pixels, hence MAX_PIXELS.
"""

from __future__ import annotations

import math

import numpy as np

from . import LoadedCodec, coding, context, distortion, intnet, tables

DEFAULT_STEPS = 12
# Adam on y in quantization steps, decayed linearly to 0. Twice this does not buy what twice
# the steps do: rate controlled, 12 steps, on 8 training photos (benchmarks/refine_steps.py
# --lr 0.05,0.1), lr 0.1 at 0.25 bpp 0.235 bpp 25.65 dB SSIMULACRA2 3.5 JOD 8.45 against
# 0.246 / 25.70 / 4.8 / 8.49, at 0.10 bpp (5 photos) 0.093 / 22.04 / −42.8 / 7.22 against
# 0.097 / 22.13 / −39.8 / 7.30: the iterates swing wider and the one kept under the cap is
# a smaller, worse file
LEARNING_RATE = 0.05
# ... at DEFAULT_STEPS and above; a shorter path takes larger steps, SHORT_LEARNING_RATE at
# SHORT_STEPS and below, linear between (the default encode's 6: 0.0875). Rate controlled,
# 4 steps, 6 training photos (BSDS500, ImageNet; refine_steps.py --lr 0.05,0.1,0.15,0.2), at 0.10
# bpp (4 reach it) 21.09 / 21.21 / 21.24 / 20.78 dB, SSIMULACRA2 −34.9 / −33.9 / −35.9 /
# −42.6, JOD 7.31 / 7.34 / 7.30 / 7.09; at 0.25 21.97 / 22.16 / 22.08 / 21.87 dB, −9.1 /
# −8.1 / −9.7 / −13.3, 8.03 / 8.06 / 8.03 / 7.94
SHORT_STEPS = 4
SHORT_LEARNING_RATE = 0.1
# short memories: straight-through rounding makes the gradient jump as symbols flip, and a
# dozen steps leave no time to average. Against Adam's (0.9, 0.999) at lr 0.04, rate
# controlled on kodim01/07/13/23: +0.10 / +0.29 / +0.27 dB at 0.05 / 0.10 / 0.15 bpp
BETAS = (0.5, 0.9)
# above this (4.2 MP) refinement would take minutes on a CPU and its memory, though tiled,
# still grows (≈0.45 GB per MP above 1.5 MP: the latent-resolution passes); larger images
# are coded unrefined, with a warning
MAX_PIXELS = 1 << 22
# under a cap: the rate weight is multiplied each step by (bits / (CAP_FILL · cap))^CAP_GAIN,
# clamped to CAP_CLAMP. Steeper or wider (3, 0.6…1.8) swung the bits from 0.8 to 1.4 of the
# cap and back over a dozen steps (kodim05 at 0.25 bpp 22.78 dB against 22.92). A fill of
# 0.995 gained 0.002 bpp and lost 0.05 dB on 8 training photos (one photo's path kept an
# iterate 0.63 dB worse; BENCHMARKS.md, session 14)
CAP_FILL = 0.985
CAP_GAIN = 1.5
CAP_CLAMP = (0.75, 1.35)
# under a cap, a path whose last iterate is still over it kept an early one (kodim09 at 0.25
# bpp with the band term: 1.019× the cap at step 12, kept step 3, error 241 where 186 was
# reached). Up to SETTLE_STEPS more steps, at SETTLE_LR and with the rate weight raised by
# CAP_CLAMP[1] each, bring it under from where it ended (kodim09: 0.989×, error 190)
SETTLE_STEPS = 4
SETTLE_LR = LEARNING_RATE / 4
# under a cap, the kept iterate sits where the path happened to cross under it (on Kodak at
# 0.25 bpp, 24 steps, 0.961–0.994 of the budget; kodim03 with 12 steps rose to 1.08× and
# settled to 0.974×). When an
# iterate over the cap decoded closer, FILL_SEARCH bisections on the straight line from
# the kept iterate toward it find the point nearest the cap that fits; it is kept if it
# decodes closer still (kodim03 / kodim23 crops at 400 / 500 bytes: +0.50 / +0.93 dB)
FILL_SEARCH = 6


class _Adam:
    """Adam (Kingma & Ba 2015) on one tensor, as torch.optim.Adam's single-tensor path
    computes it: the first torch.optim optimizer a process builds imports torch._dynamo,
    0.8–1.2 s on this CPU, which nothing else in sdcodec needs."""

    def __init__(self, param, lr: float, betas: tuple[float, float], eps: float = 1e-8):
        import torch

        self.param, self.lr, self.betas, self.eps, self.t = param, lr, betas, eps, 0
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)

    def step(self) -> None:
        import torch

        b1, b2 = self.betas
        g = self.param.grad
        self.t += 1
        with torch.no_grad():
            self.m.lerp_(g, 1 - b1)
            self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (self.v.sqrt() / (1 - b2**self.t) ** 0.5).add_(self.eps)
            self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))


def _log2_tables(codec: LoadedCodec) -> np.ndarray:
    counts = codec.y_counts.astype(np.float64)
    return np.log2(counts) - np.log2(counts.sum(axis=1, keepdims=True))


def learning_rate(steps: int) -> float:
    """Adam's first learning rate on a path of ``steps`` steps (then decayed linearly)."""
    return float(np.interp(steps, (SHORT_STEPS, DEFAULT_STEPS), (SHORT_LEARNING_RATE, LEARNING_RATE)))


def refine(
    codec: LoadedCodec,
    decoder,
    restorer,
    rgb: np.ndarray,
    r: np.ndarray,
    mu: np.ndarray,
    idx: np.ndarray,
    level: float,
    steps: int,
    spare_bits: float | None = None,
    z_sym: np.ndarray | None = None,
    structure: float = 0.0,
) -> np.ndarray:
    """Refined y symbols (int64, y's shape).

    ``rgb``: the (H, W, 3) uint8 image; ``r``: y − μ before rounding (coding.analyse);
    ``mu``, ``idx``: μ fixed-point and scale indices from z; ``decoder``: the models
    Autoencoder; ``restorer``: the restorer network the file will name, or None;
    ``spare_bits``: how many more bits than the analysis's own symbols y may take (rate
    control's cap; None: no cap); ``structure``: the weight of the structural term in the
    error (distortion.py; 0: squared error alone)."""
    import torch

    dev = codec.device
    net = codec.net
    height, width = rgb.shape[:2]
    lat_h, lat_w = -(-height // decoder.spec.downsample), -(-width // decoder.spec.downsample)
    target = torch.from_numpy(np.array(rgb.transpose(2, 0, 1), np.float32))[None].to(dev) / 255
    mu_t = torch.from_numpy(mu / float(1 << intnet.FRAC)).float().to(dev)
    idx_t = torch.from_numpy(idx).to(dev)
    log_sigma = torch.from_numpy(np.log(tables.sigma_table())).float().to(dev)[idx_t]
    log2p = torch.from_numpy(_log2_tables(codec)).float().to(dev)
    with torch.no_grad():
        gain = net.gain(torch.tensor([float(level)]))[0].float().to(dev).view(-1, 1, 1)
    lam = net.lam(level) * 255**2

    def table_bits(sym: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        k = (sym.long() + tables.Y_RANGE).clamp(0, 2 * tables.Y_RANGE)
        return -log2p[idx.reshape(-1), k.reshape(-1)].sum()

    if codec.context is None:
        # y is y − μ: μ and every scale stay where z put them
        def exact(y):
            sym = torch.round(y).clamp(-tables.Y_RANGE, tables.Y_RANGE)
            return sym, table_bits(sym, idx_t).item(), y + (torch.round(y) - y).detach() + mu_t

        def soft_bits(y, y_hat):
            return -torch.log2(net.y_likelihood(y, log_sigma)).sum()

        y0 = r
    else:
        # y is y itself: each slice's μ and scales follow the slices before it
        if z_sym is None:
            raise ValueError("refining a codec with a context model needs z's symbols")
        ctx = codec.context_nets()
        hyper = coding.hyper_params(codec, z_sym)
        mu0, s0 = (torch.from_numpy(v / float(1 << intnet.FRAC)).float().to(dev) for v in hyper)
        slices = coding.slices(codec, r.shape[0])

        def exact(y):
            sym, mu_f, idx, _ = coding.quantize(codec, y.detach().double().cpu().numpy(), z_sym, hyper)
            y_hat = torch.from_numpy(sym + mu_f / float(1 << intnet.FRAC)).float().to(dev)
            sym_t = torch.from_numpy(sym).to(dev)
            return sym_t, table_bits(sym_t, torch.from_numpy(idx).to(dev)).item(), y + (y_hat - y).detach()

        def soft_bits(y, y_hat):
            total = 0
            for i, sl in enumerate(slices):
                m, sp = context.float_params(ctx, i, mu0[None, sl], s0[None, sl], y_hat[None, : sl.start])
                total = total - torch.log2(net.y_likelihood(y[sl] - m[0], context.clamp_s(sp[0]))).sum()
            return total

        y0 = r + mu / float(1 << intnet.FRAC)

    y = torch.from_numpy(y0).float().to(dev).requires_grad_(True)
    lr = learning_rate(steps)
    opt = _Adam(y, lr, BETAS)
    best, start_bits, _ = exact(y.detach())
    best_score, best_bits, best_y, overs = math.inf, 0.0, None, []
    capped = spare_bits is not None
    max_bits = start_bits + spare_bits if capped else math.inf
    # the analysis's own symbols fit (rate control chose them) even where the tables' bits
    # plus the coder's slack say they do not, as on tiny files: no more bits than theirs
    # fits too (the caller checks the real bytes)
    allowed = max(max_bits, start_bits)
    rate_weight = 1.0
    # the rate the file is headed for (y's bits: the file's, less z's and the header's few
    # per cent): the cap's, or the analysis's own at this level
    file_bits = max_bits if capped else start_bits
    bpp = file_bits / (height * width)
    error = distortion.tile_error(distortion.weight_at(structure, bpp), distortion.band_at(bpp))

    def pixel_error(y_hat, grad: bool):
        latent = net.synthesis((y_hat / gain)[None])[:, :, :lat_h, :lat_w]
        if restorer is not None:
            latent = latent + restorer.body(latent)
        return (latent, *decoder.decode_error(latent, target, grad=grad, error=error))

    with torch.enable_grad():
        last_step = steps + (SETTLE_STEPS if capped and steps > 0 else 0)
        for step in range(last_step + 1):
            sym, bits, y_hat = exact(y)
            last = step == last_step or (step >= steps and bits <= allowed)
            latent, err, grad = pixel_error(y_hat, grad=not last)
            dist = err / target.numel()
            if step == 0 and structure > 0:
                # the structural term adds to the error, and to its gradient: the rate
                # term grows in proportion, so that under a cap the dual ascent starts near
                # its goal (from 1, a dozen steps did not reach it, and every iterate after
                # the first few overshot) and a level's file (no cap) grows only 3–9%
                # (kodim01 / kodim23, lc4 levels 1 and 3, 12 steps)
                rate_weight = err / max(error.sse, 1e-12)  # step 0's squared error alone
            score = dist if capped else rate_weight * bits / (height * width) + lam * dist
            if score < best_score and bits <= allowed:
                best, best_score, best_bits = sym.detach().clone(), score, bits
                best_y = y.detach().clone() if capped else None  # only the cap search needs it
                overs = [o for o in overs if o[1] < best_score]  # closer than the kept one
            elif capped and bits > allowed and score < best_score:
                overs.append((bits, score, y.detach().clone()))
            if last:
                break
            if step >= steps:
                rate_weight *= CAP_CLAMP[1]
            elif capped:
                step_factor = (bits / (CAP_FILL * max_bits)) ** CAP_GAIN
                rate_weight *= float(np.clip(step_factor, *CAP_CLAMP))
            # per image, not per pixel: Adam does not care, and fp16 gradients (CUDA) do
            # not underflow
            bits_soft = soft_bits(y, y_hat)
            # the surrogate's gradient on the latent is the decoder's (lam/3 · ∂SSE/∂latent)
            loss = rate_weight * bits_soft + lam / 3 * (latent * grad).sum()
            opt.lr = SETTLE_LR if step >= steps else lr * (1 - step / (steps + 1))
            y.grad = None
            loss.backward()
            opt.step()
    if FILL_SEARCH and best_y is not None and overs:
        # of the iterates over the cap that decoded closer, the one whose straight line from
        # the kept iterate, in bits and error, reaches the cap with the least error
        def at_cap(over):
            bits, score, _ = over
            return best_score + (score - best_score) * (allowed - best_bits) / (bits - best_bits)

        over_y = min(overs, key=at_cap)[2]
        with torch.no_grad():
            lo, hi, fill = 0.0, 1.0, None
            for _ in range(FILL_SEARCH):
                t = (lo + hi) / 2
                sym, bits, y_hat = exact(best_y + t * (over_y - best_y))
                if bits <= allowed:
                    lo, fill = t, (sym, y_hat)
                else:
                    hi = t
            if fill is not None:
                _, err, _ = pixel_error(fill[1], grad=False)
                if err / target.numel() < best_score:
                    best = fill[0].detach().clone()
    return best.cpu().numpy().astype(np.int64)
