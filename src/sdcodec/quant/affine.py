"""The affine map between a float latent and 8-bit codes: z = offset + scale · q.

The article maps SD's latent with one fixed map; we fit the map to the image (its
min/max) so no value is clipped, either once for all channels ("global", as in the
article) or per channel. offset and scale are stored as float32 in the file and both
directions use those float32 values, so encoder and decoder agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AffineMap:
    offset: np.ndarray  # float32, shape (1,) for a global map or (C,)
    scale: np.ndarray  # float32, same shape, > 0

    @property
    def per_channel(self) -> bool:
        return self.offset.shape[0] > 1

    def _bcast(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        off = np.broadcast_to(self.offset, (channels,)).astype(np.float64)
        sc = np.broadcast_to(self.scale, (channels,)).astype(np.float64)
        return off[:, None, None], sc[:, None, None]

    def to_uint8(self, latent: np.ndarray) -> np.ndarray:
        off, sc = self._bcast(latent.shape[0])
        q = np.rint((latent.astype(np.float64) - off) / sc)
        return np.clip(q, 0, 255).astype(np.uint8)

    def to_float(self, q: np.ndarray) -> np.ndarray:
        off, sc = self._bcast(q.shape[0])
        return (off + sc * q.astype(np.float64)).astype(np.float32)


def fit(latent: np.ndarray, per_channel: bool = False) -> AffineMap:
    """The map that spreads the latent's full range (global or per channel) over 0..255."""
    axes = (1, 2) if per_channel else None
    lo = np.asarray(latent.min(axis=axes), dtype=np.float64).reshape(-1)
    hi = np.asarray(latent.max(axis=axes), dtype=np.float64).reshape(-1)
    # a constant channel still needs a positive step
    scale = np.maximum((hi - lo) / 255.0, 1e-6)
    return AffineMap(lo.astype(np.float32), scale.astype(np.float32))
