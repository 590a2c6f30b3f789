"""``edgeemg train motor-units --model filters``: the teacher's separation filters as the board decoder.

The classic online decomposition (Glaser et al. 2013, Barsakcioglu et al.
2020, adapt_decomp): decompose the training part offline (the teacher,
:func:`edgeemg.decompose.decompose`), then decode the stream with the accepted
units' separation filters, applied causally to the extended stream, and the
teacher's thresholds. The filters are re-estimated on the board's own causal
chain (:mod:`edgeemg.tasks.motor_units.separation` says why and how), so there
is nothing to train by gradient: "training" is the decomposition plus that fit.

The model is one Conv1d (:mod:`edgeemg.tasks.motor_units.filter_model`) that
exports, quantizes and runs like every model; its window is the extension plus
one hop, so its algorithmic latency is the extension window (``R / fs``, 7.8 ms
for R = 16 at 2048 Hz) plus the detector's ``confirm`` samples
(:mod:`edgeemg.tasks.motor_units.filter_decoder`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import Pipeline
from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units import plans
from edgeemg.tasks.motor_units import recordings as rc
from edgeemg.tasks.motor_units import workflow as wf
from edgeemg.tasks.motor_units.labels import TEACHER_PREFIX, teacher_heads
from edgeemg.tasks.motor_units.filter_decoder import FILTER_HOP, FilterDecoderConfig, detect_offline
from edgeemg.tasks.motor_units.separation import SeparationFilters, fit_separation_filters, from_arrays, to_arrays
from edgeemg.tasks.workflow_support import check_options


FILTER_OPTIONS = ("split", "level", "grid", "plot")
PREFIX = "separation."


def causal_stream(desc: list[dict[str, Any]], emg: NDArray[np.floating], fs_hz: float) -> NDArray[np.float32]:
    """The board's sample-wise chain (the description minus its window stage) over a whole recording."""
    chain = [st for st in desc if st["stage"] != "window"]
    return Pipeline.from_description(chain, fs_hz, emg.shape[1]).process_offline(
        np.ascontiguousarray(emg, dtype=np.float32)).data


def train_filters(data: list[Path] | None, *, simulate: bool, seed: int, progress: bool,
                  options: dict[str, Any] | None, plan: plans.TrainingPlan | None = None,
                  simulation: plans.SimulationPlan | None = None, hop: int = FILTER_HOP) -> Checkpoint:
    """Decompose the training parts and fit the causal separation filters; return the ``filters`` checkpoint.

    ``plan`` supplies the teacher's settings (``decomposition``, ``min_spikes``,
    ``max_units``; default :data:`~edgeemg.tasks.motor_units.plans.DEFAULT_TRAINING`),
    ``simulation`` the ``--simulate`` contraction.
    """
    options = check_options("motor-units --model filters", options, FILTER_OPTIONS, "train")
    plan = plan or plans.DEFAULT_TRAINING
    split = rc.check_split(options.get("split", rc.DEFAULT_SPLIT))
    simulation = rc.simulation_options(simulation or plans.DEFAULT_SIMULATION, options, simulate)
    recs = rc.load_recordings(data, simulate, seed=seed, plan=simulation)
    fs_hz, n_ch = recs[0].fs_hz, recs[0].emg.shape[1]
    unit_trains, units, arrays, teacher_meta = teacher_heads(recs, split, plan, progress)
    if not units:
        raise DataFormatError(f"motor-units --model filters: the teacher accepted no unit with >= {plan.min_spikes} "
                              "discharges in the training parts; use longer recordings")
    extension = plan.decomposition.extension_for(n_ch)
    desc = spec.separation_dsp_description(rc.max_amplitude(recs, split), n_ch, extension, hop)
    parts, offsets = [], [0]
    for r in recs:
        parts.append(causal_stream(desc, r.emg, fs_hz)[: rc.split_point(r, split)])
        offsets.append(offsets[-1] + parts[-1].shape[0])
    trains = [np.concatenate([unit_trains[i][u] + offsets[i] for i in range(len(recs))]) for u in range(len(units))]
    base = FilterDecoderConfig(threshold=(1.0,), fs_hz=fs_hz, hop=hop)
    filters, kept = fit_separation_filters(np.concatenate(parts), trains, fs_hz, extension=extension,
                                           confirm=base.confirm, refractory=base.refractory)
    dropped = [units[i] for i in range(len(units)) if i not in kept]
    units = [units[i] for i in kept]
    arrays[TEACHER_PREFIX + "filters"] = arrays[TEACHER_PREFIX + "filters"][kept]
    for u, d, f1 in zip(units, filters.delay, filters.val_f1):
        u.update(delay_samples=int(d), val_f1=float(f1))
    dcfg = FilterDecoderConfig(threshold=tuple(filters.threshold), fs_hz=fs_hz, hop=hop)
    window = extension + hop - 1
    algorithmic_ms = 1000.0 * extension / fs_hz
    arrays.update(to_arrays(filters, PREFIX))
    meta: dict[str, Any] = {
        "labels": [f"mu{i:02d}" for i in range(len(units))],
        "units": units,
        "label_source": "teacher",
        "fs_hz": fs_hz,
        "channel_names": list(recs[0].channel_names),
        "window": window,
        "hop": hop,
        "extension": extension,
        "input_shape": [window, n_ch],
        "outputs": "sources",
        "dsp": desc,
        "decoder": dcfg.to_dict(),
        "algorithmic_latency_ms": algorithmic_ms,
        "decoder_added_latency_ms": dcfg.latency_ms(),
        "n_whitened": filters.n_whitened,
        "dropped_units": dropped,
        "split": split,
        "teacher": teacher_meta,
        "data": "simulated" if simulate else [str(p) for p in data or []],
        "simulation": asdict(simulation) if simulate else None,
        "seed": seed,
        "summary": {"n_units": len(units), "label_source": "teacher", "extension": extension, "hop": hop,
                    "n_whitened": filters.n_whitened, "val_f1": [round(float(f), 4) for f in filters.val_f1],
                    "n_dropped": len(dropped),
                    "delay_samples": [int(d) for d in filters.delay], "algorithmic_latency_ms": algorithmic_ms},
    }
    return Checkpoint(task=wf.TASK, model="filters", arrays=arrays, meta=meta)


def stored_filters(ckpt: Checkpoint) -> SeparationFilters:
    """The checkpoint's separation filters (refusing a checkpoint that is not a ``filters`` one)."""
    if ckpt.task != wf.TASK or ckpt.model != "filters":
        raise CheckpointError(f"motor-units: checkpoint is {ckpt.task}/{ckpt.model}, expected {wf.TASK}/filters")
    try:
        return from_arrays(ckpt.arrays, PREFIX, int(ckpt.meta.get("n_whitened", 0)))
    except KeyError as exc:
        raise CheckpointError(f"motor-units filters checkpoint lacks array {exc}; retrain it") from exc


def load_filter_model(ckpt: Checkpoint) -> Any:
    """The checkpoint's filters as the exportable Conv1d (eval mode, CPU)."""
    from edgeemg.tasks.motor_units.filter_model import SeparationFilterNet

    return SeparationFilterNet.from_filters(stored_filters(ckpt))


def decode_stream(ckpt: Checkpoint, emg: NDArray[np.floating]) -> tuple[NDArray[np.int64], ...]:
    """Per unit, the spikes the board decodes from a whole recording (numpy, fp32): the reference for eval."""
    meta = ckpt.meta
    if emg.ndim != 2 or emg.shape[1] != len(meta["channel_names"]):
        raise InvalidInputError(f"motor-units filters: emg must be (n_samples, {len(meta['channel_names'])}), "
                                f"got shape {emg.shape}")
    x = causal_stream(meta["dsp"], emg, meta["fs_hz"])
    return detect_offline(stored_filters(ckpt).sources(x), FilterDecoderConfig.from_dict(meta["decoder"]))


__all__ = ["FILTER_OPTIONS", "causal_stream", "decode_stream", "load_filter_model", "stored_filters", "train_filters"]
