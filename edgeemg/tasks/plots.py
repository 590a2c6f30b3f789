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


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(cm: Any, labels: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """Confusion matrix (rows truth, columns prediction) with counts and row-normalised shading."""
    cm = np.asarray(cm, dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = _figure(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels))
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    log.info("wrote %s", path)
    return path


def plot_history(history: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """Training curves: losses (left) and validation accuracy / macro F1 (right) per epoch."""
    epochs = history.get("epoch") or list(range(1, len(history.get("train_loss", [])) + 1))
    fig = _figure(9.0, 3.4)
    ax1 = fig.add_subplot(1, 2, 1)
    for key in ("train_loss", "val_loss"):
        if history.get(key):
            ax1.plot(epochs, history[key], marker="o", ms=3, label=key.replace("_", " "))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax2 = fig.add_subplot(1, 2, 2)
    for key in ("val_accuracy", "val_macro_f1"):
        if history.get(key):
            ax2.plot(epochs, history[key], marker="o", ms=3, label=key.replace("_", " "))
    ax2.set_xlabel("epoch")
    ax2.set_ylim(0.0, 1.0)
    ax2.legend()
    fig.suptitle(title or "training curves")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    log.info("wrote %s", path)
    return path


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
    fig = _figure(6.0, 5.0)
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    log.info("wrote %s", path)
    return path
