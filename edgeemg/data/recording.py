"""Shared, torch-free containers for signals and their ground truth.

Layout convention for the whole package: a multichannel signal is a float32
array shaped ``(n_samples, n_channels)`` in microvolts (``x_tc``). Readers
convert to it at the file edge; everything downstream assumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError


#: Microvolts per unit, by unit name as files and streams write it (after :func:`uv_per_unit`'s normalising).
_UV_PER_UNIT = {"v": 1e6, "volts": 1e6, "mv": 1e3, "millivolts": 1e3, "uv": 1.0, "microvolts": 1.0, "nv": 1e-3,
                "nanovolts": 1e-3}


def uv_per_unit(unit: str) -> float | None:
    """Microvolts per ``unit`` (``V``, ``mV``, ``µV``, ``uV``, ``microvolts`` ..., any case); None if not a voltage."""
    return _UV_PER_UNIT.get(str(unit).strip().lower().replace("µ", "u").replace("μ", "u"))


@dataclass(frozen=True)
class TruthEvent:
    """A physiological event the simulator knows happened.

    ``time_s`` is when the muscle activity that announces it *ends* being
    ambiguous to a perfect observer: for a key press, the end of the key's
    muscle burst; for a motor-unit discharge, the discharge instant; for a gait
    transition, the state change. The runtime's latency report measures from here.
    """

    time_s: float
    kind: str  # "key", "spike", "gait_state", "class"
    value: Any  # a character, a unit index, a state name, a class name


@dataclass(frozen=True)
class BandSignal:
    """A continuous multichannel stream as a band would send it, with truth.

    This is what :class:`edgeemg.bridge.SimulatedBand` frames and sends.
    """

    emg: NDArray[np.float32]  # (n_samples, n_channels), microvolts
    fs_hz: float
    layout: str  # electrode layout name, e.g. "wristband-2x16", "hdemg-13x5"
    channel_names: tuple[str, ...]
    events: tuple[TruthEvent, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.emg.ndim != 2:
            raise InvalidInputError(f"BandSignal.emg must be 2-D (n_samples, n_channels), got shape {self.emg.shape}")
        if len(self.channel_names) != self.emg.shape[1]:
            raise InvalidInputError(
                f"BandSignal has {self.emg.shape[1]} channels but {len(self.channel_names)} channel names"
            )

    @property
    def n_channels(self) -> int:
        return int(self.emg.shape[1])

    @property
    def duration_s(self) -> float:
        return self.emg.shape[0] / self.fs_hz
