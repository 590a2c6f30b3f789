"""The dsp kernels through scipy.signal and numpy: what a board without numba runs.

Same functions, arguments, dtypes and state layouts as :mod:`edgeemg.dsp._kernels`
(read its docstrings for the contract), so the dsp objects call either one
(:mod:`edgeemg.dsp._backend`). The recursions are scipy's ``sosfilt`` and
``lfilter`` with carried state (``zi``/``zf``), the rest array expressions; the
arithmetic is float64 like numba's, outputs float32. Equal to the numba kernels
to float rounding: ``tests/test_dsp_backends.py`` checks it on random chunked data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from edgeemg.dsp._codes import F_IEMG, F_MAV, F_RMS, F_SSC, F_VAR, F_WL, F_ZC


def sos_kernel(sos: NDArray[np.float64], x: NDArray[np.float32], zi: NDArray[np.float64],
               ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` as float32 output and float64 state."""
    if x.shape[0] == 0:
        return np.empty(x.shape, np.float32), zi.copy()
    y, zf = signal.sosfilt(sos, x, axis=0, zi=zi)
    return y.astype(np.float32), zf


def affine_kernel(x: NDArray[np.float32], offset: NDArray, scale: NDArray) -> NDArray[np.float32]:
    """y = (x - offset) * scale per channel."""
    return ((x - offset) * scale).astype(np.float32)


def rectify_sos_kernel(sos: NDArray[np.float64], x: NDArray[np.float32], zi: NDArray[np.float64],
                       ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """|x| followed by the SOS cascade."""
    return sos_kernel(sos, np.abs(x), zi)


def running_zscore_kernel(x: NDArray[np.float32], alpha: float, eps: float, state: NDArray[np.float64],
                          ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """The running z-score: exact cumulative statistics first, then two first-order ``lfilter`` passes.

    While the weight ``1/(count+1)`` exceeds ``alpha`` (the first ``1/alpha``
    samples of a stream) the samples run one by one, vectorised over channels.
    After that the weight is the constant ``alpha``, and the mean and variance
    recursions are linear filters: ``m_t = (1-a) m_{t-1} + a x_t`` and
    ``v_t = (1-a) v_{t-1} + (1-a) a (x_t - m_{t-1})^2``.
    """
    new = state.copy()
    xs = x.astype(np.float64)
    y = np.empty(x.shape, np.float32)
    t = 0
    while t < xs.shape[0] and 1.0 / (new[2, 0] + 1.0) > alpha:
        w = 1.0 / (new[2, 0] + 1.0)
        d = xs[t] - new[0]
        new[0] = new[0] + w * d
        new[1] = (1.0 - w) * (new[1] + w * d * d)
        new[2] += 1.0
        y[t] = (xs[t] - new[0]) / np.sqrt(new[1] + eps)
        t += 1
    if t == xs.shape[0]:
        return y, new
    rest = xs[t:]
    keep = 1.0 - alpha
    mean, _ = signal.lfilter([alpha], [1.0, -keep], rest, axis=0, zi=(keep * new[0])[None, :])
    d = rest - np.concatenate([new[0][None, :], mean[:-1]])
    var, _ = signal.lfilter([keep * alpha], [1.0, -keep], d * d, axis=0, zi=(keep * new[1])[None, :])
    y[t:] = (rest - mean) / np.sqrt(var + eps)
    new[0], new[1] = mean[-1], var[-1]
    new[2] += rest.shape[0]
    return y, new


def window_kernel(ring: NDArray[np.float32], pos: int, n_seen: int, x: NDArray[np.float32], hop: int,
                  ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], int]:
    """The windows whose last sample falls in ``x``, from the ring (updated in place) and ``x``.

    Most streaming chunks complete no window: then only the newest samples are
    written into the ring. Otherwise ``history`` is the ring in time order
    followed by ``x``, and the window ending at ``x[t]`` is
    ``history[t + 1 : t + 1 + window]``.
    """
    window, n = ring.shape[0], x.shape[0]
    index = n_seen + np.arange(n, dtype=np.int64)
    ends = np.flatnonzero((index >= window - 1) & ((index - window + 1) % hop == 0))
    if ends.size:
        history = np.concatenate([ring[pos:], ring[:pos], x])
        views = np.lib.stride_tricks.sliding_window_view(history, window, axis=0)  # (n + 1, C, window)
        out = np.ascontiguousarray(views[ends + 1].transpose(0, 2, 1), dtype=np.float32)
    else:
        out = np.empty((0, window, x.shape[1]), np.float32)
    m = min(n, window)  # the samples that stay in the ring, written where the numba kernel writes them
    start = (pos + n - m) % window
    first = min(m, window - start)
    ring[start:start + first] = x[n - m:n - m + first]
    ring[:m - first] = x[n - m + first:]
    return out, index[ends], ring, (pos + n) % window


def td_kernel(windows: NDArray[np.float32], codes: NDArray[np.int64], zc_thr: float, ssc_thr: float,
              wamp_thr: float) -> NDArray[np.float32]:
    """Time-domain features of windows (n_win, L, C) -> (n_win, n_feat, C), sums over L in float64."""
    w = windows.astype(np.float64)
    length = w.shape[1]
    d = np.diff(w, axis=1)  # d[:, i] = x[i+1] - x[i]
    ad = np.abs(d)
    out = np.empty((w.shape[0], len(codes), w.shape[2]), np.float32)
    for f, code in enumerate(codes):
        if code == F_RMS:
            val = np.sqrt((w * w).sum(axis=1) / length)
        elif code == F_MAV:
            val = np.abs(w).sum(axis=1) / length
        elif code == F_IEMG:
            val = np.abs(w).sum(axis=1)
        elif code == F_VAR:
            val = ((w - w.sum(axis=1, keepdims=True) / length) ** 2).sum(axis=1) / length
        elif code == F_WL:
            val = ad.sum(axis=1)
        elif code == F_ZC:
            val = ((w[:, :-1] * w[:, 1:] < 0.0) & (ad >= zc_thr)).sum(axis=1)
        elif code == F_SSC:
            val = (d[:, :-1] * -d[:, 1:] >= ssc_thr).sum(axis=1)
        else:  # F_WAMP, the codes features.py validated
            val = (ad > wamp_thr).sum(axis=1)
        out[:, f] = val
    return out


__all__ = ["affine_kernel", "rectify_sos_kernel", "running_zscore_kernel", "sos_kernel", "td_kernel", "window_kernel"]
