"""benchmarks/report_gait.py: its thread setting (it follows torch's default unless told, the 60x slowdown's
cause) and its goal lines.

The report trains for minutes (not here); this checks that it no longer forces two
OpenMP threads on whatever machine runs it, and how it judges the latency goals.
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


def _rows(stop_latencies_ms: list[float], n: int) -> dict:
    """Report rows whose causal walk -> stop reported ``stop_latencies_ms`` of ``n`` stops (the rest missed)."""
    import numpy as np

    from edgeemg.tasks.gait import metrics
    from edgeemg.tasks.gait.spec import LABELS

    pairs = [(metrics.Transition(2, 3, float(i), float(i)), None if i >= len(stop_latencies_ms)
              else i + stop_latencies_ms[i] / 1000.0) for i in range(n)]
    per = metrics.transition_report(pairs, 0, 10.0, LABELS)
    ev = {"detection_rate": 1.0, "mae_ms": 10.0}
    causal = {"transitions": {**per, "false_per_min": 0.0}, "gait_events": {"heel_strike": ev, "toe_off": ev},
              "macro_f1": 0.8}
    median = per["per_type"]["walk->stop"]["latency_vs_footswitch_ms"]["median"]
    assert median == pytest.approx(float(np.median(stop_latencies_ms)))
    return {"causal": {"eval": causal, "train_s": 100.0}, "seed-cnn": {"eval": {"macro_f1": 0.6}}}


def test_stop_goal_counts_missed_stops_as_late():
    def stop_goal(rows: dict) -> tuple[str, bool | None]:
        return next((measured, met) for goal, measured, met in report.goals(rows, None) if goal.startswith("walk->stop"))

    # 3 of 10 stops reported, all ahead of the foot: the reported median is -100 ms, but 7 were never reported
    measured, met = stop_goal(_rows([-100.0, -100.0, -100.0], 10))
    assert not met and "3/10 in time" in measured
    measured, met = stop_goal(_rows([-100.0] * 6 + [200.0] * 4, 10))
    assert met and "6/10 in time" in measured
