"""Board-side motor-unit decoder: per-window unit probabilities -> spikes and the streamed neural drive.

numpy only (the runtime imports this on a board without torch).

Each window of the MO-DCNN yields one probability per unit that the unit fired
within the window's labelled step (seed 004, eq. 2). The decoder thresholds
them (at 0.5 as seed 004, section 2.1, or per unit), drops a firing that
follows the unit's last spike within ``refractory_steps`` steps (one discharge
seen by two overlapping windows; :func:`refractory_steps`), stamps the spikes
at the step's centre (``end_index - label_delay``), and updates the neural
drive: the cumulative
spike train (spikes of all units per step) smoothed with a 400 ms Hann window
(seed 004, section 3.4.3), applied *causally* as an FIR over the past steps so
it can be streamed. Being causal it lags the centred (offline) smoothing by half
the window, 200 ms; it equals ``np.convolve(cst, hann)[:n]`` exactly
(:func:`causal_neural_drive`). The drive is in pulses per second summed over
the units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.manifest import decoder_settings, manifest_labels
from edgeemg.tasks.motor_units.filter_decoder import REFRACTORY_S, FilterSpikeDecoder
from edgeemg.tasks.motor_units.spec import (FS_HZ, NEURAL_DRIVE_WINDOW_S, STEP, THRESHOLD, WINDOW, NeuralDrive,
                                           hann_taps)


@dataclass(frozen=True)
class DecoderConfig(DictConfig):
    """How unit probabilities become spikes and neural drive.

    Attributes
    ----------
    threshold : float or tuple of float
        Probability above which a unit is said to fire in a step: one for all
        units (the seed's 0.5) or one per unit, in output order (training picks
        them on its validation windows, see ``TrainingPlan.tune_thresholds``).
    fs_hz : float
        Sample rate, Hz.
    step : int
        Samples between windows.
    label_delay : int
        Samples from a window's labelled point to its last sample (``window // 2`` by default).
    drive_window_s : float
        Hann window of the neural drive, seconds (0.4).
    refractory_steps : int
        Steps after a unit's spike in which it cannot fire again (0: every
        window decides alone, as the seed; training sets :func:`refractory_steps`).
    """

    threshold: float | tuple[float, ...] = THRESHOLD
    fs_hz: float = FS_HZ
    step: int = STEP
    label_delay: int = WINDOW // 2
    drive_window_s: float = NEURAL_DRIVE_WINDOW_S
    refractory_steps: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.threshold, (list, tuple)):
            object.__setattr__(self, "threshold", tuple(float(t) for t in self.threshold))
        values = self.threshold if isinstance(self.threshold, tuple) else (self.threshold,)
        if not values or not all(0.0 < float(t) < 1.0 for t in values):
            raise InvalidInputError(f"DecoderConfig.threshold must be in (0, 1) (one value or one per unit), "
                                    f"got {self.threshold!r}")
        if not float(self.fs_hz) > 0:
            raise InvalidInputError(f"DecoderConfig.fs_hz must be > 0 Hz, got {self.fs_hz!r}")
        if not isinstance(self.step, int) or self.step < 1:
            raise InvalidInputError(f"DecoderConfig.step must be an int >= 1 sample, got {self.step!r}")
        if not isinstance(self.label_delay, int) or self.label_delay < 0:
            raise InvalidInputError(f"DecoderConfig.label_delay must be an int >= 0 samples, got {self.label_delay!r}")
        if not float(self.drive_window_s) > 0:
            raise InvalidInputError(f"DecoderConfig.drive_window_s must be > 0 s, got {self.drive_window_s!r}")
        if not isinstance(self.refractory_steps, int) or self.refractory_steps < 0:
            raise InvalidInputError(f"DecoderConfig.refractory_steps must be an int >= 0 steps, "
                                    f"got {self.refractory_steps!r}")

    def hann_taps(self) -> NDArray[np.float64]:
        """The neural drive's taps at this config's step rate (:func:`~edgeemg.tasks.motor_units.spec.hann_taps`)."""
        return hann_taps(self.drive_window_s, self.fs_hz, self.step)

    def thresholds(self, n_units: int) -> NDArray[np.float64]:
        """The threshold of each of ``n_units`` outputs; a per-unit tuple must have ``n_units`` entries."""
        if isinstance(self.threshold, tuple):
            if len(self.threshold) != n_units:
                raise InvalidInputError(f"DecoderConfig.threshold has {len(self.threshold)} per-unit values, "
                                        f"expected {n_units} (one per unit)")
            return np.asarray(self.threshold, dtype=np.float64)
        return np.full(n_units, float(self.threshold))

    def latency_ms(self) -> float:
        """Algorithmic latency of a spike: label point to the window's last sample."""
        return 1000.0 * self.label_delay / self.fs_hz


def refractory_steps(fs_hz: float, step: int, refractory_s: float = REFRACTORY_S) -> int:
    """The most steps after a spike in which a second discharge would be closer than ``refractory_s``.

    Why: a discharge near the border of two labelled steps is seen by both
    windows, and a head trained on the teacher's timing (within a sample or
    two) fires in both; two spikes ``r`` steps apart are at most
    ``(r + 1) * step - 1`` samples apart, so for every ``r`` up to this value
    they cannot both be discharges of one unit (the teacher's 20 ms minimum
    distance, :data:`~.filter_decoder.REFRACTORY_S`). At 2048 Hz and 20-sample steps: 1 (39 samples < 41).
    """
    return max(0, int(round(refractory_s * fs_hz)) // int(step) - 1)


def apply_refractory(fired: Any, steps: int, since: NDArray[np.int64] | None = None) -> NDArray[np.bool_]:
    """Keep a firing only if the unit's last kept one is more than ``steps`` windows back; columns are units.

    ``fired`` (n_windows, ...) booleans in time order; ``since`` (one per
    column, updated in place) holds the windows since each unit's last kept
    firing before the first row (the streaming decoder's state; None: none).
    """
    f = np.asarray(fired, dtype=bool)
    if steps == 0:
        return f.copy()
    since = np.full(f.shape[1:], steps + 1, dtype=np.int64) if since is None else since
    out = np.zeros_like(f)
    for k in range(f.shape[0]):
        since += 1
        out[k] = f[k] & (since > steps)
        since[out[k]] = 0
    return out


def causal_neural_drive(counts: Any, taps: NDArray[np.float64]) -> NDArray[np.float64]:
    """Offline form of the streamed drive: ``np.convolve(counts, taps)[:len(counts)]``."""
    c = np.asarray(counts, dtype=np.float64).ravel()
    return np.convolve(c, taps)[: c.size]


class MotorUnitDecoder:
    """Streaming spike thresholding and neural drive for the MO-DCNN's outputs.

    Parameters
    ----------
    units : sequence of str
        Unit names in the model's output order (e.g. ``"mu00"``).
    config : DecoderConfig

    Examples
    --------
    >>> dec = MotorUnitDecoder(["mu0", "mu1"], DecoderConfig(step=20, label_delay=60))
    >>> ev = dec.step(np.array([[0.9, 0.1], [0.2, 0.7]]), np.array([119, 139]))
    >>> [(e["spike_index"], e["units"]) for e in ev]
    [(59, [0]), (79, [1])]
    """

    def __init__(self, units: list[str] | tuple[str, ...], config: DecoderConfig | None = None) -> None:
        self.units = tuple(units)
        if not self.units:
            raise InvalidInputError("MotorUnitDecoder needs at least one unit")
        self.config = config or DecoderConfig()
        self._drive = NeuralDrive(self.config.hann_taps())
        self._thresholds = self.config.thresholds(len(self.units))
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> MotorUnitDecoder:
        """Build from a bundle manifest / checkpoint meta: ``labels`` (unit names) and a ``decoder`` dict."""
        labels = manifest_labels(manifest, "MotorUnitDecoder", "unit names")
        return cls(labels, DecoderConfig.from_dict(decoder_settings(manifest)))

    def reset(self) -> None:
        """Forget the drive history (a new recording or a reconnected band)."""
        self._drive.reset()
        self._since = np.full(len(self.units), self.config.refractory_steps + 1, dtype=np.int64)

    @property
    def n_units(self) -> int:
        return len(self.units)

    def step(self, outputs: Any, end_index: Any) -> list[dict[str, Any]]:
        """Consume the probabilities of consecutive windows; one event per window.

        Parameters
        ----------
        outputs : ndarray, shape (n_windows, n_units)
            Per-unit firing probabilities (the model's sigmoid outputs).
        end_index : ndarray of int, shape (n_windows,)
            Absolute sample index of each window's last sample.

        Returns
        -------
        list of dict
            ``{"end_index", "spike_index", "units", "n_spikes", "neural_drive"}``
            per window: the indices of the units firing in its step, the sample
            their spikes are stamped at, and the drive (pulses/s) after it.
        """
        p = np.asarray(outputs, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != self.n_units:
            raise InvalidInputError(
                f"MotorUnitDecoder.step: outputs must be (n_windows, {self.n_units}), got shape {p.shape}"
            )
        idx = np.asarray(end_index).reshape(-1)
        if idx.shape[0] != p.shape[0]:
            raise InvalidInputError(
                f"MotorUnitDecoder.step: end_index must have one entry per window ({p.shape[0]}), got {idx.shape[0]}"
            )
        fired = apply_refractory(p > self._thresholds, self.config.refractory_steps, self._since)
        events = []
        for row, e in zip(fired, idx):
            units = np.flatnonzero(row)
            drive = self._drive.push(units.size)
            events.append({
                "end_index": int(e),
                "spike_index": int(e) - self.config.label_delay,
                "units": [int(u) for u in units],
                "n_spikes": int(units.size),
                "neural_drive": drive,
            })
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: nothing is held back, so no further event."""
        return []


def spike_trains_from_outputs(outputs: Any, end_index: Any, config: DecoderConfig) -> tuple[NDArray[np.int64], ...]:
    """Offline helper: per unit, the spike samples the decoder would emit (threshold, refractory, label point)."""
    p = np.asarray(outputs)
    e = np.asarray(end_index, dtype=np.int64) - config.label_delay
    fired = apply_refractory(p > config.thresholds(p.shape[1]), config.refractory_steps)
    return tuple(e[fired[:, u]] for u in range(p.shape[1]))


# FilterSpikeDecoder lives in filter_decoder; it is named here because bundles name their decoder in this module
__all__ = ["DecoderConfig", "FilterSpikeDecoder", "MotorUnitDecoder", "apply_refractory", "causal_neural_drive",
           "refractory_steps", "spike_trains_from_outputs"]
