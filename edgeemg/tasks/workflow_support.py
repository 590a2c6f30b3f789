"""Argument checks shared by every task's ``workflow.train`` / ``workflow.evaluate`` (no torch).

The CLI passes task-specific options through one dict (see ``edgeemg.tasks``);
each workflow names the ones it takes, and an option given to a task that
ignores it is refused rather than silently dropped.
"""

from __future__ import annotations

from typing import Any

from edgeemg.errors import InvalidInputError


def check_options(task: str, options: dict[str, Any] | None, allowed: tuple[str, ...], verb: str) -> dict[str, Any]:
    """Return ``options`` as a dict, refusing any key not in ``allowed`` with the task's accepted list."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join("--" + a for a in allowed) or "no task-specific option"
        raise InvalidInputError(
            f"{task} {verb}: option(s) {', '.join('--' + u for u in unknown)} do not apply to this task; it takes {takes}"
        )
    return options


def check_model_and_epochs(task: str, model: str, models: tuple[str, ...], epochs: int | None) -> None:
    """Refuse a model name the task does not have, or a non-positive epoch count."""
    if model not in models:
        raise InvalidInputError(f"{task}: invalid model '{model}'. Allowed values are {', '.join(models)}.")
    if epochs is not None and epochs < 1:
        raise InvalidInputError(f"{task}: --epochs must be >= 1, got {epochs}")
