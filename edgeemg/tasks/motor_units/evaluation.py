"""Score a motor-unit checkpoint on the held-out part of its recordings (``edgeemg eval``).

One loop for both decoders: the MO-DCNN (windows -> probabilities -> the
board's thresholding) and the separation filters (the board's causal stream ->
sources -> the board's peak detector, :mod:`edgeemg.tasks.motor_units.filter_decoder`).
Each recording is split in time (DESIGN.md); only decisions about samples after
the split are scored, against the truth where the recording has one, else
against the teacher's stored filters applied to it
(:mod:`edgeemg.tasks.motor_units.metrics`). The teacher itself is scored
beside, at +-0.5 ms, where there is truth.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units import recordings as rc
from edgeemg.tasks.motor_units import workflow as wf
from edgeemg.tasks.motor_units.decoder import DecoderConfig, spike_trains_from_outputs
from edgeemg.tasks.motor_units.labels import stored_teacher_trains
from edgeemg.tasks.motor_units.metrics import score_decoding, spike_score
from edgeemg.tasks.motor_units.plans import SimulationPlan
from edgeemg.tasks.workflow_support import check_options

HeldOutDecoder = Callable[[rc.Recording, int], tuple[list[NDArray[np.int64]], Any]]
"""``(recording, split sample) -> (decoded trains relative to the split, plot payload or None)``."""


def _mo_dcnn(checkpoint: Checkpoint, device: str) -> tuple[HeldOutDecoder, int, float]:
    """The MO-DCNN's held-out decoder, its scoring tolerance (half a step) and algorithmic latency."""
    from edgeemg.tasks.motor_units.training import predict
    from edgeemg.tasks.torch_support import resolve_device

    meta = checkpoint.meta
    windows = spec.WindowSpec.from_dict(meta["windows"])
    dcfg = DecoderConfig.from_dict(meta["decoder"])
    dev = resolve_device(device)
    net = wf.load_model(checkpoint).to(dev)

    def decode(r: rc.Recording, cut: int) -> tuple[list[NDArray[np.int64]], Any]:
        x, end = rc.windows_of(r, meta["dsp"])
        sel = windows.label_point(end) >= cut
        prob = predict(net, x[sel], dev)
        return [t - cut for t in spike_trains_from_outputs(prob, end[sel], dcfg)], (prob, end[sel] - cut, dcfg)

    return decode, windows.step // 2 + 1, windows.latency_ms(meta["fs_hz"])


def _filters(checkpoint: Checkpoint) -> tuple[HeldOutDecoder, int, float]:
    """The separation filters' held-out decoder, tolerance +-0.5 ms (the teacher's) and algorithmic latency."""
    from edgeemg.tasks.motor_units.filter_workflow import decode_stream

    meta = checkpoint.meta

    def decode(r: rc.Recording, cut: int) -> tuple[list[NDArray[np.int64]], Any]:
        trains = decode_stream(checkpoint, r.emg)
        return [t[t >= cut] - cut for t in trains], None

    return decode, max(1, int(round(0.0005 * meta["fs_hz"]))), float(meta["algorithmic_latency_ms"])


def _recordings(checkpoint: Checkpoint, data: list[Path] | None, simulate: bool, seed: int) -> list[rc.Recording]:
    meta = checkpoint.meta
    if simulate:
        if not meta.get("simulation"):
            raise InvalidInputError("motor-units eval --simulate: the checkpoint was not trained on simulated data; "
                                    "its heads are the units of the recordings it was trained on: pass --data")
        recs = rc.load_recordings(None, True, seed=int(meta["seed"]), plan=SimulationPlan(**meta["simulation"]))
    else:
        recs = rc.load_recordings(data, False, seed=seed)
    if abs(recs[0].fs_hz - meta["fs_hz"]) > 1e-6 or list(recs[0].channel_names) != meta["channel_names"]:
        raise DataFormatError(
            f"motor-units eval: {recs[0].source} has {len(recs[0].channel_names)} channels at {recs[0].fs_hz} Hz; "
            f"the checkpoint expects {len(meta['channel_names'])} at {meta['fs_hz']} Hz in its order"
        )
    return recs


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
    """Score the held-out part of each recording (see the module docstring).

    ``--simulate`` regenerates the training contraction from the checkpoint (the
    heads are that subject's units) and scores its last part; ``seed`` is not used then.

    Returns the JSON of ``edgeemg eval``: ``sensitivity``, ``precision``, ``f1``,
    ``rate_of_agreement`` (means over identified units), ``units_identified``,
    ``units_present``, ``neural_drive_r``, ``algorithmic_latency_ms``, ``per_unit``,
    ``tolerance_samples``, the same block for the teacher under ``teacher``
    (None when the checkpoint was trained on truth labels or there is no truth
    to score the teacher against), and ``on_teacher_units``
    (:func:`_on_teacher_units`; None without truth ids).
    """
    del progress
    options = check_options("motor-units", options, wf.EVAL_OPTIONS, "eval")
    meta = checkpoint.meta
    if checkpoint.task != wf.TASK:
        raise CheckpointError(f"motor-units eval: checkpoint is for task '{checkpoint.task}', expected '{wf.TASK}'")
    split = rc.check_split(options.get("split", meta.get("split", rc.DEFAULT_SPLIT)))
    recs = _recordings(checkpoint, data, simulate, seed)
    if checkpoint.model == "filters":
        decode, tolerance, latency_ms = _filters(checkpoint)
    else:
        decode, tolerance, latency_ms = _mo_dcnn(checkpoint, device)
    fs = meta["fs_hz"]
    max_lag = int(round(0.05 * fs))
    blocks: dict[str, list[dict[str, Any]]] = {"student": [], "teacher": []}
    plot_payload = None
    on_teacher = None
    for r in recs:
        cut = rc.split_point(r, split)
        n_eval = r.emg.shape[0] - cut
        decoded, extra = decode(r, cut)
        full = stored_teacher_trains(checkpoint, r.emg)
        teacher_trains = None if full is None else [d[d >= cut] - cut for d in full]
        if r.discharges is not None:
            reference = [d[d >= cut] - cut for d in r.discharges]
            ref_ids: list[Any] = list(r.unit_ids)
        elif teacher_trains is not None:
            reference, ref_ids = teacher_trains, [u["teacher_index"] for u in meta["units"]]
        else:
            raise DataFormatError(f"motor-units eval: {r.source} has no discharge truth and the checkpoint no teacher "
                                  "(trained on truth labels): nothing to score against")
        blocks["student"].append(score_decoding(decoded, reference, n_samples=n_eval, fs_hz=fs, tolerance=tolerance,
                                                max_lag=max_lag, reference_ids=ref_ids))
        if teacher_trains is not None and r.discharges is not None:
            blocks["teacher"].append(score_decoding(teacher_trains, reference, n_samples=n_eval, fs_hz=fs,
                                                    tolerance=max(1, int(round(0.001 * fs))), max_lag=max_lag,
                                                    reference_ids=ref_ids))
        if r.discharges is not None and len(recs) == 1:
            on_teacher = _on_teacher_units(decoded, r, cut, meta["units"], tolerance=tolerance, max_lag=max_lag)
        if plot_payload is None:
            plot_payload = (r, cut, decoded, reference, extra)
    report = _merge(blocks["student"])
    report.update(
        algorithmic_latency_ms=latency_ms,
        model=checkpoint.model,
        reference="truth" if all(r.discharges is not None for r in recs) else "teacher",
        label_source=meta.get("label_source"),
        split=split,
        recordings=[r.source for r in recs],
        n_heads=len(meta["labels"]),
        teacher=_merge(blocks["teacher"]) if blocks["teacher"] else None,
        on_teacher_units=on_teacher,
    )
    if "plot" in options and plot_payload is not None:
        _plot(Path(options["plot"]), report, fs, plot_payload)
    return report


def _plot(out: Path, report: dict[str, Any], fs: float, payload: tuple[Any, ...]) -> None:
    from edgeemg.tasks.motor_units.plots import plot_neural_drive, plot_raster

    r, cut, decoded, reference, extra = payload
    plot_raster(decoded, reference, report["per_unit"], fs, out / "motor_units_raster.png")
    if extra is not None:  # the MO-DCNN's probabilities
        prob, end, dcfg = extra
        plot_neural_drive(prob, end, dcfg, report["per_unit"], reference, r.emg.shape[0] - cut,
                          out / "motor_units_neural_drive.png")


def _on_teacher_units(decoded: list[NDArray[np.int64]], rec: rc.Recording, cut: int, units: list[dict[str, Any]], *,
                      tolerance: int, max_lag: int) -> dict[str, Any] | None:
    """The student on the units the teacher found: each head scored against the true unit its teacher unit decomposed.

    Why beside the matched block: that one matches heads to whichever true unit
    agrees best and averages over the heads that pass F1 > 0.7, so a head that
    failed simply drops out; here every head whose teacher unit was a true unit
    (``truth_id``, see :func:`_attach_truth_ids`) counts, failed or not, which
    is the issue's "on the units the teacher found".
    """
    table = dict(zip(rec.unit_ids, rec.discharges or ()))
    heads = [(i, u["truth_id"]) for i, u in enumerate(units) if u.get("truth_id") is not None and u["truth_id"] in table]
    if not heads:
        return None
    scores = [spike_score(decoded[i], table[t][table[t] >= cut] - cut, tolerance=tolerance, max_lag=max_lag)
              for i, t in heads]
    return {"heads": len(heads),
            "sensitivity": float(np.mean([s.sensitivity for s in scores])),
            "precision": float(np.mean([s.precision for s in scores])),
            "f1": float(np.mean([s.f1 for s in scores])),
            "per_head": [{"unit": i, "truth_id": t, "sensitivity": s.sensitivity, "precision": s.precision, "f1": s.f1}
                         for (i, t), s in zip(heads, scores)]}


def _merge(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """One block over several recordings: per-unit lists concatenated, means recomputed over identified units."""
    if len(blocks) == 1:
        return blocks[0]
    per_unit = [dict(u, recording=i) for i, b in enumerate(blocks) for u in b["per_unit"]]
    ident = [u for u in per_unit if u["identified"]]

    def mean(key: str) -> float:
        return float(np.mean([u[key] for u in ident])) if ident else 0.0

    rs = [b["neural_drive_r"] for b in blocks if b["units_identified"]]
    return {
        "sensitivity": mean("sensitivity"), "precision": mean("precision"), "f1": mean("f1"),
        "rate_of_agreement": mean("rate_of_agreement"), "units_identified": len(ident),
        "units_present": int(sum(b["units_present"] for b in blocks)),
        "n_decoded_units": int(sum(b["n_decoded_units"] for b in blocks)),
        "neural_drive_r": float(np.mean(rs)) if rs else 0.0,
        "tolerance_samples": blocks[0]["tolerance_samples"], "per_unit": per_unit,
    }


__all__ = ["evaluate"]
