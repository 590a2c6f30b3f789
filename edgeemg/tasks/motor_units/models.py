"""The MO-DCNN of seed 004 (Wen et al. 2021, section 2.2, figure 1(D)) in PyTorch.

Shared trunk: C1, C2 (128 filters, kernel 3, ReLU, "valid" as Keras' default)
and a max-pool of 2. Then one head per motor unit: C3 (128, kernel 3), C4 (64,
kernel 3), max-pool 2, flatten, F1 (256, ReLU), F2 (1, sigmoid); dropout 0.5
after C3, before F1 and before F2 (the seed applies dropout "to C3, F1 and F2").

The heads are not a Python loop over ``nn.ModuleList``: all heads run as one
set of convolutions, so one forward pass serves every unit and the exported
graph has a fixed number of operators whatever the number of units:

* C3 of every head reads the same shared feature map: one ``Conv1d(128, N*128)``;
* C4 is head-wise: ``Conv1d(N*128, N*64, groups=N)``;
* F1 on a head's flattened (64, L) map is a ``Conv1d(N*64, N*256, kernel=L,
  groups=N)`` (a per-head dense layer over the whole map, flatten order
  channel-major like Keras' on channels-first);
* F2 is ``Conv1d(N*256, N, kernel=1, groups=N)``.

At the seed's widths a one-head model has 590 785 parameters, exactly the seed's
SO-DCNN; each further head adds 516 353 (20 heads: 10.4 M).

Input ``(batch, window, n_channels)`` (the package's time-major layout), output
``(batch, n_units)`` probabilities. Only ``permute`` with positive dims, no
data-dependent control flow: exportable to ONNX with a fixed input signature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from edgeemg.errors import DictConfig, InvalidInputError


@dataclass(frozen=True)
class MODCNNConfig(DictConfig):
    """Widths of the MO-DCNN (defaults: the seed's).

    Attributes
    ----------
    n_units : int
        Heads (motor units the teacher accepted).
    window : int
        Samples per input window.
    n_channels : int
        Grid channels (64).
    trunk_filters : int
        C1 and C2 filters (128).
    c3_filters, c4_filters : int
        Head convolutions (128, 64).
    hidden : int
        F1 units (256).
    kernel_size : int
        All convolutions but C1 (3).
    trunk_kernel : int
        C1's kernel (3, the seed's). The CPU preset widens it to the teacher's
        extension so that C1 can start as the teacher's separation filters
        (:mod:`edgeemg.tasks.motor_units.teacher_init`).
    dropout : float
        Rate at C3, F1 and F2 (0.5).
    """

    n_units: int
    window: int = 120
    n_channels: int = 64
    trunk_filters: int = 128
    c3_filters: int = 128
    c4_filters: int = 64
    hidden: int = 256
    kernel_size: int = 3
    trunk_kernel: int = 3
    dropout: float = 0.5

    def __post_init__(self) -> None:
        for name in ("n_units", "window", "n_channels", "trunk_filters", "c3_filters", "c4_filters", "hidden",
                     "kernel_size", "trunk_kernel"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"MODCNNConfig.{name} must be an int >= 1, got {v!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidInputError(f"MODCNNConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.head_length() < 1:
            raise InvalidInputError(
                f"MODCNNConfig.window {self.window} is too short for a kernel-{self.trunk_kernel} and three "
                f"kernel-{self.kernel_size} convolutions and two max-pools"
            )

    def head_length(self) -> int:
        """Time steps of a head's map before F1: (((w - (k1-1) - (k-1)) // 2) - 2(k-1)) // 2."""
        k = self.kernel_size - 1
        return ((self.window - (self.trunk_kernel - 1) - k) // 2 - 2 * k) // 2


class MODCNN(nn.Module):
    """Multi-output deep CNN: (batch, window, n_channels) -> (batch, n_units) firing probabilities."""

    def __init__(self, config: MODCNNConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        n, k = c.n_units, c.kernel_size
        self.c1 = nn.Conv1d(c.n_channels, c.trunk_filters, c.trunk_kernel)
        self.c2 = nn.Conv1d(c.trunk_filters, c.trunk_filters, k)
        self.c3 = nn.Conv1d(c.trunk_filters, n * c.c3_filters, k)
        self.c4 = nn.Conv1d(n * c.c3_filters, n * c.c4_filters, k, groups=n)
        self.f1 = nn.Conv1d(n * c.c4_filters, n * c.hidden, c.head_length(), groups=n)
        self.f2 = nn.Conv1d(n * c.hidden, n, 1, groups=n)
        self.pool = nn.MaxPool1d(2)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(c.dropout)
        for m in (self.c1, self.c2, self.c3, self.c4, self.f1, self.f2):
            # Keras' defaults, which the seed trained with: Glorot-uniform weights, zero biases
            # (PyTorch's default init starts ~3x smaller and learns the rare spikes much later).
            # For a grouped layer, fan-in/out are per group, as for each of the seed's separate heads.
            fan_in = m.in_channels // m.groups * m.kernel_size[0]
            fan_out = m.out_channels // m.groups * m.kernel_size[0]
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 1)  # (B, C, w)
        x = self.act(self.c1(x))  # (B, F, w-k1+1)
        x = self.pool(self.act(self.c2(x)))  # (B, F, (w-k1-1)//2): FM3, shared
        x = self.drop(self.act(self.c3(x)))  # (B, N*128, L3)
        x = self.pool(self.act(self.c4(x)))  # (B, N*64, L)
        x = self.drop(x)  # flatten of each head == its (64, L) block; dropout before F1
        x = self.drop(self.act(self.f1(x)))  # (B, N*256, 1)
        x = torch.sigmoid(self.f2(x))  # (B, N, 1)
        return x.flatten(1)  # (B, N)


def keep_heads(net: MODCNN, heads: list[int]) -> MODCNN:
    """A copy of ``net`` with only ``heads`` (in that order): the shared trunk as is, each kept head's weights.

    Group-aware head pruning: a head is C3's block of ``c3_filters`` output
    channels, C4's, F1's and F2's group of the same index, so removing one
    removes exactly its compute (MACs per head: C3, C4 and F1 of one group).
    """
    c = net.config
    if not heads or any(not 0 <= h < c.n_units for h in heads):
        raise InvalidInputError(f"keep_heads: heads must be a non-empty list of indices in 0..{c.n_units - 1}, "
                                f"got {heads!r}")
    out = MODCNN(replace(c, n_units=len(heads)))
    widths = {"c3": c.c3_filters, "c4": c.c4_filters, "f1": c.hidden, "f2": 1}
    rows = {name: torch.cat([torch.arange(h * w, (h + 1) * w) for h in heads]) for name, w in widths.items()}
    with torch.no_grad():
        for name in ("c1", "c2"):
            getattr(out, name).load_state_dict(getattr(net, name).state_dict())
        for name, idx in rows.items():
            getattr(out, name).weight.copy_(getattr(net, name).weight[idx])
            getattr(out, name).bias.copy_(getattr(net, name).bias[idx])
    return out.train(net.training)


def build_model(config: MODCNNConfig | dict[str, Any]) -> MODCNN:
    """An MO-DCNN from its config (or the config's dict, as stored in a checkpoint)."""
    cfg = config if isinstance(config, MODCNNConfig) else MODCNNConfig.from_dict(dict(config))
    return MODCNN(cfg)


__all__ = ["MODCNN", "MODCNNConfig", "build_model", "keep_heads"]
