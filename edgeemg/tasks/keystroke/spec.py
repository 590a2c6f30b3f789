"""What the keystroke decoder expects and how its input is made (numpy only).

emg2qwerty's featurisation, kept identical between training and the board: two
wrist bands of 16 electrodes at 2 kHz, a log-power spectrogram per electrode
(``n_fft`` 64, ``hop`` 16: 125 frames/s, 33 bins, ``center=False`` so every frame
depends on past samples only). Per-electrode normalisation is *not* a DSP stage:
it is the model's first layer (:class:`~edgeemg.tasks.keystroke.models.SpectrogramNorm`,
as emg2qwerty does), so its statistics travel with the weights into the export.

Labels are :data:`edgeemg.data.charset.CHARSET`: 98 keys in emg2qwerty's order
and the CTC blank at index 98 (99 model outputs). Backspace ``⌫`` and shift
``⇧`` are keys the model must emit; the decoder applies them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET
from edgeemg.data.emg2qwerty import CHANNEL_NAMES as _CHANNEL_NAMES
from edgeemg.dsp import log_spectrogram
from edgeemg.errors import InvalidInputError

FS_HZ = 2000.0
"""Sample rate of emg2qwerty and of the simulator."""

N_BANDS = 2
N_ELECTRODES = 16
N_CHANNELS = N_BANDS * N_ELECTRODES
CHANNEL_NAMES: tuple[str, ...] = _CHANNEL_NAMES
"""(n_samples, 32) layout: left band (0-15) then right band (16-31), as the reader returns it."""

N_FFT = 64
HOP = 16
N_FREQ = N_FFT // 2 + 1
"""33 frequency bins per electrode."""

FRAME_S = HOP / FS_HZ
"""8 ms between spectrogram frames (125 Hz), the model's time step."""

LABELS: tuple[str, ...] = CHARSET.chars
"""Label character of each key class, in model-output order (98); class 98 is the blank."""
BLANK = CHARSET.blank
N_CLASSES = CHARSET.num_classes


def dsp_description() -> list[dict[str, Any]]:
    """The board's DSP chain: one log-spectrogram stage (what :class:`edgeemg.dsp.Pipeline` rebuilds)."""
    return [{"stage": "log_spectrogram", "n_fft": N_FFT, "hop": HOP}]


def features(emg: NDArray[np.float32], *, fs_hz: float = FS_HZ) -> NDArray[np.float32]:
    """Model input of a whole recording: the log-spectrogram, (n_frames, 33, 32) float32.

    Parameters
    ----------
    emg : ndarray of float32, shape (n_samples, 32)
        Microvolts, left band then right band.
    fs_hz : float
        Must be 2000 Hz: the spectrogram's bins and the model's time step assume it.

    Raises
    ------
    InvalidInputError
        Wrong channel count or sample rate.
    """
    x = np.asarray(emg)
    if x.ndim != 2 or x.shape[1] != N_CHANNELS:
        raise InvalidInputError(f"keystroke features: emg must be (n_samples, {N_CHANNELS}), got shape {x.shape}")
    if abs(float(fs_hz) - FS_HZ) > 1.0:
        raise InvalidInputError(f"keystroke features: expected a {FS_HZ:.0f} Hz recording, got {fs_hz} Hz")
    return log_spectrogram(x.astype(np.float32, copy=False), N_FFT, HOP)


def frame_end_index(n_frames: int) -> NDArray[np.int64]:
    """Sample index of the last sample of each spectrogram frame (as :class:`edgeemg.dsp.Frames` carries it)."""
    return np.arange(n_frames, dtype=np.int64) * HOP + N_FFT - 1


def time_to_frame(t_s: NDArray[np.float64] | float) -> NDArray[np.int64]:
    """Index of the first frame whose last sample is at or after ``t_s`` seconds from the recording's start."""
    t = np.asarray(t_s, dtype=np.float64)
    return np.maximum(np.ceil((t * FS_HZ - (N_FFT - 1)) / HOP), 0).astype(np.int64)


def model_input(spectra: NDArray[np.float32]) -> NDArray[np.float32]:
    """DSP output (n_frames, 33, 32) -> model input (n_frames, bands=2, electrodes=16, freq=33).

    The board runs the same reshuffle on each chunk of frames before the model,
    so it lives here, in numpy, rather than inside the exported graph.
    """
    s = np.asarray(spectra)
    if s.ndim != 3 or s.shape[1:] != (N_FREQ, N_CHANNELS):
        raise InvalidInputError(f"model_input: spectra must be (n_frames, {N_FREQ}, {N_CHANNELS}), got {s.shape}")
    x = s.reshape(s.shape[0], N_FREQ, N_BANDS, N_ELECTRODES)  # (T, freq, bands, electrodes)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32)  # (T, bands, electrodes, freq)
