"""DSP latency and throughput: edgeemg's numba chain vs the same chain from scipy calls.

The standard chain is band-pass 20-450 Hz (order 4) + 50 Hz notch + z-score +
window, the chain of seed 001 (2 kHz, 400/200) and of seed 004's HD-EMG grid
(2048 Hz, 64 channels, 120/20). The scipy twin is what one writes without
edgeemg: ``sosfilt`` with carried ``zi`` per stage, a numpy z-score and
``sliding_window_view`` over a buffer. Both are checked to give the same windows
before they are timed.

Gates (ratios measured in this run): per chunk >= 5x faster; offline >= 1x;
the first ``process()`` of a new process >= 2x faster with a warm numba cache than
with an empty one (the part the cache controls; the whole cold start is reported).
edgeemg runs on its numba backend here (``EDGEEMG_DSP_BACKEND=numba``, the ``jit``
extra); its scipy backend, what a board without numba runs, is timed per chunk
beside them (``dsp.chunk.<case>.edgeemg-scipy``) and checked to emit the same windows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from edgeemg.dsp import Pipeline

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    # name: (n_channels, chunk, fs_hz, window, hop)
    "32ch_x40": (32, 40, 2000.0, 400, 200),
    "64ch_x20": (64, 20, 2048.0, 120, 20),
}


@pytest.fixture(autouse=True)
def numba_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """edgeemg's numba kernels unless a test asks for scipy (the child processes inherit it)."""
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "numba")


def _description(n_ch: int, window: int, hop: int) -> list[dict]:
    rng = np.random.default_rng(n_ch)
    return [
        {"stage": "bandpass", "low_hz": 20, "high_hz": 450, "order": 4},
        {"stage": "notch", "freq_hz": 50, "harmonics": 1},
        {"stage": "zscore", "mean": rng.normal(0, 1, n_ch).tolist(), "std": rng.uniform(20, 80, n_ch).tolist()},
        {"stage": "window", "window": window, "hop": hop},
    ]


class ScipyChain:
    """The same chain from scipy/numpy calls, streaming, state carried per stage."""

    def __init__(self, desc: list[dict], fs_hz: float, n_ch: int) -> None:
        self.bp = signal.butter(4, [20, 450], btype="bandpass", fs=fs_hz, output="sos")
        self.notch = signal.tf2sos(*signal.iirnotch(50.0, 30.0, fs=fs_hz))
        self.mean = np.asarray(desc[2]["mean"])
        self.std = np.asarray(desc[2]["std"])
        self.window, self.hop = desc[3]["window"], desc[3]["hop"]
        self.zb = np.zeros((self.bp.shape[0], 2, n_ch))
        self.zn = np.zeros((self.notch.shape[0], 2, n_ch))
        self.buf = np.zeros((0, n_ch), np.float32)
        self.n_seen = 0
        self.next_end = self.window - 1

    def process(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, self.zb = signal.sosfilt(self.bp, chunk, axis=0, zi=self.zb)
        y, self.zn = signal.sosfilt(self.notch, y, axis=0, zi=self.zn)
        y = ((y - self.mean) / self.std).astype(np.float32)
        self.buf = np.concatenate([self.buf, y])
        self.n_seen += chunk.shape[0]
        buf_start = self.n_seen - self.buf.shape[0]
        ends = np.arange(self.next_end, self.n_seen, self.hop, dtype=np.int64)
        if ends.size:
            first = int(ends[0]) - self.window + 1 - buf_start
            views = sliding_window_view(self.buf[first:], self.window, axis=0)[:: self.hop][: ends.size]
            windows = np.ascontiguousarray(views.transpose(0, 2, 1))
            self.next_end = int(ends[-1]) + self.hop
        else:
            windows = np.empty((0, self.window, self.buf.shape[1]), np.float32)
        self.buf = self.buf[-(self.window - 1) :] if self.window > 1 else self.buf[:0]
        return windows, ends


def _stream(n_ch: int, fs_hz: float, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * fs_hz)
    t = np.arange(n)[:, None] / fs_hz
    return (50 * rng.standard_normal((n, n_ch)) + 100 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)


def _feeder(x: np.ndarray, chunk: int):
    """Endless chunk iterator over ``x`` so benchmark rounds see a continuing stream."""
    n_chunks = x.shape[0] // chunk
    chunks = [np.ascontiguousarray(x[i * chunk : (i + 1) * chunk]) for i in range(n_chunks)]
    i = 0

    def next_chunk() -> np.ndarray:
        nonlocal i
        c = chunks[i % n_chunks]
        i += 1
        return c

    return next_chunk


@pytest.mark.parametrize("backend", ["numba", "scipy"])
@pytest.mark.parametrize("case", list(CASES))
def test_chains_agree(case: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fairness check: both chains emit the same windows for the same stream (on either edgeemg backend)."""
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", backend)
    n_ch, chunk, fs, window, hop = CASES[case]
    desc = _description(n_ch, window, hop)
    ours, ref = Pipeline.from_description(desc, fs, n_ch), ScipyChain(desc, fs, n_ch)
    x = _stream(n_ch, fs, 1.0)
    a, b = [], []
    for i in range(0, x.shape[0] - chunk + 1, chunk):
        fa, (wb, eb) = ours.process(x[i : i + chunk]), ref.process(x[i : i + chunk])
        np.testing.assert_array_equal(fa.end_index, eb)
        a.append(fa.data)
        b.append(wb)
    np.testing.assert_allclose(np.concatenate(a), np.concatenate(b), atol=1e-4)


@pytest.mark.parametrize("case", list(CASES))
def test_chunk_latency_ours(benchmark, timings, case: str) -> None:
    n_ch, chunk, fs, window, hop = CASES[case]
    p = Pipeline.from_description(_description(n_ch, window, hop), fs, n_ch)
    nxt = _feeder(_stream(n_ch, fs, 2.0), chunk)
    p.process(nxt())  # first call loads the kernels from numba's cache
    benchmark(lambda: p.process(nxt()))
    timings.record_benchmark(f"dsp.chunk.{case}.edgeemg", benchmark)


@pytest.mark.parametrize("case", list(CASES))
def test_chunk_latency_ours_scipy_backend(benchmark, timings, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """edgeemg's scipy backend (a board install without numba): recorded, not gated."""
    monkeypatch.setenv("EDGEEMG_DSP_BACKEND", "scipy")
    n_ch, chunk, fs, window, hop = CASES[case]
    p = Pipeline.from_description(_description(n_ch, window, hop), fs, n_ch)
    nxt = _feeder(_stream(n_ch, fs, 2.0), chunk)
    benchmark(lambda: p.process(nxt()))
    timings.record_benchmark(f"dsp.chunk.{case}.edgeemg-scipy", benchmark)


@pytest.mark.parametrize("case", list(CASES))
def test_chunk_latency_scipy(benchmark, timings, case: str) -> None:
    n_ch, chunk, fs, window, hop = CASES[case]
    ref = ScipyChain(_description(n_ch, window, hop), fs, n_ch)
    nxt = _feeder(_stream(n_ch, fs, 2.0), chunk)
    benchmark(lambda: ref.process(nxt()))
    timings.record_benchmark(f"dsp.chunk.{case}.scipy", benchmark)


OFFLINE_SECONDS = 600.0  # 32 ch x 10 min at 2 kHz


@pytest.fixture(scope="module")
def long_recording() -> np.ndarray:
    return _stream(32, 2000.0, OFFLINE_SECONDS, seed=1)


def test_offline_ours(benchmark, timings, long_recording: np.ndarray) -> None:
    p = Pipeline.from_description(_description(32, 400, 200), 2000.0, 32)
    p.process_offline(long_recording[:4000])
    out = benchmark.pedantic(p.process_offline, args=(long_recording,), rounds=3, iterations=1)
    assert out.data.shape == (5999, 400, 32)
    timings.record_benchmark("dsp.offline.32ch_10min.edgeemg", benchmark)


def test_offline_scipy(benchmark, timings, long_recording: np.ndarray) -> None:
    desc = _description(32, 400, 200)
    out = benchmark.pedantic(lambda: ScipyChain(desc, 2000.0, 32).process(long_recording), rounds=3, iterations=1)
    assert out[0].shape == (5999, 400, 32)
    timings.record_benchmark("dsp.offline.32ch_10min.scipy", benchmark)


_COLD_START = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    import edgeemg.dsp as dsp
    t_import = time.perf_counter()
    desc = {desc}
    p = dsp.Pipeline.from_description(desc, 2000.0, 32)
    t_built = time.perf_counter()
    out = p.process(np.zeros((400, 32), np.float32))
    t1 = time.perf_counter()
    assert out.data.shape == (1, 4, 32)
    import json
    print(json.dumps({{"import_s": t_import - t0, "build_s": t_built - t_import,
                      "first_process_s": t1 - t_built, "first_chunk_s": t1 - t0}}))
    """
)


def _cold_start(cache_dir: Path) -> dict[str, float]:
    desc = [*_description(32, 400, 200), {"stage": "td_features", "names": ["RMS", "WL", "ZC", "WAMP"]}]
    code = _COLD_START.format(desc=repr(desc))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cold_start(timings, tmp_path: Path) -> None:
    """Time from interpreter start of the import to the first processed chunk, in a new process."""
    empty = _cold_start(tmp_path)  # compiles every kernel the chain uses, fills the cache
    warm = min((_cold_start(tmp_path) for _ in range(3)), key=lambda r: r["first_chunk_s"])
    for label, r in (("empty_cache", empty), ("warm_cache", warm)):
        timings.record(
            f"dsp.cold_start.{label}",
            r["first_chunk_s"],
            f"new process to first chunk: import {r['import_s']:.3f} s + build {r['build_s']:.3f} s "
            f"+ first process {r['first_process_s']:.3f} s",
        )
        timings.record(f"dsp.cold_start.{label}.first_process", r["first_process_s"], "numba compile or cache load")


@pytest.mark.parametrize("case", list(CASES))
def test_ratio_chunk_latency(timings, case: str) -> None:
    timings.require_ratio(
        f"per-chunk {case}", slow=f"dsp.chunk.{case}.scipy", fast=f"dsp.chunk.{case}.edgeemg", at_least=5.0
    )


def test_ratio_offline(timings) -> None:
    timings.require_ratio(
        "offline 32ch x 10 min", slow="dsp.offline.32ch_10min.scipy", fast="dsp.offline.32ch_10min.edgeemg", at_least=1.0
    )


def test_ratio_cold_start(timings) -> None:
    timings.require_ratio(
        "first process() call, empty vs warm numba cache",
        slow="dsp.cold_start.empty_cache.first_process",
        fast="dsp.cold_start.warm_cache.first_process",
        at_least=2.0,
    )
