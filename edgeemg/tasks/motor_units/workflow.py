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

The pieces: :mod:`~edgeemg.tasks.motor_units.plans` (presets),
:mod:`~edgeemg.tasks.motor_units.recordings` (data, split, windows),
:mod:`~edgeemg.tasks.motor_units.labels` (heads and labels).

Evaluation scores the student (and the teacher's separation filters applied
to the held-out part) against the truth where the recording has one, else
against the teacher (:mod:`edgeemg.tasks.motor_units.metrics`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgeemg.errors import CheckpointError, DataFormatError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import plans, spec
from edgeemg.tasks.motor_units.decoder import DecoderConfig, refractory_steps
from edgeemg.tasks.motor_units.labels import TEACHER_PREFIX, teacher_heads, training_windows, truth_units
from edgeemg.tasks.motor_units.plans import SimulationPlan, TrainingPlan, training_plan
from edgeemg.tasks.motor_units.recordings import (
    DEFAULT_SPLIT,
    Recording,
    check_split,
    load_recordings,
    max_amplitude,
    simulation_options,
    windows_of,
)
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "motor-units"
MODELS: tuple[str, ...] = ("mo_dcnn", "filters")
TRAIN_OPTIONS = ("labels", "split", "window", "step", "plot", "label_delay", "level", "grid", "preset")
EVAL_OPTIONS = ("plot", "split")


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
    :data:`~.plans.DEFAULT_TRAINING`, the seed's, on CUDA; :data:`~.plans.CPU_TRAINING` on a
    CPU) and ``simulation`` to :data:`~.plans.DEFAULT_SIMULATION`; the demo and the board
    tests pass smaller ones (a one-minute model) without touching the module's defaults.
    """
    from edgeemg.tasks.motor_units.models import MODCNN, MODCNNConfig, keep_heads
    from edgeemg.tasks.motor_units.training import FitConfig, fit, mean_f1, predict, tune_thresholds, weak_heads
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
    split = check_split(options.get("split", DEFAULT_SPLIT))
    windows = spec.WindowSpec(int(options.get("window", spec.WINDOW)), int(options.get("step", spec.STEP)),
                              options.get("label_delay"))
    dev = resolve_device(device)
    preset = options.get("preset")
    if plan is None or preset is not None:
        preset, plan = training_plan(preset, dev.type)
        log.info("motor-units: '%s' preset (widths %d/%d/%d/%d, %d epochs)", preset, plan.trunk_filters,
                 plan.c3_filters, plan.c4_filters, plan.hidden, plan.epochs)
    simulation = simulation_options(simulation or plans.DEFAULT_SIMULATION, options, simulate)
    recs = load_recordings(data, simulate, seed=seed, plan=simulation)
    fs_hz = recs[0].fs_hz

    if labels == "teacher":
        unit_trains, units, arrays, teacher_meta = teacher_heads(recs, split, plan, progress)
    else:
        unit_trains, units = truth_units(recs, split, plan)
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
    n_ch = recs[0].emg.shape[1]
    cfg = MODCNNConfig(n_units=len(units), window=windows.window, n_channels=n_ch,
                       trunk_filters=plan.trunk_filters, c3_filters=plan.c3_filters, c4_filters=plan.c4_filters,
                       hidden=plan.hidden,
                       trunk_kernel=plan.decomposition.extension_for(n_ch) if plan.teacher_init else 3)
    net = MODCNN(cfg)
    init_meta = None
    if plan.teacher_init:
        from edgeemg.tasks.motor_units.teacher_init import freeze_rows, init_from_teacher

        init_meta = init_from_teacher(net, recs, unit_trains, desc, split)
        if plan.freeze_teacher_c1:
            freeze_rows(net.c1, init_meta["c1_from_teacher"])
        init_meta["frozen"] = plan.freeze_teacher_c1
    fc = FitConfig(epochs=epochs or plan.epochs, batch_size=plan.batch_size, learning_rate=plan.learning_rate,
                   pos_weight=plan.pos_weight, lr_decay=plan.lr_decay, patience=plan.patience)
    log.info("motor-units: %d heads (%s labels), %d training / %d validation windows", len(units), labels,
             len(xtr), len(xva))
    net, history = fit(net, (xtr, ytr), (xva, yva), config=fc, device=dev, generator=gen, progress=progress)
    val_prob = predict(net, xva, dev)
    refractory = refractory_steps(fs_hz, windows.step)
    threshold = tune_thresholds(yva, val_prob, refractory=refractory) if plan.tune_thresholds else spec.THRESHOLD
    dropped: list[dict[str, Any]] = []
    if plan.min_head_f1 is not None:
        keep, head_scores = weak_heads(yva, val_prob, threshold, plan.min_head_f1, refractory)
        dropped = [dict(u, val_f1=float(head_scores[i])) for i, u in enumerate(units) if i not in keep]
        if dropped:
            log.info("motor-units: %d heads below validation F1 %.2f removed", len(dropped), plan.min_head_f1)
            net, units, yva, val_prob = keep_heads(net, keep), [units[i] for i in keep], yva[:, keep], val_prob[:, keep]
            threshold = threshold if isinstance(threshold, float) else tuple(threshold[i] for i in keep)
            if TEACHER_PREFIX + "filters" in arrays:
                arrays[TEACHER_PREFIX + "filters"] = arrays[TEACHER_PREFIX + "filters"][keep]
            cfg = net.config
    val_f1 = mean_f1(yva, val_prob, threshold, refractory)
    names = [f"mu{i:02d}" for i in range(len(units))]
    meta: dict[str, Any] = {
        "labels": names,
        "units": units,
        "dropped_units": dropped,
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
        "decoder": DecoderConfig(threshold=threshold, fs_hz=fs_hz, step=windows.step, label_delay=windows.delay,
                                 refractory_steps=refractory).to_dict(),
        "algorithmic_latency_ms": windows.latency_ms(fs_hz),
        "split": split,
        "model_config": cfg.to_dict(),
        "train_config": {**fc.to_dict(), "val_fraction": plan.val_fraction,
                         "train_stride": plan.train_stride, "min_spikes": plan.min_spikes,
                         "max_units": plan.max_units, "teacher_init": init_meta},
        "teacher": teacher_meta,
        "history": history,
        "data": "simulated" if simulate else [str(p) for p in data or []],
        "simulation": asdict(simulation) if simulate else None,
        "seed": seed,
        "summary": {"n_units": len(units), "label_source": labels, "preset": preset, "n_params": count_parameters(net),
                    "n_train_windows": int(len(xtr)), "n_val_windows": int(len(xva)), "val_mean_f1": val_f1,
                    "best_epoch": int(np.argmax(history["val_macro_f1"]) + 1), "epochs": fc.epochs,
                    "epochs_run": len(history["epoch"]), "n_dropped": len(dropped)},
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
