"""The heads and their labels: the teacher's units (or the truth's) and the training / validation windows.

The teacher (:func:`edgeemg.decompose.decompose`) decomposes the training
parts; its accepted units become the heads and its spike trains the labels
(``labels="truth"`` takes the recording's discharge truth instead). Windows
come from the task's DSP description run over the whole recording, as the
board's streaming chain would; a window trains when it ends before the split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.decompose import Decomposition, DecompositionConfig, decompose
from edgeemg.dsp import Pipeline
from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units.metrics import match_units
from edgeemg.tasks.motor_units.plans import TrainingPlan
from edgeemg.tasks.motor_units.recordings import Recording, split_point, windows_of

TEACHER_PREFIX = "teacher."


def _teacher_units(recs: list[Recording], split: float, plan: TrainingPlan, progress: bool
                   ) -> tuple[Decomposition, list[list[NDArray[np.int64]]], list[dict[str, Any]], list[int]]:
    """Decompose the (concatenated) training parts; return the units kept as heads."""
    parts = [r.emg[: split_point(r, split)] for r in recs]
    offsets = np.cumsum([0] + [p.shape[0] for p in parts])
    dec = decompose(np.concatenate(parts), recs[0].fs_hz, plan.decomposition, progress=progress)
    counts = [d.size for d in dec.discharges]
    keep = [u for u in np.argsort(-dec.pnr_db) if counts[u] >= plan.min_spikes][: plan.max_units]
    keep = sorted(int(u) for u in keep)
    per_rec = [[dec.discharges[u][(dec.discharges[u] >= offsets[i]) & (dec.discharges[u] < offsets[i + 1])]
                - offsets[i] for u in keep] for i in range(len(recs))]
    info = [{"source": "teacher", "teacher_index": u, "sil": float(dec.sil[u]), "pnr_db": float(dec.pnr_db[u]),
             "n_train_spikes": int(counts[u])} for u in keep]
    return dec, per_rec, info, keep


def attach_truth_ids(units: list[dict[str, Any]], unit_trains: list[list[NDArray[np.int64]]],
                      recs: list[Recording], split: float, min_f1: float = 0.7) -> None:
    """Give each teacher unit the ``truth_id`` it decomposes, where the recordings carry discharge truth.

    Why: a head's index is not a unit's identity. Consumers that compare the
    decoder with a simulator's truth (``edgeemg bench``'s true-event latency,
    a raster against the truth) need to know which true unit head ``i`` is;
    without this they could only guess by index. The teacher's training-part
    trains are matched one-to-one to the truth (1 ms tolerance, lag removed);
    a unit with F1 <= ``min_f1`` (the "identified" bar) gets ``truth_id`` None.
    Only done with one recording (a simulated contraction): unit identities of
    several recordings need not agree. Edits ``units`` in place.
    """
    if len(recs) != 1 or recs[0].discharges is None or not units:
        return
    r = recs[0]
    cut = split_point(r, split)
    fs = r.fs_hz
    truth = [d[d < cut] for d in r.discharges]
    matches = match_units(unit_trains[0], truth, tolerance=max(1, int(round(0.001 * fs))),
                          max_lag=int(round(0.05 * fs)))
    ids: dict[int, Any] = {m.unit: (r.unit_ids[m.reference_unit], m.score) for m in matches}
    for i, u in enumerate(units):
        hit = ids.get(i)
        ok = hit is not None and hit[1].f1 > min_f1
        u["truth_id"] = int(hit[0]) if ok else None
        u["truth_f1"] = float(hit[1].f1) if hit is not None else 0.0
        u["truth_lag_samples"] = int(hit[1].lag) if ok else None


def teacher_heads(recs: list[Recording], split: float, plan: TrainingPlan, progress: bool
                  ) -> tuple[list[list[NDArray[np.int64]]], list[dict[str, Any]], dict[str, np.ndarray],
                             dict[str, Any]]:
    """The teacher's units kept as heads: trains per recording, unit records, checkpoint arrays, teacher meta."""
    dec, unit_trains, units, _ = _teacher_units(recs, split, plan, progress)
    attach_truth_ids(units, unit_trains, recs, split)
    heads = [u["teacher_index"] for u in units]
    arrays = {TEACHER_PREFIX + "filters": dec.filters[heads]}
    if dec.thresholds is not None:  # each unit's height split (NaN: k-means')
        arrays[TEACHER_PREFIX + "thresholds"] = dec.thresholds[heads]
    if dec.waveforms is not None:  # the whole decomposition, which decoding a residual pass's head needs
        arrays.update({TEACHER_PREFIX + "all_filters": dec.filters, TEACHER_PREFIX + "all_waveforms": dec.waveforms,
                       TEACHER_PREFIX + "all_stage": dec.stage})
        if dec.thresholds is not None:
            arrays[TEACHER_PREFIX + "all_thresholds"] = dec.thresholds
    meta = {"config": dec.config.to_dict(), "n_accepted": dec.n_units, "n_tried": dec.n_tried}
    return unit_trains, units, arrays, meta


def truth_units(recs: list[Recording], split: float, plan: TrainingPlan
                 ) -> tuple[list[list[NDArray[np.int64]]], list[dict[str, Any]]]:
    """Truth units with enough training discharges, largest spike-triggered MUAP first (the decodable ones)."""
    if any(r.discharges is None for r in recs):
        missing = [r.source for r in recs if r.discharges is None]
        raise InvalidInputError(
            f"motor-units: --labels truth needs discharge truth, which {missing} lack(s): a DEMUSE .mat with "
            "MUPulses, or an XDF file with a 'MotorUnits' marker stream ('MU <id>' per discharge); "
            "without it use --labels teacher")
    half = int(0.01 * recs[0].fs_hz)
    energy: dict[int, float] = {}
    count: dict[int, int] = {}
    for r in recs:
        cut = split_point(r, split)
        filt = Pipeline.from_description(spec.filter_description(), r.fs_hz, r.emg.shape[1])
        x = filt.process_offline(r.emg[:cut]).data
        for uid, d in zip(r.unit_ids, r.discharges or ()):
            d = d[(d >= half) & (d < cut - half)]
            count[uid] = count.get(uid, 0) + int(d.size)
            if d.size:
                sta = np.mean([x[t - half:t + half] for t in d[:200]], axis=0)
                energy[uid] = max(energy.get(uid, 0.0), float(np.sqrt(np.mean(sta**2))))
    ids = [u for u in sorted(energy, key=lambda u: -energy[u]) if count[u] >= plan.min_spikes][: plan.max_units]
    ids = sorted(ids)
    per_rec = []
    for r in recs:
        cut = split_point(r, split)
        table = dict(zip(r.unit_ids, r.discharges or ()))
        trains = [np.asarray(table.get(u, np.zeros(0, np.int64)), dtype=np.int64) for u in ids]
        per_rec.append([t[t < cut] for t in trains])
    info = [{"source": "truth", "truth_id": u, "sta_rms_uv": energy[u], "n_train_spikes": count[u]} for u in ids]
    return per_rec, info


Windows = tuple[NDArray[np.float32], NDArray[np.float32]]


def training_windows(recs: list[Recording], unit_trains: list[list[NDArray[np.int64]]], amp: float,
                     windows: spec.WindowSpec, split: float, plan: TrainingPlan) -> tuple[Windows, Windows]:
    """(x, y) to fit and (x, y) to choose the epoch, from each recording's training part.

    The last ``val_fraction`` of each training part validates, with windows one
    step apart as the board makes them; fitting windows (every ``train_stride``
    samples) end one window before the first validation window, so no sample
    is in both.
    """
    stride = windows.step if plan.train_stride is None else plan.train_stride
    if not isinstance(stride, int) or stride < 1:
        raise InvalidInputError(f"TrainingPlan.train_stride must be an int >= 1 sample (or None), got {stride!r}")
    dense = spec.WindowSpec(windows.window, stride, windows.label_delay)
    parts: dict[str, list[NDArray[Any]]] = {"xtr": [], "ytr": [], "xva": [], "yva": []}
    for r, trains in zip(recs, unit_trains):
        x, end = windows_of(r, spec.dsp_description(amp, r.emg.shape[1], dense))
        keep = end < split_point(r, split)
        x, end = x[keep], end[keep]
        if end.size == 0:
            raise DataFormatError(f"motor-units: {r.source} is shorter than one {windows.window}-sample window")
        y = spec.window_labels(trains, end, windows)
        first_val = end[np.searchsorted(end, end[-1] - plan.val_fraction * (end[-1] - end[0]))]
        val = (end >= first_val) & ((end - first_val) % windows.step == 0)
        fit_part = end <= first_val - windows.window
        if not val.any() or not fit_part.any():
            raise DataFormatError(f"motor-units: the training part of {r.source} is too short to hold out "
                                  f"{plan.val_fraction:.0%} for validation")
        parts["xtr"].append(x[fit_part])
        parts["ytr"].append(y[fit_part])
        parts["xva"].append(x[val])
        parts["yva"].append(y[val])
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return (cat["xtr"], cat["ytr"]), (cat["xva"], cat["yva"])


def stored_teacher_trains(checkpoint: Any, emg: NDArray[np.floating]) -> list[NDArray[np.int64]] | None:
    """Each head's discharges in ``emg`` by the teacher stored in ``checkpoint`` (None: it stores none).

    A checkpoint whose teacher found units on a residual stores the whole
    decomposition (``all_*`` arrays): a residual unit decodes only once every
    earlier unit, head or not, is subtracted. Older ones store the heads' filters,
    and older still no height splits (k-means' then).
    """
    arrays, meta = checkpoint.arrays, checkpoint.meta
    if TEACHER_PREFIX + "filters" not in arrays:
        return None
    common = dict(discharges=(), sil=np.zeros(0), pnr_db=np.zeros(0), fs_hz=meta["fs_hz"],
                  n_channels=len(meta["channel_names"]),
                  config=DecompositionConfig.from_dict(meta["teacher"]["config"]))
    if TEACHER_PREFIX + "all_filters" in arrays:
        teacher = Decomposition(filters=arrays[TEACHER_PREFIX + "all_filters"],
                                stage=arrays[TEACHER_PREFIX + "all_stage"],
                                waveforms=arrays[TEACHER_PREFIX + "all_waveforms"],
                                thresholds=arrays.get(TEACHER_PREFIX + "all_thresholds"), **common)
        heads = [int(u["teacher_index"]) for u in meta["units"]]
    else:
        teacher = Decomposition(filters=arrays[TEACHER_PREFIX + "filters"],
                                thresholds=arrays.get(TEACHER_PREFIX + "thresholds"), **common)
        heads = list(range(len(arrays[TEACHER_PREFIX + "filters"])))
    trains, _ = teacher.apply(emg)
    return [np.asarray(trains[u], dtype=np.int64) for u in heads]


__all__ = ["TEACHER_PREFIX", "attach_truth_ids", "stored_teacher_trains", "teacher_heads", "training_windows",
           "truth_units"]
