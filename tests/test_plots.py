"""The report figures: every panel has something in it, no matplotlib warning leaks, a latency tail does
not squash the histogram (log axis), and count axes count in integers."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from edgeemg.tasks.plots import history_figure, latency_figure, plot_latency  # noqa: E402


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked warning (empty legend, tight_layout ...) fails the test
        return fn(*args, **kw)


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_keystroke_history_has_no_empty_panel_and_keeps_its_percent_scale():
    hist = {"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.4, 2.0],
            "val_cer": [100.0, 81.0, 70.5], "lr": [1e-3, 1e-3, 5e-4], "cpu_s": [10.0, 20.0, 30.0]}
    fig = _quiet(history_figure, hist, title="keystroke tds")
    left, right = fig.axes
    assert _labels(left) == ["train loss", "val loss"] and _labels(right) == ["val cer"]
    assert right.get_ylim()[1] > 100  # CER in percent is not clipped to [0, 1]


def test_classifier_history_fractions_on_a_unit_axis_and_losses_alone_in_one_panel():
    fig = _quiet(history_figure, {"train_loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "val_accuracy": [0.5, 0.6],
                                  "val_macro_f1": [0.4, 0.55]})
    assert [_labels(a) for a in fig.axes] == [["train loss", "val loss"], ["val accuracy", "val macro f1"]]
    assert fig.axes[1].get_ylim() == (0.0, 1.0)
    assert len(_quiet(history_figure, {"train_loss": [1.0, 0.5]}).axes) == 1


def _report(hop_ms, true_ms):
    return SimpleNamespace(task="gait", backend="onnxruntime", precision="int8", budget_ms=80.0,
                           hop_latency_s=tuple(np.asarray(hop_ms) / 1000),
                           true_latency_s=tuple(np.asarray(true_ms) / 1000),
                           true_events_matched=len(true_ms), true_events=len(true_ms) + 1)


def test_latency_histogram_survives_an_outlier_and_counts_in_integers(tmp_path):
    rng = np.random.default_rng(0)
    hop = np.concatenate([rng.normal(0.4, 0.02, 500).clip(0.3), [60.0]])  # one 60 ms hiccup among 0.4 ms hops
    fig = _quiet(latency_figure, _report(hop, [120.0, 130.0, 95.0]))
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    # on the log axis the bulk spreads over several bins instead of one bar next to the outlier
    counts = [p.get_height() for p in fig.axes[0].patches]
    assert sum(c > 0 for c in counts) >= 5 and max(counts) < 0.6 * len(hop)
    assert any(lbl.startswith("max 60 ms") for lbl in _labels(fig.axes[0]))
    assert _quiet(plot_latency, _report(hop, []), tmp_path).is_file()  # no true events: a note, no crash


def test_every_writer_makes_its_folder_and_writes_a_png(tmp_path):
    from edgeemg.tasks.motor_units.plots import plot_raster
    from edgeemg.tasks.plots import plot_confusion, plot_history

    per_unit = [{"unit": 0, "reference_index": 0, "lag_samples": 2, "f1": 0.9}]
    written = [
        _quiet(plot_confusion, np.array([[3, 1], [0, 4]]), ["a", "b"], tmp_path / "c" / "confusion.png"),
        _quiet(plot_history, {"train_loss": [1.0, 0.5]}, tmp_path / "h" / "history.png"),
        _quiet(plot_latency, _report([0.4, 0.5], [100.0]), tmp_path / "l"),
        _quiet(plot_raster, [np.array([12, 60])], [np.array([10, 58])], per_unit, 2048.0, tmp_path / "r" / "raster.png"),
    ]
    assert written[2] == tmp_path / "l" / "latency-gait.png"
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
