"""SlidingWindow against sliding_window_view; td_features against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from edgeemg.dsp import FEATURE_NAMES, SlidingWindow, td_features, windows_offline
from edgeemg.errors import InvalidInputError


def _chunks(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    b = [0, *sorted(min(c, len(x)) for c in cuts), len(x)]
    return [x[i:j] for i, j in zip(b[:-1], b[1:])]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 120),
    window=st.integers(1, 30),
    hop=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 120), max_size=20),
)
def test_windows_match_sliding_window_view(n: int, window: int, hop: int, cuts: list[int]) -> None:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    sw = SlidingWindow(window, hop, 3)
    outs = [sw.process(c) for c in _chunks(x, cuts)]
    data = np.concatenate([o.data for o in outs])
    end = np.concatenate([o.end_index for o in outs])
    if n >= window:
        ref = sliding_window_view(x, window, axis=0)[::hop].transpose(0, 2, 1)
    else:
        ref = np.empty((0, window, 3), np.float32)
    np.testing.assert_array_equal(data, ref)
    np.testing.assert_array_equal(end, window - 1 + hop * np.arange(len(ref)))
    assert data.dtype == np.float32 and end.dtype == np.int64
    assert all(o.data.shape[1:] == (window, 3) for o in outs)  # empty outputs keep their shape


def test_windows_offline_and_reset() -> None:
    x = np.random.default_rng(0).standard_normal((1000, 2)).astype(np.float32)
    off = windows_offline(x, 400, 200)
    assert off.data.shape == (4, 400, 2) and off.end_index.tolist() == [399, 599, 799, 999]
    sw = SlidingWindow(400, 200, 2)
    sw.process(x[:500])
    sw.reset()
    np.testing.assert_array_equal(sw.process(x).data, off.data)


def _reference(w: np.ndarray, name: str, zc: float, ssc: float, wamp: float) -> np.ndarray:
    """Plain numpy, (n_win, L, C) -> (n_win, C), written from LibEMG's formulas."""
    w = w.astype(np.float64)
    d = np.diff(w, axis=1)
    if name == "RMS":
        return np.sqrt(np.mean(w**2, axis=1))
    if name == "MAV":
        return np.mean(np.abs(w), axis=1)
    if name == "IEMG":
        return np.sum(np.abs(w), axis=1)
    if name == "VAR":
        return np.var(w, axis=1)
    if name == "WL":
        return np.sum(np.abs(d), axis=1)
    if name == "ZC":
        flips = np.abs(np.diff(np.sign(w), axis=1)) == 2
        return np.sum(flips & (np.abs(d) >= zc), axis=1)
    if name == "SSC":
        return np.sum((w[:, 1:-1] - w[:, :-2]) * (w[:, 1:-1] - w[:, 2:]) >= ssc, axis=1)
    if name == "WAMP":
        return np.sum(np.abs(d) > wamp, axis=1)
    raise AssertionError(name)


@pytest.mark.parametrize(("zc", "ssc", "wamp"), [(0.0, 0.0, 10.0), (5.0, 20.0, 0.0)])
def test_td_features_match_numpy_reference(zc: float, ssc: float, wamp: float) -> None:
    rng = np.random.default_rng(1)
    w = np.round(rng.standard_normal((7, 50, 5)) * 8).astype(np.float32)  # integers: exact zeros and ties
    w[0, :, 0] = 0.0  # flat channel
    names = list(FEATURE_NAMES)[::-1]
    got = td_features(w, names, zc_threshold=zc, ssc_threshold=ssc, wamp_threshold=wamp)
    assert got.shape == (7, len(names), 5) and got.dtype == np.float32
    for k, name in enumerate(names):
        np.testing.assert_allclose(got[:, k], _reference(w, name, zc, ssc, wamp), rtol=1e-6, atol=1e-6, err_msg=name)


def test_td_features_empty_and_errors() -> None:
    assert td_features(np.empty((0, 10, 3), np.float32), ["RMS"]).shape == (0, 1, 3)
    w = np.zeros((2, 10, 3), np.float32)
    with pytest.raises(InvalidInputError, match=r"unknown feature 'WLL'.*Did you mean 'WL'\?"):
        td_features(w, ["RMS", "WLL"])
    with pytest.raises(InvalidInputError, match=r"Did you mean 'RMS'\?"):
        td_features(w, ["rms"])
    with pytest.raises(InvalidInputError, match=r"must be 3-D .* got shape \(10, 3\)"):
        td_features(w[0], ["RMS"])
    with pytest.raises(InvalidInputError, match=r"at least 2 samples, got shape \(2, 1, 3\)"):
        td_features(w[:, :1], ["RMS"])
    with pytest.raises(InvalidInputError, match=r"wamp_threshold must be >= 0, got -1.0"):
        td_features(w, ["WAMP"], wamp_threshold=-1.0)


def test_window_parameter_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"hop must be an integer >= 1, got 0"):
        SlidingWindow(10, 0, 2)
    with pytest.raises(InvalidInputError, match=r"chunk must have 2 channels \(shape \(n, 2\)\), got shape \(4, 3\)"):
        SlidingWindow(10, 5, 2).process(np.zeros((4, 3), np.float32))
