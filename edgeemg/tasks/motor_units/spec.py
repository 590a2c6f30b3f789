"""What the motor-unit decoder expects and how its input is made (numpy only).

Seed 004 (Wen et al. 2021): a 64-channel HD-EMG grid at 2048 Hz, windows of
``w = 120`` samples every ``s = 20`` samples (eq. 1), normalised by the maximum
amplitude of the whole grid so that the relative amplitudes across channels
(the MUAPs' spatial signature) survive (section 3.3.2); label of a window per
unit = 1 if the unit fires within the step centred on the window centre
(eq. 2). The chain here adds a causal 20-500 Hz band-pass before the
normalisation, so electrode drift does not set the scale; it is the same
streaming kernel offline and on the board.

Latency: the label of a window is the step around a point ``label_delay``
samples before the window's last sample (``w / 2`` by default, the seed's
centre), so a discharge is decided ``label_delay`` samples after it happened
at the earliest: **29.3 ms** at the defaults (60 samples at 2048 Hz). A
lower-latency configuration places the label later in the window
(``label_delay = 20``: 9.8 ms) or shrinks the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DictConfig, InvalidInputError

FS_HZ = 2048.0
N_CHANNELS = 64
WINDOW = 120
STEP = 20
BANDPASS_HZ = (20.0, 500.0)
BANDPASS_ORDER = 2
NEURAL_DRIVE_WINDOW_S = 0.4
"""Hann window of the neural drive (seed 004, section 3.4.3)."""
THRESHOLD = 0.5


@dataclass(frozen=True)
class WindowSpec(DictConfig):
    """Window geometry of the decoder, in samples.

    Attributes
    ----------
    window : int
        Samples per window ``w`` (120).
    step : int
        Samples between windows ``s`` (20); also the width of the labelled step.
    label_delay : int or None
        Samples from the labelled point to the window's last sample; None = ``window // 2``
        (the seed's centre). The algorithmic latency.
    """

    window: int = WINDOW
    step: int = STEP
    label_delay: int | None = None

    def __post_init__(self) -> None:
        for name in ("window", "step"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"WindowSpec.{name} must be an int >= 1 sample, got {v!r}")
        if self.step > self.window:
            raise InvalidInputError(f"WindowSpec: step ({self.step}) must not exceed window ({self.window})")
        d = self.delay
        if not self.step // 2 <= d <= self.window - 1 - (self.step - 1) // 2:
            raise InvalidInputError(
                f"WindowSpec.label_delay must keep the labelled step inside the window: between "
                f"{self.step // 2} and {self.window - 1 - (self.step - 1) // 2} samples, got {d}"
            )

    @property
    def delay(self) -> int:
        """``label_delay`` resolved (``window // 2`` when None)."""
        return self.window // 2 if self.label_delay is None else int(self.label_delay)

    def latency_ms(self, fs_hz: float = FS_HZ) -> float:
        """Algorithmic latency: from the labelled point to the window's last sample."""
        return 1000.0 * self.delay / fs_hz

    def label_point(self, end_index: NDArray[np.int64]) -> NDArray[np.int64]:
        """Sample each window's output refers to (the centre of its labelled step)."""
        return np.asarray(end_index, dtype=np.int64) - self.delay

    def step_bounds(self, end_index: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """[first, last] samples of each window's labelled step (eq. 2: ``c - s/2 + 1 .. c + s/2``)."""
        hi = self.label_point(end_index) + self.step // 2
        return hi - self.step + 1, hi


def filter_description() -> list[dict[str, Any]]:
    """The sample-wise band-pass that precedes normalisation (used to fit the max amplitude)."""
    return [{"stage": "bandpass", "low_hz": BANDPASS_HZ[0], "high_hz": BANDPASS_HZ[1], "order": BANDPASS_ORDER}]


def dsp_description(max_amplitude_uv: float, n_channels: int, windows: WindowSpec) -> list[dict[str, Any]]:
    """Band-pass, scale by the grid's maximum amplitude, window: the chain the bundle carries.

    The seed's normalisation ``x / max|x|`` over the whole grid is a z-score stage
    with mean 0 and the same "std" on every channel.
    """
    if not max_amplitude_uv > 0:
        raise InvalidInputError(f"dsp_description: max_amplitude_uv must be > 0, got {max_amplitude_uv!r}")
    return [
        *filter_description(),
        {"stage": "zscore", "mean": [0.0] * n_channels, "std": [float(max_amplitude_uv)] * n_channels},
        {"stage": "window", "window": int(windows.window), "hop": int(windows.step)},
    ]


def separation_dsp_description(max_amplitude_uv: float, n_channels: int, extension: int, hop: int
                               ) -> list[dict[str, Any]]:
    """The ``filters`` model's chain: the same band-pass and scale, windows of ``extension + hop - 1`` every ``hop``.

    Each window holds the ``extension`` samples that the first of its ``hop``
    sources needs, and one more per further source, so consecutive windows
    yield every sample's source exactly once.
    """
    if not (isinstance(extension, int) and extension >= 1 and isinstance(hop, int) and hop >= 1):
        raise InvalidInputError(f"separation_dsp_description: extension and hop must be ints >= 1 sample, "
                                f"got {extension!r} and {hop!r}")
    return dsp_description(max_amplitude_uv, n_channels, WindowSpec(extension + hop - 1, hop, hop // 2))


def hann_taps(window_s: float, fs_hz: float, step: int) -> NDArray[np.float64]:
    """Hann window at the step rate (``round(window_s * fs / step)`` taps), scaled to pulses/s.

    Scaled so that one unit firing at ``r`` pps gives a drive of ``r``: the
    taps sum to ``fs / step`` (a spike count per step times steps per second).
    """
    n = max(1, int(round(window_s * fs_hz / step)))
    h = np.hanning(n + 2)[1:-1] if n > 1 else np.ones(1)
    return h / h.sum() * (fs_hz / step)


class NeuralDrive:
    """The streamed neural drive of both motor-unit decoders: ``taps @`` the last ``taps.size`` step counts.

    One :meth:`push` per step (a window of the MO-DCNN, a hop of the filter model) with that
    step's spike count, summed over units; it returns the drive (pulses/s) after it. The
    history is one preallocated array, newest count first, shifted in place, so a step
    allocates nothing here (``np.roll`` built a new array per step;
    benchmarks/test_bench_motor_units.py times both). The offline form is
    :func:`~edgeemg.tasks.motor_units.decoder.causal_neural_drive`.
    """

    def __init__(self, taps: NDArray[np.float64]) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        self._history = np.zeros(self.taps.size)

    def reset(self) -> None:
        """Forget the history (a new recording, a gap, a reconnected band)."""
        self._history[:] = 0.0

    def push(self, count: float) -> float:
        """Add the newest step's spike count; the drive after it."""
        h = self._history
        h[1:] = h[:-1]  # numpy copies an overlapping 1-D slice of the same stride direction safely
        h[0] = count
        return float(self.taps @ h)


def window_labels(discharges: list[NDArray[np.int64]] | tuple[NDArray[np.int64], ...],
                  end_index: NDArray[np.int64], windows: WindowSpec) -> NDArray[np.float32]:
    """Seed eq. 2: per window and unit, 1 if the unit fires within the window's labelled step.

    Parameters
    ----------
    discharges : sequence of int arrays
        Discharge sample indices per unit, in the same time base as ``end_index``.
    end_index : ndarray of int64, shape (n_windows,)
        Each window's last sample.
    windows : WindowSpec

    Returns
    -------
    ndarray of float32, shape (n_windows, n_units)
    """
    lo, hi = windows.step_bounds(end_index)
    y = np.zeros((lo.size, len(discharges)), np.float32)
    for u, d in enumerate(discharges):
        d = np.sort(np.asarray(d, dtype=np.int64))
        y[:, u] = (np.searchsorted(d, hi, side="right") - np.searchsorted(d, lo, side="left")) > 0
    return y


__all__ = [
    "BANDPASS_HZ",
    "FS_HZ",
    "N_CHANNELS",
    "NEURAL_DRIVE_WINDOW_S",
    "NeuralDrive",
    "STEP",
    "THRESHOLD",
    "WINDOW",
    "WindowSpec",
    "dsp_description",
    "hann_taps",
    "filter_description",
    "separation_dsp_description",
    "window_labels",
]
