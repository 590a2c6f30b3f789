"""Continuous band signals by task name: what a simulated band streams.

Each simulator module exposes ``band_signal(seconds, *, seed, session)``
returning a :class:`~edgeemg.data.recording.BandSignal`; this module finds it
by task name so that the bridge and the runtime need no task knowledge.
``"synthetic"`` is BrainFlow's synthetic board idea: channel *i* is a sine at
5·(i+1) Hz plus seeded noise, known exactly, for tests of the serial path.
"""

from __future__ import annotations

import importlib

import numpy as np

from edgeemg.data.recording import BandSignal
from edgeemg.errors import InvalidInputError

# task name -> module that owns its simulator
_SIMULATOR_MODULES = {
    "keystroke": "edgeemg.data.sim_keystroke",
    "gait": "edgeemg.data.sim_gait",
    "muscle": "edgeemg.data.sim_muscle",
    "motor-units": "edgeemg.data.sim_motor_units",
}
BAND_TASKS: tuple[str, ...] = ("synthetic", *_SIMULATOR_MODULES)


def synthetic_signal(
    seconds: float, *, seed: int = 0, session: int = 0, n_channels: int = 8, fs_hz: float = 2000.0
) -> BandSignal:
    """Per-channel tones (channel i at 5·(i+1) Hz, 100 µV) plus 5 µV Gaussian noise."""
    if seconds <= 0:
        raise InvalidInputError(f"seconds must be > 0, got {seconds}")
    n = int(round(seconds * fs_hz))
    t = np.arange(n) / fs_hz
    freqs = 5.0 * (np.arange(n_channels) + 1)
    rng = np.random.default_rng([seed, session])
    emg = 100.0 * np.sin(2 * np.pi * t[:, None] * freqs[None, :]) + 5.0 * rng.standard_normal((n, n_channels))
    return BandSignal(
        emg=emg.astype(np.float32),
        fs_hz=fs_hz,
        layout=f"synthetic-{n_channels}",
        channel_names=tuple(f"ch{i}" for i in range(n_channels)),
    )


def band_signal(task: str, seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """Simulate ``seconds`` of the band that ``task``'s decoder reads, with its truth events."""
    if task == "synthetic":
        return synthetic_signal(seconds, seed=seed, session=session)
    if task not in _SIMULATOR_MODULES:
        raise InvalidInputError(f"Invalid band task '{task}'. Allowed values are {', '.join(BAND_TASKS)}.")
    module = importlib.import_module(_SIMULATOR_MODULES[task])
    return module.band_signal(seconds, seed=seed, session=session)
