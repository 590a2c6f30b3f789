"""Streaming IIR filters in second-order sections, and the standard EMG designs.

The designs are scipy's (``butter``, ``iirnotch``). The streaming recursion is
numba's where it is installed (:func:`edgeemg.dsp._kernels.sos_kernel`: scipy's
``sosfilt`` spends tens of microseconds validating each call), else scipy's
``sosfilt`` with the state carried (:mod:`edgeemg.dsp._backend`).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp._backend import kernels
from edgeemg.dsp._validate import check_chunk, check_cutoff, check_float, check_int, did_you_mean
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _scipy_signal():  # noqa: ANN202
    """Import scipy.signal on first design call: it is 0.5 s of a 0.7 s ``import edgeemg.dsp``."""
    from scipy import signal

    return signal


class InitialState(str, Enum):
    """How a filter's state starts: at rest, or in the steady state of the first sample.

    ``STEADY`` is scipy's ``sosfilt_zi(sos) * x[0]`` idea: a signal sitting on a DC
    offset does not ring through the high-pass at start-up.
    """

    ZERO = "zero"
    STEADY = "steady"

    @classmethod
    def parse(cls, value: Any, context: str) -> InitialState:
        """Accept an InitialState or its string value; raise naming the allowed values."""
        try:
            return cls(value)
        except ValueError:
            allowed = [m.value for m in cls]
            raise InvalidInputError(
                f"{context}: initial_state must be one of {allowed}, got {value!r}."
                + did_you_mean(str(value), allowed)
            ) from None


def validate_sos(sos: Any, context: str = "sos") -> NDArray[np.float64]:
    """Return ``sos`` as a C-contiguous float64 (n_sections, 6) array with a0 == 1."""
    arr = np.asarray(sos, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] < 1:
        raise InvalidInputError(f"{context}: sos must have shape (n_sections, 6), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{context}: sos must be finite, got {arr.tolist()}")
    if not np.allclose(arr[:, 3], 1.0):
        raise InvalidInputError(f"{context}: sos[:, 3] (a0 of each section) must be all ones, got {arr[:, 3].tolist()}")
    return np.ascontiguousarray(arr)


def sosfilt_tc(
    sos: NDArray[np.float64], x_tc: NDArray[np.float32], zi: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Filter (n_samples, n_channels) data with an SOS cascade, returning output and state.

    This is the offline form of :class:`StreamingSOS`: the same kernel over one long
    chunk. Unlike ``scipy.signal.sosfilt`` the return type does not depend on ``zi``.

    Parameters
    ----------
    sos : ndarray of float, shape (n_sections, 6)
        Second-order sections, e.g. from ``scipy.signal.butter(..., output="sos")``.
    x_tc : ndarray of float32, shape (n_samples, n_channels)
        Signal in microvolts; float64 is converted.
    zi : ndarray of float64, shape (n_sections, 2, n_channels), optional
        Initial state in scipy's layout for ``axis=0``; zeros when omitted.

    Returns
    -------
    y : ndarray of float32, shape (n_samples, n_channels)
    zf : ndarray of float64, shape (n_sections, 2, n_channels)
        Final state, to pass as ``zi`` of the next chunk.

    Examples
    --------
    >>> import numpy as np
    >>> sos = bandpass_sos(20, 450, fs_hz=2000)
    >>> y, zf = sosfilt_tc(sos, np.ones((10, 3), np.float32))
    >>> y.shape, zf.shape
    ((10, 3), (4, 2, 3))
    """
    sos = validate_sos(sos, "sosfilt_tc")
    x_tc = np.asarray(x_tc)
    n_ch = x_tc.shape[1] if x_tc.ndim == 2 else -1
    x_tc = check_chunk(x_tc, max(n_ch, 0), "sosfilt_tc", name="x_tc")
    shape = (sos.shape[0], 2, n_ch)
    if zi is None:
        zi = np.zeros(shape)
    else:
        zi = np.asarray(zi, dtype=np.float64)
        if zi.shape != shape:
            raise InvalidInputError(
                f"sosfilt_tc: with an input of shape {x_tc.shape} and an sos array with {sos.shape[0]} sections, "
                f"zi must have shape {shape}, got {zi.shape}"
            )
    return kernels().sos_kernel(sos, x_tc, np.ascontiguousarray(zi))


class StreamingSOS:
    """A stateful SOS filter over (n_samples, n_channels) float32 chunks.

    Any chunking of a stream, including empty and 1-sample chunks, gives the
    output of ``scipy.signal.sosfilt`` over the whole stream (to float32 rounding).

    Parameters
    ----------
    sos : ndarray of float, shape (n_sections, 6)
        From ``scipy.signal.butter(..., output="sos")``, ``tf2sos(*iirnotch(...))``,
        or the helpers :func:`bandpass_sos`, :func:`notch_sos`, :func:`highpass_sos`.
    n_channels : int
        Channels per chunk; every chunk is checked against it.
    initial_state : {"zero", "steady"}, optional
        ``"zero"`` (default) starts at rest, as ``sosfilt`` without ``zi``.
        ``"steady"`` starts in the step-response steady state scaled by the first
        sample of the first non-empty chunk (``sosfilt_zi(sos) * x[0]``).

    Examples
    --------
    >>> import numpy as np
    >>> f = StreamingSOS(notch_sos(50, fs_hz=2000), n_channels=2)
    >>> f.process(np.zeros((40, 2), np.float32)).shape
    (40, 2)
    """

    def __init__(self, sos: Any, n_channels: int, initial_state: str | InitialState = InitialState.ZERO) -> None:
        self.sos = validate_sos(sos, "StreamingSOS")
        self.n_channels = check_int(n_channels, "n_channels", "StreamingSOS")
        self.initial_state = InitialState.parse(initial_state, "StreamingSOS")
        self._zi_unit = _scipy_signal().sosfilt_zi(self.sos) if self.initial_state is InitialState.STEADY else None
        self._sos_kernel = kernels().sos_kernel  # resolved once: the backend is fixed for the object's life
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next chunk starts from the initial state again."""
        self._zi = np.zeros((self.sos.shape[0], 2, self.n_channels))
        self._started = False

    @property
    def state(self) -> NDArray[np.float64]:
        """A copy of the current state, shape (n_sections, 2, n_channels) (scipy's zi layout)."""
        return self._zi.copy()

    def process(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        """Filter one chunk (n_samples, n_channels) and carry the state to the next call."""
        x = check_chunk(chunk, self.n_channels, "StreamingSOS.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        if not self._started and x.shape[0]:
            if self._zi_unit is not None:
                self._zi = np.ascontiguousarray(self._zi_unit[:, :, None] * x[0].astype(np.float64)[None, None, :])
            self._started = True
        y, self._zi = self._sos_kernel(self.sos, x, self._zi)
        return y


def bandpass_sos(low_hz: float = 20.0, high_hz: float = 450.0, *, fs_hz: float, order: int = 4) -> NDArray[np.float64]:
    """Butterworth band-pass in SOS form; the surface-EMG default is 20-450 Hz.

    20 Hz removes motion artefact and electrode drift, 450 Hz the content above
    surface EMG's band (seed 001). ``order`` is the prototype order, so the
    band-pass has ``order`` sections, as ``scipy.signal.butter`` gives.

    Raises
    ------
    InvalidInputError
        If not ``0 < low_hz < high_hz < fs_hz/2`` or ``order`` is not a positive integer.

    Examples
    --------
    >>> bandpass_sos(20, 450, fs_hz=2000).shape
    (4, 6)
    """
    ctx = "bandpass_sos"
    fs = check_float(fs_hz, "fs_hz", ctx, positive=True)
    lo = check_cutoff(low_hz, "low_hz", fs, ctx)
    hi = check_cutoff(high_hz, "high_hz", fs, ctx)
    if lo >= hi:
        raise InvalidInputError(f"{ctx}: low_hz must be < high_hz, got low_hz={lo}, high_hz={hi}")
    n = check_int(order, "order", ctx)
    return np.ascontiguousarray(_scipy_signal().butter(n, [lo, hi], btype="bandpass", fs=fs, output="sos"))


def highpass_sos(cutoff_hz: float, *, fs_hz: float, order: int = 2) -> NDArray[np.float64]:
    """Butterworth high-pass in SOS form, for baseline drift below ``cutoff_hz``.

    Examples
    --------
    >>> highpass_sos(10, fs_hz=2000, order=4).shape
    (2, 6)
    """
    return _one_cutoff_sos("highpass", cutoff_hz, fs_hz, order)


def lowpass_sos(cutoff_hz: float, *, fs_hz: float, order: int = 2) -> NDArray[np.float64]:
    """Butterworth low-pass in SOS form (the envelope smoother)."""
    return _one_cutoff_sos("lowpass", cutoff_hz, fs_hz, order)


def _one_cutoff_sos(btype: str, cutoff_hz: float, fs_hz: float, order: int) -> NDArray[np.float64]:
    """A checked Butterworth ``btype`` ("highpass"/"lowpass") design; errors name ``{btype}_sos``."""
    ctx = f"{btype}_sos"
    fs = check_float(fs_hz, "fs_hz", ctx, positive=True)
    fc = check_cutoff(cutoff_hz, "cutoff_hz", fs, ctx)
    n = check_int(order, "order", ctx)
    return np.ascontiguousarray(_scipy_signal().butter(n, fc, btype=btype, fs=fs, output="sos"))


def notch_sos(freq_hz: float = 50.0, *, fs_hz: float, q: float = 30.0, harmonics: int = 1) -> NDArray[np.float64]:
    """Cascade of ``iirnotch`` notches at ``freq_hz`` and its harmonics, in SOS form.

    Mains interference (50 Hz in Europe, 60 Hz in the Americas) leaks into EMG with
    its odd and even harmonics; ``harmonics=n`` notches ``k * freq_hz`` for
    ``k = 1..n``. Harmonics at or above Nyquist are skipped (logged at debug level)
    because they cannot be represented, but the fundamental must be valid.

    Examples
    --------
    >>> notch_sos(50, fs_hz=2000, harmonics=3).shape
    (3, 6)
    """
    ctx = "notch_sos"
    fs = check_float(fs_hz, "fs_hz", ctx, positive=True)
    f0 = check_cutoff(freq_hz, "freq_hz", fs, ctx)
    qv = check_float(q, "q", ctx, positive=True)
    n = check_int(harmonics, "harmonics", ctx)
    sections = []
    for k in range(1, n + 1):
        fk = k * f0
        if fk >= fs / 2:
            logger.debug("notch_sos: skipping harmonic %d (%.1f Hz >= fs/2 = %.1f Hz)", k, fk, fs / 2)
            break
        sig = _scipy_signal()
        b, a = sig.iirnotch(fk, qv, fs=fs)
        sections.append(sig.tf2sos(b, a))
    return np.ascontiguousarray(np.concatenate(sections, axis=0))
