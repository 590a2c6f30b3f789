"""A deliberately simple motor-unit detector, to show how hard the simulated data is.

Private helper of :mod:`edgeemg.data.sim_motor_units`; the decomposition
(issue 8) must beat it. For one unit it correlates the recording with that
unit's *true* MUAP on every channel (a multichannel matched filter, no
whitening, no extension), picks local maxima at least a refractory period
apart, and keeps those above the threshold that maximises F1 against the truth
(an oracle threshold, so the score is an upper bound for this detector). What
remains wrong is what the interference of the other units and the noise cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
from numpy.typing import NDArray


@dataclass(frozen=True)
class BaselineScore:
    """Spike-detection figures of the matched-filter baseline for one unit."""

    unit: int
    sensitivity: float
    precision: float
    f1: float
    n_true: int


def match_spikes(found: NDArray[np.int64], truth: NDArray[np.int64], tolerance: int) -> int:
    """Number of one-to-one matches within ``tolerance`` samples (greedy in time order; both sorted)."""
    i = j = hits = 0
    while i < found.size and j < truth.size:
        d = int(found[i]) - int(truth[j])
        if abs(d) <= tolerance:
            hits += 1
            i += 1
            j += 1
        elif d < 0:
            i += 1
        else:
            j += 1
    return hits


def matched_filter_baseline(
    emg: NDArray[np.float32],
    template: NDArray[np.float32],
    truth: NDArray[np.int64],
    fs_hz: float,
    *,
    unit: int = -1,
    tolerance: int = 1,
    refractory_s: float = 0.02,
) -> BaselineScore:
    """Score the oracle-threshold matched filter of ``template`` (L, C) on ``emg`` (T, C) against ``truth``."""
    kernel = template[::-1].astype(np.float64)
    score = scipy.signal.fftconvolve(emg.astype(np.float64), kernel, mode="full", axes=0).sum(axis=1)
    score = score[template.shape[0] - 1 :]  # score[t]: template placed at sample t
    peaks, _ = scipy.signal.find_peaks(score, distance=max(1, int(refractory_s * fs_hz)))
    heights = score[peaks]
    order = np.argsort(heights)[::-1]
    best = BaselineScore(unit, 0.0, 0.0, 0.0, int(truth.size))
    if truth.size == 0 or peaks.size == 0:
        return best
    # Try thresholds at the heights of the top-k peaks, k around the true count.
    for k in np.unique(np.linspace(max(1, truth.size // 4), min(peaks.size, 3 * truth.size), 40).astype(int)):
        found = np.sort(peaks[order[:k]])
        hits = match_spikes(found, truth, tolerance)
        sens, prec = hits / truth.size, hits / found.size
        f1 = 2 * hits / (truth.size + found.size)
        if f1 > best.f1:
            best = BaselineScore(unit, sens, prec, f1, int(truth.size))
    return best


def oracle_ckc_f1(
    emg: NDArray[np.float32],
    templates: NDArray[np.float32],
    discharges: tuple[NDArray[np.int64], ...] | list[NDArray[np.int64]],
    fs_hz: float,
    units: list[int] | tuple[int, ...],
    *,
    extension: int = 10,
    tolerance: int = 2,
) -> dict[int, float]:
    """F1 of the best linear separation filter of each unit, built with its *true* MUAP.

    This is what convolution kernel compensation (Holobar & Zazula 2007)
    converges to when it has found the unit: the pulse train estimate
    ``c^T C^-1 x_ext(t)``, with ``x_ext`` the signal band-passed 20-500 Hz and
    extended by ``extension`` delays, ``C`` its covariance and ``c`` the unit's
    MUAP block at its most energetic delay. Its oracle-threshold F1 says how
    separable a unit is from the interference for a CKC/FastICA decomposition,
    so it is the yardstick for "units a decomposition can find" (the seed's
    CKC finds ~17 on its simulation).
    """
    sos = scipy.signal.butter(2, [20.0, min(500.0, 0.45 * fs_hz)], "bandpass", fs=fs_hz, output="sos")
    x = scipy.signal.sosfiltfilt(sos, emg.astype(np.float64), axis=0)
    n, c = x.shape
    ext = np.zeros((n, c * extension))
    for r in range(extension):
        ext[r:, r * c : (r + 1) * c] = x[: n - r]
    cov_inv = np.linalg.pinv(ext.T @ ext / n, rcond=1e-10, hermitian=True)
    length = templates.shape[1]
    out: dict[int, float] = {}
    for u in units:
        truth = np.asarray(discharges[u])
        truth = truth[truth < n - length]
        if truth.size == 0:
            out[u] = 0.0
            continue
        blocks = []
        for tau in range(0, length):
            blk = np.concatenate([templates[u, tau - r] if tau - r >= 0 else np.zeros(c) for r in range(extension)])
            blocks.append(blk)
        blocks_a = np.array(blocks)
        tau = int(np.argmax((blocks_a**2).sum(axis=1)))
        ipt = ext @ (cov_inv @ blocks_a[tau])
        ipt = np.sign(ipt) * ipt**2
        peaks, _ = scipy.signal.find_peaks(ipt, distance=max(1, int(0.02 * fs_hz)))
        order = np.argsort(ipt[peaks])[::-1]
        best = 0.0
        for k in np.unique(np.linspace(max(1, truth.size // 4), min(peaks.size, 3 * truth.size), 40).astype(int)):
            found = np.sort(peaks[order[:k]])
            best = max(best, 2 * match_spikes(found, truth + tau, tolerance) / (truth.size + found.size))
        out[u] = best
    return out
