"""What the decomposition returns: units, their quality measures and separation filters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edgeemg.decompose.config import DecompositionConfig
from edgeemg.decompose.residual import subtract_units
from edgeemg.decompose.spikes import detect_spikes
from edgeemg.decompose.whitening import fir_source, preprocess
from edgeemg.errors import InvalidInputError


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Motor units found by :func:`decompose`, in the order they were accepted.

    Attributes
    ----------
    discharges : tuple of ndarray of int64
        Discharge sample indices per unit (at the source's peak: a fixed,
        unit-specific lag after the true discharge).
    sil : ndarray of float64, shape (n_units,)
    pnr_db : ndarray of float64, shape (n_units,)
    filters : ndarray of float32, shape (n_units, R, n_channels)
        Separation filters in the band-passed signal's space: the source is
        ``s(t) = sum_r sum_c filters[u, r, c] * x(t - r, c)``, which lets
        :meth:`apply` decode new data of the same grid without re-whitening.
    fs_hz : float
    n_channels : int
    config : DecompositionConfig
    n_tried : int
        Sources tried (fixed-point runs).
    stage : ndarray of int64, shape (n_units,), optional
        The pass that found each unit: 0 on the EMG, ``p`` on the residual of
        pass ``p`` (:mod:`edgeemg.decompose.residual`); None: all 0.
    waveforms : ndarray of float32, shape (n_units, L, n_channels), optional
        Each unit's waveform (+-``(L - 1) / 2`` samples around its discharges)
        that :meth:`apply` subtracts before decoding the next pass's units;
        needed only when a unit has ``stage > 0``. The last pass's units, which
        no later pass follows, hold zeros.
    thresholds : ndarray of float64, shape (n_units,), optional
        Each unit's height split (:func:`~edgeemg.decompose.spikes.detect_spikes`'
        ``threshold``); NaN or None: the k-means split.
    """

    discharges: tuple[NDArray[np.int64], ...]
    sil: NDArray[np.float64]
    pnr_db: NDArray[np.float64]
    filters: NDArray[np.float32]
    fs_hz: float
    n_channels: int
    config: DecompositionConfig = field(default_factory=DecompositionConfig)
    n_tried: int = 0
    stage: NDArray[np.int64] | None = None
    waveforms: NDArray[np.float32] | None = None
    thresholds: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if self.stage is not None and np.any(self.stage > 0) and (
                self.waveforms is None or len(self.waveforms) != len(self.filters)):
            raise InvalidInputError(
                f"Decomposition: units found on a residual (stage > 0) need one waveform per unit to subtract, got "
                f"{None if self.waveforms is None else len(self.waveforms)} for {len(self.filters)} filters")

    @property
    def n_units(self) -> int:
        return len(self.discharges)

    def threshold(self, u: int) -> float | None:
        """Unit ``u``'s stored height split, None for the k-means one."""
        if self.thresholds is None or not np.isfinite(self.thresholds[u]):
            return None
        return float(self.thresholds[u])

    def apply(self, emg: NDArray[np.floating]) -> tuple[tuple[NDArray[np.int64], ...], NDArray[np.float64]]:
        """Decode another recording of the same grid with the stored separation filters.

        Returns the discharges per unit (detected on each new source exactly as
        in the decomposition) and the sources, shape (n_units, n_samples).
        Units of a residual pass are decoded on what the earlier passes' units
        leave once their waveforms are subtracted at their decoded discharges.
        """
        x = preprocess(emg, self.fs_hz, self.config, context="Decomposition.apply", n_channels=self.n_channels)
        stage = np.zeros(len(self.filters), np.int64) if self.stage is None else self.stage
        sources = np.zeros((len(self.filters), x.shape[0]))
        trains: list[NDArray[np.int64]] = [np.zeros(0, np.int64)] * len(self.filters)
        for p in np.unique(stage):
            units = np.flatnonzero(stage == p)
            for u in units:
                sources[u] = fir_source(x, self.filters[u])
                trains[u] = detect_spikes(sources[u], self.fs_hz, self.threshold(u)).spikes
            if p < stage.max():
                x = subtract_units(x, [trains[u] for u in units], self.waveforms[units])
        return tuple(trains), sources


__all__ = ["Decomposition"]
