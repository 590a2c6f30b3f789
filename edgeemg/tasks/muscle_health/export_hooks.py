"""What the export chain needs from the muscle-health task (torch; export host only).

Same data policy as the gait hooks: the checkpoint's recordings (re-simulated
with its seed, or ``--data``) through its own DSP description; calibration and
fine-tuning from the training subjects, fine-tune model selection on the
validation subjects; held-out metric on fresh simulated subjects, or on the
validation subjects for recorded data. The model input is a segment of
log-spectrogram frames, (batch, 64, 65, 1); the board stacks frames with
:class:`edgeemg.tasks.muscle_health.spec.FrameStacker` as ``manifest["segment"]`` says.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edgeemg.errors import CheckpointError
from edgeemg.export.classifier_hooks import classification_metric, classifier_finetune, refuse_non_torch
from edgeemg.export.hooks import DataSource, HeldOut, PruneGroup, TaskExport, WindowCalibrationReader
from edgeemg.export.hooks import resolve_recordings_source
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.muscle_health import spec
from edgeemg.tasks.muscle_health import workflow as wf
from edgeemg.tasks.muscle_health.decoder import DecisionConfig

log = logging.getLogger(__name__)

TORCH_MODELS = ("attention", "cnn")
INPUT_NAME = "x"


def prune_groups(module: Any) -> list[PruneGroup]:
    """conv1 -> conv2 -> conv3 -> (attention score, FC1) -> FC2; the input planes (spectrum, delta) stay."""
    conv3_readers = [("head.0", 1)]
    if module.attention:
        conv3_readers.insert(0, ("score", 1))
    return [
        PruneGroup("features.0", (("features.3", 1),)),
        PruneGroup("features.3", (("features.6", 1),)),
        PruneGroup("features.6", tuple(conv3_readers)),
        PruneGroup("head.0", (("head.2", 1),)),
    ]


def prepare(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The muscle-health :class:`~edgeemg.export.hooks.TaskExport` for a CNN checkpoint (an SVM is refused)."""
    refuse_non_torch(ckpt, TORCH_MODELS)
    meta = ckpt.meta
    module = wf.build_network(ckpt).eval()
    seed = int(meta.get("seed", 0))
    data, simulate = resolve_recordings_source(ckpt, source)
    plan = source.plan or wf.DEFAULT_SIMULATION
    recs = wf.load_recordings(data, simulate, seed=seed, for_eval=False, progress=progress, plan=plan)
    fs_hz = wf.check_consistent(recs, meta["fs_hz"])
    zs = next(s for s in meta["dsp"] if s["stage"] == "zscore")
    time_dsp = meta.get("dsp_time") or spec.time_description({"mean": zs["mean"], "std": zs["std"]})
    segs = wf.make_segments(recs, meta["dsp"], time_dsp, fs_hz)
    split = meta["split"]
    tr = segs.select(np.isin(segs.subject, split["train"]))
    va = segs.select(np.isin(segs.subject, split["test"]))
    if len(tr.y) == 0 or len(va.y) == 0:
        raise CheckpointError(
            f"muscle export: the data holds {len(tr.y)} segments of the checkpoint's training subjects and "
            f"{len(va.y)} of its validation subjects; pass the recordings it was trained on"
        )
    if simulate:
        hseed = source.held_out_seed if source.held_out_seed is not None else seed
        eval_recs = wf.load_recordings(None, True, seed=hseed, for_eval=True, progress=progress, plan=plan)
        held = wf.make_segments(eval_recs, meta["dsp"], time_dsp, fs_hz)
        held_out = HeldOut(held.x, held.y, f"{len(eval_recs)} fresh simulated subjects (seed {hseed})")
    else:
        held_out = HeldOut(va.x, va.y, f"validation subjects {split['test']} of the given recordings")
    window, hop = int(meta["window"]), int(meta["hop"])
    decoder_cfg = DecisionConfig.from_dict({**meta.get("decoder", {}), "outputs": "logits"})
    manifest = {
        "task": wf.TASK,
        "model": ckpt.model,
        "fs_hz": float(fs_hz),
        "channel_names": list(meta["channel_names"]),
        "n_channels": len(meta["channel_names"]),
        "dsp": meta["dsp"],
        "segment": dict(meta["segment"]),
        "window": window,
        "hop": hop,
        "labels": list(meta["labels"]),
        "decoder": decoder_cfg.to_dict(),
        "decoder_class": "edgeemg.tasks.muscle_health.decoder:MuscleDecoder",
        # a segment's decision is about the whole ~1 s it spans; its centre lags the newest sample by half
        "algorithmic_latency_ms": 1000.0 * (window - 1 - window // 2) / fs_hz,
        "state": [],
        "model_config": meta["model_config"],
    }
    return TaskExport(
        module=module,
        input_shape=tuple(int(v) for v in meta["input_shape"]),
        prune_groups=prune_groups(module),
        calibration=WindowCalibrationReader(tr.x, calibration_items, input_name=INPUT_NAME, seed=seed),
        held_out=held_out,
        metric=classification_metric(meta["labels"]),
        finetune=classifier_finetune((tr.x, tr.y), (va.x, va.y), n_classes=len(meta["labels"]), seed=seed,
                                     train_config=meta.get("train_config", {})),
        manifest=manifest,
        notes=[f"calibration from {len(set(split['train']))} training subjects ({len(tr.y)} segments)"],
    )


__all__ = ["TORCH_MODELS", "prepare", "prune_groups"]
