"""Timing one model call three ways in the same run: int8 and fp32 through the board backend, PyTorch eager fp32.

Shared by the runtime and motor-unit benchmarks so that every int8-vs-eager
ratio is measured the same way: batch 1, one thread, items cycled so no call
sees a cached input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def latency_recipe(task: str, metric: str, calibration_windows: int) -> str:
    """An export recipe for latency measurement only: no pruning, ONNX only, no accuracy gate.

    The benchmarks time the int8 model against eager; accuracy is the export
    chain's and its tests' business, so ``max_loss_pp`` is opened wide here.
    """
    return f"""task = "{task}"
[prune]
method = "none"
ratio = 0.0
finetune_epochs = 0
[quantize]
scheme = "static"
per_channel = true
weight_type = "int8"
activation_type = "int8"
calibration_windows = {calibration_windows}
calibration_method = "minmax"
dynamic_ops = []
[convert]
formats = ["onnx"]
optimize = true
[tolerance]
metric = "{metric}"
max_loss_pp = 100.0
fp32_rtol = 1e-4
int8_rtol = 0.5
"""


def cycle(items: np.ndarray) -> Callable[[], np.ndarray]:
    """Return a function giving the next item (batch of one), wrapping around."""
    state = {"i": 0}

    def nxt() -> np.ndarray:
        i = state["i"] = (state["i"] + 1) % len(items)
        return items[i : i + 1]

    return nxt


def time_backend(benchmark, timings, bundle, items: np.ndarray, *, precision: str, name: str) -> None:
    """Benchmark the bundle's ``precision`` model on onnxruntime, one thread, and record it as ``name``."""
    from edgeemg.runtime.backends import open_backend

    backend = open_backend(bundle, precision=precision, threads=1)
    nxt = cycle(items)
    benchmark(lambda: backend.run({"x": nxt()}))
    timings.record_benchmark(name, benchmark)


def time_torch_eager(benchmark, timings, checkpoint, items: np.ndarray, *, name: str) -> None:
    """Benchmark the checkpoint's float model in PyTorch eager, one thread, and record it as ``name``."""
    import torch

    from edgeemg.cli.bench import eager_module

    torch.set_num_threads(1)
    module = eager_module(checkpoint)
    nxt = cycle(items)

    def step():
        with torch.inference_mode():
            return module(torch.from_numpy(nxt()))

    benchmark(step)
    timings.record_benchmark(name, benchmark)
