"""What the muscle-health decoder expects and how its input is made (numpy only).

Seed 003 (SpectroEMG-Net) classifies needle EMG into ALS / myopathy / normal from
the log-spectrum and the delta log-spectrum. Here the DSP chain produces the
log-spectrum only: 20 Hz high-pass (electrode drift), a global z-score fitted on
the training subjects (one scale for everybody, so the larger neurogenic MUAPs
stay larger), and a log-power spectrogram of 32 ms frames every 16 ms at 4 kHz.
A *segment* is :data:`SEGMENT_FRAMES` consecutive frames (about 1 s), one every
:data:`SEGMENT_HOP_FRAMES` frames (50 % overlap); the model computes the delta
plane itself (see :mod:`edgeemg.tasks.muscle_health.models`).

:class:`FrameStacker` turns the streaming spectrogram frames into segments on
the board, exactly as :func:`segment_frames` does offline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError

LABELS: tuple[str, ...] = ("als", "myopathy", "normal")
FS_HZ = 4000.0
CHANNEL_NAMES: tuple[str, ...] = ("EMG",)
HIGHPASS_HZ = 20.0
N_FFT = 128  # 32 ms at 4 kHz: resolves 31 Hz bins, short enough to see single MUAPs
FRAME_HOP = 64  # 16 ms
SEGMENT_FRAMES = 64  # 64 frames = 128 + 63 * 64 samples = 4160 samples = 1.04 s
SEGMENT_HOP_FRAMES = 32  # 50 % overlap: a new decision every 0.512 s
TD_FEATURES: tuple[str, ...] = ("RMS", "MAV", "WL", "ZC", "SSC", "WAMP")
WAMP_THRESHOLD_Z = 0.5
N_SPECTRAL_BANDS = 8


def n_freq() -> int:
    return N_FFT // 2 + 1


def segment_samples() -> tuple[int, int]:
    """(samples spanned by one segment, samples between segments): the time windows of the same segments."""
    return N_FFT + (SEGMENT_FRAMES - 1) * FRAME_HOP, SEGMENT_HOP_FRAMES * FRAME_HOP


def filter_description() -> list[dict[str, Any]]:
    return [{"stage": "highpass", "cutoff_hz": HIGHPASS_HZ, "order": 2}]


def dsp_description(zscore: dict[str, list[float]]) -> list[dict[str, Any]]:
    """High-pass, z-score (fitted stats), log-spectrogram: the chain the board runs before stacking frames."""
    return [
        *filter_description(),
        {"stage": "zscore", "mean": list(zscore["mean"]), "std": list(zscore["std"])},
        {"stage": "log_spectrogram", "n_fft": N_FFT, "hop": FRAME_HOP},
    ]


def time_description(zscore: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The same filtered, z-scored signal cut into windows aligned with the segments, then TD features.

    Window ``k`` covers exactly the samples of segment ``k`` (same first and last
    sample), so the classical baseline sees the same stretch of signal as the CNN.
    """
    window, hop = segment_samples()
    return [
        *filter_description(),
        {"stage": "zscore", "mean": list(zscore["mean"]), "std": list(zscore["std"])},
        {"stage": "window", "window": window, "hop": hop},
        {"stage": "td_features", "names": list(TD_FEATURES), "wamp_threshold": WAMP_THRESHOLD_Z},
    ]


def segment_frames(
    frames: NDArray[np.float32], end_index: NDArray[np.int64], *, length: int = SEGMENT_FRAMES,
    hop: int = SEGMENT_HOP_FRAMES,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Stack consecutive spectrogram frames into segments (offline).

    Parameters
    ----------
    frames : ndarray, shape (n_frames, n_freq, n_channels)
        ``Pipeline.process_offline(...).data`` of :func:`dsp_description`.
    end_index : ndarray of int, shape (n_frames,)

    Returns
    -------
    segments : ndarray of float32, shape (n_segments, length, n_freq, n_channels)
        Segment ``k`` is frames ``[k*hop, k*hop + length)``: time first, the model's input layout.
    segment_end : ndarray of int64, shape (n_segments,)
        Last input sample each segment depends on.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3:
        raise InvalidInputError(f"segment_frames: frames must be (n_frames, n_freq, n_channels), got {frames.shape}")
    n = 0 if frames.shape[0] < length else 1 + (frames.shape[0] - length) // hop
    starts = np.arange(n) * hop
    seg = np.stack([frames[s : s + length] for s in starts]) if n else np.empty((0, length, *frames.shape[1:]), np.float32)
    return seg.astype(np.float32), np.asarray(end_index, dtype=np.int64)[starts + length - 1] if n else np.empty(0, np.int64)


class FrameStacker:
    """Streaming :func:`segment_frames`: feed spectrogram frames as they come, get completed segments.

    Keeps the last ``length - 1`` frames; any chunking of the frame stream gives
    the same segments as one offline call.
    """

    def __init__(self, length: int = SEGMENT_FRAMES, hop: int = SEGMENT_HOP_FRAMES) -> None:
        if length < 1 or hop < 1:
            raise InvalidInputError(f"FrameStacker: length and hop must be >= 1, got {length} and {hop}")
        self.length, self.hop = int(length), int(hop)
        self.reset()

    def reset(self) -> None:
        self._buf: NDArray[np.float32] | None = None
        self._ends = np.empty(0, np.int64)
        self._n_seen = 0  # frames received since reset

    def process(self, frames: Any, end_index: Any) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        frames = np.asarray(frames, dtype=np.float32)
        end_index = np.asarray(end_index, dtype=np.int64)
        if frames.ndim != 3 or end_index.shape != (frames.shape[0],):
            raise InvalidInputError(
                f"FrameStacker.process: frames must be (n, n_freq, n_channels) with one end_index each, "
                f"got {frames.shape} and {end_index.shape}"
            )
        buf = frames if self._buf is None else np.concatenate([self._buf, frames])
        ends = np.concatenate([self._ends, end_index])
        first = self._n_seen - (0 if self._buf is None else len(self._buf))  # absolute index of buf[0]
        self._n_seen += len(frames)
        # segments start at absolute frame k*hop and need `length` frames
        k0 = -(-first // self.hop)
        out, out_end = [], []
        k = k0
        while k * self.hop + self.length <= self._n_seen:
            s = k * self.hop - first
            out.append(buf[s : s + self.length])
            out_end.append(ends[s + self.length - 1])
            k += 1
        next_start = k * self.hop - first
        keep = max(0, min(next_start, len(buf)))
        self._buf, self._ends = buf[keep:], ends[keep:]
        if not out:
            return np.empty((0, self.length, *frames.shape[1:]), np.float32), np.empty(0, np.int64)
        return np.stack(out), np.asarray(out_end, np.int64)
