"""The causal gait model: a small temporal convnet over the newest ~1.3 s of sEMG (torch; training host only).

Shape of the idea: a strided front end turns the 2 kHz signal into 50 Hz
feature frames (two valid convolutions, 10 then 4 samples per step: learnt
band filters, rectified, then a learnt envelope), and a stack of dilated
causal convolutions looks back over ~1.3 s of frames (the rhythm of the last
steps, the anticipatory burst before a first toe-off, the braking of the last
strides). Every convolution is "valid", so the model never sees a sample
after the newest one: on a window of exactly :attr:`CausalGaitNet.receptive_field`
samples it returns one frame, the decision of the board; on a longer
sequence it returns one frame every ``hop`` samples, the same numbers the
board computes hop by hop (training and offline scoring use that form).

Outputs per frame: ``n_states`` state logits, then one contact logit per foot.
Export constraints as the seed CNN's: Conv1d, ReLU, one permute, a static slice.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeemg.errors import InvalidInputError


class CausalGaitNet(nn.Module):
    """Strided conv front end + dilated conv stack + 1x1 head.

    Parameters
    ----------
    n_channels : int
        EMG channels.
    n_states, n_feet : int
        Output logits: states, then one contact logit per foot.
    width : int
        Channels of every hidden layer.
    front : tuple of (kernel, stride) pairs
        The front end; the product of strides is the hop (40 samples = 20 ms at 2 kHz).
    dilations : tuple of int
        One kernel-``kernel`` conv per entry at that dilation (frames).
    kernel : int
        Kernel of the dilated convs.
    """

    def __init__(self, n_channels: int, n_states: int = 4, n_feet: int = 2, width: int = 24,
                 front: tuple[tuple[int, int], ...] | list[list[int]] = ((20, 10), (4, 4)),
                 dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8, 16), kernel: int = 3) -> None:
        super().__init__()
        if not front:
            raise InvalidInputError("CausalGaitNet: front needs at least one (kernel, stride) stage")
        layers: list[nn.Module] = []
        c_in = n_channels
        for k, s in front:
            layers += [nn.Conv1d(c_in, width, int(k), stride=int(s)), nn.ReLU()]
            c_in = width
        for d in dilations:
            layers += [nn.Conv1d(width, width, int(kernel), dilation=int(d)), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(width, n_states + n_feet, 1)
        self.n_outputs = n_states + n_feet
        rf, jump = 1, 1
        for k, s in front:
            rf += (int(k) - 1) * jump
            jump *= int(s)
        self.hop = jump
        self.receptive_field = rf + sum((int(kernel) - 1) * int(d) for d in dilations) * jump

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, samples, channels) -> (batch, n_outputs, frames); frame j ends at sample ``rf - 1 + hop * j``."""
        return self.head(self.body(x.permute(0, 2, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, window, channels) -> (batch, n_outputs): the decision at the window's newest sample."""
        return self.forward_sequence(x)[:, :, -1]


def frames_in(n_samples: int, receptive_field: int, hop: int) -> int:
    """Frames a sequence of ``n_samples`` yields (0 when shorter than the receptive field)."""
    return max(0, (n_samples - receptive_field) // hop + 1)


__all__ = ["CausalGaitNet", "frames_in"]
