"""Export evidence (issue 6): fp32 vs pruned vs pruned+int8, ONNX and TFLite, for gait and muscle health.

For each task a model is trained on simulated data and exported with pruning
off and with the shipped recipe, so the table has the unpruned fp32 model, the
pruned fp32 model and the pruned int8 model in both formats: file size,
parameters, MACs, the task metric on held-out subjects and the median / p99
latency of one item (batch 1) on one core, next to PyTorch eager fp32 measured
in the same run. Where the shipped recipe does not prune (``method = "none"``,
the muscle model: see ``export/muscle.toml``) the second export would repeat
the first, so its rows are the unpruned bundle's and say so.

The muscle model is trained to the accuracy the task reaches on simulated data
(16 subjects x 10 s, 15 epochs: ~0.9 validation macro F1) rather than a
six-epoch smoke model, because an undertrained model's metric says nothing
about what pruning and quantization cost. The gait CNN plateaus after a few
epochs on this simulator (validation macro F1 ~0.55 at 6 and at 15 epochs), so
it keeps 6. The muscle metric is scored on 18 fresh subjects (324 segments):
on 6 (108 segments) one segment moves accuracy by ~0.9 pp, as coarse as the
1 pp gate itself. Total run time is about 3-6 minutes on 2 shared cores.

Gates, from this run only: int8 (ONNX and TFLite) at least 2x faster than
PyTorch eager fp32, and int8 metric loss against the unpruned fp32 checkpoint
within the recipe's ``max_loss_pp``. The size ratio is reported, not gated
(the muscle model's 16.5 k parameters are outweighed by the int8 graph's
per-tensor metadata; the report in ``export/muscle.toml`` gives the bytes).

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_export.py -s`` (the
table prints at the end; ``EDGEEMG_EXPORT_TABLE=path.md`` also writes it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

from edgeemg.export.chain import export_checkpoint  # noqa: E402
from edgeemg.export.hooks import DataSource  # noqa: E402
from edgeemg.export.recipe import load_recipe, recipe_from_dict  # noqa: E402
from edgeemg.runtime.bundle import load_bundle  # noqa: E402

TASKS = {
    "gait": {"plan": dict(n_subjects=6, seconds=60.0, eval_subjects=3), "model": "cnn", "epochs": 6,
             "options": {"preset": "seed"}},
    "muscle": {"plan": dict(n_subjects=16, seconds=10.0, eval_subjects=18), "model": "attention", "epochs": 15},
}
ROUNDS = 300
ROWS: list[dict] = []


def _workflow(task: str):
    if task == "gait":
        from edgeemg.tasks.gait import workflow
    else:
        from edgeemg.tasks.muscle_health import workflow
    return workflow


_CACHE: dict[str, tuple] = {}


def _exported(task: str, tmp_root: Path) -> tuple:
    """Train and export ``task`` once per session (unpruned and pruned bundles)."""
    if task in _CACHE:
        return _CACHE[task]
    wf = _workflow(task)
    cfg = TASKS[task]
    plan = wf.SimulationPlan(**cfg["plan"])
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", plan)
    try:
        ck = wf.train(None, simulate=True, model=cfg["model"], epochs=cfg["epochs"], device="cpu", seed=0,
                      progress=False, options=cfg.get("options", {}))
    finally:
        mp.undo()
    tmp = tmp_root / task
    base = load_recipe(task).to_dict()
    base["tolerance"]["max_loss_pp"] = 100.0  # measured and reported here, not gated: the table is the evidence
    unpruned = dict(base, prune=dict(base["prune"], method="none"))
    src = DataSource(plan=plan)
    full = load_bundle(export_checkpoint(ck, tmp / "full", recipe=recipe_from_dict(unpruned), source=src,
                                         progress=False).bundle)
    if base["prune"]["method"] == "none" or base["prune"]["ratio"] == 0:
        pruned = full  # the shipped recipe does not prune: its bundle is the unpruned one
    else:
        pruned = load_bundle(export_checkpoint(ck, tmp / "pruned", recipe=recipe_from_dict(base), source=src,
                                               progress=False).bundle)
    _CACHE[task] = (ck, full, pruned)
    return _CACHE[task]


@pytest.fixture(scope="session")
def export_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-export")


def _one_item(bundle) -> np.ndarray:
    shape = [1, *bundle.manifest["input"]["shape"][1:]]
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _runner(bundle, name: str):
    from edgeemg.export import onnx_export, tflite_export

    fmt, precision = name.split("-")
    path = bundle.artifact(fmt, precision)
    x = _one_item(bundle)
    if fmt == "onnx":
        sess = onnx_export.session(path, threads=1)
        return lambda: sess.run(None, {"x": x})
    it = tflite_export.interpreter(path, threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    feed = x if inp["dtype"] == np.float32 else np.zeros(x.shape, inp["dtype"])

    def call():
        it.set_tensor(inp["index"], feed)
        it.invoke()
        return it.get_tensor(out["index"])

    return call


def _measure(benchmark, fn) -> tuple[float, float]:
    for _ in range(20):
        fn()  # warm-up: first calls allocate and pick kernels
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1)
    data = np.asarray(benchmark.stats.stats.data)
    return float(np.median(data)), float(np.percentile(data, 99))


VARIANTS = ("torch eager fp32", "fp32 onnx", "fp32 tflite", "pruned fp32 onnx", "pruned fp32 tflite",
            "pruned+int8 onnx", "pruned+int8 tflite")


def _eager(task: str, ck, bundle):
    import torch

    torch.set_num_threads(1)
    if task == "gait":
        from edgeemg.tasks.gait.export_hooks import build_module

        net = build_module(ck)
    else:
        net = _workflow(task).build_network(ck).eval()
    x = torch.from_numpy(_one_item(bundle))

    def call():
        with torch.no_grad():
            return net(x)

    return call


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_latency(task, variant, benchmark, timings, export_root):
    ck, full, pruned = _exported(task, export_root)
    metric = full.manifest["metrics"]["metric"]
    if variant == "torch eager fp32":
        fn = _eager(task, ck, full)
        cost, value, size = full.manifest["pruning"]["before"], full.manifest["metrics"]["torch-fp32"][metric], None
    else:
        label, fmt = variant.rsplit(" ", 1)
        if pruned is full and label == "pruned fp32":
            ROWS.append({"task": task, "variant": variant, "unavailable": "not pruned: the recipe says method none"})
            pytest.skip(f"{task}: the shipped recipe does not prune")
        bundle = full if label == "fp32" else pruned
        name = f"{fmt}-{'int8' if 'int8' in label else 'fp32'}"
        art = bundle.manifest["artifacts"][name]
        if art.get("status") == "unavailable":
            ROWS.append({"task": task, "variant": variant, "unavailable": art["reason"]})
            pytest.skip(f"{task} {name} unavailable: {art['reason']}")
        fn = _runner(bundle, name)
        cost = bundle.manifest["pruning"]["after"]
        value, size = art["metric"][metric], bundle.manifest["files"][art["file"]]["bytes"]
    med, p99 = _measure(benchmark, fn)
    timings.record(f"export.{task}.{variant}", med, f"median of {ROUNDS}, one core, batch 1; p99 {p99 * 1e3:.3f} ms")
    ROWS.append({"task": task, "variant": variant + (" (not pruned)" if pruned is full and "pruned" in variant else ""),
                 "bytes": size, "params": cost["params"], "macs": cost["macs"], "metric": metric, "value": value,
                 "median_ms": med * 1e3, "p99_ms": p99 * 1e3, "timing": f"export.{task}.{variant}"})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_goals(task, timings, export_root):
    """Gates: int8 >= 2x faster than PyTorch eager fp32 (same run), int8 loss <= the recipe's max_loss_pp.

    The loss is the export's own figure: the int8 artifact's metric against the
    *unpruned* fp32 checkpoint's on the same held-out subjects, so what pruning
    costs counts. The size ratio (int8 file / unpruned fp32 file) is reported.
    """
    _, full, pruned = _exported(task, export_root)
    eager = f"export.{task}.torch eager fp32"
    for fmt in ("onnx", "tflite"):
        fast = f"export.{task}.pruned+int8 {fmt}"
        if fast in timings.seconds and eager in timings.seconds:
            ROWS.append({"task": task, "variant": f"speed-up {fmt} int8 vs torch eager",
                         "ratio": timings.seconds[eager] / timings.seconds[fast]})
            timings.require_ratio(f"{task} {fmt} int8 vs torch eager fp32", slow=eager, fast=fast, at_least=2.0)
    files = {n: e["bytes"] for n, e in full.manifest["files"].items()}
    pfiles = {n: e["bytes"] for n, e in pruned.manifest["files"].items()}
    for fmt in ("onnx", "tflite"):
        if f"model.int8.{fmt}" in pfiles and f"model.fp32.{fmt}" in files:
            ROWS.append({"task": task, "variant": f"int8 {fmt} size / fp32 {fmt} size",
                         "ratio_text": f"{100 * pfiles[f'model.int8.{fmt}'] / files[f'model.fp32.{fmt}']:.0f} %"})
    metrics = pruned.manifest["metrics"]
    limit = load_recipe(task).tolerance.max_loss_pp
    for name in ("onnx-int8", "tflite-int8"):
        art = pruned.manifest["artifacts"][name]
        if "loss_pp" in art:
            ROWS.append({"task": task, "variant": f"{name} loss vs unpruned fp32 (pp)",
                         "ratio_text": f"{art['loss_pp']:.2f} pp (limit {limit:g})"})
    assert metrics["max_int8_loss_pp"] <= limit, (
        f"{task}: int8 loses {metrics['max_int8_loss_pp']:.2f} pp of {metrics['metric']} against the unpruned fp32 "
        f"model, more than the recipe's max_loss_pp {limit:g}")


def _table() -> str:
    eager = {r["task"]: r["median_ms"] for r in ROWS if r.get("variant") == "torch eager fp32"}
    lines = ["| task | variant | size | params | MACs | metric | median ms | p99 ms | eager / this |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in ROWS:
        if "ratio_text" in r:
            lines.append(f"| {r['task']} | {r['variant']} | | | | {r['ratio_text']} | | | |")
        elif "ratio" in r:
            lines.append(f"| {r['task']} | {r['variant']} | | | | | | | {r['ratio']:.1f}x |")
        elif "unavailable" in r:
            lines.append(f"| {r['task']} | {r['variant']} | {r['unavailable'][:80]} | | | | | | |")
        else:
            size = "-" if r["bytes"] is None else f"{r['bytes'] / 1024:.1f} KiB"
            speed = f"{eager[r['task']] / r['median_ms']:.1f}x" if r["task"] in eager else ""
            lines.append(f"| {r['task']} | {r['variant']} | {size} | {r['params']:,} | {r['macs']:,} | "
                         f"{r['metric']} {r['value']:.4f} | {r['median_ms']:.3f} | {r['p99_ms']:.3f} | {speed} |")
    return "\n".join(lines)


def test_print_table():
    if not ROWS:
        pytest.skip("no export benchmark ran")
    table = _table()
    print("\n" + table)
    out = os.environ.get("EDGEEMG_EXPORT_TABLE")
    if out:
        Path(out).write_text(table + "\n")
