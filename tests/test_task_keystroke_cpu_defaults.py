"""The keystroke CPU defaults fit the issue's training budget (30 minutes on 2 cores), by the measured cost model."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from edgeemg.tasks.keystroke import cpu_defaults as cd
from edgeemg.tasks.keystroke.models import PRESETS, build_model


class _PerFrameLinear(nn.Module):
    """A (features -> 7) linear map applied at every frame: 33 x 16 x 2 x 7 MACs per frame, counted by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * 16 * 33, 7)

    def forward(self, x):
        return self.fc(x.flatten(2))


def test_macs_per_frame_counts_a_per_frame_map_by_hand() -> None:
    assert cd.macs_per_frame(_PerFrameLinear()) == pytest.approx(2 * 16 * 33 * 7)
    tiny = build_model("tds", PRESETS["tds"]["tiny"])
    assert cd.macs_per_frame(tiny, frames=32) == pytest.approx(cd.macs_per_frame(tiny, frames=96), rel=1e-6)


def test_cpu_defaults_fit_the_training_budget() -> None:
    """The CLI's CPU run (preset, simulated typing, epochs) is estimated within 30 minutes of one thread."""
    cfg = cd.cpu_train_config()
    net = build_model("tds", PRESETS["tds"][cd.CPU_PRESET])
    est = cd.estimated_train_cpu_s(cd.macs_per_frame(net), cd.CPU_SIMULATION, cfg.epochs)
    assert est <= cd.CPU_BUDGET_S
    # twice the typing is twice the cost: the estimate reads the plan, not a constant
    twice = dataclasses.replace(cd.CPU_SIMULATION, train_sessions=2 * cd.CPU_SIMULATION.train_sessions)
    assert cd.estimated_train_cpu_s(cd.macs_per_frame(net), twice, cfg.epochs) == pytest.approx(2 * est)
