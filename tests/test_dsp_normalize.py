"""ZScore, RunningZScore and Envelope against plain numpy / scipy references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import signal

from edgeemg.dsp import Envelope, RunningZScore, ZScore
from edgeemg.errors import InvalidInputError


def _x(n: int = 2000, c: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c)) * [10, 50, 100, 5] + [0, 20, -30, 5]).astype(np.float32)


def _split(x: np.ndarray, seed: int) -> list[np.ndarray]:
    cuts = sorted(np.random.default_rng(seed).integers(0, len(x), 25).tolist() + [1, 1, 2])
    b = [0, *cuts, len(x)]
    return [x[i:j] for i, j in zip(b[:-1], b[1:])]


def test_zscore_fit_process_and_manifest_roundtrip() -> None:
    x = _x()
    z = ZScore.fit(x)
    np.testing.assert_allclose(z.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(z.std, x.astype(np.float64).std(0), rtol=1e-12)
    y = z.process(x)
    np.testing.assert_allclose(y, (x - x.mean(0)) / x.std(0), atol=1e-4)
    z2 = ZScore.from_dict(json.loads(json.dumps(z.to_dict())))
    assert z2 == z
    np.testing.assert_array_equal(np.concatenate([z.process(c) for c in _split(x, 1)]), y)


def test_zscore_flat_channel_floor_and_errors() -> None:
    x = _x()
    x[:, 1] = 3.0
    assert ZScore.fit(x).std[1] == pytest.approx(1e-6)
    with pytest.raises(InvalidInputError, match=r"std must be > 0 for every channel, got 0.0 at channel 1"):
        ZScore((0.0, 0.0), (1.0, 0.0))
    with pytest.raises(InvalidInputError, match=r"std must have shape \(2,\), got shape \(3,\)"):
        ZScore((0.0, 0.0), (1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError, match=r"expected keys \['mean', 'std'\], got \['mean', 'scale'\]"):
        ZScore.from_dict({"mean": [0.0], "scale": [1.0]})
    with pytest.raises(InvalidInputError, match=r"chunk must have 2 channels \(shape \(n, 2\)\), got shape \(5, 3\)"):
        ZScore((0.0, 0.0), (1.0, 1.0)).process(np.zeros((5, 3), np.float32))


def _running_reference(x: np.ndarray, tau_s: float, fs: float, eps: float) -> np.ndarray:
    """Independent loop: weight max(alpha, 1/k) on the k-th sample (k from 1)."""
    alpha = 1 - math.exp(-1 / (tau_s * fs))
    mean = np.zeros(x.shape[1])
    var = np.zeros(x.shape[1])
    out = np.empty(x.shape, np.float64)
    for k, row in enumerate(x.astype(np.float64), start=1):
        w = max(alpha, 1.0 / k)
        delta = row - mean
        mean = mean + w * delta
        var = (1 - w) * (var + w * delta**2)
        out[k - 1] = (row - mean) / np.sqrt(var + eps)
    return out


def test_running_zscore_cumulative_start_then_exponential() -> None:
    x = _x(3000)
    rz = RunningZScore(0.5, 2000.0, 4)
    y = np.concatenate([rz.process(c) for c in _split(x, 2)])
    np.testing.assert_allclose(y, _running_reference(x, 0.5, 2000.0, 1e-6), atol=1e-4)
    # during the first 1/alpha samples the statistics are the exact cumulative ones
    rz.reset()
    rz.process(x[:500])
    np.testing.assert_allclose(rz.mean, x[:500].astype(np.float64).mean(0), rtol=1e-9)
    np.testing.assert_allclose(rz.var, x[:500].astype(np.float64).var(0), rtol=1e-9)


def test_running_zscore_chunked_equals_whole() -> None:
    x = _x(1500, seed=3)
    whole = RunningZScore(0.05, 2000.0, 4).process(x)
    rz = RunningZScore(0.05, 2000.0, 4)
    np.testing.assert_array_equal(np.concatenate([rz.process(c) for c in _split(x, 4)]), whole)


def test_envelope_is_rectified_lowpass() -> None:
    x = _x(4000, seed=5)
    env = Envelope(6.0, 2000.0, 4)
    y = np.concatenate([env.process(c) for c in _split(x, 6)])
    ref = signal.sosfilt(signal.butter(2, 6.0, fs=2000.0, output="sos"), np.abs(x.astype(np.float64)), axis=0)
    assert np.max(np.abs(y - ref)) <= 1e-5 * np.sqrt(np.mean(ref**2))


def test_normaliser_parameter_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"time_constant_s must be > 0, got -1.0"):
        RunningZScore(-1.0, 2000.0, 2)
    with pytest.raises(InvalidInputError, match=r"cutoff_hz=1500.0 .*fs/2=1000.0"):
        Envelope(1500.0, 2000.0, 2)
