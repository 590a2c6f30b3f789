"""Saliency maps for the muscle-health CNNs: gradient x input over the log-spectrum (seed 002's XAI ask).

For a segment ``x`` (frames x frequency bins) and a class ``c``, the map is
``x * d logit_c / d x``. For a model linear in ``x`` it is exactly each cell's
additive contribution to the logit (the map sums to ``logit_c - bias``), which
is why it is read as "how much this time-frequency cell pushed the decision
towards ``c``"; for the CNN it is the first-order (Taylor) version of that. The
delta plane is computed inside the model, so its share is already folded back
onto the log-spectrum cells it came from. The baseline is a log-power of 0
(``log10`` power of 1 z-unit squared); cells quieter than that carry negative
inputs, so their sign reads together with the gradient's.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from edgeemg.errors import InvalidInputError


def gradient_x_input(model: nn.Module, segments: NDArray[np.float32], target: NDArray[np.int64] | None = None,
                     device: torch.device | str = "cpu") -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Gradient x input of each segment for its target class.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, *segment_shape) to (batch, n_classes) logits.
    segments : ndarray of float32, shape (n, n_frames, n_freq, n_channels)
    target : ndarray of int, shape (n,), optional
        Class explained per segment; default: the model's own prediction.

    Returns
    -------
    saliency : ndarray of float32, same shape as ``segments``
    target : ndarray of int64, shape (n,)
        The classes explained.
    """
    seg = np.asarray(segments, dtype=np.float32)
    if seg.ndim < 2 or seg.shape[0] == 0:
        raise InvalidInputError(f"gradient_x_input: segments must be (n, ...) with n >= 1, got shape {seg.shape}")
    model = model.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(seg)).to(device).requires_grad_(True)
    logits = model(x)
    if target is None:
        tgt = logits.argmax(dim=1)
    else:
        tgt = torch.as_tensor(np.asarray(target, dtype=np.int64), device=logits.device)
        if tgt.shape != (seg.shape[0],):
            raise InvalidInputError(f"gradient_x_input: target must have shape ({seg.shape[0]},), got {tuple(tgt.shape)}")
    # summing the selected logits gives each segment's own gradient (segments do not interact in eval mode)
    logits.gather(1, tgt[:, None]).sum().backward()
    sal = (x.grad * x).detach().cpu().numpy().astype(np.float32)
    return sal, tgt.detach().cpu().numpy().astype(np.int64)
