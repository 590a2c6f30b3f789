"""Train and evaluate the gait-phase decoders: the causal decoder (default) and seed 001's models (``preset seed``).

Without a preset, ``train`` builds the causal decoder of
:mod:`edgeemg.tasks.gait.causal_workflow` (decisions every 20 ms from samples up
to the newest one, HMM-smoothed, with heel strikes and toe-offs). With
``preset="seed"`` it builds seed 001's 1D-CNN or RBF SVM
(:mod:`edgeemg.tasks.gait.seed_workflow`), kept so that the paper's comparison
stays reproducible. Both read the recordings of :mod:`edgeemg.tasks.gait.recordings`;
subjects are split train / validation subject-wise, and ``evaluate`` scores
held-out subjects (fresh simulated people, or the recordings given with ``--data``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgeemg.errors import CheckpointError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import subject_split
from edgeemg.tasks.gait import spec
from edgeemg.tasks.gait.recordings import (Recording, SimulationPlan, WindowSet, check_consistent, fit_zscore,
                                           make_windows, read_recordings, simulate_recordings)
from edgeemg.tasks.gait.seed_workflow import DEFAULT_EPOCHS, MODELS, evaluate_seed, model_scores, train_seed
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "gait"
VALIDATION_FRACTION = 0.25
TRAIN_OPTIONS = ("plot", "preset", "train_config")
PRESETS = ("seed",)
EVAL_OPTIONS = ("plot",)

DEFAULT_SIMULATION = SimulationPlan()


def load_recordings(data: list[Path] | None, simulate: bool, *, seed: int, for_eval: bool, progress: bool,
                    plan: SimulationPlan | None = None) -> list[Recording]:
    plan = plan or DEFAULT_SIMULATION
    if simulate == bool(data):
        raise InvalidInputError("gait: give exactly one data source, --data PATH... or --simulate")
    if simulate:
        if for_eval:
            return simulate_recordings(plan.eval_subjects, seed=seed, seconds=plan.seconds, snr_db=plan.snr_db,
                                       first_subject=plan.eval_subject_offset, progress=progress)
        return simulate_recordings(plan.n_subjects, seed=seed, seconds=plan.seconds, snr_db=plan.snr_db,
                                   progress=progress)
    return read_recordings(list(data or []), progress=progress)


def train(
    data: list[Path] | None,
    *,
    simulate: bool,
    model: str,
    epochs: int | None,
    device: str,
    seed: int,
    progress: bool,
    options: dict[str, Any] | None,
) -> Checkpoint:
    """Train the causal decoder (``model`` "cnn", no preset) or seed 001's "cnn" / "svm" (``options["preset"]="seed"``).

    ``options["train_config"]`` (causal decoder only, from Python: the demo's plan uses it) overrides fields of
    :class:`~edgeemg.tasks.gait.causal_training.CausalTrainConfig`.
    """
    options = check_options("gait", options, TRAIN_OPTIONS, "train")
    check_model_and_epochs("gait", model, MODELS, epochs)
    preset = options.get("preset")
    if preset is not None and preset not in PRESETS:
        raise InvalidInputError(f"gait: --preset must be one of {', '.join(PRESETS)} (seed 001's design), got "
                                f"'{preset}'; without --preset the causal decoder is trained")
    if preset is None and model != "cnn":
        raise InvalidInputError(f"gait: the causal decoder is a CNN; --model {model} exists only as seed 001's "
                                "baseline: add --preset seed")
    train_config = _train_config(options.get("train_config")) if preset is None else None
    recs = load_recordings(data, simulate, seed=seed, for_eval=False, progress=progress)
    fs_hz, names = check_consistent(recs)
    split = subject_split([r.subject_id for r in recs], test_fraction=VALIDATION_FRACTION, seed=seed)
    train_recs = [r for r in recs if r.subject_id in split.train]
    zs = fit_zscore(train_recs, fs_hz)
    common = {"labels": list(spec.LABELS), "fs_hz": fs_hz, "channel_names": list(names), "outputs": "logits",
              "split": split.to_dict(), "data": "simulated" if simulate else [str(p) for p in data or []],
              "seed": seed}
    if preset is None:
        from edgeemg.tasks.gait.causal_workflow import train_causal

        arrays, meta_causal = train_causal(recs, split, zs, fs_hz, epochs=epochs, seed=seed, progress=progress,
                                           train_config=train_config)
        _plot_history(options, meta_causal, "causal_cnn")
        return Checkpoint(task=TASK, model=model, arrays=arrays, meta={**common, "preset": "causal", **meta_causal})
    arrays, meta = train_seed(recs, split, zs, fs_hz, common, model=model, epochs=epochs,
                              device=device, seed=seed, progress=progress)
    _plot_history(options, meta, model)
    return Checkpoint(task=TASK, model=model, arrays=arrays, meta=meta)


def _train_config(overrides: dict[str, Any] | None) -> dict[str, Any] | None:
    """``overrides`` after refusing keys that :class:`CausalTrainConfig` does not have."""
    from dataclasses import fields

    from edgeemg.tasks.gait.causal_training import CausalTrainConfig

    known = {f.name for f in fields(CausalTrainConfig)}
    unknown = sorted(set(overrides or {}) - known)
    if unknown:
        raise InvalidInputError(f"gait train: train_config key(s) {', '.join(unknown)} unknown; "
                                f"CausalTrainConfig has {', '.join(sorted(known))}")
    return overrides


def _plot_history(options: dict[str, Any], meta: dict[str, Any], name: str) -> None:
    if "plot" in options and meta.get("history"):
        from edgeemg.tasks.plots import plot_history

        plot_history(meta["history"], Path(options["plot"]) / f"gait_{name}_training.png", title=f"gait {name}")


def evaluate(
    checkpoint: Checkpoint,
    data: list[Path] | None,
    *,
    simulate: bool,
    seed: int,
    device: str,
    progress: bool,
    options: dict[str, Any] | None,
) -> dict[str, Any]:
    """Score a checkpoint on held-out subjects: per-window metrics, then the smoother's.

    Returns the JSON dict of ``edgeemg eval``: ``accuracy``, ``macro_f1``,
    ``per_class_f1``, ``per_class_recall``, ``confusion`` (per window, unsmoothed,
    as seed 001 reports), ``model``, ``transitions`` (latency of the smoothed
    decisions against the foot switches, false transitions per minute, as
    :mod:`edgeemg.tasks.gait.metrics` defines them), and ``smoother`` with the smoothed metrics,
    the flicker (state changes per minute: truth, raw, smoothed) and the added
    latency (documented, and measured as the median delay from a true
    transition to the emitted one, minus the raw classifier's).
    """
    options = check_options("gait", options, EVAL_OPTIONS, "eval")
    meta = checkpoint.meta
    if checkpoint.task != TASK:
        raise CheckpointError(f"gait eval: checkpoint is for task '{checkpoint.task}', expected '{TASK}'")
    recs = load_recordings(data, simulate, seed=seed, for_eval=True, progress=progress)
    fs_hz, _ = check_consistent(recs, fs_hz=meta["fs_hz"], channel_names=tuple(meta["channel_names"]))
    trained_on = set(meta.get("split", {}).get("train", [])) | set(meta.get("split", {}).get("test", []))
    overlap = sorted(trained_on & {r.subject_id for r in recs})
    if overlap:
        log.warning("gait eval: subject(s) %s were used in training; their scores are not held-out", overlap)
    if meta.get("preset") == "causal":
        from edgeemg.tasks.gait.causal_workflow import evaluate_causal

        report = evaluate_causal(checkpoint, recs, device)
    else:
        report = evaluate_seed(checkpoint, recs, fs_hz, device)
        _plot_evaluation(options, checkpoint, report)
    report.update(subjects=sorted({r.subject_id for r in recs}), held_out=not overlap)
    return report


def _plot_evaluation(options: dict[str, Any], checkpoint: Checkpoint, report: dict[str, Any]) -> None:
    if "plot" not in options:
        return
    from edgeemg.tasks.plots import plot_confusion

    out, model = Path(options["plot"]), checkpoint.model
    plot_confusion(report["confusion"], checkpoint.meta["labels"], out / f"gait_{model}_confusion.png",
                   title=f"gait {model}: acc {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}")
    _plot_history({"plot": out}, checkpoint.meta, model)

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_SIMULATION", "MODELS", "Recording", "SimulationPlan", "TASK", "WindowSet",
           "check_consistent", "evaluate", "fit_zscore", "load_recordings", "make_windows", "model_scores",
           "read_recordings", "simulate_recordings", "train"]
