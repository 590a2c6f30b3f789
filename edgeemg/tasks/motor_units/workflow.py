"""Train and evaluate the motor-unit decoder: CKC/FastICA teacher -> MO-DCNN student (seed 004).

Each recording is split in time (DESIGN.md): the first ``split`` (2/3) trains,
the rest is scored, as seed 004 trains on two contractions and validates on
the third. Training: the teacher (:func:`edgeemg.decompose.decompose`)
decomposes the training parts; its accepted units become the heads and its
spike trains the labels (``labels="truth"`` takes the recording's discharge
truth instead: the simulator's, or a DEMUSE file's MUPulses). Windows come from
the task's DSP description (:mod:`edgeemg.tasks.motor_units.spec`) run over the
whole recording, as the board's streaming chain would; a window trains when it
ends before the split, and is scored when its labelled point lies after it.
The last ``val_fraction`` of the training windows chooses the best epoch.

Evaluation scores the student (and the teacher's separation filters applied
to the held-out part) against the truth where the recording has one, else
against the teacher (:mod:`edgeemg.tasks.motor_units.metrics`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.decompose import Decomposition, DecompositionConfig, decompose
from edgeemg.dsp import Pipeline
from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units.decoder import DecoderConfig
from edgeemg.tasks.motor_units.metrics import match_units
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "motor-units"
MODELS: tuple[str, ...] = ("mo_dcnn", "filters")
TRAIN_OPTIONS = ("labels", "split", "window", "step", "plot", "label_delay", "level", "grid", "preset")
EVAL_OPTIONS = ("plot", "split")
DEFAULT_SPLIT = 2.0 / 3.0
TEACHER_PREFIX = "teacher."


@dataclass(frozen=True)
class SimulationPlan:
    """What ``--simulate`` generates: one subject's trapezoidal contraction (seed 004, section 3.1)."""

    seconds: float = 60.0  # the seed's simulated plateau
    level: float = 0.3
    snr_db: float = 20.0
    grid: str = "13x5-8mm"  # edgeemg.data._mu_muap.GRIDS


@dataclass(frozen=True)
class TrainingPlan:
    """Model widths, optimiser and unit selection (defaults: the seed's; tests shrink them).

    ``pos_weight`` and ``lr_decay``: see :class:`~edgeemg.tasks.motor_units.training.FitConfig`
    (``pos_weight`` None: the seed's plain BCE; ``lr_decay`` None: a constant rate).
    ``train_stride``: training windows start every ``train_stride`` samples
    instead of every step (None: every step, as the seed). The label keeps the
    step's width around the labelled point, so these are the windows the board
    sees at every phase of the step; 4 gives five times the examples from the
    same recording. Measured on a 30 s contraction at quarter widths, 6 epochs
    (truth labels, 20 heads): validation mean F1 0.05 with the seed's stride
    and plain BCE, 0.30 with stride 4, 0.55 with stride 4 and ``pos_weight`` 5.
    ``tune_thresholds``: each head's firing threshold is chosen on the
    validation windows (:func:`~edgeemg.tasks.motor_units.training.tune_thresholds`)
    instead of the seed's 0.5.
    ``min_spikes``: a unit needs this many discharges in the training part to get a
    head (seed 004 kept units with >= 150 per contraction); ``max_units`` caps the heads.
    """

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    val_fraction: float = 0.2
    trunk_filters: int = 128
    c3_filters: int = 128
    c4_filters: int = 64
    hidden: int = 256
    max_units: int = 20
    min_spikes: int = 30
    pos_weight: float | None = 5.0
    lr_decay: float | None = None
    train_stride: int | None = 4
    tune_thresholds: bool = True
    decomposition: DecompositionConfig = field(default_factory=DecompositionConfig)


DEFAULT_SIMULATION = SimulationPlan()
DEFAULT_TRAINING = TrainingPlan()
# Half the seed's widths. At 30 % of a 60 s contraction (40 s to train), the student on the teacher's units
# (eval's on_teacher_units, sensitivity / precision): 0.938 / 0.923 after 12 epochs (~5 min on one core),
# 0.947 / 0.963 after 24 (~10 min on two), the best epoch still the last.
CPU_TRAINING = replace(DEFAULT_TRAINING, trunk_filters=64, c3_filters=64, c4_filters=32, hidden=128, epochs=24)
PRESETS = {"seed": "DEFAULT_TRAINING", "cpu": "CPU_TRAINING"}  # names, so tests can shrink the module's plans


def training_plan(preset: str | None, device_type: str) -> tuple[str, TrainingPlan]:
    """The preset's plan: the seed's widths on CUDA, half widths on a CPU (a seed-width epoch takes minutes there)."""
    name = preset or ("seed" if device_type == "cuda" else "cpu")
    if name not in PRESETS:
        raise InvalidInputError(f"motor-units: --preset must be one of {sorted(PRESETS)}, got {name!r}")
    return name, globals()[PRESETS[name]]


@dataclass(frozen=True, eq=False)
class Recording:
    """One HD-EMG recording as the workflow needs it."""

    emg: NDArray[np.float32]  # (n_samples, n_channels) µV
    fs_hz: float
    channel_names: tuple[str, ...]
    discharges: tuple[NDArray[np.int64], ...] | None  # truth per unit, or None
    unit_ids: tuple[int, ...]  # identity of each truth unit (pool index / MUIDs)
    source: str


# ------------------------------------------------------------------------------ data


def _simulate(plan: SimulationPlan, seed: int) -> Recording:
    from edgeemg.data.sim_motor_units import simulate_motor_units

    sim = simulate_motor_units(plan.seconds, seed=seed, level=plan.level, snr_db=plan.snr_db, grid=plan.grid)
    return Recording(sim.emg, sim.fs_hz, tuple(sim.channel_names), tuple(sim.discharges), tuple(range(sim.n_units)),
                     f"simulated seed {seed} level {plan.level} snr {plan.snr_db} dB grid {plan.grid}")


def _read_file(f: Path) -> Recording:
    """A DEMUSE ``.mat`` file, or an XDF file (discharges from its ``MotorUnits`` stream, see :mod:`edgeemg.data.xdf_labels`)."""
    if f.suffix.lower() == ".xdf":
        from edgeemg.data.xdf_labels import read_xdf_motor_units

        x = read_xdf_motor_units(f)
        return Recording(x.emg, x.fs_hz, x.channel_names, x.discharges, x.unit_ids, str(f))
    from edgeemg.data.demuse import read_demuse

    rec = read_demuse(f)
    ids = rec.meta.get("MUIDs")
    ids_t = tuple(int(i) for i in np.atleast_1d(ids)) if ids is not None else tuple(range(rec.n_units))
    if len(ids_t) != rec.n_units:
        ids_t = tuple(range(rec.n_units))
    return Recording(rec.emg, rec.fs_hz, tuple(rec.channel_names), rec.discharges if rec.n_units else None, ids_t,
                     str(f))


def _read(paths: list[Path]) -> list[Recording]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(q for q in p.glob("*") if q.suffix.lower() in (".mat", ".xdf")))
        elif p.is_file():
            files.append(p)
        else:
            raise DataFormatError(f"motor-units: '{p}' is neither a file nor a folder")
    if not files:
        raise DataFormatError(f"motor-units: no .mat (DEMUSE) or .xdf recordings found in {[str(p) for p in paths]}")
    return [_read_file(f) for f in files]


def load_recordings(data: list[Path] | None, simulate: bool, *, seed: int,
                    plan: SimulationPlan | None = None) -> list[Recording]:
    """The recordings of ``--data`` (DEMUSE .mat or XDF files, or folders) or one simulated contraction."""
    if simulate == bool(data):
        raise InvalidInputError("motor-units: give exactly one data source, --data PATH... or --simulate")
    recs = [_simulate(plan or DEFAULT_SIMULATION, seed)] if simulate else _read(list(data or []))
    fs, names = recs[0].fs_hz, recs[0].channel_names
    for r in recs:
        if abs(r.fs_hz - fs) > 1e-6 or r.channel_names != names:
            raise DataFormatError(
                f"motor-units: {r.source} has {r.emg.shape[1]} channels at {r.fs_hz} Hz, expected the grid of "
                f"{recs[0].source} ({len(names)} channels at {fs} Hz in the same order)"
            )
    return recs


def _split_point(rec: Recording, split: float) -> int:
    return int(round(split * rec.emg.shape[0]))


def _simulation_options(simulation: SimulationPlan, options: dict[str, Any], simulate: bool) -> SimulationPlan:
    """``--level`` and ``--grid`` override the simulated contraction's plateau and electrode grid.

    They only mean something with ``--simulate``. Checked here, before the
    simulation runs, so a typo costs nothing. The checkpoint records the
    resulting plan (``meta["simulation"]``), which is how ``eval --simulate``
    and the export chain regenerate the same contraction.
    """
    from edgeemg.data._mu_muap import GRIDS

    level, grid = options.get("level"), options.get("grid")
    if level is None and grid is None:
        return simulation
    if not simulate:
        raise InvalidInputError("motor-units: --level and --grid set the simulated contraction, which needs --simulate "
                                "(a recorded contraction has its own level and grid)")
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, float))
                              or not 0.0 < float(level) <= 1.0):
        raise InvalidInputError(f"motor-units: --level must be a fraction of maximum excitation in (0, 1], "
                                f"got {level!r}")
    if grid is not None and grid not in GRIDS:
        raise InvalidInputError(f"motor-units: --grid must be one of {sorted(GRIDS)}, got {grid!r}")
    return replace(simulation, level=float(level) if level is not None else simulation.level,
                   grid=grid or simulation.grid)


def _check_split(split: Any) -> float:
    if not isinstance(split, (int, float)) or not 0.1 <= float(split) <= 0.9:
        raise InvalidInputError(f"motor-units: --split must be a fraction in [0.1, 0.9], got {split!r}")
    return float(split)



def windows_of(rec: Recording, description: list[dict[str, Any]]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The whole recording through one fresh DSP chain: windows (n, w, C) and their last-sample indices."""
    frames = Pipeline.from_description(description, rec.fs_hz, rec.emg.shape[1]).process_offline(rec.emg)
    return frames.data, frames.end_index


def max_amplitude(recs: list[Recording], split: float) -> float:
    """The grid's maximum absolute band-passed amplitude over the training parts (seed 004, 3.3.2)."""
    peak = 0.0
    for r in recs:
        filt = Pipeline.from_description(spec.filter_description(), r.fs_hz, r.emg.shape[1])
        peak = max(peak, float(np.abs(filt.process_offline(r.emg[: _split_point(r, split)]).data).max()))
    if peak <= 0:
        raise DataFormatError("motor-units: the training parts are flat (maximum amplitude 0 µV)")
    return peak


# ------------------------------------------------------------------------------ labels


def _teacher_units(recs: list[Recording], split: float, plan: TrainingPlan, progress: bool
                   ) -> tuple[Decomposition, list[list[NDArray[np.int64]]], list[dict[str, Any]], list[int]]:
    """Decompose the (concatenated) training parts; return the units kept as heads."""
    parts = [r.emg[: _split_point(r, split)] for r in recs]
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


def _attach_truth_ids(units: list[dict[str, Any]], unit_trains: list[list[NDArray[np.int64]]],
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
    cut = _split_point(r, split)
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
    _attach_truth_ids(units, unit_trains, recs, split)
    arrays = {TEACHER_PREFIX + "filters": dec.filters[[u["teacher_index"] for u in units]]}
    meta = {"config": dec.config.to_dict(), "n_accepted": dec.n_units, "n_tried": dec.n_tried}
    return unit_trains, units, arrays, meta


def _truth_units(recs: list[Recording], split: float, plan: TrainingPlan
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
        cut = _split_point(r, split)
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
        cut = _split_point(r, split)
        table = dict(zip(r.unit_ids, r.discharges or ()))
        trains = [np.asarray(table.get(u, np.zeros(0, np.int64)), dtype=np.int64) for u in ids]
        per_rec.append([t[t < cut] for t in trains])
    info = [{"source": "truth", "truth_id": u, "sta_rms_uv": energy[u], "n_train_spikes": count[u]} for u in ids]
    return per_rec, info


# ------------------------------------------------------------------------------ train


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
        keep = end < _split_point(r, split)
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
    plan: TrainingPlan | None = None,
    simulation: SimulationPlan | None = None,
) -> Checkpoint:
    """Teacher-label (or truth-label) the training parts and fit the MO-DCNN; return its checkpoint.

    ``plan`` defaults to the ``preset`` option's plan (:func:`training_plan`:
    :data:`DEFAULT_TRAINING`, the seed's, on CUDA; :data:`CPU_TRAINING` on a
    CPU) and ``simulation`` to :data:`DEFAULT_SIMULATION`; the demo and the board
    tests pass smaller ones (a one-minute model) without touching the module's defaults.
    """
    from edgeemg.tasks.motor_units.models import MODCNN, MODCNNConfig
    from edgeemg.tasks.motor_units.training import FitConfig, fit, mean_f1, predict, tune_thresholds
    from edgeemg.tasks.torch_support import count_parameters, resolve_device, seed_everything, state_to_arrays

    check_model_and_epochs("motor-units", model, MODELS, epochs)
    if model == "filters":
        from edgeemg.tasks.motor_units.filter_workflow import train_filters

        return train_filters(data, simulate=simulate, seed=seed, progress=progress, options=options, plan=plan,
                             simulation=simulation)
    options = check_options("motor-units", options, TRAIN_OPTIONS, "train")
    labels = options.get("labels", "teacher")
    if labels not in ("teacher", "truth"):
        raise InvalidInputError(f"motor-units: --labels must be 'teacher' or 'truth', got {labels!r}")
    split = _check_split(options.get("split", DEFAULT_SPLIT))
    windows = spec.WindowSpec(int(options.get("window", spec.WINDOW)), int(options.get("step", spec.STEP)),
                              options.get("label_delay"))
    dev = resolve_device(device)
    preset = options.get("preset")
    if plan is None or preset is not None:
        preset, plan = training_plan(preset, dev.type)
        log.info("motor-units: '%s' preset (widths %d/%d/%d/%d, %d epochs)", preset, plan.trunk_filters,
                 plan.c3_filters, plan.c4_filters, plan.hidden, plan.epochs)
    simulation = _simulation_options(simulation or DEFAULT_SIMULATION, options, simulate)
    recs = load_recordings(data, simulate, seed=seed, plan=simulation)
    fs_hz = recs[0].fs_hz

    if labels == "teacher":
        unit_trains, units, arrays, teacher_meta = teacher_heads(recs, split, plan, progress)
    else:
        unit_trains, units = _truth_units(recs, split, plan)
        arrays, teacher_meta = {}, None
    if not units:
        raise DataFormatError(
            f"motor-units: no unit with >= {plan.min_spikes} discharges in the training parts "
            f"({'teacher accepted none' if labels == 'teacher' else 'truth'}); use longer recordings"
        )
    amp = max_amplitude(recs, split)
    desc = spec.dsp_description(amp, recs[0].emg.shape[1], windows)
    (xtr, ytr), (xva, yva) = training_windows(recs, unit_trains, amp, windows, split, plan)
    gen = seed_everything(seed)
    cfg = MODCNNConfig(n_units=len(units), window=windows.window, n_channels=recs[0].emg.shape[1],
                       trunk_filters=plan.trunk_filters, c3_filters=plan.c3_filters, c4_filters=plan.c4_filters,
                       hidden=plan.hidden)
    net = MODCNN(cfg)
    fc = FitConfig(epochs=epochs or plan.epochs, batch_size=plan.batch_size, learning_rate=plan.learning_rate,
                   pos_weight=plan.pos_weight, lr_decay=plan.lr_decay)
    log.info("motor-units: %d heads (%s labels), %d training / %d validation windows", len(units), labels,
             len(xtr), len(xva))
    net, history = fit(net, (xtr, ytr), (xva, yva), config=fc, device=dev, generator=gen, progress=progress)
    val_prob = predict(net, xva, dev)
    threshold = tune_thresholds(yva, val_prob) if plan.tune_thresholds else spec.THRESHOLD
    val_f1 = mean_f1(yva, val_prob, threshold)
    names = [f"mu{i:02d}" for i in range(len(units))]
    meta: dict[str, Any] = {
        "labels": names,
        "units": units,
        "label_source": labels,
        "fs_hz": fs_hz,
        "channel_names": list(recs[0].channel_names),
        "window": windows.window,
        "hop": windows.step,
        "windows": windows.to_dict(),
        "input_shape": [windows.window, recs[0].emg.shape[1]],
        "outputs": "probabilities",
        "dsp": desc,
        "max_amplitude_uv": amp,
        "decoder": DecoderConfig(threshold=threshold, fs_hz=fs_hz, step=windows.step,
                                 label_delay=windows.delay).to_dict(),
        "algorithmic_latency_ms": windows.latency_ms(fs_hz),
        "split": split,
        "model_config": cfg.to_dict(),
        "train_config": {**fc.to_dict(), "val_fraction": plan.val_fraction,
                         "train_stride": plan.train_stride, "min_spikes": plan.min_spikes,
                         "max_units": plan.max_units},
        "teacher": teacher_meta,
        "history": history,
        "data": "simulated" if simulate else [str(p) for p in data or []],
        "simulation": asdict(simulation) if simulate else None,
        "seed": seed,
        "summary": {"n_units": len(units), "label_source": labels, "preset": preset, "n_params": count_parameters(net),
                    "n_train_windows": int(len(xtr)), "n_val_windows": int(len(xva)), "val_mean_f1": val_f1,
                    "best_epoch": int(np.argmax(history["val_macro_f1"]) + 1), "epochs": fc.epochs},
    }
    arrays.update(state_to_arrays(net))
    if "plot" in options:
        from edgeemg.tasks.plots import plot_history

        plot_history(history, Path(options["plot"]) / "motor_units_training.png", title="MO-DCNN (mean F1 over units)")
    return Checkpoint(task=TASK, model=model, arrays=arrays, meta=meta)


def load_model(ckpt: Checkpoint) -> Any:
    """The checkpoint's network (eval mode, CPU): the MO-DCNN, or the separation filters' Conv1d.

    Teacher arrays are not model weights and are skipped.
    """
    from edgeemg.tasks.motor_units.models import build_model
    from edgeemg.tasks.torch_support import arrays_to_state

    if ckpt.task == TASK and ckpt.model == "filters":
        from edgeemg.tasks.motor_units.filter_workflow import load_filter_model

        return load_filter_model(ckpt)
    if ckpt.task != TASK or ckpt.model != "mo_dcnn":
        raise CheckpointError(f"motor-units: checkpoint is {ckpt.task}/{ckpt.model}, expected {TASK}/mo_dcnn")
    try:
        net = build_model(ckpt.meta["model_config"])
        arrays_to_state(net, {k: v for k, v in ckpt.arrays.items() if not k.startswith(TEACHER_PREFIX)})
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"motor-units checkpoint does not match the MO-DCNN: {exc}") from exc
    return net.eval()


# ------------------------------------------------------------------------------ evaluate


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
    """Score the held-out part of each recording: :func:`edgeemg.tasks.motor_units.evaluation.evaluate`."""
    from edgeemg.tasks.motor_units.evaluation import evaluate as evaluate_checkpoint

    return evaluate_checkpoint(checkpoint, data, simulate=simulate, seed=seed, device=device, progress=progress,
                               options=options)


__all__ = ["MODELS", "Recording", "SimulationPlan", "TrainingPlan", "evaluate", "load_model", "load_recordings",
           "train", "windows_of"]
