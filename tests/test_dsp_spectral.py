"""log_spectrogram against torch.stft (what torchaudio's Spectrogram calls) and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from edgeemg.dsp import StreamingLogSpectrogram, log_spectrogram, spectral
from edgeemg.errors import InvalidInputError


def _x(n: int = 1000, c: int = 3) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal((n, c)) * 40).astype(np.float32)


def test_matches_torch_stft_emg2qwerty_settings() -> None:
    torch = pytest.importorskip("torch")
    x = _x()
    # torchaudio.transforms.Spectrogram(n_fft=64, hop_length=16, center=False, power=2, normalized=False)
    spec = torch.stft(
        torch.from_numpy(x.T.copy()),
        n_fft=64,
        hop_length=16,
        win_length=64,
        window=torch.hann_window(64),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # (C, freq, frames)
    ref = torch.log10(spec.abs() ** 2 + 1e-6).numpy().transpose(2, 1, 0)
    got = log_spectrogram(x, n_fft=64, hop=16)
    assert got.shape == ref.shape == (1 + (1000 - 64) // 16, 33, 3)
    np.testing.assert_allclose(got, ref, atol=2e-4)


def _scipy_log_spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """scipy.signal.stft's frames as (n_frames, n_fft//2 + 1, C) log10 power, the reference."""
    win = signal.get_window("hann", n_fft)  # periodic by default
    _, _, z = signal.stft(x.T.astype(np.float64), window=win, nperseg=n_fft, noverlap=n_fft - hop, boundary=None,
                          padded=False, detrend=False, scaling="spectrum")
    power = np.abs(z * win.sum()) ** 2  # undo scipy's 1/sum(window) scaling
    return np.log10(power + 1e-6).transpose(2, 1, 0)


def test_matches_scipy_stft() -> None:
    x = _x(500, 2)
    np.testing.assert_allclose(log_spectrogram(x, n_fft=32, hop=8), _scipy_log_spectrogram(x, 32, 8), atol=1e-4)


def test_streaming_runs_no_fft_on_blocks_that_complete_no_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _x(600, 2)
    ffts: list[int] = []
    real = spectral.log_power_frames
    monkeypatch.setattr(spectral, "log_power_frames", lambda w, h: ffts.append(len(w)) or real(w, h))
    s = StreamingLogSpectrogram(32, 8, 2)
    bounds = [0, 0, 5, 20, 31, 32, 33, 36, 39, 40, 41, 300, 303, 600]  # empty, frame-less and frame-making blocks
    outs = [s.process(x[i:j]) for i, j in zip(bounds[:-1], bounds[1:])]
    ends = 31 + 8 * np.arange(1 + (600 - 32) // 8)  # last sample of each frame
    for o, (i, j) in zip(outs, zip(bounds[:-1], bounds[1:])):
        want = ends[(ends >= i) & (ends < j)]
        assert o.data.shape == (len(want), 17, 2) and o.data.dtype == np.float32 and o.end_index.dtype == np.int64
        np.testing.assert_array_equal(o.end_index, want)
    assert ffts == [len(o) for o in outs if len(o)]  # one FFT per block that completes a frame, none otherwise
    assert len(ffts) < len(outs) - 3
    np.testing.assert_allclose(np.concatenate([o.data for o in outs]), _scipy_log_spectrogram(x, 32, 8), atol=1e-4)


def test_streaming_equals_offline() -> None:
    x = _x(2000, 4)
    whole = log_spectrogram(x)
    s = StreamingLogSpectrogram(64, 16, 4)
    rng = np.random.default_rng(1)
    cuts = sorted(rng.integers(0, 2000, 40).tolist() + [5, 5, 6])
    b = [0, *cuts, 2000]
    outs = [s.process(x[i:j]) for i, j in zip(b[:-1], b[1:])]
    np.testing.assert_allclose(np.concatenate([o.data for o in outs]), whole, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([o.end_index for o in outs]), 63 + 16 * np.arange(len(whole)))


def test_short_input_and_errors() -> None:
    assert log_spectrogram(_x(10, 2)).shape == (0, 33, 2)
    with pytest.raises(InvalidInputError, match=r"n_fft must be an integer >= 2, got 1"):
        log_spectrogram(_x(), n_fft=1)
    with pytest.raises(InvalidInputError, match=r"chunk must have 4 channels \(shape \(n, 4\)\), got shape \(10, 2\)"):
        StreamingLogSpectrogram(64, 16, 4).process(_x(10, 2))
