"""Integer probability tables of the learned codec, built once at export and stored.

Built in float64 at export time only; the decoder reads the integers from the weights
file and never recomputes a float probability, so no erf or log rounding can differ
between machines.

* y: ``SCALES`` Gaussians N(0, σ_k²), σ log-spaced in [SIGMA_MIN, SIGMA_MAX]; symbols
  r ∈ [−Y_RANGE, Y_RANGE]. A scale index is chosen by comparing the fixed-point output of
  h_s with integer thresholds (also stored).
* z: one logistic per channel, symbols in [−Z_RANGE, Z_RANGE].
Every count is ≥ 1 (any symbol stays codable) and a table sums to about 2^COUNT_BITS.
"""

from __future__ import annotations

import math

import numpy as np

from .intnet import FRAC

SCALES = 64
# y's Gaussian scales, log-spaced; also what the float networks clamp log σ to (nets.py)
SIGMA_MIN = 0.11
SIGMA_MAX = 64.0
Y_RANGE = 255
Z_RANGE = 127
COUNT_BITS = 22


def _counts(p: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.round(p * (1 << COUNT_BITS))).astype(np.int32)


def sigma_table() -> np.ndarray:
    return np.exp(np.linspace(math.log(SIGMA_MIN), math.log(SIGMA_MAX), SCALES))


def y_tables() -> tuple[np.ndarray, np.ndarray]:
    """(SCALES, 2·Y_RANGE+1) counts and (SCALES−1,) thresholds on h_s's s = log σ output."""
    from scipy.special import ndtr

    logs = np.log(sigma_table())
    r = np.arange(-Y_RANGE, Y_RANGE + 1, dtype=np.float64)
    sig = np.exp(logs)[:, None]
    p = ndtr((r + 0.5) / sig) - ndtr((r - 0.5) / sig)
    mids = (logs[1:] + logs[:-1]) / 2
    thresholds = np.ceil(mids * (1 << FRAC)).astype(np.int64)
    return _counts(p), thresholds


def z_tables(log_scale: np.ndarray) -> np.ndarray:
    """(Z, 2·Z_RANGE+1) counts for logistics of scale exp(log_scale) per channel."""
    from scipy.special import expit

    r = np.arange(-Z_RANGE, Z_RANGE + 1, dtype=np.float64)
    s = np.exp(log_scale.astype(np.float64))[:, None]
    return _counts(expit((r + 0.5) / s) - expit((r - 0.5) / s))


def scale_index(s_fixed: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Scale-table index of each fixed-point log σ: integer comparisons only."""
    return np.searchsorted(thresholds, s_fixed, side="right").astype(np.int64)
