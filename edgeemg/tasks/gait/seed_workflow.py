"""Seed 001's gait models, kept as ``edgeemg train gait --preset seed`` so the paper's comparison stays reproducible.

Data path (identical for both models, so their comparison is fair): recordings
-> the task's DSP description (20-450 Hz band-pass, z-score fitted on the
training subjects, 200 ms windows every 100 ms) -> windows labelled by the state
at their centre. The CNN sees the windows, the SVM sees seed 001's RMS, WL, ZC
and WAMP of *the same windows* (:func:`edgeemg.dsp.td_features`); decisions are
smoothed by a majority vote (:class:`~edgeemg.tasks.gait.decoder.GaitDecoder`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import ZScore
from edgeemg.errors import CheckpointError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import RbfSvm, SubjectSplit, classification_report
from edgeemg.tasks.gait import metrics, spec
from edgeemg.tasks.gait.decoder import GaitDecoder, SmootherConfig, count_changes, transition_delays
from edgeemg.tasks.gait.recordings import Recording, WindowSet, make_windows

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = ("cnn", "svm")
DEFAULT_EPOCHS = 20


def train_seed(recs: list[Recording], split: SubjectSplit, zs: ZScore, fs_hz: float, common: dict[str, Any], *,
               model: str, epochs: int | None, device: str, seed: int, progress: bool,
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Seed 001's ``model`` ("cnn" or "svm") on 200 ms centre-labelled windows; return (arrays, meta).

    ``common`` holds the meta fields every gait checkpoint has (labels, channel names, split...).
    """
    names = common["channel_names"]
    window, hop = spec.window_samples(fs_hz)
    windows = make_windows(recs, spec.dsp_description(fs_hz, zs.to_dict()), fs_hz)
    tr_mask, va_mask = split.masks(windows.subject)
    tr, va = windows.select(tr_mask), windows.select(va_mask)
    log.info("gait: %d training windows (%d subjects), %d validation windows (%d subjects)",
             len(tr.y), len(split.train), len(va.y), len(split.test))
    meta: dict[str, Any] = {**common, "preset": "seed", "window": window, "hop": hop,
                            "decoder": SmootherConfig(hop_s=hop / fs_hz).to_dict()}
    if model == "cnn":
        arrays, meta_model = _train_cnn(tr, va, len(names), window, epochs, device, seed, progress)
        meta["dsp"] = spec.dsp_description(fs_hz, zs.to_dict())
        meta["input_shape"] = [window, len(names)]
    else:
        arrays, meta_model = _train_svm(tr, va, seed)
        meta["dsp"] = spec.dsp_description(fs_hz, zs.to_dict(), features=True)
        meta["input_shape"] = [len(spec.TD_FEATURES), len(names)]
    meta.update(meta_model)
    return arrays, meta


def _train_cnn(tr: WindowSet, va: WindowSet, n_channels: int, window: int, epochs: int | None, device: str,
               seed: int, progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from edgeemg.tasks.gait.models import GaitCNN
    from edgeemg.tasks.classifier_training import TrainConfig, fit_classifier, predict_logits
    from edgeemg.tasks.torch_support import count_parameters, resolve_device, seed_everything, state_to_arrays

    dev = resolve_device(device)
    gen = seed_everything(seed)
    config = {"n_channels": n_channels, "window": window, "n_classes": len(spec.LABELS), "filters": [16, 32],
              "kernel_size": 3, "hidden": 128}
    net = GaitCNN(**config)
    tc = TrainConfig(epochs=epochs or DEFAULT_EPOCHS)
    net, history = fit_classifier(net, (tr.x, tr.y), (va.x, va.y), n_classes=len(spec.LABELS), config=tc,
                                  device=dev, generator=gen, progress=progress, desc="gait cnn")
    val = classification_report(va.y, predict_logits(net, va.x, dev).argmax(1), spec.LABELS)
    summary = {"n_params": count_parameters(net), "n_train_windows": int(len(tr.y)),
               "n_val_windows": int(len(va.y)), "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
               "epochs": tc.epochs, "best_epoch": int(np.argmax(history["val_macro_f1"]) + 1)}
    return state_to_arrays(net), {"model_config": config, "train_config": tc.to_dict(), "history": history,
                                  "summary": summary, "validation": val}


def _train_svm(tr: WindowSet, va: WindowSet, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from edgeemg.tasks.classifier_training import fit_rbf_svm

    svm, info = fit_rbf_svm(tr.features(), tr.y, tr.subject, seed=seed)
    val = classification_report(va.y, svm.predict(va.features()), spec.LABELS)
    summary = {"n_params": int(svm.support_vectors.size + svm.dual_coef.size), "n_train_windows": int(len(tr.y)),
               "n_val_windows": int(len(va.y)), "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
               "C": info["C"], "gamma": info["gamma"], "cv_macro_f1": info["cv_macro_f1"]}
    config = {"kernel": "rbf", "C": info["C"], "gamma": info["gamma"], "features": list(spec.TD_FEATURES),
              "wamp_threshold": spec.WAMP_THRESHOLD_Z}
    return svm.to_arrays(), {"model_config": config, "svm_search": info, "summary": summary, "validation": val}


def model_scores(ckpt: Checkpoint, windows: WindowSet, device: str = "cpu") -> NDArray[np.float64]:
    """Per-window class scores (logits for the CNN, ovr decision values for the SVM)."""
    if ckpt.model == "svm":
        return RbfSvm.from_arrays(ckpt.arrays).scores(windows.features(), len(ckpt.meta["labels"]))
    if ckpt.model == "cnn":
        from edgeemg.tasks.gait.models import GaitCNN
        from edgeemg.tasks.classifier_training import predict_logits
        from edgeemg.tasks.torch_support import arrays_to_state, resolve_device

        dev = resolve_device(device)
        try:
            net = arrays_to_state(GaitCNN(**ckpt.meta["model_config"]), ckpt.arrays).to(dev)
        except (KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"gait cnn checkpoint does not match GaitCNN: {exc}") from exc
        return predict_logits(net, windows.x, dev).astype(np.float64)
    raise CheckpointError(f"gait: checkpoint model '{ckpt.model}' is not one of {', '.join(MODELS)}")


def _predict_ovo_votes(ckpt: Checkpoint, windows: WindowSet, scores: NDArray[np.float64]) -> NDArray[np.int64]:
    if ckpt.model == "svm":  # libsvm's vote, exactly SVC.predict
        return RbfSvm.from_arrays(ckpt.arrays).predict(windows.features())
    return scores.argmax(1)


def evaluate_seed(checkpoint: Checkpoint, recs: list[Recording], fs_hz: float, device: str) -> dict[str, Any]:
    """Per-window metrics of a seed checkpoint on ``recs``, then the majority-vote smoother's (see ``workflow.evaluate``)."""
    meta = checkpoint.meta
    windows = make_windows(recs, meta["dsp"], fs_hz)
    scores = model_scores(checkpoint, windows, device)
    pred = _predict_ovo_votes(checkpoint, windows, scores)
    labels = meta["labels"]
    report = classification_report(windows.y, pred, labels)
    decoder = GaitDecoder.from_manifest(meta)
    smoothed = np.empty_like(pred)
    changes = {"truth": 0, "raw": 0, "smoothed": 0}
    delays_raw, delays_smooth = [], []
    pairs, n_false = [], 0
    for i, rec in enumerate(recs):
        m = windows.record == i
        smoothed[m] = decoder.smooth(scores[m])
        p, f = metrics.pair_transitions(metrics.true_transitions(rec.states, rec.heel_strikes, rec.toe_offs, fs_hz),
                                        metrics.emitted_changes(smoothed[m], windows.end_index[m] / fs_hz))
        pairs += p
        n_false += f
        changes["truth"] += count_changes(windows.y[m])
        changes["raw"] += count_changes(pred[m])
        changes["smoothed"] += count_changes(smoothed[m])
        delays_raw.append(transition_delays(windows.y[m], pred[m]))
        delays_smooth.append(transition_delays(windows.y[m], smoothed[m]))
    hop_s = meta["hop"] / fs_hz
    minutes = len(windows.y) * hop_s / 60.0
    sm = classification_report(windows.y, smoothed, labels)
    d_raw, d_sm = np.concatenate(delays_raw), np.concatenate(delays_smooth)
    cfg = decoder.config
    report.update(
        model=checkpoint.model,
        preset="seed",
        transitions=metrics.transition_report(pairs, n_false, minutes, labels),
        smoother={
            "kind": cfg.kind,
            "votes": cfg.votes,
            "accuracy": sm["accuracy"],
            "macro_f1": sm["macro_f1"],
            "per_class_f1": sm["per_class_f1"],
            "confusion": sm["confusion"],
            "changes_per_min": {k: v / minutes for k, v in changes.items()},
            "added_latency_windows": cfg.added_latency_windows(),
            "added_latency_ms": cfg.added_latency_ms(),
            "measured_median_delay_ms": {
                "raw": float(np.median(d_raw) * hop_s * 1000) if d_raw.size else None,
                "smoothed": float(np.median(d_sm) * hop_s * 1000) if d_sm.size else None,
            },
        },
    )
    return report


__all__ = ["DEFAULT_EPOCHS", "MODELS", "evaluate_seed", "model_scores", "train_seed"]
