"""What the export chain needs from a ``filters`` checkpoint (torch; export host only).

Data as for the MO-DCNN (:mod:`edgeemg.tasks.motor_units.export_hooks`): the
checkpoint's recording(s) through the checkpoint's DSP description, split in
time at the checkpoint's split. The held-out items are the consecutive windows
after the split: one window per hop, whose outputs are every held-out sample's
sources exactly once, so the metric can rebuild the stream of sources and run
the board's own peak detector over it. The int8 loss is therefore measured on
exactly the spikes the board emits: per unit, sensitivity / precision / F1
(+-0.5 ms, lag removed) against the teacher's stored filters applied to the
recording (what the board's filters were fitted to reproduce), averaged over
units.

No pruning (one Conv1d: nothing to slice that would not drop a channel or a
unit) and no fine-tuning (the filters are not trained by gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DataFormatError
from edgeemg.export.hooks import DataSource, HeldOut, TaskExport, WindowCalibrationReader
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import recordings as rc
from edgeemg.tasks.motor_units.export_hooks import base_manifest, checkpoint_recordings, teacher_trains
from edgeemg.tasks.motor_units.filter_decoder import FilterDecoderConfig, detect_offline
from edgeemg.tasks.motor_units.filter_workflow import load_filter_model
from edgeemg.tasks.motor_units.metrics import spike_score

INPUT_NAME = "x"
OUTPUT_NAME = "logits"  # the chain's name for a stateless model's output; its kind says what it holds
DECODER_CLASS = "edgeemg.tasks.motor_units.decoder:FilterSpikeDecoder"


def spike_metric(config: FilterDecoderConfig, max_lag: int):
    """``metric(reference (n, hop, units), sources (n, hop, units)) -> {"f1", "sensitivity", "precision"}``.

    ``reference`` marks the reference discharges (1 at a discharge's sample);
    ``sources`` are the model's outputs for the same consecutive windows. The
    sources are streamed through the board's detector; each unit's spikes are
    scored against its reference at +-0.5 ms after removing their constant lag.
    """
    tol = max(1, int(round(0.0005 * config.fs_hz)))

    def metric(reference: NDArray[np.int64], sources: NDArray[np.float32]) -> dict[str, float]:
        s, ref = np.asarray(sources), np.asarray(reference)
        if s.shape != ref.shape or s.ndim != 3:
            raise DataFormatError(f"motor-units filters metric: sources {s.shape} and reference {ref.shape} must "
                                  "be the same (n_windows, hop, n_units) shape")
        flat_s, flat_r = s.reshape(-1, s.shape[2]), ref.reshape(-1, ref.shape[2])
        found = detect_offline(flat_s, config)
        scores = [spike_score(found[u], np.flatnonzero(flat_r[:, u]), tolerance=tol, max_lag=max_lag)
                  for u in range(s.shape[2])]
        return {"f1": float(np.mean([x.f1 for x in scores])),
                "sensitivity": float(np.mean([x.sensitivity for x in scores])),
                "precision": float(np.mean([x.precision for x in scores]))}

    return metric


def truth_events(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's pairing of simulator truth units with heads (``edgeemg bench``), for the filter decoder.

    A head's report of a discharge at ``t`` arrives in the model call whose
    newest sample is ``lag + delay + confirm`` .. ``+ hop - 1`` samples after
    ``t`` (``lag`` the teacher's constant delay from the truth, ``delay`` the
    filter's shift from the teacher's discharge); the window is widened by two
    samples on each side for a peak one sample off. Only for checkpoints trained
    on a simulated contraction; None otherwise.
    """
    if not meta.get("simulation"):
        return None
    dcfg = FilterDecoderConfig.from_dict(meta["decoder"])
    fs = float(meta["fs_hz"])
    rows = []
    for head, u in enumerate(meta["units"]):
        if u.get("truth_id") is None:
            continue
        peak = int(u.get("truth_lag_samples") or 0) + int(u.get("delay_samples") or 0)
        lo, hi = peak + dcfg.confirm - 2, peak + dcfg.confirm + dcfg.hop - 1 + 2
        rows.append({"truth": int(u["truth_id"]), "reported": head, "window_ms": [1000.0 * lo / fs, 1000.0 * hi / fs]})
    return {"map": rows, "seed": int(meta.get("seed", 0))} if rows else None


NEGATIVES_PER_POSITIVE = 1.0 / 3.0
"""Calibration windows without a discharge drawn per window with one (all windows with one are kept)."""


def _calibration_windows(x: NDArray[np.float32], fire: NDArray[np.bool_], seed: int,
                         negatives_per_positive: float = NEGATIVES_PER_POSITIVE) -> NDArray[np.float32]:
    """Every window in which a unit discharges, and a third as many drawn from the rest, for calibration.

    Why: a discharge is a few samples in a hundred, so windows drawn at random
    hold few MUAP peaks, and a histogram calibrator (TFLite's PT2E) then clips
    the input and output ranges at the peaks, which are exactly the samples the
    filters key on and the sources the detector thresholds. Measured on the 10 %
    contraction (subject 0, TFLite int8 parity p99 as a fraction of the output
    range, over the export's 0.25): 0.34 with random windows (an earlier
    teacher's filters); with the current 14 units, 0.41 with as many windows
    without a discharge as with one (refused), 0.15 with a third as many (F1
    loss 0.28 pp), 0.15 with none (0.34 pp).
    """
    pos, neg = np.flatnonzero(fire), np.flatnonzero(~fire)
    k = min(neg.size, int(round(negatives_per_positive * pos.size)))
    if pos.size == 0:
        return x
    rest = np.random.default_rng(seed).choice(neg, size=k, replace=False)
    return x[np.sort(np.concatenate([pos, rest]))]


def prepare(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The :class:`~edgeemg.export.hooks.TaskExport` of a ``filters`` checkpoint."""
    del progress
    meta = ckpt.meta
    module = load_filter_model(ckpt)
    seed = int(meta.get("seed", 0))
    recs = checkpoint_recordings(ckpt, source)
    hop, window, n_units = int(meta["hop"]), int(meta["window"]), len(meta["labels"])
    split = float(meta.get("split", rc.DEFAULT_SPLIT))
    tr_x, tr_fire, ho_x, ho_y = [], [], [], []
    for r in recs:
        cut = int(round(split * r.emg.shape[0]))
        x, end = rc.windows_of(r, meta["dsp"])
        marks = np.zeros((r.emg.shape[0], n_units), np.int64)
        for u, t in enumerate(teacher_trains(ckpt, r)):
            marks[t, u] = 1
        rows = end[:, None] - np.arange(hop - 1, -1, -1)[None, :]  # (n, hop) sample of each output row
        fires = marks[rows].any(axis=(1, 2))
        tr_x.append(x[end < cut])
        tr_fire.append(fires[end < cut])
        held = end - hop + 1 >= cut
        ho_x.append(x[held])
        ho_y.append(marks[rows[held]])
    xtr, xho = np.concatenate(tr_x), np.concatenate(ho_x)
    fire = np.concatenate(tr_fire)
    if len(xtr) == 0 or len(xho) == 0:
        raise DataFormatError(f"motor-units export: {len(xtr)} training and {len(xho)} held-out windows; the "
                              "recordings are too short for the checkpoint's split")
    dcfg = FilterDecoderConfig.from_dict(meta["decoder"])
    manifest = {
        **base_manifest(ckpt),
        "extension": int(meta["extension"]),
        "decoder": dcfg.to_dict(),
        "decoder_class": DECODER_CLASS,
        "algorithmic_latency_ms": float(meta["algorithmic_latency_ms"]),
        "decoder_added_latency_ms": dcfg.latency_ms(),
        "truth_events": truth_events(meta),
        "outputs": [{"name": OUTPUT_NAME, "shape": [None, hop, n_units], "dtype": "float32", "kind": "sources"}],
    }
    max_lag = int(round(0.05 * meta["fs_hz"]))
    return TaskExport(
        module=module,
        input_shape=(window, len(meta["channel_names"])),
        prune_groups=[],
        calibration=WindowCalibrationReader(_calibration_windows(xtr, fire, seed), calibration_items, input_name=INPUT_NAME,
                                            seed=seed),
        held_out=HeldOut(xho, np.concatenate(ho_y), f"last {100 * (1 - split):.0f} % of {len(recs)} recording(s) "
                         "in time, spikes vs the teacher's stored filters"),
        metric=spike_metric(dcfg, max_lag),
        finetune=lambda module, epochs, progress: module,
        manifest=manifest,
        notes=[f"calibration from the first {100 * split:.0f} % of {len(recs)} recording(s): windows with a teacher "
               f"discharge and a third as many without ({int(fire.sum())} of {len(xtr)} windows hold one)"],
    )


__all__ = ["DECODER_CLASS", "prepare", "spike_metric", "truth_events"]
