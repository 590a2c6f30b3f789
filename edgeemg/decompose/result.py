"""What the decomposition returns: units, their quality measures and separation filters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from edgeemg.decompose.config import DecompositionConfig
from edgeemg.decompose.spikes import detect_spikes
from edgeemg.decompose.whitening import fir_source, preprocess


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
    """

    discharges: tuple[NDArray[np.int64], ...]
    sil: NDArray[np.float64]
    pnr_db: NDArray[np.float64]
    filters: NDArray[np.float32]
    fs_hz: float
    n_channels: int
    config: DecompositionConfig = field(default_factory=DecompositionConfig)
    n_tried: int = 0

    @property
    def n_units(self) -> int:
        return len(self.discharges)

    def apply(self, emg: NDArray[np.floating]) -> tuple[tuple[NDArray[np.int64], ...], NDArray[np.float64]]:
        """Decode another recording of the same grid with the stored separation filters.

        Returns the discharges per unit (detected on each new source exactly as
        in the decomposition) and the sources, shape (n_units, n_samples).
        """
        x = preprocess(emg, self.fs_hz, self.config, context="Decomposition.apply", n_channels=self.n_channels)
        sources = np.stack([fir_source(x, f) for f in self.filters]) if len(self.filters) else np.zeros((0, x.shape[0]))
        return tuple(detect_spikes(s, self.fs_hz).spikes for s in sources), sources


__all__ = ["Decomposition"]
