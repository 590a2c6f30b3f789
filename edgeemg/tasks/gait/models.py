"""Seed 001's 1D-CNN for gait phases (torch; training host only).

Export constraints (issue 6) shape the code: only Conv1d, ReLU, MaxPool1d,
Linear and a final softmax; one ``permute`` with positive dims; no
data-dependent control flow in ``forward``. The constructor kwargs are the
model config stored in the checkpoint (``GaitCNN(**meta["model_config"])``
rebuilds it), and the filter counts are arguments so that the export chain can
rebuild a structurally pruned model with fewer filters.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeemg.errors import InvalidInputError


class GaitCNN(nn.Module):
    """Two Conv1d+ReLU+MaxPool(2) blocks (16, 32 filters, kernel 3), FC 128, FC n_classes.

    Parameters
    ----------
    n_channels : int
        EMG channels (6 for the walking dataset).
    window : int
        Samples per window (400 = 200 ms at 2 kHz).
    n_classes : int
        Gait states (4).
    filters : tuple of int
        Output channels of the two conv blocks (seed: 16, 32).
    kernel_size : int
        Conv kernel (seed: 3); "valid" convolution, as Keras' default that the seed's
        description implies.
    hidden : int
        Width of the first fully connected layer (seed: 128).

    Notes
    -----
    Input is (batch, window, n_channels), the layout the DSP chain's windows come
    in, so the runtime feeds windows unchanged; the model permutes to
    (batch, n_channels, window) for Conv1d. ``forward`` returns logits (what
    cross-entropy wants); :class:`WithSoftmax` adds the seed's softmax for
    export, and the board-side decoder accepts either.

    Speed: the permuted input is made contiguous before the first Conv1d; on
    the strided view oneDNN's convolution backward took ~15x longer (51 ms vs
    3.5 ms per batch of 64 in torch.profiler on a loaded 2-core host). The copy
    exports as nothing.
    """

    def __init__(
        self,
        n_channels: int,
        window: int,
        n_classes: int = 4,
        filters: tuple[int, int] | list[int] = (16, 32),
        kernel_size: int = 3,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        f1, f2 = (int(f) for f in filters)
        length = ((window - kernel_size + 1) // 2 - kernel_size + 1) // 2
        if length < 1:
            raise InvalidInputError(
                f"GaitCNN: window={window} is too short for two kernel-{kernel_size} conv + pool blocks"
            )
        self.features = nn.Sequential(
            nn.Conv1d(n_channels, f1, kernel_size),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(f1, f2, kernel_size),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(f2 * length, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 1).contiguous()  # (B, W, C) -> (B, C, W); see the note on speed above
        x = self.features(x)  # (B, f2, L)
        return self.classifier(x)  # (B, n_classes) logits


class WithSoftmax(nn.Module):
    """Wrap a logits model so that its output is class probabilities (the seed's inference head)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)
