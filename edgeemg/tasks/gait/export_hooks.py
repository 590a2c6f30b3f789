"""What the export chain needs from the gait task (torch; export host only).

Data: the checkpoint's own recordings (re-simulated with its seed when it was
trained with ``--simulate``, else ``--data``) through the checkpoint's DSP
description, so the calibration windows are bit-identical to training windows.
Calibration and fine-tuning draw from the training subjects, fine-tune model
selection from the validation subjects, and the fp32-vs-int8 metric is scored
on held-out people: fresh simulated subjects (numbered after the training ones,
as ``edgeemg eval`` does) or, with ``--data``, the checkpoint's validation subjects.
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
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.decoder import SmootherConfig

log = logging.getLogger(__name__)

TORCH_MODELS = ("cnn",)
INPUT_NAME = "x"


def build_module(ckpt: Checkpoint) -> Any:
    """The checkpoint's network in eval mode: the seed's GaitCNN (logits out, input (batch, window, n_channels))
    or, for a causal checkpoint, its CausalGaitNet."""
    if ckpt.meta.get("preset") == "causal":
        from edgeemg.tasks.gait.causal_export import build_module as build_causal

        return build_causal(ckpt)
    from edgeemg.tasks.gait.models import GaitCNN
    from edgeemg.tasks.torch_support import arrays_to_state

    try:
        return arrays_to_state(GaitCNN(**ckpt.meta["model_config"]), ckpt.arrays).eval()
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"gait cnn checkpoint does not match GaitCNN: {exc}") from exc


def prune_groups(module: Any) -> list[PruneGroup]:
    """conv1 filters -> conv2 inputs; conv2 filters -> FC1 inputs (flattened, L per filter); FC1 units -> FC2."""
    conv2 = module.features[3]
    fc1 = module.classifier[1]
    length = fc1.in_features // conv2.out_channels
    return [
        PruneGroup("features.0", (("features.3", 1),)),
        PruneGroup("features.3", (("classifier.1", length),)),
        PruneGroup("classifier.1", (("classifier.3", 1),)),
    ]


def prepare(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The gait :class:`~edgeemg.export.hooks.TaskExport` for a CNN checkpoint (an SVM is refused)."""
    refuse_non_torch(ckpt, TORCH_MODELS)
    if ckpt.meta.get("preset") == "causal":
        from edgeemg.tasks.gait.causal_export import prepare_causal

        return prepare_causal(ckpt, source=source, calibration_items=calibration_items, progress=progress)
    meta = ckpt.meta
    module = build_module(ckpt)
    seed = int(meta.get("seed", 0))
    data, simulate = resolve_recordings_source(ckpt, source)
    plan = source.plan or wf.DEFAULT_SIMULATION
    recs = wf.load_recordings(data, simulate, seed=seed, for_eval=False, progress=progress, plan=plan)
    fs_hz, names = wf.check_consistent(recs, fs_hz=meta["fs_hz"], channel_names=tuple(meta["channel_names"]))
    windows = wf.make_windows(recs, meta["dsp"], fs_hz)
    split = meta["split"]
    tr = windows.select(np.isin(windows.subject, split["train"]))
    va = windows.select(np.isin(windows.subject, split["test"]))
    if len(tr.y) == 0 or len(va.y) == 0:
        raise CheckpointError(
            f"gait export: the data holds {len(tr.y)} windows of the checkpoint's training subjects and {len(va.y)} "
            f"of its validation subjects; pass the recordings it was trained on (subjects {split['train']})"
        )
    if simulate:
        eval_recs = wf.load_recordings(None, True, seed=source.held_out_seed if source.held_out_seed is not None
                                       else seed, for_eval=True, progress=progress, plan=plan)
        held = wf.make_windows(eval_recs, meta["dsp"], fs_hz)
        held_out = HeldOut(held.x, held.y, f"{len(eval_recs)} fresh simulated subjects (seed {seed})")
    else:
        held_out = HeldOut(va.x, va.y, f"validation subjects {split['test']} of the given recordings")
    window, hop = int(meta["window"]), int(meta["hop"])
    decoder_cfg = SmootherConfig.from_dict({**meta.get("decoder", {}), "outputs": "logits"})
    lag_samples = window - 1 - window // 2  # a window is labelled by its centre sample
    manifest = {
        "task": wf.TASK,
        "model": ckpt.model,
        "fs_hz": float(fs_hz),
        "channel_names": list(names),
        "n_channels": len(names),
        "dsp": meta["dsp"],
        "window": window,
        "hop": hop,
        "labels": list(meta["labels"]),
        "decoder": decoder_cfg.to_dict(),
        "decoder_class": "edgeemg.tasks.gait.decoder:GaitDecoder",
        "algorithmic_latency_ms": 1000.0 * lag_samples / fs_hz,
        "decoder_added_latency_ms": decoder_cfg.added_latency_ms(),
        "state": [],
        "model_config": meta["model_config"],
    }
    return TaskExport(
        module=module,
        input_shape=(window, len(names)),
        prune_groups=prune_groups(module),
        calibration=WindowCalibrationReader(tr.x, calibration_items, input_name=INPUT_NAME, seed=seed),
        held_out=held_out,
        metric=classification_metric(meta["labels"]),
        finetune=classifier_finetune((tr.x, tr.y), (va.x, va.y), n_classes=len(meta["labels"]), seed=seed,
                                     train_config=meta.get("train_config", {})),
        manifest=manifest,
        notes=[f"calibration from {len(set(split['train']))} training subjects ({len(tr.y)} windows)"],
    )


__all__ = ["TORCH_MODELS", "build_module", "prepare", "prune_groups"]
