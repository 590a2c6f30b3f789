"""int8 portability table: each task's int8 ONNX model under several quantization schemes, per CPU kernel family.

Not a pytest module (it trains tiny models and runs an emulator). Run from the project root::

    .venv/bin/python benchmarks/report_int8_portability.py --qemu /work/qemu/qemu-x86_64 --json int8_port.json

onnxruntime's int8 kernels differ by CPU: AVX-512 VNNI (``vpdpbusd``) multiplies
u8 x s8 exactly; AVX2 and AVX-512 without VNNI add pairs of u8 x s8 products into
int16 with saturation (``vpmaddubsw``; onnxruntime's quantization docs name it and
its remedies, 7-bit weights via ``reduce_range`` or u8 x u8); arm64 has its own
kernels (with or without the dot-product extension). So a scheme is judged by what
a user sees on each family, not only on the export host.

For each task (the tiny models of the test suite: gait, muscle, keystroke, motor
units) the script builds the float ONNX model once, quantizes it with every
scheme of ``SCHEMES``, runs every int8 model on the held-out data

* natively (this CPU), and
* under each ``--qemu`` emulator with each of its ``--cpu`` models
  (``qemu-x86_64 -cpu Haswell``: AVX2, no AVX-512; ``qemu-aarch64 -cpu cortex-a72``
  with ``--arm-python``: arm64 without dot product, ``cortex-a76``: with it),

and prints, per task x scheme x CPU: the task metric of int8 vs fp32 (PyTorch),
the p99 relative output error (the export's parity statistic) and, on the host,
the median int8 time per item (batch 1, one thread) relative to the scheme the
recipe shipped before (``OLD_SCHEME``), and each task's bundle (exported with the
shipped recipe) through ``inspect --verify``'s golden self-check on every CPU.
The emulated runs use only onnxruntime and numpy (``--worker`` mode), so they
need no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

#: scheme name -> [quantize] fields changed from the task's shipped recipe ("shipped": none)
SCHEMES: dict[str, dict[str, Any]] = {
    "shipped": {},
    "s8s8": {"activation_type": "int8", "weight_type": "int8", "reduce_range": False},
    "u8s8": {"activation_type": "uint8", "weight_type": "int8", "reduce_range": False},
    "u8s8-rr": {"activation_type": "uint8", "weight_type": "int8", "reduce_range": True},
    "s8s8-rr": {"activation_type": "int8", "weight_type": "int8", "reduce_range": True},
    "u8u8": {"activation_type": "uint8", "weight_type": "uint8", "reduce_range": False},
}
TASKS = ("gait", "muscle", "keystroke", "motor-units")
#: the scheme each recipe shipped before the portable one (commit 4cdd6a2): the speed baseline
OLD_SCHEME = {"gait": "s8s8", "muscle": "u8s8", "keystroke": "s8s8", "motor-units": "s8s8"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), help="default: %(default)s")
    p.add_argument("--schemes", nargs="+", default=list(SCHEMES), help="default: %(default)s")
    p.add_argument("--qemu", default=None, help="qemu-x86_64 binary (runs this Python under --x86-cpu)")
    p.add_argument("--x86-cpu", nargs="+", default=["Haswell"], help="default: %(default)s")
    p.add_argument("--qemu-arm", default=None, help="qemu-aarch64 binary (with --arm-python and --arm-prefix)")
    p.add_argument("--arm-cpu", nargs="+", default=["cortex-a72", "cortex-a76"], help="default: %(default)s")
    p.add_argument("--arm-python", default=None, help="arm64 python3 inside the sysroot")
    p.add_argument("--arm-prefix", default=None, help="arm64 sysroot (QEMU_LD_PREFIX)")
    p.add_argument("--arm-pythonpath", default=None, help="PYTHONPATH with onnxruntime/numpy for arm64 and this repo")
    p.add_argument("--work", default=None, help="keep models and outputs here (default: a temporary folder)")
    p.add_argument("--timing-reps", type=int, default=300, help="host timing calls per model (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    p.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)  # emulated side: run DIR's models
    p.add_argument("--tag", default="host", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- tiny checkpoints, as the tests build them ----------------------------------------------------------
def _gait() -> tuple[Any, Any]:
    from edgeemg.tasks.gait import workflow as wf

    plan = wf.SimulationPlan(n_subjects=4, seconds=20.0, eval_subjects=2)
    wf.DEFAULT_SIMULATION = plan
    return wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                    options={}), plan


def _muscle() -> tuple[Any, Any]:
    from edgeemg.tasks.muscle_health import workflow as wf

    plan = wf.SimulationPlan(n_subjects=6, seconds=5.0, eval_subjects=3)
    wf.DEFAULT_SIMULATION = plan
    return wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                    options={}), plan


def _keystroke() -> tuple[Any, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_task_keystroke_board import tiny_checkpoint

    from edgeemg.tasks.keystroke.workflow import SimulationPlan

    return tiny_checkpoint("tds"), SimulationPlan(train_sessions=1, seconds=3.0, eval_seconds=4.0)


def _motor_units() -> tuple[Any, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_task_motor_units_board import SECONDS, SUBJECT, TINY, _make_heads_fire

    from edgeemg.tasks.motor_units import workflow as wf

    ck = wf.train(None, simulate=True, model="mo_dcnn", epochs=None, device="cpu", seed=SUBJECT, progress=False,
                  options={"labels": "truth"}, plan=TINY, simulation=wf.SimulationPlan(seconds=SECONDS, level=0.3))
    _make_heads_fire(ck)
    return ck, None


CHECKPOINTS = {"gait": _gait, "muscle": _muscle, "keystroke": _keystroke, "motor-units": _motor_units}


# -- host side: build, quantize, reference ------------------------------------------------------------
def build_task(task: str, schemes: list[str], work: Path) -> dict[str, Any]:
    """Float ONNX + one int8 model per scheme in ``work/task``; held-out inputs and the PyTorch reference."""
    import torch

    from edgeemg.export import onnx_export
    from edgeemg.export.verify import torch_scores
    from edgeemg.export.hooks import DataSource, task_export
    from edgeemg.export.recipe import load_recipe

    torch.set_num_threads(1)
    ck, plan = CHECKPOINTS[task]()
    recipe = load_recipe(task)
    te = task_export(ck, source=DataSource(plan=plan), calibration_items=64, progress=False)
    d = work / task
    d.mkdir(parents=True, exist_ok=True)
    if te.state:
        raw = onnx_export.export_stateful(te.module, te.input_shape, te.state, d / "raw.onnx",
                                          output_name=te.output_name, dynamic_axes=te.dynamic_axes)
    else:
        raw = onnx_export.export_float(te.module, te.input_shape, d / "raw.onnx")
    fp32 = onnx_export.optimize_offline(raw, d / "fp32.onnx")
    for name in schemes:
        cfg = replace(recipe.quantize, **SCHEMES[name], calibration_windows=64)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_export.quantize_int8(fp32, d / f"{name}.onnx", te.calibration, cfg, Path(tmp))
    export_bundle(ck, plan, recipe, d / "bundle")
    old = replace(recipe, quantize=replace(recipe.quantize, **SCHEMES[OLD_SCHEME[task]]))
    export_bundle(ck, plan, old, d / "bundle-old")
    ref = torch_scores(te.module, te.held_out.x, te.state)
    np.savez(d / "data.npz", x=te.held_out.x, ref=ref)
    (d / "spec.json").write_text(json.dumps({"state": [s.to_manifest() for s in te.state],
                                             "output_name": te.output_name, "schemes": ["fp32", *schemes]}))
    return {"te": te, "ref": ref, "metric": recipe.tolerance.metric, "shipped": recipe.quantize}


def export_bundle(ck: Any, plan: Any, recipe: Any, out: Path) -> None:
    """The task's bundle as ``edgeemg export`` makes it with the shipped recipe (held-out loss gate relaxed: the
    models are tiny), for the golden self-check on every CPU."""
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource

    recipe = replace(recipe, quantize=replace(recipe.quantize, calibration_windows=64),
                     tolerance=replace(recipe.tolerance, max_loss_pp=100.0))
    export_checkpoint(ck, out, recipe=recipe, source=DataSource(plan=plan), progress=False, overwrite=True)


def self_checks(work: Path, tag: str) -> None:
    """``inspect --verify`` of every task's bundles (shipped and old scheme) on this CPU: ``selfcheck.<tag>.json``."""
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.runtime.selfcheck import check_all

    for d in sorted(p for p in work.iterdir() if (p / "bundle").is_dir()):
        out = {}
        for name in ("bundle", "bundle-old"):
            results, skipped = check_all(load_bundle(d / name, precision=None))
            out[name] = {"results": [r.to_dict() for r in results], "not_checked": skipped}
        (d / f"selfcheck.{tag}.json").write_text(json.dumps(out))


# -- either side: run every model of a task folder ----------------------------------------------------
def run_models(work: Path, tag: str, timing_reps: int) -> None:
    """Outputs of every model in ``work/*/`` on this CPU (``outputs.<tag>.npz``), and host timings."""
    from edgeemg.export.hooks import StateTensor
    from edgeemg.export.onnx_export import run, run_sequences, session

    for d in sorted(p for p in work.iterdir() if (p / "spec.json").is_file()):
        spec = json.loads((d / "spec.json").read_text())
        x = np.load(d / "data.npz")["x"]
        state = [StateTensor(s["input"], s["output"], tuple(s["shape"]), s["dtype"]) for s in spec["state"]]
        outs, ms = {}, {}
        for name in spec["schemes"]:
            path = d / f"{name}.onnx"
            outs[name] = run_sequences(path, x, state, output_name=spec["output_name"]) if state else run(path, x)
            if timing_reps:
                sess = session(path)
                feeds = {"x": np.ascontiguousarray(x[0][:1] if state else x[:1]),
                         **{s.input: s.zeros() for s in state}}
                for _ in range(20):
                    sess.run(None, feeds)
                t = []
                for _ in range(timing_reps):
                    t0 = time.perf_counter()
                    sess.run(None, feeds)
                    t.append(time.perf_counter() - t0)
                ms[name] = 1000.0 * float(np.median(t))
        np.savez(d / f"outputs.{tag}.npz", **outs)
        if ms:
            (d / f"timing.{tag}.json").write_text(json.dumps(ms))


def cpu_flags() -> list[str]:
    """The int8-relevant CPU flags of this machine (from /proc/cpuinfo)."""
    from edgeemg.runtime.selfcheck import cpu_features

    return cpu_features()


def emulated_runs(args: argparse.Namespace, work: Path) -> list[str]:
    """Run ``--worker`` under each emulated CPU; returns the tags that produced outputs."""
    tags = []
    here = Path(__file__).resolve()
    env = {**os.environ, "PYTHONPATH": str(here.parents[1])}
    jobs = []
    if args.qemu:
        jobs += [(f"x86-{c}", [args.qemu, "-cpu", c, sys.executable], env) for c in args.x86_cpu]
    if args.qemu_arm and args.arm_python:
        arm_env = {**env, "QEMU_LD_PREFIX": args.arm_prefix or "/", "PYTHONNOUSERSITE": "1",
                   "PYTHONPATH": args.arm_pythonpath or env["PYTHONPATH"]}
        jobs += [(f"arm64-{c}", [args.qemu_arm, "-cpu", c, args.arm_python], arm_env) for c in args.arm_cpu]
    for tag, cmd, e in jobs:
        t0 = time.perf_counter()
        res = subprocess.run([*cmd, str(here), "--worker", str(work), "--tag", tag], env=e, capture_output=True,
                             text=True)
        print(f"{tag}: rc {res.returncode} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if res.returncode == 0:
            tags.append(tag)
        else:
            print(res.stderr[-2000:], file=sys.stderr)
    return tags


def table(task: str, built: dict[str, Any], work: Path, tags: list[str]) -> list[dict[str, Any]]:
    from edgeemg.export.verify import flat_items, loss_pp, parity

    te, ref, metric = built["te"], built["ref"], built["metric"]
    fp32_metric = te.metric(te.held_out.y, ref)[metric]
    d = work / task
    timing = json.loads((d / "timing.host.json").read_text())
    rows = []
    for tag in ["host", *tags]:
        outs = np.load(d / f"outputs.{tag}.npz")
        for name in outs.files:
            got = outs[name]
            par = parity(flat_items(got, bool(te.state)), flat_items(ref, bool(te.state)))
            m = te.metric(te.held_out.y, got)[metric]
            rows.append({"task": task, "scheme": name, "cpu": tag, "metric": metric, "fp32": fp32_metric,
                         "int8": m, "loss_pp": loss_pp(te, fp32_metric, m), "p99_rel": par["p99_rel"],
                         "max_rel": par["max_rel"], "host_ms": timing.get(name),
                         "vs_old": timing.get(name, np.nan) / timing[OLD_SCHEME[task]]})
    return rows


def self_check_rows(tasks: list[str], work: Path, tags: list[str]) -> list[dict[str, Any]]:
    rows = []
    for task in tasks:
        for tag in tags:
            path = work / task / f"selfcheck.{tag}.json"
            if path.is_file():
                rows += [{**r, "task": task, "bundle": "shipped" if b == "bundle" else "old scheme", "cpu": tag}
                         for b, rep in json.loads(path.read_text()).items() for r in rep["results"]]
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        run_models(Path(args.worker), args.tag, 0)
        self_checks(Path(args.worker), args.tag)
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="int8-port-"))
    work.mkdir(parents=True, exist_ok=True)
    built = {}
    for task in args.tasks:
        t0 = time.perf_counter()
        built[task] = build_task(task, args.schemes, work)
        print(f"{task}: built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    run_models(work, "host", args.timing_reps)
    self_checks(work, "host")
    tags = emulated_runs(args, work)
    rows = [r for task in args.tasks for r in table(task, built[task], work, tags)]
    print(f"host CPU flags: {' '.join(cpu_flags())}")
    print(f"{'task':12} {'scheme':9} {'cpu':18} {'metric':9} {'fp32':>8} {'int8':>8} {'loss pp':>8} "
          f"{'p99 rel':>8} {'host ms':>8} {'x old':>9}")
    for r in rows:
        ms = f"{r['host_ms']:8.3f}" if r["host_ms"] is not None else f"{'':8}"
        print(f"{r['task']:12} {r['scheme']:9} {r['cpu']:18} {r['metric']:9} {r['fp32']:8.4f} {r['int8']:8.4f} "
              f"{r['loss_pp']:8.2f} {r['p99_rel']:8.4f} {ms} {r['vs_old']:9.2f}")
    checks = self_check_rows(args.tasks, work, ["host", *tags])
    print(f"\n{'task':12} {'bundle':10} {'cpu':18} {'artifact':12} {'check':6} {'error':>7} {'tol':>6} "
          f"{'drift':>7} {'allowed':>7} {'ms':>8}")
    for r in checks:
        drift = "-" if r["drift"] is None else f"{r['drift']:.4f}"
        print(f"{r['task']:12} {r['bundle']:10} {r['cpu']:18} {r['artifact']:12} {'ok' if r['ok'] else 'FAIL':6} "
              f"{r['error']:7.4f} {r['tolerance']:6.2g} {drift:>7} {r['drift_tolerance']:7.2g} {r['ms']:8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"host_cpu": cpu_flags(), "rows": rows, "self_checks": checks},
                                              indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
