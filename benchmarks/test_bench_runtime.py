"""Runtime latency: the int8 engine against PyTorch eager fp32, measured side by side in one run.

A tiny gait CNN is trained and exported (unpruned, so the checkpoint's model is exactly
the fp32 reference of the int8 bundle). On the same DSP windows, one hop each:

* ``runtime.gait.int8.model``: the bundle's int8 ONNX through the engine's backend, batch 1;
* ``runtime.gait.torch_eager.model``: the checkpoint's network in PyTorch eager fp32, batch 1;
* ``runtime.gait.engine.hop``: a whole hop through the engine (DSP + int8 model + decoder);
* ``runtime.gait.fp32.model``: the fp32 ONNX twin, for the quantization ratio alone.

Gate (issue 6/7): int8 at least 2x faster than PyTorch eager fp32, as a ratio of the two
medians of this run (never a wall-time threshold).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _model_timing import latency_recipe, time_backend, time_torch_eager

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

torch = pytest.importorskip("torch")

RECIPE = latency_recipe("gait", "macro_f1", calibration_windows=128)


@pytest.fixture(scope="module")
def gait(tmp_path_factory):
    from edgeemg.bridge import Block, SimulatedBand
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.gait import workflow as wf

    tmp = tmp_path_factory.mktemp("bench-runtime")
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", wf.SimulationPlan(n_subjects=4, seconds=12.0, eval_subjects=2))
    try:
        ck = wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False, options={})
        (tmp / "gait.toml").write_text(RECIPE)
        export_checkpoint(ck, tmp / "gait.int8", recipe=tmp / "gait.toml", progress=False)
    finally:
        mp.undo()
    ckpt = save_checkpoint(tmp / "gait.ckpt", ck)
    bundle = load_bundle(tmp / "gait.int8")
    with SimulatedBand("gait", seed=3, seconds=6.0, speed=float("inf")) as band:
        blocks = [it for it in band if isinstance(it, Block)]
    x = np.concatenate([b.samples for b in blocks])
    items = bundle.pipeline().process_offline(x).data
    return {"bundle": bundle, "ckpt": ckpt, "items": np.ascontiguousarray(items[:32]), "blocks": blocks}


def test_int8_model_hop(benchmark, timings, gait):
    time_backend(benchmark, timings, gait["bundle"], gait["items"], precision="int8", name="runtime.gait.int8.model")


def test_fp32_onnx_model_hop(benchmark, timings, gait):
    time_backend(benchmark, timings, gait["bundle"], gait["items"], precision="fp32", name="runtime.gait.fp32.model")


def test_torch_eager_fp32_model_hop(benchmark, timings, gait):
    time_torch_eager(benchmark, timings, gait["ckpt"], gait["items"], name="runtime.gait.torch_eager.model")


def test_engine_whole_hop(benchmark, timings, gait):
    """DSP + int8 model + decoder for one 100 ms hop (200 samples in 4 ms frames), timed as a unit."""
    import time

    from edgeemg.bridge import Block
    from edgeemg.runtime.engine import Engine

    eng = Engine(gait["bundle"], skip_after_ms=float("inf"))
    blocks = gait["blocks"]
    per_hop = gait["bundle"].hop // blocks[0].n_samples
    state = {"k": 0}

    def hop():
        for _ in range(per_hop):
            b = blocks[state["k"] % len(blocks)]
            state["k"] += 1
            now = time.monotonic()
            eng.feed(Block(b.samples, b.timestamp_us, now, b.seq, now))

    for _ in range(5):  # fill the first window
        hop()
    benchmark(hop)
    timings.record_benchmark("runtime.gait.engine.hop", benchmark)
    assert eng.stats().skipped == 0 and eng.stats().items > 0


def test_bench_report_runs(gait, tmp_path):
    """``edgeemg bench`` end to end on this bundle: every figure present and sane (no wall-time threshold)."""
    from edgeemg.cli import main

    out = tmp_path / "report.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["-q", "bench", str(gait["bundle"].path), "--seconds", "10", "--checkpoint", str(gait["ckpt"]),
                     "--json", "--reps", "50", "--plot", str(tmp_path / "plots")])
    assert code == 0
    r = json.loads(buf.getvalue())
    out.write_text(json.dumps(r))
    assert r["hops"] >= 90 and r["stages"]["total"]["p50_ms"] > 0 and r["realtime_factor"] > 1
    assert {"int8", "fp32", "torch-eager"} <= set(r["model_ms"])
    assert (tmp_path / "plots" / "latency-gait.png").stat().st_size > 1000


def test_gate_int8_engine_vs_torch_eager(timings):
    timings.require_ratio("gait int8 engine model vs PyTorch eager fp32", slow="runtime.gait.torch_eager.model",
                          fast="runtime.gait.int8.model", at_least=2.0)
