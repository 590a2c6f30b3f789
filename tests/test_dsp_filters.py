"""StreamingSOS and the filter designs against scipy.signal (independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from edgeemg.dsp import StreamingSOS, bandpass_sos, highpass_sos, lowpass_sos, notch_sos, sosfilt_tc
from edgeemg.errors import InvalidInputError

FS = 2000.0


def _signal(n: int, c: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / FS
    x = 80 * rng.standard_normal((n, c)) + 200 * np.sin(2 * np.pi * 50 * t) + 300.0  # noise + mains + DC
    return x.astype(np.float32)


def _designs() -> dict[str, np.ndarray]:
    b, a = signal.iirnotch(60.0, 30.0, fs=FS)
    return {
        "butter_bp4": signal.butter(4, [20, 450], btype="bandpass", fs=FS, output="sos"),
        "butter_hp2": signal.butter(2, 10, btype="highpass", fs=FS, output="sos"),
        "butter_lp8": signal.butter(8, 300, fs=FS, output="sos"),
        "iirnotch_tf2sos": signal.tf2sos(b, a),
        "chain": np.concatenate([bandpass_sos(fs_hz=FS), notch_sos(50, fs_hz=FS, harmonics=3)]),
    }


def _chunks(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    bounds = [0, *sorted(min(c, len(x)) for c in cuts), len(x)]
    return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("name", list(_designs()))
def test_streaming_equals_scipy_whole_stream(name: str) -> None:
    sos = _designs()[name]
    x = _signal(3000, 5, seed=1)
    ref = signal.sosfilt(sos, x.astype(np.float64), axis=0)
    f = StreamingSOS(sos, n_channels=5)
    rng = np.random.default_rng(2)
    cuts = sorted(rng.integers(0, 3000, size=60).tolist()) + [10, 10, 11]  # repeated cut = empty chunk, 1-sample chunk
    y = np.concatenate([f.process(c) for c in _chunks(x, cuts)])
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - ref)) <= 1e-5 * np.sqrt(np.mean(ref**2))


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=30), seed=st.integers(0, 2**16))
def test_any_chunking_matches_sosfilt(cuts: list[int], seed: int) -> None:
    sos = _designs()["chain"]
    x = _signal(400, 3, seed)
    ref = signal.sosfilt(sos, x.astype(np.float64), axis=0)
    f = StreamingSOS(sos, 3)
    y = np.concatenate([f.process(c) for c in _chunks(x, cuts)])
    assert np.max(np.abs(y - ref)) <= 1e-5 * np.sqrt(np.mean(ref**2))


def test_sosfilt_tc_state_matches_scipy_zf() -> None:
    sos = _designs()["butter_bp4"]
    x = _signal(500, 4, seed=3)
    zi = np.random.default_rng(4).standard_normal((sos.shape[0], 2, 4))
    y_ref, zf_ref = signal.sosfilt(sos, x.astype(np.float64), axis=0, zi=zi)
    y, zf = sosfilt_tc(sos, x, zi)
    np.testing.assert_allclose(zf, zf_ref, rtol=1e-6, atol=1e-6 * np.abs(zf_ref).max())
    np.testing.assert_allclose(y, y_ref, atol=1e-5 * np.sqrt(np.mean(y_ref**2)))


def test_steady_initial_state_matches_sosfilt_zi() -> None:
    sos = _designs()["butter_hp2"]
    x = _signal(1000, 3, seed=5)
    zi = signal.sosfilt_zi(sos)[:, :, None] * x[0].astype(np.float64)[None, None, :]
    ref, _ = signal.sosfilt(sos, x.astype(np.float64), axis=0, zi=zi)
    f = StreamingSOS(sos, 3, initial_state="steady")
    y = np.concatenate([f.process(x[:0]), f.process(x[:7]), f.process(x[7:])])
    assert np.max(np.abs(y - ref)) <= 1e-5 * np.sqrt(np.mean(ref**2))
    f.reset()
    np.testing.assert_array_equal(f.process(x), y)


def test_reset_restarts_the_stream() -> None:
    sos = _designs()["chain"]
    x = _signal(300, 2, seed=6)
    f = StreamingSOS(sos, 2)
    first = f.process(x)
    f.reset()
    np.testing.assert_array_equal(f.process(x), first)


def test_float64_is_accepted_and_converted() -> None:
    f = StreamingSOS(_designs()["butter_lp8"], 2)
    assert f.process(np.ones((4, 2))).dtype == np.float32


def test_designs_physical_properties() -> None:
    bp = bandpass_sos(20, 450, fs_hz=FS, order=4)
    for sos in (bp, highpass_sos(10, fs_hz=FS, order=3), notch_sos(50, fs_hz=FS, harmonics=3)):
        poles = np.concatenate([np.roots(s[3:]) for s in sos])
        assert np.all(np.abs(poles) < 1.0)  # stable
    _, h = signal.sosfreqz(bp, worN=[0.0, 150.0, 999.0], fs=FS)
    assert abs(h[0]) < 1e-6 and abs(abs(h[1]) - 1) < 1e-3  # zero at DC, unity in band
    notch = notch_sos(50, fs_hz=FS, harmonics=3)
    _, hn = signal.sosfreqz(notch, worN=[50.0, 100.0, 150.0, 400.0], fs=FS)
    assert np.all(np.abs(hn[:3]) < 1e-6) and abs(abs(hn[3]) - 1) < 1e-2


@pytest.mark.parametrize(("design", "btype"), [(highpass_sos, "highpass"), (lowpass_sos, "lowpass")])
def test_one_cutoff_designs_are_scipys_butter(design, btype: str) -> None:
    np.testing.assert_array_equal(design(35.0, fs_hz=FS, order=3), signal.butter(3, 35.0, btype, fs=FS, output="sos"))
    with pytest.raises(InvalidInputError, match=rf"^{btype}_sos: cutoff_hz=1000.0 .*fs/2=1000.0"):
        design(1000, fs_hz=FS)
    with pytest.raises(InvalidInputError, match=rf"^{btype}_sos: order must be an integer >= 1, got 0"):
        design(35.0, fs_hz=FS, order=0)


def test_notch_harmonics_stop_below_nyquist() -> None:
    assert notch_sos(60, fs_hz=500, harmonics=10).shape == (4, 6)  # 60,120,180,240 < 250


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bandpass_sos(20, 1200, fs_hz=2000), r"high_hz=1200.0 .*must be 0 < Wn < fs/2 \(fs=2000.0 -> fs/2=1000.0\)"),
        (lambda: bandpass_sos(0, 450, fs_hz=2000), r"low_hz=0.0 .*must be 0 < Wn < fs/2"),
        (lambda: bandpass_sos(450, 20, fs_hz=2000), r"low_hz must be < high_hz"),
        (lambda: bandpass_sos(20, 450, fs_hz=2000, order=0), r"order must be an integer >= 1, got 0"),
        (lambda: highpass_sos(1000, fs_hz=2000), r"cutoff_hz=1000.0 .*fs/2=1000.0"),
        (lambda: notch_sos(60, fs_hz=100), r"freq_hz=60.0 .*fs=100.0 -> fs/2=50.0"),
        (lambda: StreamingSOS(np.ones((2, 5)), 2), r"sos must have shape \(n_sections, 6\), got shape \(2, 5\)"),
        (lambda: StreamingSOS(bandpass_sos(fs_hz=FS), 2, initial_state="steddy"), r"Did you mean 'steady'"),
    ],
)
def test_design_errors(call, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        call()


@pytest.mark.parametrize(
    ("chunk", "match"),
    [
        (np.zeros((40, 16), np.float32), r"chunk must have 32 channels \(shape \(n, 32\)\), got shape \(40, 16\)"),
        (np.zeros(32, np.float32), r"must be 2-D .* got 1-D array of shape \(32,\)"),
        (np.zeros((4, 32), np.int16), r"must be a float array .* got dtype int16"),
        (np.full((4, 32), np.nan, np.float32), r"must be finite, got nan at sample 0, channel 0"),
    ],
)
def test_bad_chunks(chunk: np.ndarray, match: str) -> None:
    f = StreamingSOS(bandpass_sos(fs_hz=FS), 32)
    with pytest.raises(InvalidInputError, match=match):
        f.process(chunk)


def test_inf_named_with_position() -> None:
    x = np.zeros((5, 3), np.float32)
    x[3, 2] = np.inf
    with pytest.raises(InvalidInputError, match=r"got inf at sample 3, channel 2"):
        StreamingSOS(bandpass_sos(fs_hz=FS), 3).process(x)
