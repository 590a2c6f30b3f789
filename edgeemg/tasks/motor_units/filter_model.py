"""The separation filters as a model the export chain can take: one Conv1d (torch; export host only).

Input ``(batch, extension + hop - 1, n_channels)`` (a window of the board's
band-passed, scaled stream, the package's time-major layout); output ``(batch,
hop, n_units)``: each unit's source at the window's last ``hop`` samples,
``s_u(t) = sum_k sum_c weights[u, k, c] * x(t - k, c) + bias[u]``
(:class:`~edgeemg.tasks.motor_units.separation.SeparationFilters`). The
extension and the whitening are both inside the weights: the extended
observation ``x_ext(t)`` dotted with the whitened separation vector is an FIR
over the last ``extension`` samples of every channel, i.e. a valid Conv1d whose
kernel is the filter reversed in time.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgeemg.tasks.motor_units.separation import SeparationFilters


class SeparationFilterNet(nn.Module):
    """Causal separation filters of ``n_units`` units over ``n_channels`` channels, ``extension`` taps each."""

    def __init__(self, n_units: int, n_channels: int, extension: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_channels, n_units, kernel_size=extension)

    @classmethod
    def from_filters(cls, f: SeparationFilters) -> SeparationFilterNet:
        """The network whose outputs are ``f.sources`` of the window's last samples."""
        n_units, extension, n_channels = f.weights.shape
        net = cls(n_units, n_channels, extension)
        with torch.no_grad():
            # Conv1d correlates: out[j] = sum_m k[m] x[j + m]; the FIR needs k[m] = weights[R - 1 - m]
            kernel = np.ascontiguousarray(f.weights[:, ::-1, :].transpose(0, 2, 1), dtype=np.float32)
            net.conv.weight.copy_(torch.from_numpy(kernel))
            net.conv.bias.copy_(torch.from_numpy(np.asarray(f.bias, np.float32)))
        return net.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x (B, W, C) -> (B, C, W) -> conv (B, U, W - R + 1) -> (B, hop, U)
        return self.conv(x.permute(0, 2, 1)).permute(0, 2, 1)


__all__ = ["SeparationFilterNet"]
