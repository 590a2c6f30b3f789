"""PNG figures for the classifiers' reports (matplotlib, no torch).

Kept apart from :mod:`edgeemg.tasks.classification` so the numpy-only metrics
never pull matplotlib onto a board. The Agg backend is selected per figure
(``Figure`` + ``FigureCanvasAgg``), not through ``matplotlib.use``, so calling
these functions never changes the process-wide backend of a caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure (inches, 110 dpi) on its own Agg canvas (the module docstring says why)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (PNG by its suffix), making the folder; logs and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    log.info("wrote %s", path)
    return path


def plot_confusion(cm: Any, labels: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """Confusion matrix (rows truth, columns prediction) with counts and row-normalised shading."""
    cm = np.asarray(cm, dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = new_figure(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]}\n{frac[i, j]:.0%}", ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    fig.tight_layout()
    return save_figure(fig, path)


def history_figure(history: dict[str, list[float]], *, title: str = "") -> Any:
    """Training curves per epoch: the ``*_loss`` series (left) and the other ``val_*`` metrics (right).

    The right panel exists only when the history has validation metrics, and is
    scaled to [0, 1] only when they are fractions (a keystroke CER is in percent),
    so no task gets an empty or clipped panel. Other series (learning rate,
    CPU seconds) are not training curves and are left out.
    """
    epochs = history.get("epoch") or list(range(1, len(history.get("train_loss", [])) + 1))
    losses = [k for k, v in history.items() if k.endswith("_loss") and v]
    metrics = [k for k, v in history.items() if k.startswith("val_") and not k.endswith("_loss") and v]
    panels = [p for p in (losses, metrics) if p]
    fig = new_figure(4.5 * max(len(panels), 1), 3.4)
    for i, keys in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for key in keys:
            ax.plot(epochs[: len(history[key])], history[key], marker="o", ms=3, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if keys is losses else "validation")
        if keys is metrics and all(0.0 <= v <= 1.0 for k in keys for v in history[k]):
            ax.set_ylim(0.0, 1.0)
        ax.legend()
    fig.suptitle(title or "training curves")
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """Write :func:`history_figure` as a PNG."""
    fig = history_figure(history, title=title)
    return save_figure(fig, path)


def latency_figure(report: Any) -> Any:
    """``edgeemg bench --plot``: compute per hop (left) and true event -> report latency (right).

    Compute per hop has a long tail (a scheduler hiccup or a page fault costs
    100x the median), which squashes a linear histogram into one bar, so both
    are drawn on log-spaced bins with a log time axis; the median, p99 and max
    are marked. Counts are integers, and the axes say so.
    """
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(10.0, 3.6)
    panels = [(1000 * np.asarray(report.hop_latency_s), f"compute per hop ({report.task}, {report.backend} "
               f"{report.precision})", "hops", "tab:blue"),
              (1000 * np.asarray(report.true_latency_s), f"true event -> report ({report.true_events_matched}/"
               f"{report.true_events})", "events", "tab:orange")]
    for i, (ms, title, unit, colour) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        ms = ms[ms > 0]
        if ms.size:
            lo, hi = float(ms.min()), float(ms.max())
            ax.hist(ms, bins=np.geomspace(lo, hi * 1.0001 if hi > lo else lo * 2, 80), color=colour)
            for q, style in ((50, ":"), (99, "--")):
                ax.axvline(np.percentile(ms, q), color="k", ls=style, label=f"p{q} {np.percentile(ms, q):.3g} ms")
            ax.axvline(hi, color="grey", ls="-.", label=f"max {hi:.3g} ms")
        else:
            ax.text(0.5, 0.5, f"no {unit}", ha="center", va="center", transform=ax.transAxes)
        if i == 1:
            ax.axvline(report.budget_ms, color="r", ls="--", label=f"budget {report.budget_ms:.0f} ms")
        ax.set_xscale("log")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=title, xlabel="ms (log scale)", ylabel=unit)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_latency(report: Any, folder: str | Path) -> Path:
    """Write :func:`latency_figure` as ``latency-<task>.png`` in ``folder``."""
    return save_figure(latency_figure(report), Path(folder) / f"latency-{report.task}.png")


def plot_saliency(
    spec_tf: Any,
    saliency_tf: Any,
    path: str | Path,
    *,
    fs_hz: float,
    frame_hop_s: float,
    title: str = "",
) -> Path:
    """Log-spectrogram segment (top) and its gradient x input map (bottom), time on x, frequency on y.

    Parameters
    ----------
    spec_tf, saliency_tf : array, shape (n_frames, n_freq)
        Log-power spectrum per frame and the matching saliency (signed; shown
        with a symmetric diverging colour scale so positive evidence is red and
        evidence against the class is blue).
    """
    spec = np.asarray(spec_tf, dtype=np.float64).T
    sal = np.asarray(saliency_tf, dtype=np.float64).T
    extent = (0.0, spec.shape[1] * frame_hop_s, 0.0, fs_hz / 2.0)
    fig = new_figure(6.0, 5.0)
    ax1 = fig.add_subplot(2, 1, 1)
    im1 = ax1.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax1.set_ylabel("frequency (Hz)")
    ax1.set_title(title or "log-spectrum")
    fig.colorbar(im1, ax=ax1, label="log10 power")
    ax2 = fig.add_subplot(2, 1, 2)
    lim = float(np.abs(sal).max()) or 1.0
    im2 = ax2.imshow(sal, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax2.set_xlabel("time in segment (s)")
    ax2.set_ylabel("frequency (Hz)")
    fig.colorbar(im2, ax=ax2, label="gradient x input")
    fig.tight_layout()
    return save_figure(fig, path)
