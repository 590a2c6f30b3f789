"""benchmarks/report_gait.py's thread setting: it follows torch's default unless told (the 60x slowdown's cause).

The report trains for minutes (not here); this checks only that it no longer forces
two OpenMP threads on whatever machine runs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("report_gait", ROOT / "benchmarks" / "report_gait.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_threads_follow_torch_default_unless_given(restore_threads):
    assert report.parse_args([]).threads is None
    assert report.set_threads(None) == restore_threads == torch.get_num_threads()
    assert report.set_threads(1) == 1 == torch.get_num_threads()


def test_threads_below_one_are_refused(restore_threads):
    with pytest.raises(SystemExit, match="--threads must be >= 1"):
        report.set_threads(0)
    assert torch.get_num_threads() == restore_threads
