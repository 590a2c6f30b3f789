"""The motor-unit workflow's plans: the ``--simulate`` contraction and the MO-DCNN's widths, optimiser and units.

The presets (``--preset seed|cpu``) are looked up by name in this module at
call time, so tests (and the demo) can shrink them with ``monkeypatch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from edgeemg.decompose import DecompositionConfig
from edgeemg.errors import InvalidInputError


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
    ``teacher_init``: C1 takes the teacher's extension as its kernel and starts as
    the heads' causal separation filters (:mod:`~edgeemg.tasks.motor_units.teacher_init`);
    False: the seed's kernel-3 C1 from a random start. ``freeze_teacher_c1``: those
    teacher-started filters are not trained (:func:`~edgeemg.tasks.motor_units.teacher_init.freeze_rows`).
    ``patience``: stop when the validation mean F1 has not risen for this many
    epochs (None: run every epoch); the best epoch's weights are kept either way.
    ``min_head_f1``: after training, heads whose validation window F1 (at their
    tuned threshold) is below this are removed with their weights
    (:func:`~edgeemg.tasks.motor_units.training.weak_heads`); None keeps every head.
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
    teacher_init: bool = False
    freeze_teacher_c1: bool = False
    patience: int | None = None
    min_head_f1: float | None = None
    decomposition: DecompositionConfig = field(default_factory=DecompositionConfig)


DEFAULT_SIMULATION = SimulationPlan()
DEFAULT_TRAINING = TrainingPlan()
# The CPU preset: C1 starts as the teacher's separation filters (kernel = the teacher's extension) and those filters
# stay frozen, narrow per-unit heads (C3 32, C4 16, F1 64), early stopping, and heads the student cannot learn removed.
# Held-out last third of a 60 s contraction (subject 0), on the teacher's units, sensitivity / precision at +-10
# samples (`edgeemg eval --json`'s on_teacher_units), with the decoder's one-step refractory: 30 %, 16 teacher heads,
# 11 kept, 0.977 / 0.970, neural drive r 0.95, 252 one-thread CPU s of training (teacher cached), best epoch 5 of 8;
# 50 %, 14 heads, 11 kept, 0.984 / 0.997, r 0.99, 411 CPU s with the teacher, best epoch 12 of 12. Before the freeze
# and the refractory (same teacher): 30 % 9 kept, 0.969 / 0.973, r 0.91; 50 % 10 kept, 0.984 / 0.979, r 0.93.
# Before the teacher-started C1:
# half widths from a random start, 24 epochs: 0.956 / 0.965, 0.947 / 0.963, 0.919 / 0.936 at 10 / 30 / 50 %.
CPU_TRAINING = replace(DEFAULT_TRAINING, trunk_filters=64, c3_filters=32, c4_filters=16, hidden=64, epochs=12,
                       teacher_init=True, freeze_teacher_c1=True, patience=3, min_head_f1=0.9)
PRESETS = {"seed": "DEFAULT_TRAINING", "cpu": "CPU_TRAINING"}  # names, so tests can shrink the module's plans


def training_plan(preset: str | None, device_type: str) -> tuple[str, TrainingPlan]:
    """The preset's plan: the seed's widths on CUDA, half widths on a CPU (a seed-width epoch takes minutes there)."""
    name = preset or ("seed" if device_type == "cuda" else "cpu")
    if name not in PRESETS:
        raise InvalidInputError(f"motor-units: --preset must be one of {sorted(PRESETS)}, got {name!r}")
    return name, globals()[PRESETS[name]]


__all__ = ["CPU_TRAINING", "DEFAULT_SIMULATION", "DEFAULT_TRAINING", "PRESETS", "SimulationPlan", "TrainingPlan",
           "training_plan"]
