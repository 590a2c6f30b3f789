"""Train and evaluate the muscle-health classifiers: SpectroEMG-Net-style attention CNN, the same CNN
without attention, and a classical RBF-SVM on time-domain + spectral features.

All three see the same segments (about 1 s of needle EMG, 50 % overlap) labelled
with the subject's condition; subjects are split train / validation within
each class (so every class is on both sides) and never by segment.
``evaluate`` reports segment-level metrics (seed 003's 92 % is per segment)
and, through the board-side decoder, the per-record running decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import Pipeline, ZScore
from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import RbfSvm, classification_report, confusion_matrix, subject_split
from edgeemg.tasks.muscle_health import spec
from edgeemg.tasks.muscle_health.decoder import DecisionConfig, MuscleDecoder
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "muscle"
MODELS: tuple[str, ...] = ("attention", "cnn", "svm")
VALIDATION_FRACTION = 0.25
TRAIN_OPTIONS = ("plot",)
EVAL_OPTIONS = ("plot",)
DEFAULT_EPOCHS = 15


@dataclass(frozen=True)
class SimulationPlan:
    """How much data ``--simulate`` generates; evaluation people are numbered after the training ones."""

    n_subjects: int = 24
    seconds: float = 20.0
    eval_subjects: int = 9
    eval_subject_offset: int = 1000


DEFAULT_SIMULATION = SimulationPlan()


@dataclass(frozen=True)
class Recording:
    emg: NDArray[np.float32]  # (n_samples, 1) µV
    fs_hz: float
    condition: str
    subject_id: str
    source: str


@dataclass(frozen=True)
class SegmentSet:
    """Segments of many records: the CNNs' input ``x`` and the SVM's aligned time-domain features."""

    x: NDArray[np.float32]  # (n, n_frames, n_freq, n_channels) log-spectrum segments
    td: NDArray[np.float32]  # (n, n_td_features, n_channels) TD features of the same samples
    y: NDArray[np.int64]
    subject: NDArray[np.str_]
    record: NDArray[np.int64]
    end_index: NDArray[np.int64]

    def select(self, mask: NDArray[np.bool_]) -> SegmentSet:
        return SegmentSet(self.x[mask], self.td[mask], self.y[mask], self.subject[mask], self.record[mask],
                          self.end_index[mask])

    def features(self) -> NDArray[np.float64]:
        """Classical features per segment: TD features + band log-power mean and std over time + mean/median freq."""
        n = len(self.y)
        spec_tf = self.x[..., 0].astype(np.float64)  # (n, T, F) log10 power, channel 0
        bands = np.array_split(np.arange(spec_tf.shape[2]), spec.N_SPECTRAL_BANDS)
        band_lp = np.stack([spec_tf[:, :, b].mean(axis=2) for b in bands], axis=2)  # (n, T, bands)
        power = (10.0 ** spec_tf).mean(axis=1)  # (n, F) mean linear power
        freqs = np.arange(power.shape[1], dtype=np.float64)
        mean_f = (power * freqs).sum(1) / power.sum(1)
        cum = np.cumsum(power, axis=1)
        median_f = (cum < 0.5 * cum[:, -1:]).sum(axis=1).astype(np.float64)
        return np.concatenate(
            [self.td.reshape(n, -1), band_lp.mean(axis=1), band_lp.std(axis=1), mean_f[:, None], median_f[:, None]],
            axis=1,
        )


def simulate_recordings(n_subjects: int, *, seed: int, seconds: float, first_subject: int = 0,
                        progress: bool = False) -> list[Recording]:
    from tqdm import tqdm

    from edgeemg.data.sim_muscle import simulate_muscle

    out = []
    for i in tqdm(range(first_subject, first_subject + n_subjects), desc="simulate muscle", unit="subject",
                  disable=not progress):
        sim = simulate_muscle(seconds, seed=seed, subject=i)
        out.append(Recording(sim.emg, sim.fs_hz, sim.condition, sim.subject_id, "simulated"))
    return out


def read_recordings(paths: list[Path], *, progress: bool = False) -> list[Recording]:
    """emgdb-style WFDB records; each must name its condition (header comment or record name)."""
    from tqdm import tqdm

    from edgeemg.data.muscle_record import read_muscle_record
    from edgeemg.data.wfdb_io import find_records

    out = []
    for path in tqdm(find_records(paths), desc="read muscle records", unit="record", disable=not progress):
        rec = read_muscle_record(path)
        if rec.condition not in spec.LABELS:
            raise DataFormatError(
                f"{path}: record has condition {rec.condition!r}, expected one of {list(spec.LABELS)} "
                "(from a 'condition:' header comment or an emgdb record name)"
            )
        out.append(Recording(rec.emg, rec.fs_hz, rec.condition, rec.subject_id, str(path)))
    return out


def load_recordings(data: list[Path] | None, simulate: bool, *, seed: int, for_eval: bool, progress: bool,
                    plan: SimulationPlan | None = None) -> list[Recording]:
    plan = plan or DEFAULT_SIMULATION
    if simulate == bool(data):
        raise InvalidInputError("muscle: give exactly one data source, --data PATH... or --simulate")
    if simulate:
        if for_eval:
            return simulate_recordings(plan.eval_subjects, seed=seed, seconds=plan.seconds,
                                       first_subject=plan.eval_subject_offset, progress=progress)
        return simulate_recordings(plan.n_subjects, seed=seed, seconds=plan.seconds, progress=progress)
    return read_recordings(list(data or []), progress=progress)


def check_consistent(recs: list[Recording], fs_hz: float | None = None) -> float:
    if not recs:
        raise InvalidInputError("muscle: no recordings to use")
    fs = fs_hz if fs_hz is not None else recs[0].fs_hz
    for r in recs:
        if abs(r.fs_hz - fs) > 1e-6:
            raise DataFormatError(f"muscle: record {r.source} is sampled at {r.fs_hz} Hz, expected {fs} Hz")
        if r.emg.ndim != 2 or r.emg.shape[1] != 1:
            raise DataFormatError(f"muscle: record {r.source} has emg shape {r.emg.shape}, expected (n_samples, 1)")
    return fs


def fit_zscore(recs: list[Recording], fs_hz: float) -> ZScore:
    filt = Pipeline.from_description(spec.filter_description(), fs_hz, 1)
    return ZScore.fit(np.concatenate([filt.process_offline(r.emg).data for r in recs]))


def make_segments(recs: list[Recording], dsp: list[dict[str, Any]], time_dsp: list[dict[str, Any]],
                  fs_hz: float) -> SegmentSet:
    """Spectrogram segments and the TD features of exactly the same samples, for every record."""
    xs, tds, ys, subj, rec_idx, ends = [], [], [], [], [], []
    for i, r in enumerate(recs):
        frames = Pipeline.from_description(dsp, fs_hz, 1).process_offline(r.emg)
        seg, seg_end = spec.segment_frames(frames.data, frames.end_index)
        td = Pipeline.from_description(time_dsp, fs_hz, 1).process_offline(r.emg)
        n = min(len(seg), len(td))
        if n and not np.array_equal(seg_end[:n], td.end_index[:n]):
            raise AssertionError("muscle: spectral segments and TD windows are misaligned")  # pragma: no cover
        if n == 0:
            log.warning("muscle: record %s is shorter than one segment; skipped", r.source)
            continue
        xs.append(seg[:n])
        tds.append(td.data[:n])
        ys.append(np.full(n, spec.LABELS.index(r.condition), np.int64))
        subj.append(np.full(n, r.subject_id))
        rec_idx.append(np.full(n, i, np.int64))
        ends.append(seg_end[:n])
    if not xs:
        raise InvalidInputError(f"muscle: no record is long enough for one {spec.segment_samples()[0]}-sample segment")
    return SegmentSet(np.concatenate(xs), np.concatenate(tds), np.concatenate(ys), np.concatenate(subj).astype(str),
                      np.concatenate(rec_idx), np.concatenate(ends))


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
    """Train ``model`` ("attention", "cnn" or "svm") and return its checkpoint."""
    options = check_options("muscle", options, TRAIN_OPTIONS, "train")
    check_model_and_epochs("muscle", model, MODELS, epochs)
    recs = load_recordings(data, simulate, seed=seed, for_eval=False, progress=progress)
    fs_hz = check_consistent(recs)
    split = subject_split([r.subject_id for r in recs], test_fraction=VALIDATION_FRACTION, seed=seed,
                          strata=[r.condition for r in recs])
    zs = fit_zscore([r for r in recs if r.subject_id in split.train], fs_hz)
    dsp, time_dsp = spec.dsp_description(zs.to_dict()), spec.time_description(zs.to_dict())
    segs = make_segments(recs, dsp, time_dsp, fs_hz)
    tr_mask, va_mask = split.masks(segs.subject)
    tr, va = segs.select(tr_mask), segs.select(va_mask)
    log.info("muscle: %d training segments, %d validation segments", len(tr.y), len(va.y))
    meta: dict[str, Any] = {
        "labels": list(spec.LABELS),
        "fs_hz": fs_hz,
        "channel_names": list(spec.CHANNEL_NAMES),
        "dsp": dsp,
        "segment": {"frames": spec.SEGMENT_FRAMES, "hop_frames": spec.SEGMENT_HOP_FRAMES},
        "window": spec.segment_samples()[0],
        "hop": spec.segment_samples()[1],
        "input_shape": list(segs.x.shape[1:]),
        "outputs": "logits",
        "decoder": DecisionConfig().to_dict(),
        "split": split.to_dict(),
        "data": "simulated" if simulate else [str(p) for p in data or []],
        "seed": seed,
    }
    if model == "svm":
        from edgeemg.tasks.classifier_training import fit_rbf_svm

        svm, info = fit_rbf_svm(tr.features(), tr.y, tr.subject, seed=seed)
        val = classification_report(va.y, svm.predict(va.features()), spec.LABELS)
        arrays = svm.to_arrays()
        meta.update(
            dsp_time=time_dsp,
            model_config={"kernel": "rbf", "C": info["C"], "gamma": info["gamma"], "td_features": list(spec.TD_FEATURES),
                          "spectral_bands": spec.N_SPECTRAL_BANDS},
            svm_search=info,
            summary={"n_params": int(svm.support_vectors.size + svm.dual_coef.size), "n_train_segments": len(tr.y),
                     "n_val_segments": len(va.y), "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                     "C": info["C"], "gamma": info["gamma"], "cv_macro_f1": info["cv_macro_f1"]},
            validation=val,
        )
    else:
        arrays, extra = _train_cnn(tr, va, model == "attention", epochs, device, seed, progress)
        meta.update(extra)
    if "plot" in options and meta.get("history"):
        from edgeemg.tasks.plots import plot_history

        plot_history(meta["history"], Path(options["plot"]) / f"muscle_{model}_training.png", title=f"muscle {model}")
    return Checkpoint(task=TASK, model=model, arrays=arrays, meta=meta)


def _train_cnn(tr: SegmentSet, va: SegmentSet, attention: bool, epochs: int | None, device: str, seed: int,
               progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from edgeemg.tasks.classifier_training import TrainConfig, fit_classifier, predict_logits
    from edgeemg.tasks.muscle_health.models import SpectroEMGNet
    from edgeemg.tasks.torch_support import count_parameters, resolve_device, seed_everything, state_to_arrays

    dev = resolve_device(device)
    gen = seed_everything(seed)
    n_frames, n_freq, n_ch = tr.x.shape[1:]
    config = {"n_frames": int(n_frames), "n_freq": int(n_freq), "n_channels": int(n_ch), "n_classes": len(spec.LABELS),
              "filters": [16, 32, 32], "hidden": 64, "attention": attention}
    net = SpectroEMGNet(**config)
    tc = TrainConfig(epochs=epochs or DEFAULT_EPOCHS, batch_size=32)
    net, history = fit_classifier(net, (tr.x, tr.y), (va.x, va.y), n_classes=len(spec.LABELS), config=tc,
                                  device=dev, generator=gen, progress=progress,
                                  desc=f"muscle {'attention' if attention else 'cnn'}")
    val = classification_report(va.y, predict_logits(net, va.x, dev).argmax(1), spec.LABELS)
    summary = {"n_params": count_parameters(net), "n_train_segments": int(len(tr.y)), "n_val_segments": int(len(va.y)),
               "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"], "epochs": tc.epochs,
               "best_epoch": int(np.argmax(history["val_macro_f1"]) + 1)}
    return state_to_arrays(net), {"model_config": config, "train_config": tc.to_dict(), "history": history,
                                  "summary": summary, "validation": val}


def build_network(ckpt: Checkpoint) -> Any:
    """The checkpoint's SpectroEMGNet with its weights (torch)."""
    from edgeemg.tasks.muscle_health.models import SpectroEMGNet
    from edgeemg.tasks.torch_support import arrays_to_state

    if ckpt.model not in ("attention", "cnn"):
        raise CheckpointError(f"muscle: checkpoint model '{ckpt.model}' is not a CNN (attention or cnn)")
    try:
        return arrays_to_state(SpectroEMGNet(**ckpt.meta["model_config"]), ckpt.arrays)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"muscle {ckpt.model} checkpoint does not match SpectroEMGNet: {exc}") from exc


def load_segments(ckpt: Checkpoint, data: list[Path] | None, simulate: bool, *, seed: int,
                  progress: bool) -> tuple[list[Recording], SegmentSet]:
    """Held-out records through the checkpoint's own DSP descriptions."""
    meta = ckpt.meta
    recs = load_recordings(data, simulate, seed=seed, for_eval=True, progress=progress)
    fs_hz = check_consistent(recs, meta["fs_hz"])
    zs = next(s for s in meta["dsp"] if s["stage"] == "zscore")
    time_dsp = meta.get("dsp_time") or spec.time_description({"mean": zs["mean"], "std": zs["std"]})
    return recs, make_segments(recs, meta["dsp"], time_dsp, fs_hz)


def model_scores(ckpt: Checkpoint, segs: SegmentSet, device: str = "cpu") -> NDArray[np.float64]:
    if ckpt.model == "svm":
        return RbfSvm.from_arrays(ckpt.arrays).scores(segs.features(), len(ckpt.meta["labels"]))
    from edgeemg.tasks.classifier_training import predict_logits
    from edgeemg.tasks.torch_support import resolve_device

    dev = resolve_device(device)
    return predict_logits(build_network(ckpt).to(dev), segs.x, dev).astype(np.float64)


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
    """Segment-level ``accuracy``, ``macro_f1``, ``per_class_f1``, ``per_class_recall``, ``confusion``, plus
    ``per_record`` (the decoder's final running decision per record) and ``model``."""
    options = check_options("muscle", options, EVAL_OPTIONS, "eval")
    if checkpoint.task != TASK:
        raise CheckpointError(f"muscle eval: checkpoint is for task '{checkpoint.task}', expected '{TASK}'")
    meta = checkpoint.meta
    recs, segs = load_segments(checkpoint, data, simulate, seed=seed, progress=progress)
    trained_on = set(meta.get("split", {}).get("train", [])) | set(meta.get("split", {}).get("test", []))
    overlap = sorted(trained_on & {r.subject_id for r in recs})
    if overlap:
        log.warning("muscle eval: subject(s) %s were used in training; their scores are not held-out", overlap)
    scores = model_scores(checkpoint, segs, device)
    if checkpoint.model == "svm":
        pred = RbfSvm.from_arrays(checkpoint.arrays).predict(segs.features())
    else:
        pred = scores.argmax(1)
    labels = meta["labels"]
    report = classification_report(segs.y, pred, labels)
    decoder = MuscleDecoder.from_manifest(meta)
    rec_true, rec_pred = [], []
    for i in np.unique(segs.record):
        m = segs.record == i
        decoder.reset()
        decoder.step(scores[m], segs.end_index[m])
        final = decoder.finish()[0]
        rec_true.append(int(segs.y[m][0]))
        rec_pred.append(labels.index(final["class"]))
    cm_rec = confusion_matrix(np.array(rec_true), np.array(rec_pred), len(labels))
    report.update(
        model=checkpoint.model,
        subjects=sorted({r.subject_id for r in recs}),
        held_out=not overlap,
        per_record={"accuracy": float(np.trace(cm_rec) / cm_rec.sum()), "confusion": cm_rec.tolist(),
                    "n_records": int(cm_rec.sum())},
    )
    if "plot" in options:
        from edgeemg.tasks.plots import plot_confusion, plot_history

        out = Path(options["plot"])
        plot_confusion(report["confusion"], labels, out / f"muscle_{checkpoint.model}_confusion.png",
                       title=f"muscle {checkpoint.model}: acc {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}")
        if meta.get("history"):
            plot_history(meta["history"], out / f"muscle_{checkpoint.model}_training.png",
                         title=f"muscle {checkpoint.model}")
    return report


__all__ = ["MODELS", "SegmentSet", "SimulationPlan", "build_network", "evaluate", "load_segments", "train"]
