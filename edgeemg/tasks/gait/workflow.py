"""Train and evaluate the gait-phase decoders: the causal decoder (default) and seed 001's models (``preset seed``).

Without a preset, ``train`` builds the causal decoder of
:mod:`edgeemg.tasks.gait.causal_workflow` (decisions every 20 ms from samples up
to the newest one, HMM-smoothed, with heel strikes and toe-offs). With
``preset="seed"`` it builds seed 001's 1D-CNN or RBF SVM, kept so that the
paper's comparison stays reproducible; the rest of this docstring is theirs.

Data path (identical for both models, so their comparison is fair): recordings
-> the task's DSP description (20-450 Hz band-pass, z-score fitted on the
training subjects, 200 ms windows every 100 ms) -> windows labelled by the state
at their centre. The CNN sees the windows, the SVM sees seed 001's RMS, WL, ZC
and WAMP of *the same windows* (:func:`edgeemg.dsp.td_features`). Subjects are
split train / validation subject-wise; ``evaluate`` scores held-out subjects
(fresh simulated people, or the recordings given with ``--data``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import Pipeline, ZScore, td_features
from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import RbfSvm, classification_report, subject_split
from edgeemg.tasks.gait import metrics, spec
from edgeemg.tasks.gait.decoder import GaitDecoder, SmootherConfig, count_changes, transition_delays
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "gait"
MODELS: tuple[str, ...] = ("cnn", "svm")
VALIDATION_FRACTION = 0.25
TRAIN_OPTIONS = ("plot", "preset")
PRESETS = ("seed",)
EVAL_OPTIONS = ("plot",)


@dataclass(frozen=True)
class SimulationPlan:
    """How much data ``--simulate`` generates (seed 001 had 31 subjects; a few minutes of CPU here).

    ``eval_subject_offset`` numbers the evaluation people after the training
    ones, so even ``eval --seed`` equal to the training seed scores new people.
    """

    n_subjects: int = 8
    seconds: float = 120.0
    snr_db: float | None = None
    eval_subjects: int = 4
    eval_subject_offset: int = 1000


DEFAULT_SIMULATION = SimulationPlan()
DEFAULT_EPOCHS = 20


@dataclass(frozen=True)
class Recording:
    """One subject's record as the workflow needs it (simulated or read from WFDB)."""

    emg: NDArray[np.float32]  # (n_samples, n_channels) µV
    states: NDArray[np.int8]  # (n_samples,)
    fs_hz: float
    channel_names: tuple[str, ...]
    subject_id: str
    source: str
    heel_strikes: tuple[NDArray[np.float64], ...] = ()  # (left, right) seconds, from the foot switches
    toe_offs: tuple[NDArray[np.float64], ...] = ()


@dataclass(frozen=True)
class WindowSet:
    """Windows of many recordings, each with its label, subject and position.

    Both models are trained from one ``WindowSet``: ``x`` for the CNN and
    ``features()`` of the very same ``x`` for the SVM.
    """

    x: NDArray[np.float32]  # (n_windows, window, n_channels), z-scored
    y: NDArray[np.int64]  # (n_windows,)
    subject: NDArray[np.str_]  # (n_windows,)
    record: NDArray[np.int64]  # (n_windows,) index of the recording
    end_index: NDArray[np.int64]  # (n_windows,) last sample of each window in its recording

    def select(self, mask: NDArray[np.bool_]) -> WindowSet:
        return WindowSet(self.x[mask], self.y[mask], self.subject[mask], self.record[mask], self.end_index[mask])

    def features(self) -> NDArray[np.float64]:
        """Seed 001's TD features of every window, flattened to (n_windows, n_features * n_channels)."""
        f = td_features(self.x, spec.TD_FEATURES, wamp_threshold=spec.WAMP_THRESHOLD_Z)
        return f.reshape(len(f), -1).astype(np.float64)


# ------------------------------------------------------------------------------ data


def simulate_recordings(n_subjects: int, *, seed: int, seconds: float, snr_db: float | None, first_subject: int = 0,
                        progress: bool = False, session: int = 0) -> list[Recording]:
    """``n_subjects`` simulated people (seed-controlled), one record (of ``session``) each."""
    from tqdm import tqdm

    from edgeemg.data.sim_gait import simulate_gait

    out = []
    for i in tqdm(range(first_subject, first_subject + n_subjects), desc="simulate gait", unit="subject",
                  disable=not progress):
        sim = simulate_gait(seconds, seed=seed, subject=i, snr_db=snr_db, session=session)
        out.append(Recording(sim.emg, sim.states, sim.fs_hz, tuple(sim.channel_names), sim.subject_id, "simulated",
                             sim.heel_strikes, sim.toe_offs))
    return out


def read_recordings(paths: list[Path], *, progress: bool = False) -> list[Recording]:
    """WFDB walking records (files or folders). Labels: the simulator's ``.gait`` truth when
    present, else the states the reader derives from the foot switches (as for PhysioNet data)."""
    from tqdm import tqdm

    from edgeemg.data.gait_record import read_gait_record
    from edgeemg.data.wfdb_io import find_records

    out = []
    for path in tqdm(find_records(paths), desc="read gait records", unit="record", disable=not progress):
        rec = read_gait_record(path)
        truth = rec.truth_states is not None
        states = rec.truth_states if truth else rec.states
        out.append(Recording(rec.emg, np.asarray(states), rec.fs_hz, tuple(rec.channel_names), rec.subject_id,
                             f"{path} ({'annotated truth' if truth else 'foot-switch states'})",
                             rec.heel_strikes, rec.toe_offs))
    return out


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


def check_consistent(recs: list[Recording], *, fs_hz: float | None = None,
                     channel_names: tuple[str, ...] | None = None) -> tuple[float, tuple[str, ...]]:
    """All records share one sample rate and channel order (and match the checkpoint's, if given)."""
    if not recs:
        raise InvalidInputError("gait: no recordings to use")
    fs = fs_hz if fs_hz is not None else recs[0].fs_hz
    names = channel_names if channel_names is not None else recs[0].channel_names
    for r in recs:
        if abs(r.fs_hz - fs) > 1e-6:
            raise DataFormatError(f"gait: record {r.source} is sampled at {r.fs_hz} Hz, expected {fs} Hz")
        if tuple(r.channel_names) != tuple(names):
            raise DataFormatError(
                f"gait: record {r.source} has channels {list(r.channel_names)}, expected {list(names)} in that order"
            )
    return fs, tuple(names)


def fit_zscore(recs: list[Recording], fs_hz: float) -> ZScore:
    """Per-channel statistics of the band-passed training records (each filtered from rest, as on the board)."""
    n_ch = recs[0].emg.shape[1]
    filt = Pipeline.from_description(spec.filter_description(), fs_hz, n_ch)
    return ZScore.fit(np.concatenate([filt.process_offline(r.emg).data for r in recs]))


def make_windows(recs: list[Recording], description: list[dict[str, Any]], fs_hz: float) -> WindowSet:
    """Run every record through the description (one fresh chain each) and label its windows."""
    stages = [s for s in description if s["stage"] != "td_features"]
    window = next(s["window"] for s in stages if s["stage"] == "window")
    xs, ys, subj, rec_idx, ends = [], [], [], [], []
    for i, r in enumerate(recs):
        frames = Pipeline.from_description(stages, fs_hz, r.emg.shape[1]).process_offline(r.emg)
        xs.append(frames.data)
        ys.append(spec.window_labels(r.states, frames.end_index, window))
        subj.append(np.full(len(frames), r.subject_id))
        rec_idx.append(np.full(len(frames), i, np.int64))
        ends.append(frames.end_index)
    return WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subj).astype(str),
                     np.concatenate(rec_idx), np.concatenate(ends))


# ------------------------------------------------------------------------------ train


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
    """Train the causal decoder (``model`` "cnn", no preset) or seed 001's "cnn" / "svm" (``options["preset"]="seed"``)."""
    options = check_options("gait", options, TRAIN_OPTIONS, "train")
    check_model_and_epochs("gait", model, MODELS, epochs)
    preset = options.get("preset")
    if preset is not None and preset not in PRESETS:
        raise InvalidInputError(f"gait: --preset must be one of {', '.join(PRESETS)} (seed 001's design), got "
                                f"'{preset}'; without --preset the causal decoder is trained")
    if preset is None and model != "cnn":
        raise InvalidInputError(f"gait: the causal decoder is a CNN; --model {model} exists only as seed 001's "
                                "baseline: add --preset seed")
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

        arrays, meta_causal = train_causal(recs, split, zs, fs_hz, epochs=epochs, seed=seed, progress=progress)
        _plot_history(options, meta_causal, "causal_cnn")
        return Checkpoint(task=TASK, model=model, arrays=arrays, meta={**common, "preset": "causal", **meta_causal})
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
    _plot_history(options, meta, model)
    return Checkpoint(task=TASK, model=model, arrays=arrays, meta=meta)


def _plot_history(options: dict[str, Any], meta: dict[str, Any], name: str) -> None:
    if "plot" in options and meta.get("history"):
        from edgeemg.tasks.plots import plot_history

        plot_history(meta["history"], Path(options["plot"]) / f"gait_{name}_training.png", title=f"gait {name}")


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


# ------------------------------------------------------------------------------ evaluate


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
        report.update(subjects=sorted({r.subject_id for r in recs}), held_out=not overlap)
        return report
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
        subjects=sorted({r.subject_id for r in recs}),
        held_out=not overlap,
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
    if "plot" in options:
        from edgeemg.tasks.plots import plot_confusion, plot_history

        out = Path(options["plot"])
        plot_confusion(report["confusion"], labels, out / f"gait_{checkpoint.model}_confusion.png",
                       title=f"gait {checkpoint.model}: acc {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}")
        if meta.get("history"):
            plot_history(meta["history"], out / f"gait_{checkpoint.model}_training.png",
                         title=f"gait {checkpoint.model}")
    return report


__all__ = ["MODELS", "SimulationPlan", "WindowSet", "evaluate", "make_windows", "train"]
