"""The residual pass: take the accepted units' MUAP trains out of the EMG, so that smaller units can be found.

A linear separation filter cannot go past the interference of the units it
does not model: on the simulator, even the filter built from a unit's *true*
discharges (the CKC estimate, Holobar & Zazula 2007) detects only 13-17 units at
sensitivity and precision >= 0.95 on a 30 s contraction. Peel-off in the
original CKC subtracts each identified unit's action-potential train from the
signal so that the next units are sought among fewer interferers (Holobar &
Zazula 2007, section IV; the "peel-off" of DEMUSE). Here each accepted unit's
waveform on the band-passed EMG (+-``half`` samples around its discharges,
wide enough for the whole MUAP wherever the source's peak falls in it) is
fitted by least squares, in acceptance order on what the units before it
left, and subtracted at every discharge; the residual is
extended and whitened again and searched like the original
(:func:`edgeemg.decompose.fastica.decompose`). Decoding new data repeats the
same subtraction with the stored waveforms at the decoded discharges
(:meth:`edgeemg.decompose.result.Decomposition.apply`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg
from numpy.typing import NDArray


def _inside(spikes: NDArray[np.int64], half: int, n: int) -> NDArray[np.int64]:
    spikes = np.asarray(spikes, dtype=np.int64)
    return spikes[(spikes >= half) & (spikes < n - half)]


def _subtract_into(out: NDArray[np.float64], spikes: NDArray[np.int64], wave: NDArray[np.floating]) -> None:
    half = (wave.shape[0] - 1) // 2
    for t in _inside(spikes, half, out.shape[0]):
        out[t - half: t + half + 1] -= wave


def subtract_units(x: NDArray[np.float64], trains: Sequence[NDArray[np.int64]],
                   waveforms: NDArray[np.floating]) -> NDArray[np.float64]:
    """``x`` minus each unit's waveform (2*half+1, C) placed at each of its discharges (a new array)."""
    out = np.array(x, dtype=np.float64, copy=True)
    for spikes, wave in zip(trains, waveforms):
        _subtract_into(out, spikes, wave)
    return out


def _waveform(x: NDArray[np.float64], spikes: NDArray[np.int64], half: int) -> NDArray[np.float64]:
    """Least-squares waveform of one train: the spike-triggered sum, deconvolved by the train's autocorrelation.

    ``x ~ sum_i wave(t - s_i)`` has normal equations ``G wave = S``: ``S`` the sum
    of the windows at the discharges (the STA's numerator) and ``G[k, l]`` the
    number of discharge pairs ``l - k`` apart, a symmetric Toeplitz matrix. Unlike
    the plain average, this does not copy the unit's own neighbouring discharges
    (an interval shorter than the window) into its waveform.
    """
    span = 2 * half + 1
    diffs = spikes[None, :] - spikes[:, None]
    acf = np.bincount(diffs[(diffs >= 0) & (diffs < span)], minlength=span).astype(np.float64)
    acf[0] *= 1.0 + 1e-6  # keeps a perfectly periodic train solvable
    total = np.sum([x[t - half: t + half + 1] for t in spikes], axis=0)
    return scipy.linalg.solve_toeplitz(acf, total)


def unit_waveforms(x: NDArray[np.float64], trains: Sequence[NDArray[np.int64]], half: int
                   ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Each unit's least-squares waveform on what the units before it left, and the final residual.

    Returns the waveforms, shape (n_units, 2*half+1, n_channels), and ``x``
    with every unit subtracted.
    """
    resid = np.array(x, dtype=np.float64, copy=True)
    waves = np.zeros((len(trains), 2 * half + 1, x.shape[1]), np.float32)
    for i, spikes in enumerate(trains):
        spikes = _inside(spikes, half, resid.shape[0])
        if spikes.size == 0:
            continue
        waves[i] = _waveform(resid, spikes, half)
        _subtract_into(resid, spikes, waves[i])
    return waves, resid


__all__ = ["subtract_units", "unit_waveforms"]
