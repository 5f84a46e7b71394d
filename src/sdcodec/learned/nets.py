"""Float networks of the learned latent codec (training and the non-entropy decode path).

A mean–scale hyperprior in TAEF2's latent space (Ballé et al. 2018, Minnen et al. 2018):
    latent (32, h, w) --g_a--> y (M, h/2, w/2) --h_a--> z (Z, h/8, w/8)
    z_hat --h_s--> (μ, s) for y, coded as round(y·gain − μ) with a Gaussian of σ = exp(s)
    y_hat --g_s--> latent_hat (32, h, w)
One network serves every rate: ``gain`` (per level and channel, after Cui et al. 2021's
gained VAE) scales y before quantization and back after, and levels interpolate
geometrically, so rate control gets a continuous knob. h_s is the only part whose output
feeds the entropy coder; it is exported as an integer network (intnet.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .tables import SIGMA_MAX, SIGMA_MIN

# the rate–distortion trade-off each level is trained for (training/train_latent_codec.py,
# loss bits/pixel + λ · 255² · MSE) and refined for (refine.py): λ(level) = λ0 · ratio^level
LAMBDA0, LAMBDA_RATIO = 1e-4, 2.0


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2)


class Up(nn.Sequential):
    """×2 upsampling as a convolution and a pixel shuffle (no transposed-conv checkerboard)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(_conv(cin, cout * 4), nn.PixelShuffle(2))


class Residual(nn.Module):
    """x + body(x), the body's last layer started small so the block begins near identity."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)
        with torch.no_grad():
            layers[-1].weight.mul_(0.1)
            layers[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LatentCodec(nn.Module):
    def __init__(
        self,
        latent_channels: int = 32,
        hidden: int = 192,
        y_channels: int = 128,
        z_channels: int = 64,
        levels: int = 8,
        residual: bool = False,
        lambda0: float = LAMBDA0,
        lambda_ratio: float = LAMBDA_RATIO,
        bypass: bool = False,
    ) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.125)
        c, n, m, zc = latent_channels, hidden, y_channels, z_channels
        self.config = dict(
            latent_channels=c, hidden=n, y_channels=m, z_channels=zc, levels=levels
        )
        self.lambda0, self.lambda_ratio = lambda0, lambda_ratio
        if (lambda0, lambda_ratio) != (LAMBDA0, LAMBDA_RATIO):
            self.config.update(lambda0=lambda0, lambda_ratio=lambda_ratio)
        if residual:
            # lc2: y starts as the latent folded 2×2 into channels and g_s as its inverse,
            # so fine steps reach the autoencoder's own quality (lc1's plain stacks
            # saturated 7 dB below it); the bodies learn what beats scalar quantization
            if m != 4 * c:
                raise ValueError("a residual codec needs y_channels = 4 × latent_channels")
            self.config["residual"] = True
            self.g_a = nn.Sequential(
                nn.PixelUnshuffle(2),
                Residual(_conv(m, n), act, _conv(n, n), act, _conv(n, m)),
            )
            self.g_s = nn.Sequential(
                Residual(_conv(m, n), act, _conv(n, n), act, _conv(n, n), act, _conv(n, m)),
                nn.PixelShuffle(2),
                Residual(_conv(c, 64), act, _conv(64, 64), act, _conv(64, c)),
            )
        else:
            self.g_a = nn.Sequential(
                _conv(c, 128), act, _conv(128, n, 3, 2), act, _conv(n, n), act, _conv(n, m)
            )
            self.g_s = nn.Sequential(
                _conv(m, n), act, _conv(n, n), act, Up(n, 128), act, _conv(128, 128), act,
                _conv(128, c),
            )
        self.g_a_skip = self.g_s_skip = None
        if bypass:
            # a linear path beside g_a and g_s between the 2×2-folded latent and y, started
            # silent: lc1's transforms alone cap quality near 24 dB on Kodak however fine
            # the steps (docs/LEARNED.md), the bypass lets fine steps carry the latent itself
            self.config["bypass"] = True
            self.g_a_skip = nn.Conv2d(4 * c, m, 1)
            self.g_s_skip = nn.Conv2d(m, 4 * c, 1)
            for conv in (self.g_a_skip, self.g_s_skip):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.h_a = nn.Sequential(
            _conv(m, 128), act, _conv(128, 128, 3, 2), act, _conv(128, zc, 3, 2)
        )
        # ReLU only: the integer export needs nothing but floor shifts and max(0, ·)
        self.h_s = nn.Sequential(
            _conv(zc, 96), nn.ReLU(), Up(96, 96), nn.ReLU(), Up(96, 128), nn.ReLU(),
            _conv(128, 2 * m),
        )
        # λ doubles per level, so the step should shrink by about √2 per level
        spread = (torch.arange(levels, dtype=torch.float32) - (levels - 1) / 2) * math.log(2) / 2
        if residual:  # latent std ≈ 0.85: steps from ≈ 2.5 down to ≈ 0.25
            spread = torch.linspace(-1.0, 1.4, levels)
        self.log_gain = nn.Parameter(spread[:, None].repeat(1, m))
        # z's prior: a logistic of learned scale per channel, centred on 0
        self.z_log_scale = nn.Parameter(torch.zeros(zc))

    @property
    def levels(self) -> int:
        return self.log_gain.shape[0]

    def analysis(self, latent: torch.Tensor) -> torch.Tensor:
        """g_a: latent (B, C, h, w) → y before the gain."""
        y = self.g_a(latent)
        if self.g_a_skip is not None:
            y = y + self.g_a_skip(F.pixel_unshuffle(latent, 2))
        return y

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """g_s: ŷ (after the gain is divided out) → latent."""
        out = self.g_s(y_hat)
        if self.g_s_skip is not None:
            out = out + F.pixel_shuffle(self.g_s_skip(y_hat), 2)
        return out

    def lam(self, level):
        """The λ a level was trained for (loss bits/pixel + λ · 255² · MSE)."""
        return self.lambda0 * self.lambda_ratio**level

    def gain(self, level: torch.Tensor) -> torch.Tensor:
        """Per-sample gains (B, M) at fractional levels (B,) in [0, levels − 1]."""
        level = level.to(self.log_gain.device)
        lo = level.floor().long().clamp(0, self.levels - 2)
        t = (level - lo).unsqueeze(1)
        lg = self.log_gain[lo] * (1 - t) + self.log_gain[lo + 1] * t
        return lg.exp()

    def hyper(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.h_s(z_hat)
        mu, s = out.chunk(2, dim=1)
        return mu, s.clamp(math.log(SIGMA_MIN), math.log(SIGMA_MAX))

    def z_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        scale = self.z_log_scale.exp().view(1, -1, 1, 1)
        upper = torch.sigmoid((z + 0.5) / scale)
        lower = torch.sigmoid((z - 0.5) / scale)
        return (upper - lower).clamp_min(1e-9)

    @staticmethod
    def y_likelihood(r: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Probability of the integer interval around r (= y − μ) under N(0, exp(s)²)."""
        inv = torch.exp(-s) / math.sqrt(2)
        upper = torch.erfc(-(r + 0.5) * inv)
        lower = torch.erfc(-(r - 0.5) * inv)
        return ((upper - lower) / 2).clamp_min(1e-9)

    def forward(self, latent: torch.Tensor, level: torch.Tensor) -> dict:
        """Training pass: noise for the rate terms, straight-through rounding elsewhere."""
        g = self.gain(level)[:, :, None, None]
        y = self.analysis(latent) * g
        z = self.h_a(y)
        z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        z_hat = z + (torch.round(z) - z).detach()
        mu, s = self.hyper(z_hat)
        r = y - mu
        r_noisy = r + torch.empty_like(r).uniform_(-0.5, 0.5)
        y_hat = mu + r + (torch.round(r) - r).detach()
        x_hat = self.synthesis(y_hat / g)
        bits = -(
            torch.log2(self.y_likelihood(r_noisy, s)).sum(dim=(1, 2, 3))
            + torch.log2(self.z_likelihood(z_noisy)).sum(dim=(1, 2, 3))
        )
        return {"latent_hat": x_hat, "bits": bits}


def pad_to(latent: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Replicate-pad (B, C, h, w) so h and w are multiples of ``multiple`` (z is 1/8)."""
    h, w = latent.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(latent, (0, pw, 0, ph), mode="replicate") if ph or pw else latent
