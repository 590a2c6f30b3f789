"""The scipy/numpy kernels (a board without numba) give the numba kernels' numbers (the `jit` extra).

Each kernel pair runs on the same random float32 data, cut into the same random
chunks with the state carried, and must agree to float rounding (exactly where
no sum is reordered). Then every shipped task's DSP chain is compared end to
end through :class:`edgeemg.dsp.Pipeline` with ``EDGEEMG_DSP_BACKEND`` set.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeemg.dsp import Pipeline, _kernels, _kernels_scipy, bandpass_sos, notch_sos
from edgeemg.dsp._backend import backend_name
from edgeemg.errors import InvalidInputError

RTOL = 1e-6  # float32 outputs of float64 arithmetic done in another order


def _signal(n: int = 3000, n_ch: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n_ch)) * 40 + rng.normal(0, 30, n_ch)).astype(np.float32)


def _cuts(n: int, seed: int) -> list[int]:
    """Random chunk boundaries, including empty and 1-sample chunks."""
    rng = np.random.default_rng(seed)
    inner = np.sort(rng.integers(0, n, 25))
    return sorted([0, *inner.tolist(), int(inner[3]), n])  # the repeated boundary is an empty chunk


def _streamed(kernel, x: np.ndarray, state, cuts: list[int], *coefs):
    outs = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        y, state = kernel(*coefs, x[a:b], state) if coefs else kernel(x[a:b], state)
        outs.append(y)
    return np.concatenate(outs), state


def _close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * float(np.abs(b).max()))


@pytest.mark.parametrize("name", ["sos_kernel", "rectify_sos_kernel"])
def test_sos_kernels_agree_chunked(name: str) -> None:
    x = _signal()
    sos = np.vstack([bandpass_sos(20, 450, fs_hz=2000), notch_sos(50, fs_hz=2000)])
    zi = np.zeros((sos.shape[0], 2, x.shape[1]))
    cuts = _cuts(len(x), 1)
    y_ref, zf_ref = _streamed(getattr(_kernels, name), x, zi, cuts, sos)
    y, zf = _streamed(getattr(_kernels_scipy, name), x, zi, cuts, sos)
    _close(y, y_ref)
    np.testing.assert_allclose(zf, zf_ref, rtol=1e-9, atol=1e-9 * float(np.abs(zf_ref).max()))


def test_affine_kernel_is_exact() -> None:
    x = _signal()
    offset, scale = np.linspace(-5, 5, x.shape[1]), 1.0 / np.linspace(10, 50, x.shape[1])
    np.testing.assert_array_equal(_kernels_scipy.affine_kernel(x, offset, scale), _kernels.affine_kernel(x, offset, scale))


@pytest.mark.parametrize("time_constant_samples", [50.0, 5000.0])  # past the exact start-up, and inside it
def test_running_zscore_kernel_agrees_chunked(time_constant_samples: float) -> None:
    x = _signal()
    alpha = 1.0 - np.exp(-1.0 / time_constant_samples)
    state = np.zeros((3, x.shape[1]))
    cuts = _cuts(len(x), 2)
    y_ref, s_ref = _streamed(lambda c, s: _kernels.running_zscore_kernel(c, alpha, 1e-6, s), x, state, cuts)
    y, s = _streamed(lambda c, s: _kernels_scipy.running_zscore_kernel(c, alpha, 1e-6, s), x, state, cuts)
    _close(y, y_ref, rtol=1e-5)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9)


@pytest.mark.parametrize(("window", "hop"), [(7, 3), (40, 40), (5, 11)])
def test_window_kernel_is_exact_chunked(window: int, hop: int) -> None:
    x = _signal(400, 3)
    results = []
    for k in (_kernels, _kernels_scipy):
        ring, pos, seen, data, ends = np.zeros((window, 3), np.float32), 0, 0, [], []
        for a, b in zip(_cuts(len(x), 3)[:-1], _cuts(len(x), 3)[1:]):
            d, e, ring, pos = k.window_kernel(ring, pos, seen, x[a:b], hop)
            seen += b - a
            data.append(d)
            ends.append(e)
        results.append((np.concatenate(data), np.concatenate(ends), ring.copy(), pos))
    (d0, e0, r0, p0), (d1, e1, r1, p1) = results
    np.testing.assert_array_equal(d1, d0)
    np.testing.assert_array_equal(e1, e0)
    np.testing.assert_array_equal(r1, r0)
    assert p1 == p0
    # and both are numpy's sliding_window_view of the whole stream
    np.testing.assert_array_equal(d0, np.lib.stride_tricks.sliding_window_view(x, window, axis=0)[::hop].transpose(0, 2, 1))


def test_td_kernel_agrees_and_counts_exactly() -> None:
    w = np.round(_signal(30 * 50, 4).reshape(30, 50, 4) / 8)  # rounded: zeros, ties and flat runs occur
    codes = np.arange(8, dtype=np.int64)
    ref = _kernels.td_kernel(w, codes, 1.0, 2.0, 3.0)
    got = _kernels_scipy.td_kernel(w, codes, 1.0, 2.0, 3.0)
    np.testing.assert_array_equal(got[:, 5:], ref[:, 5:])  # ZC, SSC, WAMP: counts
    _close(got[:, :5], ref[:, :5])


def _task_chains() -> dict[str, tuple[list[dict], float, int]]:
    """The DSP description every shipped task's bundle carries (gait, muscle, keystroke, motor units)."""
    rng = np.random.default_rng(0)

    def z(n: int) -> dict:
        return {"stage": "zscore", "mean": rng.normal(0, 1, n).tolist(), "std": rng.uniform(20, 60, n).tolist()}

    return {
        "gait": ([{"stage": "bandpass", "low_hz": 20, "high_hz": 450, "order": 4}, z(6),
                  {"stage": "window", "window": 400, "hop": 200},
                  {"stage": "td_features", "names": ["RMS", "MAV", "WL", "ZC", "SSC", "WAMP", "VAR", "IEMG"],
                   "wamp_threshold": 0.1}], 2000.0, 6),
        "muscle": ([{"stage": "highpass", "cutoff_hz": 10, "order": 2}, z(1),
                    {"stage": "log_spectrogram", "n_fft": 256, "hop": 64}], 10000.0, 1),
        "keystroke": ([{"stage": "log_spectrogram", "n_fft": 64, "hop": 16},
                       {"stage": "stack", "length": 4, "hop": 4}], 2000.0, 32),
        "motor-units": ([{"stage": "bandpass", "low_hz": 20, "high_hz": 500, "order": 2}, z(8),
                         {"stage": "window", "window": 120, "hop": 20}], 2048.0, 8),
        "running": ([{"stage": "notch", "freq_hz": 50}, {"stage": "running_zscore", "time_constant_s": 0.1},
                     {"stage": "envelope", "cutoff_hz": 6}], 2000.0, 3),
    }


@pytest.mark.parametrize("task", list(_task_chains()))
def test_pipelines_agree_across_backends(task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    desc, fs, n_ch = _task_chains()[task]
    x = _signal(int(fs * 0.6), n_ch, seed=4)
    out = {}
    for backend in ("numba", "scipy"):
        monkeypatch.setenv("EDGEEMG_DSP_BACKEND", backend)
        assert backend_name() == backend
        p = Pipeline.from_description(desc, fs, n_ch)
        cuts = _cuts(len(x), 5)
        frames = [p.process(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
        out[backend] = (np.concatenate([f.data for f in frames]), np.concatenate([f.end_index for f in frames]))
    assert len(out["scipy"][0]) > 0
    np.testing.assert_array_equal(out["scipy"][1], out["numba"][1])
    _close(out["scipy"][0], out["numba"][0], rtol=1e-5)


def test_an_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "cython")
    with pytest.raises(InvalidInputError, match=r"EDGEEMG_DSP_BACKEND='cython': allowed values are \['numba', 'scipy'\]"):
        backend_name()


def test_numba_asked_for_without_numba_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeemg.dsp import _backend

    monkeypatch.setattr(_backend, "HAVE_NUMBA", False)
    monkeypatch.delenv("EDGEEMG_DSP_BACKEND", raising=False)
    assert backend_name() == "scipy"
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "numba")
    with pytest.raises(InvalidInputError, match=r"numba is not installed: pip install 'edgeemg\[jit\]'"):
        backend_name()


def test_a_built_object_keeps_the_backend_it_was_built_under(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage object resolves its kernel once, when built: a later change of the variable leaves it alone."""
    names = ["sos_kernel", "affine_kernel", "running_zscore_kernel", "rectify_sos_kernel", "window_kernel", "td_kernel"]
    calls: list[str] = []
    for name in names:  # spies on the scipy kernels, installed before any object is built
        real = getattr(_kernels_scipy, name)
        monkeypatch.setattr(_kernels_scipy, name, lambda *a, _f=real, _n=name: calls.append(_n) or _f(*a))
    desc = [{"stage": "notch", "freq_hz": 50}, {"stage": "zscore", "mean": [0.0] * 3, "std": [30.0] * 3},
            {"stage": "running_zscore", "time_constant_s": 0.1}, {"stage": "envelope", "cutoff_hz": 6},
            {"stage": "window", "window": 50, "hop": 25}, {"stage": "td_features", "names": ["RMS", "ZC"]}]
    built = {}
    for backend in ("scipy", "numba"):
        monkeypatch.setenv("EDGEEMG_DSP_BACKEND", backend)
        built[backend] = Pipeline.from_description(desc, 2000.0, 3)
    x = _signal(400, 3, seed=6)
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "scipy")
    assert len(built["numba"].process(x)) > 0
    assert calls == []  # built under numba: stays on numba
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "cython")  # not even a valid value: nobody reads it any more
    assert len(built["scipy"].process(x)) > 0
    assert sorted(set(calls)) == sorted(names)  # built under scipy: every stage ran scipy's kernel
