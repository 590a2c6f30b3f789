"""Time-domain EMG features (Hudgins' set and its usual companions), LibEMG definitions.

Definitions follow LibEMG's ``FeatureExtractor`` (libemg/feature_extractor.py),
for windows x[0..L-1] of one channel, with dx[i] = x[i+1] - x[i]:

=======  =====================================================  ==========================
name     value                                                  LibEMG
=======  =====================================================  ==========================
RMS      sqrt(mean(x^2))                                        getRMSfeat
MAV      mean(|x|)                                              getMAVfeat
IEMG     sum(|x|)                                               getIAVfeat ("IAV")
VAR      mean((x - mean(x))^2) (population variance, ddof=0)    getVARfeat (np.var)
WL       sum(|dx|)                                              getWLfeat
ZC       #{i : x[i] * x[i+1] < 0 and |dx[i]| >= zc_threshold}   getZCfeat (no threshold)
SSC      #{i in 1..L-2 : (x[i]-x[i-1]) * (x[i]-x[i+1]) >= ssc}  getSSCfeat (SSC_threshold)
WAMP     #{i : |dx[i]| > wamp_threshold}                        getWAMPfeat (threshold)
=======  =====================================================  ==========================

LibEMG's ZC counts sign flips of ``np.sign`` (so a sample at exactly 0 breaks a
crossing); ``x[i] * x[i+1] < 0`` is the same count, and ``zc_threshold = 0`` (the
default) reproduces it exactly; a positive threshold adds the usual noise guard.
Note that SSC with threshold 0 counts flat runs (product 0 >= 0), as LibEMG does.
Thresholds are in the signal's units (µV here, or z-units after a z-score stage).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import _codes
from edgeemg.dsp._backend import kernels
from edgeemg.dsp._validate import check_float, did_you_mean
from edgeemg.errors import InvalidInputError

FEATURE_CODES: dict[str, int] = {
    "RMS": _codes.F_RMS,
    "MAV": _codes.F_MAV,
    "IEMG": _codes.F_IEMG,
    "VAR": _codes.F_VAR,
    "WL": _codes.F_WL,
    "ZC": _codes.F_ZC,
    "SSC": _codes.F_SSC,
    "WAMP": _codes.F_WAMP,
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_CODES)
DEFAULT_WAMP_THRESHOLD_UV = 10.0
"""Default WAMP threshold, µV: above the ~5 µV noise floor of a dry-electrode band."""


def feature_codes(names: Sequence[str], context: str = "td_features") -> NDArray[np.int64]:
    """Map feature names to kernel codes; unknown names raise with a suggestion."""
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise InvalidInputError(
            f"{context}: names must be a non-empty list of feature names from {list(FEATURE_NAMES)}, got {names!r}"
        )
    codes = []
    for name in names:
        if name not in FEATURE_CODES:
            raise InvalidInputError(
                f"{context}: unknown feature {name!r}; allowed values are {list(FEATURE_NAMES)}."
                + did_you_mean(str(name), FEATURE_NAMES)
            )
        codes.append(FEATURE_CODES[name])
    return np.asarray(codes, dtype=np.int64)


def td_features(
    windows: NDArray[np.float32],
    names: Sequence[str] = ("RMS", "WL", "ZC", "WAMP"),
    *,
    zc_threshold: float = 0.0,
    ssc_threshold: float = 0.0,
    wamp_threshold: float = DEFAULT_WAMP_THRESHOLD_UV,
) -> NDArray[np.float32]:
    """Time-domain features of every window and channel, defined as LibEMG does.

    See the module docstring for the definitions. The default set is seed 001's
    (RMS, WL, ZC, WAMP for the gait SVM).

    Parameters
    ----------
    windows : ndarray of float32, shape (n_windows, window, n_channels)
        E.g. ``SlidingWindow.process(...).data``; float64 is converted.
    names : sequence of str
        Features to compute, in output order, from ``FEATURE_NAMES``.
    zc_threshold, ssc_threshold, wamp_threshold : float
        Thresholds in signal units (see module docstring); ``>= 0``.

    Returns
    -------
    ndarray of float32, shape (n_windows, len(names), n_channels)

    Raises
    ------
    InvalidInputError
        For an unknown name (with a "Did you mean" hint), a window shorter than 2
        samples, non-float or non-finite windows, or a negative threshold.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[[1.0], [-1.0], [1.0]]], np.float32)
    >>> td_features(w, ["MAV", "ZC", "WL"])[0, :, 0].tolist()
    [1.0, 2.0, 4.0]
    """
    ctx = "td_features"
    codes = feature_codes(names, ctx)
    zc = check_float(zc_threshold, "zc_threshold", ctx, nonneg=True)
    ssc = check_float(ssc_threshold, "ssc_threshold", ctx)
    wamp = check_float(wamp_threshold, "wamp_threshold", ctx, nonneg=True)
    w = np.asarray(windows)
    if w.ndim != 3:
        raise InvalidInputError(f"{ctx}: windows must be 3-D (n_windows, window, n_channels), got shape {w.shape}")
    if not np.issubdtype(w.dtype, np.floating):
        raise InvalidInputError(f"{ctx}: windows must be a float array, got dtype {w.dtype}")
    if w.shape[1] < 2:
        raise InvalidInputError(f"{ctx}: windows must hold at least 2 samples, got shape {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.size and not np.isfinite(w).all():
        raise InvalidInputError(f"{ctx}: windows must be finite, got {int((~np.isfinite(w)).sum())} non-finite values")
    return kernels().td_kernel(w, codes, zc, ssc, wamp)
