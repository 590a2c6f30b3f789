"""The four decoders by name, for the CLI and the runtime.

Task names as users type them (``motor-units``) map to the Python package that
owns the task (``edgeemg.tasks.motor_units``). Nothing here imports torch.
"""

from __future__ import annotations

import difflib
from enum import Enum

from edgeemg.errors import InvalidInputError


class Task(str, Enum):
    """The decoders edgeemg ships; the value is the command-line spelling."""

    KEYSTROKE = "keystroke"
    GAIT = "gait"
    MUSCLE = "muscle"
    MOTOR_UNITS = "motor-units"

    @property
    def package(self) -> str:
        """Import path of the task's package under ``edgeemg.tasks``."""
        return {
            Task.KEYSTROKE: "edgeemg.tasks.keystroke",
            Task.GAIT: "edgeemg.tasks.gait",
            Task.MUSCLE: "edgeemg.tasks.muscle_health",
            Task.MOTOR_UNITS: "edgeemg.tasks.motor_units",
        }[self]


TASK_NAMES: tuple[str, ...] = tuple(t.value for t in Task)


def parse_task(name: str) -> Task:
    """Return the :class:`Task` for ``name``, suggesting the closest one if mistyped."""
    normalized = name.strip().lower().replace("_", "-")
    aliases = {"muscle-health": "muscle", "motor-unit": "motor-units", "mu": "motor-units", "keystrokes": "keystroke"}
    normalized = aliases.get(normalized, normalized)
    try:
        return Task(normalized)
    except ValueError:
        close = difflib.get_close_matches(normalized, TASK_NAMES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InvalidInputError(
            f"Invalid task '{name}'. Allowed values are {', '.join(TASK_NAMES)}.{hint}"
        ) from None


def task_argument(name: str) -> Task:
    """argparse ``type=`` for a task: the helpful message reaches the user instead of argparse's generic one."""
    import argparse

    try:
        return parse_task(name)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(exc.args[0]) from None
