"""C1 split into the teacher-started filters, kept float at export, and the learnt ones, int8 (torch; export host only).

Why: a teacher-started C1 filter is a separation filter with the whitening
folded in; it cancels the grid's correlated signal with large taps of opposite
sign (weight norms 13-28 on the cpu-preset students, against 1.5 for the
learnt filters beside them), so the 8-bit rounding of its input, white across
channels and taps, comes out amplified ~15x: that alone kept the 10 % student's
int8 parity at p99 0.31 of the output range. Kept float, those filters read
the input unrounded. Splitting C1 keeps only them float (11-16 of 64
filters); the learnt ones stay int8: a 20-head model's window takes ~0.20 ms
(one thread) instead of 0.28 with all of C1 float, and 0.13 all int8.

The split is exact: the two convolutions' outputs are concatenated teacher
rows first, and C2's input columns are permuted to that order.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.motor_units.models import MODCNN

FLOAT_MODULE = "c1.teacher"
"""The submodule the export keeps float (``TaskExport.float_modules``)."""


class SplitConv1d(nn.Module):
    """A Conv1d as two, ``teacher`` (filters ``rows`` of the original) and ``learnt`` (the rest), concatenated."""

    def __init__(self, conv: nn.Conv1d, rows: list[int]) -> None:
        super().__init__()
        rest = [r for r in range(conv.out_channels) if r not in set(rows)]
        if (not rows or not rest or len(set(rows)) != len(rows) or any(not 0 <= r < conv.out_channels for r in rows)
                or conv.groups != 1):
            raise InvalidInputError(f"SplitConv1d: rows must be a proper, non-empty subset (no repeats) of "
                                    f"0..{conv.out_channels - 1} of an ungrouped convolution, got {rows!r}")
        self.order = [*rows, *rest]
        k = conv.kernel_size[0]
        self.teacher = nn.Conv1d(conv.in_channels, len(rows), k)
        self.learnt = nn.Conv1d(conv.in_channels, len(rest), k)
        with torch.no_grad():
            for part, idx in ((self.teacher, rows), (self.learnt, rest)):
                part.weight.copy_(conv.weight[idx])
                part.bias.copy_(conv.bias[idx])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.teacher(x), self.learnt(x)], dim=1)


def split_teacher_c1(net: MODCNN, rows: list[int]) -> str:
    """Replace ``net.c1`` by a :class:`SplitConv1d` of the teacher-started ``rows``, in place; returns the float module.

    C2 reads C1's outputs in the split's order (teacher rows first), so the
    network computes what it computed before.
    """
    split = SplitConv1d(net.c1, [int(r) for r in rows])
    with torch.no_grad():
        net.c2.weight.copy_(net.c2.weight[:, split.order])
    net.c1 = split
    return FLOAT_MODULE


__all__ = ["FLOAT_MODULE", "SplitConv1d", "split_teacher_c1"]
