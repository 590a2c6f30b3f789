"""Pipeline: JSON description round trip, streaming == offline == scipy-built chain, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from edgeemg.dsp import Pipeline, log_spectrogram, td_features
from edgeemg.errors import InvalidInputError

FS = 2000.0
C = 4


def _x(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / FS
    return (60 * rng.standard_normal((n, C)) + 150 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)


def _desc(mean: list[float], std: list[float]) -> list[dict]:
    return [
        {"stage": "bandpass", "low_hz": 20, "high_hz": 450, "order": 4},
        {"stage": "notch", "freq_hz": 50, "harmonics": 3},
        {"stage": "zscore", "mean": mean, "std": std},
        {"stage": "window", "window": 400, "hop": 200},
        {"stage": "td_features", "names": ["RMS", "WL", "ZC", "WAMP"], "wamp_threshold": 0.5},
    ]


def _stream(p: Pipeline, x: np.ndarray, seed: int):
    cuts = sorted(np.random.default_rng(seed).integers(0, len(x), 40).tolist() + [7, 7, 8])
    b = [0, *cuts, len(x)]
    outs = [p.process(x[i:j]) for i, j in zip(b[:-1], b[1:])]
    return np.concatenate([o.data for o in outs]), np.concatenate([o.end_index for o in outs])


def test_standard_chain_streaming_offline_and_scipy() -> None:
    x = _x()
    mean, std = [1.0, -2.0, 0.5, 0.0], [40.0, 50.0, 60.0, 70.0]
    p = Pipeline.from_description(_desc(mean, std), FS, C)
    off = p.process_offline(x)
    data, end = _stream(p, x, 1)
    np.testing.assert_allclose(data, off.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(end, off.end_index)
    # independent reference: scipy stage by stage, numpy windows, numpy features
    y = signal.sosfilt(signal.butter(4, [20, 450], btype="bandpass", fs=FS, output="sos"), x.astype(np.float64), axis=0)
    for k in (1, 2, 3):
        y = signal.lfilter(*signal.iirnotch(50.0 * k, 30.0, fs=FS), y, axis=0)
    y = (y - mean) / np.asarray(std)
    w = sliding_window_view(y, 400, axis=0)[::200].transpose(0, 2, 1)
    rms = np.sqrt(np.mean(w**2, axis=1))
    wl = np.sum(np.abs(np.diff(w, axis=1)), axis=1)
    np.testing.assert_allclose(off.data[:, 0], rms, rtol=1e-4)
    np.testing.assert_allclose(off.data[:, 1], wl, rtol=1e-4)
    np.testing.assert_array_equal(off.end_index, 399 + 200 * np.arange(len(w)))


@pytest.mark.parametrize(
    "desc",
    [
        [{"stage": "highpass", "cutoff_hz": 10}, {"stage": "running_zscore", "time_constant_s": 0.2}],
        [{"stage": "bandpass"}, {"stage": "envelope", "cutoff_hz": 5}],
        [{"stage": "notch", "freq_hz": 60}, {"stage": "log_spectrogram"}],
        [{"stage": "window", "window": 120, "hop": 20}],
    ],
)
def test_streaming_equals_offline(desc: list[dict]) -> None:
    x = _x(2500, seed=2)
    p = Pipeline.from_description(desc, FS, C)
    off = p.process_offline(x)
    data, end = _stream(p, x, 3)
    np.testing.assert_allclose(data, off.data, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(end, off.end_index)
    assert off.data.shape[1:] == p.item_shape


def test_sample_wise_output_indices_and_reset() -> None:
    p = Pipeline.from_description([{"stage": "bandpass"}], FS, C)
    x = _x(100)
    a = p.process(x[:30])
    b = p.process(x[30:])
    assert a.end_index.tolist() == list(range(30)) and b.end_index[0] == 30
    p.reset()
    np.testing.assert_array_equal(p.process(x[:30]).data, a.data)


def test_log_spectrogram_stage_matches_function() -> None:
    x = _x(1000)
    p = Pipeline.from_description([{"stage": "log_spectrogram", "n_fft": 64, "hop": 16}], FS, C)
    np.testing.assert_allclose(p.process_offline(x).data, log_spectrogram(x), atol=1e-6)


def test_describe_roundtrips_through_json() -> None:
    p = Pipeline.from_description(_desc([0.0] * C, [1.0] * C), FS, C)
    desc = p.describe()
    again = Pipeline.from_description(json.loads(json.dumps(desc)), FS, C)
    assert again.describe() == desc
    assert desc[1] == {"stage": "notch", "freq_hz": 50.0, "q": 30.0, "harmonics": 3}  # defaults filled in
    x = _x(1000)
    np.testing.assert_array_equal(again.process_offline(x).data, p.process_offline(x).data)
    windows = Pipeline.from_description(desc[:4], FS, C).process_offline(x).data
    ref = td_features(windows, ["RMS", "WL", "ZC", "WAMP"], wamp_threshold=0.5)
    np.testing.assert_array_equal(p.process_offline(x).data, ref)


@pytest.mark.parametrize(
    ("desc", "match"),
    [
        ([{"stage": "bandpas"}], r"stage 0 has unknown stage 'bandpas'; allowed values are \[.*\]\. Did you mean 'bandpass'\?"),
        ([{"stage": "bandpass"}, {"stage": "notch", "freq": 50}], r"stage 1 \('notch'\): unknown parameter 'freq'.*Did you mean 'freq_hz'\?"),
        ([{"stage": "bandpass", "high_hz": 1500}], r"stage 0 \('bandpass'\).*high_hz=1500.0 .*must be 0 < Wn < fs/2 \(fs=2000.0 -> fs/2=1000.0\)"),
        ([{"stage": "window", "window": 10}], r"stage 0 \('window'\): missing required parameter 'hop'"),
        ([{"stage": "window", "window": 10, "hop": 2.5}], r"stage 0 \('window'\): hop must be an integer >= 1, got 2.5"),
        ([{"stage": "zscore", "mean": [0.0], "std": [1.0]}], r"stage 0 \('zscore'\): mean and std must have 4 values"),
        ([{"stage": "td_features"}], r"stage 0 \('td_features'\) must directly follow a 'window' stage"),
        ([{"stage": "window", "window": 10, "hop": 5}, {"stage": "bandpass"}], r"stage 1 \('bandpass'\) cannot follow stage 0 \('window'\)"),
        ([{"stage": "window", "window": 10, "hop": 5}, {"stage": "td_features", "names": ["MAV", "ZCC"]}], r"Did you mean 'ZC'\?"),
        ([["bandpass"]], r"stage 0 must be a dict with a 'stage' key"),
    ],
)
def test_description_errors(desc: list, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Pipeline.from_description(desc, FS, C)


def test_process_rejects_bad_chunks() -> None:
    p = Pipeline.from_description([{"stage": "bandpass"}], FS, 32)
    with pytest.raises(InvalidInputError, match=r"chunk must have 32 channels \(shape \(n, 32\)\), got shape \(40, 16\)"):
        p.process(np.zeros((40, 16), np.float32))
    with pytest.raises(InvalidInputError, match=r"got dtype int32"):
        p.process(np.zeros((40, 32), np.int32))
    with pytest.raises(InvalidInputError, match=r"signal must be finite"):
        p.process_offline(np.full((40, 32), np.nan))


def test_stack_stage_streaming_equals_offline_and_manual_stacking() -> None:
    """``stack`` after a log-spectrogram: any chunking gives the frames stacked by hand from one offline pass."""
    base = [{"stage": "highpass", "cutoff_hz": 20.0}, {"stage": "log_spectrogram", "n_fft": 64, "hop": 16}]
    x = _x(4000, seed=5)
    frames = Pipeline.from_description(base, FS, C).process_offline(x)
    length, hop = 12, 5
    starts = range(0, len(frames.data) - length + 1, hop)
    want = np.stack([frames.data[s : s + length] for s in starts])
    want_end = np.array([frames.end_index[s + length - 1] for s in starts])
    p = Pipeline.from_description([*base, {"stage": "stack", "length": length, "hop": hop}], FS, C)
    assert p.item_shape == (length, 33, C)
    got, got_end = _stream(p, x, seed=11)
    np.testing.assert_array_equal(got_end, want_end)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    off = p.process_offline(x)
    np.testing.assert_array_equal(off.end_index, want_end)
    np.testing.assert_allclose(off.data, want, rtol=1e-6, atol=1e-6)
    p.reset()
    again, again_end = _stream(p, x, seed=12)
    np.testing.assert_array_equal(again_end, want_end)


def test_stack_stage_must_follow_a_framing_stage() -> None:
    with pytest.raises(InvalidInputError, match=r"stage 1 \('stack'\) must directly follow a framing stage"):
        Pipeline.from_description([{"stage": "bandpass"}, {"stage": "stack", "length": 2, "hop": 1}], FS, C)
    with pytest.raises(InvalidInputError, match="length must be an integer >= 1"):
        Pipeline.from_description([{"stage": "window", "window": 4, "hop": 2},
                                   {"stage": "stack", "length": 0, "hop": 1}], FS, C)
