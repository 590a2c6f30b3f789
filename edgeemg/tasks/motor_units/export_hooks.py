"""What the export chain needs from the motor-unit task (torch; export host only).

Data: the checkpoint's own recording(s), re-simulated with its seed and
simulation plan when it was trained with ``--simulate`` (else ``--data`` or the
paths it recorded), through the checkpoint's DSP description, so calibration
windows are bit-identical to training windows. The split in time is the
checkpoint's (DESIGN.md): windows ending before the split calibrate and
fine-tune (their last ``val_fraction`` picks the fine-tune epoch), windows whose
labelled point lies after it are the held-out set. A motor-unit model decodes
the units of the grid and person it was trained on, so "held out" means later
in time, never another subject.

Labels of the held-out windows come from the same source the student learnt
from: the teacher's stored separation filters applied to the recording (as in
real use, where no truth exists), or the discharge truth for ``--labels
truth`` checkpoints. The metric is the seed's epoch-selection metric: per unit
F1 of thresholded window probabilities (eq. 2 labels), averaged over units,
with ``sensitivity`` and ``precision`` beside it. It is a window-level figure,
so the int8 loss it measures is exactly the decisions the board decoder makes.

Pruning: :func:`prune_groups` names the shared trunk (C1 -> C2 -> C3 inputs).
The per-unit heads are grouped convolutions (one group per unit), which the
chain's L1 pruner does not slice (it would have to keep the same number of
filters in every head); ``export/motor_units.toml`` records what pruning was
measured to give.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import CheckpointError, DataFormatError
from edgeemg.export.hooks import DataSource, HeldOut, PruneGroup, TaskExport, WindowCalibrationReader
from edgeemg.export.hooks import resolve_recordings_source
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units import recordings as rc
from edgeemg.tasks.motor_units import workflow as wf
from edgeemg.tasks.motor_units.decoder import DecoderConfig
from edgeemg.tasks.motor_units.labels import TEACHER_PREFIX, stored_teacher_trains
from edgeemg.tasks.motor_units.plans import SimulationPlan

log = logging.getLogger(__name__)

INPUT_NAME = "x"
DECODER_CLASS = "edgeemg.tasks.motor_units.decoder:MotorUnitDecoder"


def build_module(ckpt: Checkpoint) -> Any:
    """The checkpoint's network in eval mode (:func:`~edgeemg.tasks.motor_units.workflow.load_model`).

    The MO-DCNN maps (batch, window, 64) to (batch, n_units) probabilities, the
    separation filters (batch, window, 64) to (batch, hop, n_units) sources.
    """
    return wf.load_model(ckpt)


def prune_groups(module: Any) -> list[PruneGroup]:
    """C1 filters -> C2 inputs; C2 filters -> C3 inputs (C3 is one dense conv over the shared map).

    The heads (C3 outputs onwards) are grouped per unit and are not listed: see the module docstring.
    """
    del module  # the names are fixed by MODCNN
    return [PruneGroup("c1", (("c2", 1),)), PruneGroup("c2", (("c3", 1),))]


def unit_f1_metric(threshold: float | tuple[float, ...] = spec.THRESHOLD):
    """``metric(y_true (n, units), prob (n, units)) -> {"f1", "sensitivity", "precision"}``, means over units.

    Per unit, window-level counts of ``prob > threshold`` against the eq. 2
    labels. A unit with no positive window and no detection scores 1 (nothing
    to find, nothing claimed), as in :func:`edgeemg.tasks.motor_units.training.mean_f1`.
    """

    def metric(y_true: NDArray[np.int64], prob: NDArray[np.float32]) -> dict[str, float]:
        p = np.asarray(prob)
        t = np.asarray(y_true)
        if p.shape != t.shape or p.ndim != 2:
            raise DataFormatError(f"motor-units metric: probabilities {p.shape} and labels {t.shape} must be the "
                                  "same (n_windows, n_units) shape")
        pred, truth = p > np.asarray(threshold, dtype=np.float64), t > 0.5
        tp = (pred & truth).sum(0).astype(np.float64)
        n_pred, n_true = pred.sum(0), truth.sum(0)
        f1 = np.where(n_pred + n_true > 0, 2 * tp / np.maximum(n_pred + n_true, 1), 1.0)
        sens = np.where(n_true > 0, tp / np.maximum(n_true, 1), 1.0)
        prec = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 1.0)
        return {"f1": float(f1.mean()), "sensitivity": float(sens.mean()), "precision": float(prec.mean())}

    return metric


def _unit_trains(ckpt: Checkpoint, rec: rc.Recording) -> list[NDArray[np.int64]]:
    """Discharges of every head's unit over the whole recording, from the checkpoint's label source."""
    meta = ckpt.meta
    if meta.get("label_source") == "truth":
        if rec.discharges is None:
            raise DataFormatError(f"motor-units export: the checkpoint learnt truth labels but {rec.source} has no "
                                  "discharge truth to label the calibration and held-out windows with")
        table = dict(zip(rec.unit_ids, rec.discharges))
        ids = [u["truth_id"] for u in meta["units"]]
        missing = [u for u in ids if u not in table]
        if missing:
            raise DataFormatError(f"motor-units export: {rec.source} lacks the checkpoint's units {missing} "
                                  f"(it has {sorted(table)}); pass the recording the checkpoint was trained on")
        return [np.asarray(table[u], dtype=np.int64) for u in ids]
    return teacher_trains(ckpt, rec)


def teacher_trains(ckpt: Checkpoint, rec: rc.Recording) -> list[NDArray[np.int64]]:
    """Every head's discharges over the whole recording by the checkpoint's stored teacher (real use has no truth)."""
    trains = stored_teacher_trains(ckpt, rec.emg)
    if trains is None:
        raise CheckpointError(f"motor-units export: checkpoint has label_source {ckpt.meta.get('label_source')!r} "
                              f"but no '{TEACHER_PREFIX}filters' arrays to label the held-out windows with")
    return trains


def _finetune(train: tuple[NDArray[np.float32], NDArray[np.float32]],
              val: tuple[NDArray[np.float32], NDArray[np.float32]], *, seed: int, train_config: dict[str, Any]):
    """The task's own loop (RMSprop, BCE, best epoch by validation mean F1) at a tenth of the learning rate.

    C1 filters that training kept frozen as the teacher's sources stay frozen.
    """

    def finetune(module: Any, epochs: int, progress: bool) -> Any:
        import torch

        from edgeemg.tasks.motor_units.training import FitConfig, fit
        from edgeemg.tasks.torch_support import seed_everything

        if epochs < 1:
            return module
        gen = seed_everything(seed)
        init = train_config.get("teacher_init") or {}
        if init.get("frozen"):
            from edgeemg.tasks.motor_units.c1_split import SplitConv1d
            from edgeemg.tasks.motor_units.teacher_init import freeze_rows

            if isinstance(module.c1, SplitConv1d):  # split for the export: the teacher rows are one conv
                module.c1.teacher.requires_grad_(False)
            else:
                freeze_rows(module.c1, init["c1_from_teacher"])
        fc = FitConfig(epochs=epochs, batch_size=int(train_config.get("batch_size", 64)),
                       learning_rate=float(train_config.get("learning_rate", 1e-3)) / 10.0,
                       pos_weight=train_config.get("pos_weight"))
        module, _ = fit(module, train, val, config=fc, device=torch.device("cpu"), generator=gen, progress=progress)
        return module.eval()

    return finetune


def truth_events(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's pairing of simulator truth units with the decoder's heads (``edgeemg bench``).

    Why: the decoder reports head indices (its ``units`` list), the simulated
    band's truth events carry pool unit IDs; matching them by value pairs
    unrelated spikes. Each head whose unit is known (``truth_id``: the truth
    unit it was trained on, or the one the teacher's unit was matched to at
    training) maps that ID to the head index, with the window in which the
    head's report of a discharge at ``t`` can arrive: its window's newest
    sample lies ``label_delay + lag - step/2 .. label_delay + lag + step/2``
    samples after ``t`` (eq. 2; ``lag`` the teacher's constant delay from the
    truth), widened by half a step on each side for a decision one window
    early or late. Only for checkpoints trained on a simulated contraction
    (``seed`` names the subject whose IDs these are); None otherwise.
    """
    if not meta.get("simulation"):
        return None
    dcfg = DecoderConfig.from_dict(meta["decoder"])
    fs, d, s = float(meta["fs_hz"]), dcfg.label_delay, dcfg.step
    rows = []
    for head, u in enumerate(meta["units"]):
        if u.get("truth_id") is None:
            continue
        lag = int(u.get("truth_lag_samples") or 0)
        lo, hi = lag + d - s // 2 - s // 2, lag + d + (s - 1 - s // 2) + s // 2
        rows.append({"truth": int(u["truth_id"]), "reported": head,
                     "window_ms": [1000.0 * lo / fs, 1000.0 * hi / fs]})
    return {"map": rows, "seed": int(meta.get("seed", 0))} if rows else None


def checkpoint_recordings(ckpt: Checkpoint, source: DataSource) -> list[rc.Recording]:
    """The recordings to export from (re-simulated for a ``--simulate`` checkpoint), checked against its grid."""
    meta = ckpt.meta
    data, simulate = resolve_recordings_source(ckpt, source)
    sim_plan = source.plan or (SimulationPlan(**meta["simulation"]) if meta.get("simulation") else None)
    recs = rc.load_recordings(data, simulate, seed=int(meta.get("seed", 0)), plan=sim_plan)
    names = tuple(meta["channel_names"])
    for r in recs:
        if abs(r.fs_hz - meta["fs_hz"]) > 1e-6 or r.channel_names != names:
            raise DataFormatError(
                f"motor-units export: {r.source} has {len(r.channel_names)} channels at {r.fs_hz} Hz; the "
                f"checkpoint expects {len(names)} at {meta['fs_hz']} Hz in its order")
    return recs


def base_manifest(ckpt: Checkpoint) -> dict[str, Any]:
    """The manifest fields every motor-unit model states the same way (grid, chain, window, heads)."""
    meta = ckpt.meta
    names = list(meta["channel_names"])
    return {"task": wf.TASK, "model": ckpt.model, "fs_hz": float(meta["fs_hz"]), "channel_names": names,
            "n_channels": len(names), "dsp": meta["dsp"], "window": int(meta["window"]), "hop": int(meta["hop"]),
            "labels": list(meta["labels"]), "units": meta["units"], "state": []}


def prepare(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The motor-unit :class:`~edgeemg.export.hooks.TaskExport` of a checkpoint (``filters``: :mod:`.filter_export`)."""
    if ckpt.model == "filters":
        from edgeemg.tasks.motor_units.filter_export import prepare as prepare_filters

        return prepare_filters(ckpt, source=source, calibration_items=calibration_items, progress=progress)
    meta = ckpt.meta
    module = build_module(ckpt)
    seed = int(meta.get("seed", 0))
    recs = checkpoint_recordings(ckpt, source)
    names = tuple(meta["channel_names"])
    windows = spec.WindowSpec.from_dict(meta["windows"])
    split = float(meta.get("split", rc.DEFAULT_SPLIT))
    val_fraction = float(meta.get("train_config", {}).get("val_fraction", 0.2))
    tr_x, tr_y, va_x, va_y, ho_x, ho_y = [], [], [], [], [], []
    for r in recs:
        cut = int(round(split * r.emg.shape[0]))
        x, end = rc.windows_of(r, meta["dsp"])
        y = spec.window_labels(_unit_trains(ckpt, r), end, windows)
        train = end < cut
        k = max(1, int(round(val_fraction * int(train.sum()))))
        xt, yt = x[train], y[train]
        tr_x.append(xt[:-k]), tr_y.append(yt[:-k]), va_x.append(xt[-k:]), va_y.append(yt[-k:])
        held = windows.label_point(end) >= cut
        ho_x.append(x[held]), ho_y.append(y[held])
    xtr, ytr = np.concatenate(tr_x), np.concatenate(tr_y)
    xho, yho = np.concatenate(ho_x), np.concatenate(ho_y)
    if len(xtr) == 0 or len(xho) == 0:
        raise DataFormatError(f"motor-units export: {len(xtr)} training and {len(xho)} held-out windows; the "
                              "recordings are too short for the checkpoint's window and split")
    notes = [f"calibration from the first {100 * split:.0f} % of {len(recs)} recording(s) ({len(xtr)} windows)"]
    teacher_rows = [int(r) for r in (meta.get("train_config", {}).get("teacher_init") or {}).get("c1_from_teacher")
                    or []]
    split_c1 = 0 < len(teacher_rows) < module.c1.out_channels
    if module.config.trunk_kernel > module.config.kernel_size:  # C1 started as the teacher's separation filters
        from edgeemg.tasks.motor_units.teacher_init import c1_on_int8_grid

        int8_rows = [r for r in range(module.c1.out_channels) if r not in set(teacher_rows)] if split_c1 else None
        c1_on_int8_grid(module, xtr, rows=int8_rows)
        notes.append(f"C1's {'learnt ' if split_c1 else ''}filters rounded onto the int8 grid, errors compensated "
                     "over the training windows; the fp32 artifacts carry the rounded filters too")
    from edgeemg.tasks.motor_units.head_equalization import equalize_heads

    scales = equalize_heads(module, xtr[np.linspace(0, len(xtr) - 1, min(len(xtr), 1024)).astype(np.int64)])
    notes.append("every head's C3, C4 and F1 outputs rescaled to one int8 activation range (function-preserving; "
                 "largest per-head scale " + ", ".join(f"{k} {max(v):.1f}" for k, v in scales.items()) + ")")
    groups, float_modules = prune_groups(module), ()
    if split_c1:
        from edgeemg.tasks.motor_units.c1_split import split_teacher_c1

        float_modules = (split_teacher_c1(module, teacher_rows),)
        groups = [g for g in groups if g.producer != "c1"]  # C1 is two convolutions now; C2's filters still prune
        notes.append(f"C1's {len(teacher_rows)} teacher-started filters kept float (their whitening amplifies the "
                     "input's int8 rounding), its other filters int8")
    dcfg = DecoderConfig.from_dict(meta["decoder"])
    manifest = {
        **base_manifest(ckpt),
        "decoder": dcfg.to_dict(),
        "decoder_class": DECODER_CLASS,
        "algorithmic_latency_ms": dcfg.latency_ms(),
        "decoder_added_latency_ms": 0.0,
        "model_config": meta["model_config"],
        "truth_events": truth_events(meta),
        "outputs": [{"name": "logits", "shape": [None, len(meta["labels"])], "dtype": "float32",
                     "kind": "probabilities"}],
    }
    source_text = (f"last {100 * (1 - split):.0f} % of {len(recs)} recording(s) in time, "
                   f"labels from the {meta.get('label_source', 'teacher')}")
    return TaskExport(
        module=module,
        input_shape=(int(meta["window"]), len(names)),
        prune_groups=groups,
        calibration=WindowCalibrationReader(xtr, calibration_items, input_name=INPUT_NAME, seed=seed),
        held_out=HeldOut(xho, yho.astype(np.int64), source_text),
        metric=unit_f1_metric(dcfg.threshold),
        finetune=_finetune((xtr, ytr), (np.concatenate(va_x), np.concatenate(va_y)), seed=seed,
                           train_config=meta.get("train_config", {})),
        manifest=manifest,
        notes=notes,
        float_modules=float_modules,
    )


__all__ = ["DECODER_CLASS", "base_manifest", "build_module", "checkpoint_recordings", "prepare", "prune_groups",
           "teacher_trains", "truth_events", "unit_f1_metric"]
