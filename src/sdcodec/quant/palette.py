"""Palette quantization of latent vectors: seeded k-means and Floyd–Steinberg dithering.

The article reduces SD's 4-channel 8-bit latent to a 256-colour palette with
libimagequant and dithering. Here the same is done for C-dimensional vectors: the
palette is found by k-means (k-means++ seeding from a fixed seed, so it is
deterministic), and the latent is mapped to it either by nearest entry or with
Floyd–Steinberg error diffusion. Everything after k-means runs in integer arithmetic.
"""

from __future__ import annotations

import numpy as np

MAX_TRAIN_VECTORS = 1 << 16  # k-means on more than this many vectors gains nothing visible
KMEANS_ITERATIONS = 30


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distances (N, K); exact for integer-valued inputs (float64 holds them)."""
    x = x.astype(np.float64)
    c = c.astype(np.float64)
    return (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A palette of at most k uint8 entries (fewer only if there are fewer distinct vectors)."""
    distinct = np.unique(vectors, axis=0)
    if distinct.shape[0] <= k:
        return distinct.astype(np.uint8)
    rng = np.random.default_rng(seed)
    data = vectors
    if data.shape[0] > MAX_TRAIN_VECTORS:
        data = data[rng.choice(data.shape[0], MAX_TRAIN_VECTORS, replace=False)]
    data = data.astype(np.float64)
    # k-means++ seeding
    centers = np.empty((k, data.shape[1]))
    centers[0] = data[rng.integers(data.shape[0])]
    closest = _sq_dist(data, centers[:1])[:, 0]
    for i in range(1, k):
        total = closest.sum()
        if total <= 0:
            centers[i] = data[rng.integers(data.shape[0])]
        else:
            centers[i] = data[rng.choice(data.shape[0], p=closest / total)]
        closest = np.minimum(closest, np.maximum(_sq_dist(data, centers[i : i + 1])[:, 0], 0))
    for _ in range(KMEANS_ITERATIONS):
        d = _sq_dist(data, centers)
        labels = d.argmin(1)
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, data)
        new = centers.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        # an empty cluster takes the point that is currently worst served
        for j in np.flatnonzero(~filled):
            far = d[np.arange(d.shape[0]), labels].argmax()
            new[j] = data[far]
            d[far] = 0
        moved = np.abs(new - centers).max()
        centers = new
        if moved < 0.05:
            break
    return np.clip(np.rint(centers), 0, 255).astype(np.uint8)


def nearest(vectors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette entry for each vector (ties → lowest index)."""
    return _sq_dist(vectors, palette).argmin(1).astype(np.uint8)


def dither(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Floyd–Steinberg error diffusion of an (h, w, D) uint8 image onto the palette.

    Raster order, weights 7/16 → right, 3/16 ↙, 5/16 ↓, 1/16 ↘, errors kept in integer
    sixteenths of a code. The result equals sequential raster-order processing, but pixels
    on each anti-diagonal wavefront x + 2y = t are processed together: none of them
    depends on another, which makes it vectorized numpy.
    """
    h, w, dim = image.shape
    acc = image.astype(np.int64) * 16  # target values in sixteenths, plus diffused errors
    pal16 = palette.astype(np.int64) * 16
    pal_sq = (pal16 * pal16).sum(1)
    out = np.zeros((h, w), dtype=np.uint8)
    ys_all = np.arange(h)
    for t in range(w + 2 * (h - 1)):
        ys = ys_all[(t - 2 * ys_all >= 0) & (t - 2 * ys_all < w)]
        xs = t - 2 * ys
        target = np.clip(acc[ys, xs], 0, 255 * 16)
        d = pal_sq[None, :] - 2 * (target @ pal16.T)  # the |target|² term does not change argmin
        idx = d.argmin(1)
        out[ys, xs] = idx
        err = target - pal16[idx]
        e7 = (err * 7) // 16
        e3 = (err * 3) // 16
        e5 = (err * 5) // 16
        e1 = err - e7 - e3 - e5  # what rounding took from the others, so no error is lost
        for dy, dx, e in ((0, 1, e7), (1, -1, e3), (1, 0, e5), (1, 1, e1)):
            ny, nx = ys + dy, xs + dx
            ok = (ny < h) & (nx >= 0) & (nx < w)
            acc[ny[ok], nx[ok]] += e[ok]
    return out


def chain_order(palette: np.ndarray) -> np.ndarray:
    """An order of the entries where each is the nearest unused one to the previous.

    Starts from the entry nearest the palette's mean. Neighbouring entries then differ
    little, which the context coder exploits by coding differences.
    """
    k = palette.shape[0]
    d = _sq_dist(palette, palette)
    mean = palette.astype(np.float64).mean(0, keepdims=True)
    current = int(_sq_dist(palette, mean)[:, 0].argmin())
    order = [current]
    used = np.zeros(k, dtype=bool)
    used[current] = True
    for _ in range(k - 1):
        row = np.where(used, np.inf, d[current])
        current = int(row.argmin())
        used[current] = True
        order.append(current)
    return np.array(order)
