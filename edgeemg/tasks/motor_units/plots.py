"""PNG figures of the motor-unit evaluation: spike raster (reference vs decoded) and neural drive.

matplotlib only, drawn on a private Agg canvas (never changes the process-wide backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeemg.tasks.motor_units.decoder import DecoderConfig, MotorUnitDecoder
from edgeemg.tasks.motor_units.metrics import neural_drive
from edgeemg.tasks.plots import new_figure, save_figure


def _save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    return save_figure(fig, path)


def plot_raster(decoded: list[Any], reference: list[Any], per_unit: list[dict[str, Any]], fs_hz: float,
                path: str | Path, *, seconds: float = 5.0) -> Path:
    """First ``seconds`` of each matched unit: reference spikes (black) above decoded ones (red, lag removed)."""
    fig = new_figure(9.0, 1.0 + 0.35 * max(1, len(per_unit)))
    ax = fig.add_subplot(1, 1, 1)
    limit = seconds * fs_hz
    for row, u in enumerate(per_unit):
        ref = np.asarray(reference[u["reference_index"]] if "reference_index" in u else [])
        dec = np.asarray(decoded[u["unit"]]) - u["lag_samples"]
        ax.vlines(ref[ref < limit] / fs_hz, row + 0.05, row + 0.45, color="black", lw=0.8)
        ax.vlines(dec[dec < limit] / fs_hz, row - 0.45, row - 0.05, color="tab:red", lw=0.8)
    ax.set_yticks(range(len(per_unit)), [f"mu{u['unit']:02d} F1 {u['f1']:.2f}" for u in per_unit], fontsize=7)
    ax.set_xlabel("time in the scored part (s)")
    ax.set_title("spike raster: reference (black, top) vs decoded (red, bottom)")
    return _save(fig, path)


def plot_neural_drive(prob: Any, end_index: Any, config: DecoderConfig, per_unit: list[dict[str, Any]],
                      reference: list[Any], n_samples: int, path: str | Path) -> Path:
    """The streamed (causal) drive of the decoded units and the offline drive of the matched reference units."""
    dec = MotorUnitDecoder([f"mu{i:02d}" for i in range(np.asarray(prob).shape[1])], config)
    events = dec.step(prob, end_index)
    t = np.array([e["end_index"] for e in events]) / config.fs_hz
    streamed = np.array([e["neural_drive"] for e in events])
    refs = [reference[u["reference_index"]] for u in per_unit if u["identified"] and "reference_index" in u]
    fig = new_figure(9.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t, streamed, color="tab:red", label="decoded, streamed (causal 400 ms Hann)")
    if refs:
        ax.plot(np.arange(n_samples) / config.fs_hz, neural_drive(refs, n_samples, config.fs_hz), color="black",
                label="reference units, offline (centred 400 ms Hann)")
    ax.set_xlabel("time in the scored part (s)")
    ax.set_ylabel("pulses / s (summed)")
    ax.legend(fontsize=8)
    ax.set_title("neural drive")
    return _save(fig, path)
