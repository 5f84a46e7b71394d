"""A stand-in for the two torchvision names that ColorVideoVDP imports.

cvvdp imports ``torchvision.transforms.GaussianBlur`` (it uses it) and
``torchvision.ops.MLP`` (only its ML variants, which we do not run) at module level.
PyPI's torchvision does not import beside the CPU build of torch this project pins
(``operator torchvision::nms does not exist``), so when the real one is missing this
module provides the same Gaussian blur: kernel size k, x = -(k-1)/2 … (k-1)/2,
weights exp(-x²/2σ²) normalized, reflect padding, separable. A test compares it with
scipy's Gaussian filter.
"""

from __future__ import annotations

import sys
import types


def install() -> bool:
    """Provide the stand-in if torchvision cannot be imported; True when it did."""
    try:
        import torchvision  # noqa: F401

        return False
    except Exception:  # the failed import may leave half-loaded submodules behind
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    import torch
    import torch.nn.functional as F

    class GaussianBlur(torch.nn.Module):
        def __init__(self, kernel_size: int, sigma: float) -> None:
            super().__init__()
            self.kernel_size = int(kernel_size)
            self.sigma = float(sigma)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            r = (self.kernel_size - 1) // 2
            xs = torch.linspace(-r, r, self.kernel_size, dtype=x.dtype, device=x.device)
            w = torch.exp(-0.5 * (xs / self.sigma) ** 2)
            w = w / w.sum()
            shape = x.shape
            y = x.reshape(-1, 1, shape[-2], shape[-1])
            y = F.pad(y, (r, r, r, r), mode="reflect")
            y = F.conv2d(y, w.view(1, 1, 1, -1))
            y = F.conv2d(y, w.view(1, 1, -1, 1))
            return y.reshape(shape)

    class MLP:  # only cvvdp's ML variants use it
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision.ops.MLP is not available (stand-in torchvision)")

    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    ops = types.ModuleType("torchvision.ops")
    transforms.GaussianBlur = GaussianBlur
    ops.MLP = MLP
    tv.transforms, tv.ops = transforms, ops
    tv.__sdcodec_stand_in__ = True
    sys.modules.update(
        {"torchvision": tv, "torchvision.transforms": transforms, "torchvision.ops": ops}
    )
    return True
