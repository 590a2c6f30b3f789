"""Per-head activation equalization of the MO-DCNN before its int8 export (torch; export host only).

Why: the heads run as grouped convolutions, so C3's, C4's and F1's outputs
are one tensor holding every head's channels, and int8 activations have one
scale per tensor (per-channel scales exist for weights only). Heads learn
very different activation ranges: on the cpu-preset students (16 / 14 heads
at 30 / 50 %) the largest F1 output of one head was 97x / 114x another's,
so the quietest heads were decoded from a handful of int8 levels; their
firing probabilities carried the int8 model's largest errors.

ReLU and max-pool commute with a positive scale, so multiplying head ``h``'s
filters (and biases) of a layer by ``s_h`` and dividing the weights of the
next layer that reads them by ``s_h`` leaves the network's function
unchanged (float rounding aside). The next layers (C4, F1, F2) are grouped
per head, so one scale per head scales whole rows of their per-channel
weight grids and costs them nothing. Choosing ``s_h`` so that every head's
largest activation on the calibration windows equals the largest head's
gives every head the full int8 range: the cross-layer equalization of
Nagel et al. 2019 ("Data-free quantization through weight equalization and
bias correction") applied to activations, per group.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from edgeemg.tasks.motor_units.models import MODCNN

PAIRS = (("c3", "c4"), ("c4", "f1"), ("f1", "f2"))
"""(layer whose per-head outputs are rescaled, the grouped layer that reads them)."""


def head_peaks(net: MODCNN, x: NDArray[np.float32], batch: int = 128) -> dict[str, NDArray[np.float64]]:
    """Largest post-ReLU output of each head of C3, C4 and F1 over the windows ``x``: {layer: (n_units,)}."""
    n = net.config.n_units
    peaks = {a: np.zeros(n) for a, _ in PAIRS}

    def hook(name: str):
        def record(_m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
            per_channel = out.detach().amax(dim=(0, 2)).double().numpy()  # ReLU(max) == max(ReLU) for the peak
            peaks[name] = np.maximum(peaks[name], np.maximum(per_channel, 0.0).reshape(n, -1).max(axis=1))
        return record

    handles = [getattr(net, a).register_forward_hook(hook(a)) for a, _ in PAIRS]
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32)))
    finally:
        for h in handles:
            h.remove()
    return peaks


def equalize_heads(net: MODCNN, x: NDArray[np.float32]) -> dict[str, list[float]]:
    """Rescale every head of C3, C4 and F1 to the largest head's activation peak on ``x``, in place.

    The scales come from one pass (a rescaled layer's successors see the same
    values as before, so later layers' peaks do not change). A head whose
    layer never activates on ``x`` keeps scale 1. Returns the scales per
    layer (for the manifest's notes).
    """
    net.eval()
    peaks = head_peaks(net, x)
    scales: dict[str, list[float]] = {}
    n = net.config.n_units
    with torch.no_grad():
        for a, b in PAIRS:
            p = peaks[a]
            s = np.where(p > 0, p.max() / np.where(p > 0, p, 1.0), 1.0)
            src, dst = getattr(net, a), getattr(net, b)
            up = torch.from_numpy(np.repeat(s, src.out_channels // n)).to(src.weight.dtype)
            down = torch.from_numpy(np.repeat(s, dst.out_channels // n)).to(dst.weight.dtype)
            src.weight.mul_(up[:, None, None])
            src.bias.mul_(up)
            # dst is grouped per head: its output rows of head h read only head h's inputs
            dst.weight.div_(down[:, None, None])
            scales[a] = [float(v) for v in s]
    return scales


__all__ = ["PAIRS", "equalize_heads", "head_peaks"]
