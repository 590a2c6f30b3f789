"""The decomposition's signal steps: band-pass, extension by R delays, whitening, and the FIR source.

Shared by the offline teacher (:mod:`edgeemg.decompose.fastica`), by
:meth:`~edgeemg.decompose.result.Decomposition.apply` and by the board
decoder's filter re-estimation (:mod:`edgeemg.tasks.motor_units.separation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal
from numpy.typing import NDArray

from edgeemg.decompose.config import DecompositionConfig
from edgeemg.dsp import bandpass_sos
from edgeemg.errors import InvalidInputError


def preprocess(emg: Any, fs_hz: float, config: DecompositionConfig, *, context: str,
               n_channels: int | None = None) -> NDArray[np.float64]:
    """Validate (n_samples, n_channels) EMG and band-pass it forward and backward."""
    x = np.asarray(emg)
    if x.ndim != 2 or (n_channels is not None and x.shape[1] != n_channels):
        want = f"(n_samples, {n_channels})" if n_channels else "(n_samples, n_channels)"
        raise InvalidInputError(f"{context}: emg must have shape {want}, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidInputError(f"{context}: emg must be float32 microvolts, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"{context}: emg contains NaN or inf")
    if x.shape[0] < int(fs_hz):
        raise InvalidInputError(f"{context}: need at least 1 s of signal ({int(fs_hz)} samples), got {x.shape[0]}")
    hi = min(config.band_hz[1], 0.45 * fs_hz)
    sos = bandpass_sos(config.band_hz[0], hi, fs_hz=fs_hz, order=config.filter_order)
    return scipy.signal.sosfiltfilt(sos, x.astype(np.float64), axis=0)


def extend(x: NDArray[np.floating], r: int) -> NDArray[np.float32]:
    """Extended observations, shape (n_samples, r * n_channels): column ``k*C + c`` is ``x(t - k, c)``."""
    n, c = x.shape
    ext = np.zeros((n, r * c), dtype=np.float32)
    for k in range(r):
        ext[k:, k * c:(k + 1) * c] = x[: n - k]
    return ext


def fir_source(x: NDArray[np.floating], filt: NDArray[np.floating]) -> NDArray[np.float64]:
    """``s(t) = sum_k filt[k] . x(t - k)`` for a (R, C) filter (what ``ext @ filt.ravel()`` gives)."""
    n = x.shape[0]
    s = np.zeros(n)
    for k in range(filt.shape[0]):
        s[k:] += x[: n - k] @ filt[k].astype(np.float64)
    return s


def whiten(ext: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Centre and whiten: returns Z (n_samples, K) and W (K, RC) with ``z = W (x_ext - mean)``.

    Eigenvalues below the mean of the smaller half are treated as noise and
    dropped (Negro et al. 2016), which also makes K smaller than R*C.
    """
    ext -= ext.mean(axis=0, keepdims=True)
    cov = (ext.T @ ext).astype(np.float64) / ext.shape[0]
    d, e = np.linalg.eigh(cov)
    floor = float(d[: d.size // 2].mean()) if d.size > 1 else 0.0
    keep = d > max(floor, 1e-12 * float(d.max()))
    w = (e[:, keep] / np.sqrt(d[keep])).T
    z = ext @ w.T.astype(np.float32)
    return np.ascontiguousarray(z, dtype=np.float32), w


__all__ = ["extend", "fir_source", "preprocess", "whiten"]
