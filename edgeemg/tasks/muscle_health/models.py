"""SpectroEMG-Net-style CNN with attention over the spectral-temporal map, and its no-attention twin.

Input layout is the DSP's: (batch, n_frames, n_freq, n_channels), i.e. a stack of
consecutive log-spectrogram frames, so the board feeds segments unchanged.

Why the delta log-spectrum is computed *inside* the model rather than as a DSP
stage: (1) the board's chain stays the one ``log_spectrogram`` stage it already
runs for other tasks, with no new numba kernel to keep in step; (2) the delta is
a fixed linear map (a central difference along time, built from slices and a
concatenation, which ONNX exports as Slice/Sub/Concat and int8 quantization
handles as ordinary arithmetic); (3) saliency (gradient x input) is then taken
over the one map the DSP produces, with the delta's contribution routed back
through the difference, instead of over two planes that are not independent.

Export constraints (issue 6): Conv2d, ReLU, MaxPool2d, Linear, softmax, ``permute``
with positive dims, ``flatten``, no data-dependent control flow.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeemg.errors import InvalidInputError


def delta_time(x: torch.Tensor) -> torch.Tensor:
    """Central difference along the last (time) axis, one-sided at both ends; same shape as ``x``."""
    first = x[..., 1:2] - x[..., 0:1]
    middle = (x[..., 2:] - x[..., :-2]) * 0.5
    last = x[..., -1:] - x[..., -2:-1]
    return torch.cat([first, middle, last], dim=3)


class SpectroEMGNet(nn.Module):
    """Two Conv2d+ReLU+MaxPool(2) blocks, a third conv, attention (or mean) pooling, FC head.

    Parameters
    ----------
    n_frames, n_freq, n_channels : int
        Segment shape as the DSP gives it (64 frames, 65 bins, 1 channel).
    n_classes : int
    filters : tuple of int
        Output channels of the three conv layers.
    hidden : int
        Width of the hidden fully connected layer.
    attention : bool
        True: SpectroEMG-Net's idea, a learned 1x1-conv score per time-frequency
        cell, softmax over all cells, feature map pooled with those weights (the
        network chooses *where* in the map to look: a few large neurogenic
        MUAPs, or broadband myopathic interference). False: plain global mean
        pooling (the ablation baseline).

    Notes
    -----
    ``forward`` returns logits; ``attention_map`` gives the (B, F', T') weights.
    """

    def __init__(
        self,
        n_frames: int,
        n_freq: int,
        n_channels: int = 1,
        n_classes: int = 3,
        filters: tuple[int, int, int] | list[int] = (16, 32, 32),
        hidden: int = 64,
        attention: bool = True,
    ) -> None:
        super().__init__()
        if n_frames < 4 or n_freq < 4:
            raise InvalidInputError(f"SpectroEMGNet: segment {n_frames}x{n_freq} is too small for two 2x2 pools")
        f1, f2, f3 = (int(f) for f in filters)
        self.attention = bool(attention)
        self.features = nn.Sequential(
            nn.Conv2d(2 * n_channels, f1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(f1, f2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(f2, f3, 3, padding=1),
            nn.ReLU(),
        )
        self.score = nn.Conv2d(f3, 1, 1) if self.attention else None
        self.head = nn.Sequential(nn.Linear(f3, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 2, 1)  # (B, T, F, C) -> (B, C, F, T)
        x = torch.cat([x, delta_time(x)], dim=1)  # (B, 2C, F, T): log-spectrum and delta log-spectrum
        return self.features(x)  # (B, f3, F/4, T/4)

    def _weights(self, h: torch.Tensor) -> torch.Tensor:
        # only reached when attention is on (a constructor constant, not data-dependent)
        return torch.softmax(self.score(h).flatten(2), dim=2)  # type: ignore[misc]  # (B, 1, N) over all time-frequency cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._maps(x)
        flat = h.flatten(2)  # (B, f3, N)
        if self.attention:
            pooled = (flat * self._weights(h)).sum(dim=2)  # (B, f3)
        else:
            pooled = flat.mean(dim=2)
        return self.head(pooled)  # (B, n_classes) logits

    @torch.no_grad()
    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """Attention weights reshaped to (B, F', T'); only for ``attention=True`` models."""
        if not self.attention:
            raise InvalidInputError("SpectroEMGNet.attention_map: this model was built with attention=False")
        h = self._maps(x)
        return self._weights(h).reshape(h.shape[0], h.shape[2], h.shape[3])
