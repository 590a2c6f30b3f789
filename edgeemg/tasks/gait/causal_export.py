"""What the export chain needs from a causal gait checkpoint (torch; export host only).

The model is exported in its board form: one window of exactly its receptive
field in, one frame of logits (states, then foot contacts) out. Windows for
calibration come from the training subjects and the fp32-vs-int8 metric (macro
F1 of the raw state decision) is scored on held-out people, as for the seed
CNN (:mod:`edgeemg.tasks.gait.export_hooks`). Nothing is pruned: at ~14 k
parameters and ~1.2 M MACs per hop the model is not what limits the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import CheckpointError
from edgeemg.export.hooks import DataSource, HeldOut, TaskExport, WindowCalibrationReader, resolve_recordings_source
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import classification_report
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.causal_workflow import frame_ends, sequences, zscored

INPUT_NAME = "x"
MAX_HELD_OUT_WINDOWS = 1500
TRUTH_WINDOW_MS = (-1000.0, 2000.0)
"""Bench pairing of simulator state changes with reported ones: a prediction may come up to 1 s early."""


def build_module(ckpt: Checkpoint) -> Any:
    """The checkpoint's CausalGaitNet in eval mode (input (batch, receptive field, channels), logits out)."""
    from edgeemg.tasks.gait.causal_models import CausalGaitNet
    from edgeemg.tasks.torch_support import arrays_to_state

    try:
        return arrays_to_state(CausalGaitNet(**ckpt.meta["model_config"]), ckpt.arrays).eval()
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"gait causal checkpoint does not match CausalGaitNet: {exc}") from exc


def windows_at(z: list[NDArray[np.float32]], frames: list[NDArray[np.int64]], window: int, hop: int,
               ) -> NDArray[np.float32]:
    """The board's input windows of the given frames (frame ``j`` = samples ``hop*j .. hop*j + window - 1``)."""
    return np.stack([zi[j * hop : j * hop + window] for zi, fr in zip(z, frames) for j in fr]).astype(np.float32)


def _spread(n_frames: list[int], total: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
    """About ``total`` frame indices spread over recordings of ``n_frames`` frames (sorted, random)."""
    share = max(1, total // max(1, len(n_frames)))
    return [np.sort(rng.choice(n, size=min(n, share), replace=False)) for n in n_frames]


def state_metric(n_states: int, labels: list[str]) -> Any:
    """``metric(y, outputs)``: accuracy and macro F1 of the argmax over the state logits (the first ``n_states``)."""

    def metric(y_true: NDArray[np.int64], scores: NDArray[np.float32]) -> dict[str, float]:
        rep = classification_report(np.asarray(y_true), np.asarray(scores)[:, :n_states].argmax(1), labels)
        return {"accuracy": float(rep["accuracy"]), "macro_f1": float(rep["macro_f1"])}

    return metric


def prepare_causal(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The :class:`~edgeemg.export.hooks.TaskExport` of a causal gait checkpoint."""
    meta = ckpt.meta
    module = build_module(ckpt)
    seed = int(meta.get("seed", 0))
    window, hop, horizon, fs_hz = int(meta["window"]), int(meta["hop"]), int(meta["horizon"]), float(meta["fs_hz"])
    zs = next(s for s in meta["dsp"] if s["stage"] == "zscore")
    zs = {"mean": zs["mean"], "std": zs["std"]}
    data, simulate = resolve_recordings_source(ckpt, source)
    plan = source.plan or wf.DEFAULT_SIMULATION
    recs = wf.load_recordings(data, simulate, seed=seed, for_eval=False, progress=progress, plan=plan)
    wf.check_consistent(recs, fs_hz=fs_hz, channel_names=tuple(meta["channel_names"]))
    train_recs = [r for r in recs if r.subject_id in meta["split"]["train"]]
    if not train_recs:
        raise CheckpointError(f"gait export: none of the given recordings is of the checkpoint's training subjects "
                              f"{meta['split']['train']}; pass the recordings it was trained on")
    if simulate:
        held_seed = source.held_out_seed if source.held_out_seed is not None else seed
        held_recs = wf.load_recordings(None, True, seed=held_seed, for_eval=True, progress=progress, plan=plan)
        held_src = f"{len(held_recs)} fresh simulated subjects (seed {held_seed})"
    else:
        held_recs = [r for r in recs if r.subject_id in meta["split"]["test"]]
        held_src = f"validation subjects {meta['split']['test']} of the given recordings"
    rng = np.random.default_rng(seed)
    z_tr = zscored(train_recs, zs, fs_hz)
    cal = windows_at(z_tr, _spread([len(frame_ends(len(z), window, hop)) for z in z_tr], calibration_items, rng),
                     window, hop)
    z_ho = zscored(held_recs, zs, fs_hz)
    ho_seq = sequences(held_recs, z_ho, window, hop, horizon, int(meta["decoder"]["contact_horizon"]))
    ho_frames = _spread([len(s) for s in ho_seq.states], MAX_HELD_OUT_WINDOWS, rng)
    x_ho = windows_at(z_ho, ho_frames, window, hop)
    y_ho = np.concatenate([s[f] for s, f in zip(ho_seq.states, ho_frames)])
    labels = list(meta["labels"])
    manifest = {
        "task": wf.TASK, "model": ckpt.model, "preset": "causal", "fs_hz": fs_hz,
        "channel_names": list(meta["channel_names"]), "n_channels": len(meta["channel_names"]), "dsp": meta["dsp"],
        "window": window, "hop": hop, "labels": labels, "feet": list(meta["feet"]), "decoder": meta["decoder"],
        "decoder_class": "edgeemg.tasks.gait.decoder:CausalGaitDecoder",
        # states are decided at the newest sample (or ahead); gait events with a look-back are known that much later
        "algorithmic_latency_ms": 1000.0 * max(0, -int(meta["decoder"]["contact_horizon"])) / fs_hz,
        "prediction_horizon_ms": 1000.0 * horizon / fs_hz, "decoder_added_latency_ms": None, "state": [],
        "model_config": meta["model_config"],
        "truth_events": {"match": "sequence", "window_ms": list(TRUTH_WINDOW_MS)},
    }
    return TaskExport(
        module=module, input_shape=(window, len(meta["channel_names"])), prune_groups=[],
        calibration=WindowCalibrationReader(cal, calibration_items, input_name=INPUT_NAME, seed=seed),
        held_out=HeldOut(x_ho, y_ho, held_src), metric=state_metric(len(labels), labels),
        finetune=lambda module, epochs, progress: module, manifest=manifest,
        notes=[f"calibration from {len(train_recs)} training subjects ({len(cal)} windows); not pruned"],
    )


__all__ = ["build_module", "prepare_causal", "state_metric", "windows_at"]
