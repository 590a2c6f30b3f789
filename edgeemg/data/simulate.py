"""`edgeemg simulate`: write a simulator's output in its task's public format.

Each simulator module owns its writer (``simulate_to_path``); this module only
routes by task name and passes the options that the task understands, so that
an option a task ignores is refused instead of silently dropped.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.registry import Task, parse_task

_SIMULATOR_MODULES = {
    Task.KEYSTROKE: "edgeemg.data.sim_keystroke",
    Task.GAIT: "edgeemg.data.sim_gait",
    Task.MUSCLE: "edgeemg.data.sim_muscle",
    Task.MOTOR_UNITS: "edgeemg.data.sim_motor_units",
}

PUBLIC_FORMATS = {
    Task.KEYSTROKE: "emg2qwerty HDF5 session (.hdf5)",
    Task.GAIT: "PhysioNet WFDB records, one per subject (.hea/.dat + .atr annotations)",
    Task.MUSCLE: "PhysioNet WFDB records, one per subject (emgdb-like, 4 kHz)",
    Task.MOTOR_UNITS: "DEMUSE-style MATLAB file (.mat: SIG, fsamp, IED, MUPulses, IPTs)",
}


def simulate_to_path(task: str | Task, out: str | Path, **options: Any) -> list[Path]:
    """Simulate ``task`` and write it to ``out`` in the task's public format.

    Options left at ``None`` take the simulator's defaults. An option that the
    task's simulator does not take (for instance ``level`` for gait) raises
    :class:`~edgeemg.errors.InvalidInputError` naming the options it does take.
    """
    task = parse_task(task) if isinstance(task, str) else task
    module = importlib.import_module(_SIMULATOR_MODULES[task])
    accepted = set(inspect.signature(module.simulate_to_path).parameters) - {"out"}
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - accepted)
    if unknown:
        raise InvalidInputError(
            f"option(s) {', '.join('--' + u.replace('_', '-') for u in unknown)} do not apply to task "
            f"'{task.value}'; it takes {', '.join('--' + a.replace('_', '-') for a in sorted(accepted))}"
        )
    return list(module.simulate_to_path(Path(out), **given))
