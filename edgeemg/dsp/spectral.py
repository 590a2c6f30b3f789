"""Log-power spectrogram, emg2qwerty's featurisation, offline and streaming.

emg2qwerty's ``LogSpectrogram`` is ``torchaudio.transforms.Spectrogram(n_fft=64,
hop_length=16, center=False, normalized=False, power=2)`` (a periodic Hann window)
followed by ``log10(power + 1e-6)``. ``center=False`` means frame k covers samples
``[k*hop, k*hop + n_fft)`` with no padding, so each frame depends only on samples
already received; that is what lets the streaming form reproduce training exactly.
We rebuild it from numpy's FFT (torch is not allowed on the board side).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from edgeemg.dsp._validate import check_chunk, check_int
from edgeemg.dsp.windowing import Frames, SlidingWindow, empty_frames
from edgeemg.errors import InvalidInputError

LOG_EPS = 1e-6
"""Added to the power before log10, as emg2qwerty does (keeps silent bins finite)."""


def periodic_hann(n: int) -> NDArray[np.float64]:
    """``torch.hann_window(n)`` (periodic=True): 0.5 - 0.5 cos(2 pi k / n), k < n."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def log_power_frames(windows: NDArray[np.float32], hann: NDArray[np.float64]) -> NDArray[np.float32]:
    """(n_frames, n_fft, C) windows -> (n_frames, n_fft//2 + 1, C) log10 power, float32."""
    spec = np.fft.rfft(windows * hann[None, :, None], axis=1)
    power = spec.real**2 + spec.imag**2
    return np.log10(power + LOG_EPS).astype(np.float32)


def _check_fft(n_fft: int, hop: int, context: str) -> tuple[int, int]:
    n = check_int(n_fft, "n_fft", context, minimum=2)
    h = check_int(hop, "hop", context)
    return n, h


def log_spectrogram(x_tc: NDArray[np.float32], n_fft: int = 64, hop: int = 16) -> NDArray[np.float32]:
    """Log-power spectrogram of a whole recording, emg2qwerty's way.

    Parameters
    ----------
    x_tc : ndarray of float32, shape (n_samples, n_channels)
    n_fft : int, optional
        Frame length and FFT size (default 64: 32 ms at 2 kHz).
    hop : int, optional
        Samples between frames (default 16: 125 frames/s at 2 kHz).

    Returns
    -------
    ndarray of float32, shape (n_frames, n_fft // 2 + 1, n_channels)
        ``n_frames = 1 + (n_samples - n_fft) // hop``, or 0 when the recording is
        shorter than one frame.

    Examples
    --------
    >>> import numpy as np
    >>> log_spectrogram(np.zeros((100, 2), np.float32)).shape
    (3, 33, 2)
    """
    ctx = "log_spectrogram"
    n, h = _check_fft(n_fft, hop, ctx)
    x = np.asarray(x_tc)
    if x.ndim != 2:
        raise InvalidInputError(f"{ctx}: x_tc must be 2-D (n_samples, n_channels), got shape {x.shape}")
    x = check_chunk(x, x.shape[1], ctx, name="x_tc")
    if x.shape[0] < n:
        return np.empty((0, n // 2 + 1, x.shape[1]), np.float32)
    windows = sliding_window_view(x, n, axis=0)[::h]  # (n_frames, C, n_fft)
    return log_power_frames(np.ascontiguousarray(windows.transpose(0, 2, 1)), periodic_hann(n))


class StreamingLogSpectrogram:
    """Chunk-by-chunk :func:`log_spectrogram`: the frames each chunk completes.

    Concatenating the ``data`` of all calls gives ``log_spectrogram`` of the whole
    stream; ``end_index`` is the index of each frame's last sample.

    Parameters
    ----------
    n_fft : int
        Frame length and FFT size.
    hop : int
        Samples between frames.
    n_channels : int
        Channels per chunk.
    """

    def __init__(self, n_fft: int, hop: int, n_channels: int) -> None:
        self.n_fft, self.hop = _check_fft(n_fft, hop, "StreamingLogSpectrogram")
        self.n_channels = check_int(n_channels, "n_channels", "StreamingLogSpectrogram")
        self._windows = SlidingWindow(self.n_fft, self.hop, self.n_channels)
        self._hann = periodic_hann(self.n_fft)

    def reset(self) -> None:
        """Forget buffered samples."""
        self._windows.reset()

    def process(self, chunk: NDArray[np.float32]) -> Frames:
        """Buffer ``chunk`` and return the spectra of the frames it completes."""
        x = check_chunk(chunk, self.n_channels, "StreamingLogSpectrogram.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> Frames:
        w = self._windows._process_checked(x)
        if not len(w):  # most small chunks complete no frame: no FFT call for nothing (the keystroke hot path)
            return empty_frames((self.n_fft // 2 + 1, self.n_channels))
        return Frames(log_power_frames(w.data, self._hann), w.end_index)
