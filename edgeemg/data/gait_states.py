"""The four gait states and their codes: one definition for the simulator, the WFDB reader and the gait task.

Plain Python (no numpy, torch or wfdb), so the board's ``run --simulate``, which
needs the simulator's labels but not the formats extra, imports it as freely as
the reader of PhysioNet's walking records does.
"""

from __future__ import annotations

GAIT_STATES: tuple[str, ...] = ("stand", "start", "walk", "stop")
"""State names in code order: a state's code is its index (the model's output order too)."""
STAND, START, WALK, STOP = range(len(GAIT_STATES))

__all__ = ["GAIT_STATES", "STAND", "START", "STOP", "WALK"]
