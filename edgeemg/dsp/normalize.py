"""Normalisers: calibration z-score, running z-score, and the rectified envelope.

Amplitude differs between sessions and electrode placements far more than between
gestures, so decoders see normalised signals. ``ZScore`` freezes calibration
statistics (they travel in the bundle manifest, so the board normalises exactly
as training did); ``RunningZScore`` adapts while streaming when no calibration exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp._backend import kernels
from edgeemg.dsp._validate import check_chunk, check_float, check_int, check_per_channel
from edgeemg.dsp.filters import lowpass_sos
from edgeemg.errors import InvalidInputError


@dataclass(frozen=True)
class ZScore:
    """Per-channel ``(x - mean) / std`` with statistics from a calibration recording.

    Stateless, so chunked output equals whole-signal output trivially.

    Parameters
    ----------
    mean : tuple of float
        Per-channel mean, microvolts.
    std : tuple of float
        Per-channel standard deviation, microvolts; every value > 0.

    Examples
    --------
    >>> import numpy as np
    >>> z = ZScore.fit(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))
    >>> z.to_dict()
    {'mean': [2.0, 20.0], 'std': [1.0, 10.0]}
    >>> z.process(np.array([[3.0, 30.0]], np.float32))
    array([[1., 1.]], dtype=float32)
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    _offset: NDArray[np.float32] = field(init=False, repr=False, compare=False)
    _scale: NDArray[np.float32] = field(init=False, repr=False, compare=False)
    _affine_kernel: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if np.ndim(self.mean) != 1 or np.size(self.mean) == 0:
            raise InvalidInputError(f"ZScore: mean must be a non-empty 1-D sequence, got shape {np.shape(self.mean)}")
        n = int(np.size(self.mean))
        m = check_per_channel(self.mean, "mean", n, "ZScore")
        s = check_per_channel(self.std, "std", n, "ZScore", positive=True)
        object.__setattr__(self, "mean", tuple(float(v) for v in m))
        object.__setattr__(self, "std", tuple(float(v) for v in s))
        object.__setattr__(self, "_offset", m.astype(np.float32))
        object.__setattr__(self, "_scale", (1.0 / s).astype(np.float32))
        object.__setattr__(self, "_affine_kernel", kernels().affine_kernel)  # the backend, resolved once

    @property
    def n_channels(self) -> int:
        """Number of channels the statistics cover."""
        return len(self.mean)

    @classmethod
    def fit(cls, x_tc: NDArray[np.float32], *, min_std: float = 1e-6) -> ZScore:
        """Calibration statistics of ``x_tc`` (n_samples, n_channels), std floored at ``min_std`` µV.

        The floor keeps a dead (flat) channel from dividing by zero on the board.
        """
        x = np.asarray(x_tc)
        n_ch = x.shape[1] if x.ndim == 2 else 0
        x = check_chunk(x, n_ch, "ZScore.fit", name="x_tc")
        if x.shape[0] < 2:
            raise InvalidInputError(f"ZScore.fit: x_tc needs at least 2 samples, got shape {x.shape}")
        x64 = x.astype(np.float64)
        std = np.maximum(x64.std(axis=0), check_float(min_std, "min_std", "ZScore.fit", positive=True))
        return cls(tuple(x64.mean(axis=0).tolist()), tuple(std.tolist()))

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-able form, as stored in the bundle manifest."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZScore:
        """Inverse of :meth:`to_dict`; unknown keys are refused."""
        if not isinstance(d, dict) or set(d) != {"mean", "std"}:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise InvalidInputError(f"ZScore.from_dict: expected keys ['mean', 'std'], got {got}")
        return cls(tuple(d["mean"]), tuple(d["std"]))

    def process(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        """Normalise one chunk (n_samples, n_channels)."""
        x = check_chunk(chunk, self.n_channels, "ZScore.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return self._affine_kernel(x, self._offset, self._scale)

    def reset(self) -> None:
        """Nothing to forget (stateless); present so every stage has the same lifecycle."""


class RunningZScore:
    """Streaming z-score with exponentially weighted mean and variance.

    The weight of a new sample is ``max(alpha, 1/(k+1))`` after ``k`` samples, with
    ``alpha = 1 - exp(-1 / (time_constant_s * fs_hz))``: exact cumulative statistics
    until ``k`` reaches ``1/alpha``, an EW average with time constant
    ``time_constant_s`` afterwards (no start-up transient from a zero initial mean).

    Parameters
    ----------
    time_constant_s : float
        Memory of the statistics, seconds.
    fs_hz : float
        Sample rate, Hz.
    n_channels : int
        Channels per chunk.
    eps : float, optional
        Added to the variance (µV²) before the square root, so a flat start is 0, not NaN.
    """

    def __init__(self, time_constant_s: float, fs_hz: float, n_channels: int, *, eps: float = 1e-6) -> None:
        ctx = "RunningZScore"
        self.time_constant_s = check_float(time_constant_s, "time_constant_s", ctx, positive=True)
        self.fs_hz = check_float(fs_hz, "fs_hz", ctx, positive=True)
        self.n_channels = check_int(n_channels, "n_channels", ctx)
        self.eps = check_float(eps, "eps", ctx, positive=True)
        self.alpha = 1.0 - math.exp(-1.0 / (self.time_constant_s * self.fs_hz))
        self._running_kernel = kernels().running_zscore_kernel  # the backend, resolved once
        self.reset()

    def reset(self) -> None:
        """Forget the statistics."""
        self._state = np.zeros((3, self.n_channels))

    @property
    def mean(self) -> NDArray[np.float64]:
        """Current per-channel mean estimate, µV."""
        return self._state[0].copy()

    @property
    def var(self) -> NDArray[np.float64]:
        """Current per-channel variance estimate, µV²."""
        return self._state[1].copy()

    def process(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        """Normalise one chunk and update the statistics."""
        x = check_chunk(chunk, self.n_channels, "RunningZScore.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        y, self._state = self._running_kernel(x, self.alpha, self.eps, self._state)
        return y


class Envelope:
    """Linear envelope: full-wave rectification then a Butterworth low-pass.

    The classic amplitude estimate of EMG (muscle activation); the low-pass
    ``cutoff_hz`` (typically 3-10 Hz) sets the smoothing. Streaming, state carried.

    Parameters
    ----------
    cutoff_hz : float
        Low-pass cutoff, Hz; ``0 < cutoff_hz < fs_hz/2``.
    fs_hz : float
        Sample rate, Hz.
    n_channels : int
        Channels per chunk.
    order : int, optional
        Butterworth order of the low-pass (default 2).
    """

    def __init__(self, cutoff_hz: float, fs_hz: float, n_channels: int, *, order: int = 2) -> None:
        self.n_channels = check_int(n_channels, "n_channels", "Envelope")
        self.sos = lowpass_sos(cutoff_hz, fs_hz=fs_hz, order=order)
        self._rectify_kernel = kernels().rectify_sos_kernel  # the backend, resolved once
        self.reset()

    def reset(self) -> None:
        """Forget the filter state."""
        self._zi = np.zeros((self.sos.shape[0], 2, self.n_channels))

    def process(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        """Envelope of one chunk (n_samples, n_channels), state carried."""
        x = check_chunk(chunk, self.n_channels, "Envelope.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        y, self._zi = self._rectify_kernel(self.sos, x, self._zi)
        return y
