"""Motor units on the board: the seed-shaped 20-unit MO-DCNN, int8 bundle vs PyTorch eager, one window per call.

Timings (one core, batch 1, the same 64 x 120 windows cycled):

* ``runtime.motor_units.int8.model``: the bundle's int8 ONNX through the runtime backend;
* ``runtime.motor_units.fp32.model``: its fp32 ONNX twin;
* ``runtime.motor_units.torch_eager.model``: the checkpoint's MO-DCNN in PyTorch eager fp32
  (``edgeemg.cli.bench.eager_module``, the bench verb's reference).

Gate (issue 8): int8 per window >= 10x faster than PyTorch eager fp32, as a ratio measured
in this run. Measured here (2 shared cores): int8 0.50 ms, fp32 ONNX 3.5 ms, eager 32 ms
median, 65x; eager runs the grouped per-unit heads far slower than onnxruntime does.

The decoders' neural drive (``spec.NeuralDrive.push``, once per window or hop): its in-place
history against the ``np.roll`` it replaced (a new array per step), gate >= 2x as a ratio in
this run; measured 1.5 vs 6.7 us per push, median (4.5x), on the 2 shared cores under load.

The model is trained for one epoch only: its speed does not depend on its accuracy, and
one epoch of the 10.4 M-parameter model on two CPU cores already takes most of a minute.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from _model_timing import latency_recipe, time_backend, time_torch_eager

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")
torch = pytest.importorskip("torch")

N_UNITS = 20
SUBJECT = 0
INT8_VS_EAGER_FLOOR = 10.0  # the goal; measured ~60-65x without pruning

RECIPE = latency_recipe("motor-units", "f1", calibration_windows=256)
DRIVE_IN_PLACE_VS_ROLL_FLOOR = 2.0


@pytest.fixture(scope="module")
def mu(tmp_path_factory):
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.motor_units import workflow as wf

    tmp = tmp_path_factory.mktemp("bench-motor-units")
    plan = wf.TrainingPlan(epochs=1, max_units=N_UNITS, min_spikes=30)  # the seed's widths
    ck = wf.train(None, simulate=True, model="mo_dcnn", epochs=1, device="cpu", seed=SUBJECT, progress=False,
                  options={"labels": "truth"}, plan=plan, simulation=wf.SimulationPlan(seconds=30.0, level=0.3))
    assert len(ck.meta["labels"]) == N_UNITS
    ckpt = save_checkpoint(tmp / "mu.ckpt", ck)
    (tmp / "mu.toml").write_text(RECIPE)
    export_checkpoint(ck, tmp / "mu.int8", recipe=tmp / "mu.toml", progress=False)
    bundle = load_bundle(tmp / "mu.int8")
    rec = wf.load_recordings(None, True, seed=SUBJECT, plan=wf.SimulationPlan(seconds=30.0, level=0.3))[0]
    items, _ = wf.windows_of(rec, bundle.manifest["dsp"])
    return {"bundle": bundle, "ckpt": ckpt, "items": np.ascontiguousarray(items[-64:])}


def test_int8_window(benchmark, timings, mu):
    time_backend(benchmark, timings, mu["bundle"], mu["items"], precision="int8", name="runtime.motor_units.int8.model")


def test_fp32_onnx_window(benchmark, timings, mu):
    time_backend(benchmark, timings, mu["bundle"], mu["items"], precision="fp32", name="runtime.motor_units.fp32.model")


def test_torch_eager_window(benchmark, timings, mu):
    time_torch_eager(benchmark, timings, mu["ckpt"], mu["items"], name="runtime.motor_units.torch_eager.model")


def test_gate_int8_window_vs_torch_eager(timings):
    timings.require_ratio("motor units (20 heads, seed widths) int8 window vs PyTorch eager fp32",
                          slow="runtime.motor_units.torch_eager.model", fast="runtime.motor_units.int8.model",
                          at_least=INT8_VS_EAGER_FLOOR)


def _drive_pushes(cls):
    """One push per call on the default drive (41 taps: 400 ms at 2048 Hz / 20-sample steps), counts cycled."""
    from edgeemg.tasks.motor_units.decoder import DecoderConfig

    drive = cls(DecoderConfig().hann_taps())
    counts = itertools.cycle((0.0, 1.0, 2.0, 3.0))
    return lambda: drive.push(next(counts))


def _rolled_drive_class():
    from edgeemg.tasks.motor_units.spec import NeuralDrive

    class RolledDrive(NeuralDrive):
        """The history update both decoders had before ``NeuralDrive``: ``np.roll``, a new array per step."""

        def push(self, count: float) -> float:
            self._history = np.roll(self._history, 1)
            self._history[0] = count
            return float(self.taps @ self._history)

    return RolledDrive


def test_drive_push_in_place(benchmark, timings):
    from edgeemg.tasks.motor_units.spec import NeuralDrive

    benchmark(_drive_pushes(NeuralDrive))
    timings.record_benchmark("decoder.motor_units.drive.in_place", benchmark)


def test_drive_push_rolled(benchmark, timings):
    benchmark(_drive_pushes(_rolled_drive_class()))
    timings.record_benchmark("decoder.motor_units.drive.np_roll", benchmark)


def test_gate_drive_in_place_vs_rolled(timings):
    timings.require_ratio("motor-unit neural drive per step: in-place history vs np.roll",
                          slow="decoder.motor_units.drive.np_roll", fast="decoder.motor_units.drive.in_place",
                          at_least=DRIVE_IN_PLACE_VS_ROLL_FLOOR)
