"""The numba kernels under the dsp objects where numba is installed (the ``jit`` extra; see ``_backend``).

Conventions (DESIGN.md, "Conventions"):

- A kernel takes coefficients, a chunk ``x`` shaped (n_samples, n_channels) float32
  and a state, and returns ``(y, new_state)`` like ``scipy.signal.sosfilt(..., zi=)``;
  the offline form is the same kernel on one long chunk, so training and the board
  see identical arithmetic.
- Every kernel is ``@njit(cache=True)`` *without* an explicit signature: importing
  :mod:`edgeemg.dsp` compiles nothing, the first call compiles (or loads from the
  on-disk cache) exactly the float32/float64 specialisation the wrappers feed it.
  The wrappers guarantee the dtypes documented per kernel.
- Inner loops run over channels, the contiguous axis of (n_samples, n_channels), so
  LLVM can vectorise them; arithmetic is float64 and outputs are float32.

These loops are written by hand because no library offers a streaming,
per-channel, state-in/state-out version of them that numba can call. Their
scipy/numpy twins (:mod:`edgeemg.dsp._kernels_scipy`) run where numba is not
installed, with the same arguments and results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from edgeemg.dsp._codes import F_IEMG, F_MAV, F_RMS, F_SSC, F_VAR, F_WL, F_ZC


@njit(cache=True)
def sos_kernel(sos, x, zi):  # pragma: no cover - compiled
    """Cascade of biquads, direct form II transposed (scipy's sosfilt recursion).

    sos : float64 (n_sections, 6) with sos[:, 3] == 1; x : float32 (n, C);
    zi : float64 (n_sections, 2, C), scipy's layout for axis=0.
    Returns y float32 (n, C) and a new zf float64 (n_sections, 2, C).
    The state is copied into two private (n_sections, C) arrays first: LLVM then
    knows they alias nothing and vectorises the channel loop (2x faster measured).
    """
    n, n_ch = x.shape
    n_sec = sos.shape[0]
    z0 = np.empty((n_sec, n_ch), np.float64)
    z1 = np.empty((n_sec, n_ch), np.float64)
    for s in range(n_sec):
        for c in range(n_ch):
            z0[s, c] = zi[s, 0, c]
            z1[s, c] = zi[s, 1, c]
    y = np.empty((n, n_ch), np.float32)
    v = np.empty(n_ch, np.float64)
    for t in range(n):
        for c in range(n_ch):
            v[c] = x[t, c]
        for s in range(n_sec):
            b0 = sos[s, 0]
            b1 = sos[s, 1]
            b2 = sos[s, 2]
            a1 = sos[s, 4]
            a2 = sos[s, 5]
            zs0 = z0[s]
            zs1 = z1[s]
            for c in range(n_ch):
                xin = v[c]
                out = b0 * xin + zs0[c]
                zs0[c] = b1 * xin - a1 * out + zs1[c]
                zs1[c] = b2 * xin - a2 * out
                v[c] = out
        for c in range(n_ch):
            y[t, c] = v[c]
    zf = np.empty((n_sec, 2, n_ch), np.float64)
    for s in range(n_sec):
        for c in range(n_ch):
            zf[s, 0, c] = z0[s, c]
            zf[s, 1, c] = z1[s, c]
    return y, zf


@njit(cache=True)
def affine_kernel(x, offset, scale):  # pragma: no cover - compiled
    """y = (x - offset) * scale per channel; float32 (n, C) -> float32 (n, C). Stateless."""
    n, n_ch = x.shape
    y = np.empty((n, n_ch), np.float32)
    for t in range(n):
        for c in range(n_ch):
            y[t, c] = (x[t, c] - offset[c]) * scale[c]
    return y


@njit(cache=True)
def rectify_sos_kernel(sos, x, zi):  # pragma: no cover - compiled
    """|x| followed by the SOS cascade (the envelope detector), same state as sos_kernel."""
    return sos_kernel(sos, np.abs(x), zi)


@njit(cache=True)
def running_zscore_kernel(x, alpha, eps, state):  # pragma: no cover - compiled
    """Exponentially weighted mean/variance normaliser, state-in/state-out.

    state : float64 (3, C): rows are mean, variance and the count of samples seen
    (the count is the same in every column; it is kept per column to stay one array).
    The update weight is ``max(alpha, 1 / (count + 1))``: the first ``1/alpha``
    samples get the exact cumulative mean and (population) variance, then the weight
    settles at ``alpha`` (an EW average with time constant tau). This avoids the
    start-up transient of an EW average initialised at zero.
    y = (x - mean_t) / sqrt(var_t + eps), with mean_t, var_t including x_t.
    """
    n, n_ch = x.shape
    new = state.copy()
    y = np.empty((n, n_ch), np.float32)
    for t in range(n):
        w = 1.0 / (new[2, 0] + 1.0)
        if w < alpha:
            w = alpha
        for c in range(n_ch):
            xv = np.float64(x[t, c])
            d = xv - new[0, c]
            m = new[0, c] + w * d
            var = (1.0 - w) * (new[1, c] + w * d * d)
            new[0, c] = m
            new[1, c] = var
            new[2, c] += 1.0
            y[t, c] = (xv - m) / np.sqrt(var + eps)
    return y, new


@njit(cache=True)
def window_kernel(ring, pos, n_seen, x, hop):  # pragma: no cover - compiled
    """Ring-buffer windowing: the windows whose last sample falls in ``x``.

    ring : float32 (window, C), *updated in place* (copying 51 kB per 20 ms chunk
    to keep the kernel pure would cost more than the rest of the chain), and
    returned together with ``pos`` (next write slot) as the new state.
    n_seen : samples received before ``x``. A window ends at absolute index ``i``
    when ``i >= window - 1`` and ``(i - window + 1) % hop == 0``, which is exactly
    ``sliding_window_view(stream, window, axis=0)[::hop]``.
    Returns data float32 (n_win, window, C), end_index int64 (n_win,), ring, pos.
    """
    n, n_ch = x.shape
    window = ring.shape[0]
    # count windows first so the output is allocated once
    n_out = 0
    for t in range(n):
        i = n_seen + t
        if i >= window - 1 and (i - window + 1) % hop == 0:
            n_out += 1
    out = np.empty((n_out, window, n_ch), np.float32)
    end = np.empty(n_out, np.int64)
    k = 0
    for t in range(n):
        for c in range(n_ch):
            ring[pos, c] = x[t, c]
        pos += 1
        if pos == window:
            pos = 0
        i = n_seen + t
        if i >= window - 1 and (i - window + 1) % hop == 0:
            # oldest sample sits at pos
            j = 0
            for r in range(pos, window):
                for c in range(n_ch):
                    out[k, j, c] = ring[r, c]
                j += 1
            for r in range(0, pos):
                for c in range(n_ch):
                    out[k, j, c] = ring[r, c]
                j += 1
            end[k] = i
            k += 1
    return out, end, ring, pos


@njit(cache=True)
def td_kernel(windows, codes, zc_thr, ssc_thr, wamp_thr):  # pragma: no cover - compiled
    """Time-domain features of float32 windows (n_win, L, C) -> float32 (n_win, n_feat, C).

    One pass accumulates sum x, sum x^2, sum|x|, sum|dx| and the three counts in
    float64; VAR takes a second pass about the mean (the one-pass formula loses
    digits when the mean is large against the spread).
    """
    n_win, length, n_ch = windows.shape
    n_feat = codes.shape[0]
    out = np.empty((n_win, n_feat, n_ch), np.float32)
    need_var = False
    for f in range(n_feat):
        if codes[f] == F_VAR:
            need_var = True
    s1 = np.empty(n_ch, np.float64)
    s2 = np.empty(n_ch, np.float64)
    sa = np.empty(n_ch, np.float64)
    wl = np.empty(n_ch, np.float64)
    zc = np.empty(n_ch, np.float64)
    ssc = np.empty(n_ch, np.float64)
    wamp = np.empty(n_ch, np.float64)
    var = np.empty(n_ch, np.float64)
    for w in range(n_win):
        for c in range(n_ch):
            s1[c] = 0.0
            s2[c] = 0.0
            sa[c] = 0.0
            wl[c] = 0.0
            zc[c] = 0.0
            ssc[c] = 0.0
            wamp[c] = 0.0
            var[c] = 0.0
        for t in range(length):
            for c in range(n_ch):
                xv = np.float64(windows[w, t, c])
                s1[c] += xv
                s2[c] += xv * xv
                sa[c] += abs(xv)
                if t > 0:
                    prev = np.float64(windows[w, t - 1, c])
                    d = xv - prev
                    ad = abs(d)
                    wl[c] += ad
                    if ad > wamp_thr:
                        wamp[c] += 1.0
                    if prev * xv < 0.0 and ad >= zc_thr:
                        zc[c] += 1.0
                    if t < length - 1:
                        nxt = np.float64(windows[w, t + 1, c])
                        if (xv - prev) * (xv - nxt) >= ssc_thr:
                            ssc[c] += 1.0
        if need_var:
            for c in range(n_ch):
                s1[c] /= length
            for t in range(length):
                for c in range(n_ch):
                    d = np.float64(windows[w, t, c]) - s1[c]
                    var[c] += d * d
            for c in range(n_ch):
                var[c] /= length
                s1[c] *= length
        for f in range(n_feat):
            code = codes[f]
            for c in range(n_ch):
                if code == F_RMS:
                    val = np.sqrt(s2[c] / length)
                elif code == F_MAV:
                    val = sa[c] / length
                elif code == F_IEMG:
                    val = sa[c]
                elif code == F_VAR:
                    val = var[c]
                elif code == F_WL:
                    val = wl[c]
                elif code == F_ZC:
                    val = zc[c]
                elif code == F_SSC:
                    val = ssc[c]
                else:
                    val = wamp[c]
                out[w, f, c] = val
    return out


ALL_KERNELS = (sos_kernel, affine_kernel, rectify_sos_kernel, running_zscore_kernel, window_kernel, td_kernel)
"""Every dispatcher in this module; tests check none is compiled at import time."""
