"""The export chain: prune -> fine-tune -> ONNX fp32/int8 -> TFLite fp32/int8 -> verify -> bundle.

:func:`export_checkpoint` is the library call behind ``edgeemg export --int8``.
It is task-agnostic: the task's ``export_hooks`` (:mod:`edgeemg.export.hooks`)
supply the module, data, metric and manifest fields. Nothing is written at the
destination until every artifact has been verified: the bundle is assembled in
a temporary sibling folder and renamed into place, so a failed export (a
tolerance exceeded, a converter crash, Ctrl-C) leaves no half bundle.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg import __version__
from edgeemg.errors import ExportError, InvalidInputError
from edgeemg.export.hooks import DataSource, TaskExport, task_export
from edgeemg.export.recipe import FORMATS, Recipe, load_recipe
from edgeemg.export.verdict import (REFUSED, input_ignoring_scores, judge_int8_loss, loss_refusal_advice,
                                    parity_refusal, usefulness)
from edgeemg.runtime.bundle import BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MANIFEST_NAME, seal_manifest, sha256_file
from edgeemg.runtime.selfcheck import host_record
from edgeemg.tasks.checkpoint import Checkpoint, load_checkpoint

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

log = logging.getLogger(__name__)

ARTIFACT_FILES = {
    "onnx-fp32": "model.fp32.onnx",
    "onnx-int8": "model.int8.onnx",
    "tflite-fp32": "model.fp32.tflite",
    "tflite-int8": "model.int8.tflite",
}


class StageDisplay:
    """One line per stage on stderr (``[3/8] onnx int8 ... 1.4 s``); silent when ``enabled`` is False.

    A stage that runs longer than ``tick_s`` (simulating a keystroke user's
    sessions takes minutes on a small board) gets the elapsed time appended
    every ``tick_s`` seconds (``[1/6] prepare data ... 10 s 20 s ...``), so a
    long step is never silent.
    """

    def __init__(self, stages: list[str], enabled: bool, tick_s: float = 10.0) -> None:
        self.stages, self.enabled, self._i, self._t = stages, enabled, 0, 0.0
        self.seconds: dict[str, float] = {}
        self.tick_s = tick_s
        self._ticker: tuple[threading.Thread, threading.Event] | None = None

    def start(self, name: str) -> None:
        self._i = self.stages.index(name) + 1
        self._name, self._t = name, time.perf_counter()
        if self.enabled:
            print(f"[{self._i}/{len(self.stages)}] {name} ...", end="", file=sys.stderr, flush=True)
            stop = threading.Event()
            thread = threading.Thread(target=self._tick, args=(stop,), name="edgeemg-export-ticker", daemon=True)
            thread.start()
            self._ticker = (thread, stop)

    def _tick(self, stop: threading.Event) -> None:
        k = 1
        while not stop.wait(self.tick_s * k - (time.perf_counter() - self._t)):
            print(f" {self.tick_s * k:.0f} s", end="", file=sys.stderr, flush=True)
            k += 1

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            thread, stop = self._ticker
            stop.set()
            thread.join()
            self._ticker = None

    def fail(self) -> None:
        self._stop_ticker()
        if self.enabled and self._t:
            print(" failed", file=sys.stderr, flush=True)

    def done(self, note: str = "") -> None:
        self._stop_ticker()
        dt = time.perf_counter() - self._t
        self.seconds[self._name] = dt
        self._t = 0.0
        if self.enabled:
            print(f" {dt:.1f} s{'  ' + note if note else ''}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ExportResult:
    """What an export produced: the bundle folder and its manifest (sealed, as written)."""

    bundle: Path
    manifest: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary: bundle, task, files and sizes, metrics, parity, pruning, manifest hash."""
        m = self.manifest
        return {
            "bundle": str(self.bundle),
            "task": m["task"],
            "model": m["model"],
            "manifest_sha256": m["manifest_sha256"],
            "files": m["files"],
            "artifacts": {k: {kk: v.get(kk) for kk in ("status", "file", "bytes", "metric", "parity", "loss", "reason")
                              if kk in v} for k, v in m["artifacts"].items()},
            "metrics": m["metrics"],
            "pruning": m["pruning"],
        }


def parity(got: NDArray[np.float32], ref: NDArray[np.float32]) -> dict[str, float]:
    """Output agreement of an artifact with PyTorch on the same inputs.

    ``max_rel`` is the largest absolute error over all items and outputs
    divided by the largest |output| of the reference; ``p99_rel`` the 99th
    percentile over items of each item's largest error, on the same scale.
    Float artifacts are judged on ``max_rel`` (they differ by rounding only).
    int8 artifacts are judged on ``p99_rel``: a held-out window a little
    outside the calibration range is clipped by design, and one such window
    should not fail an export that the task metric shows is sound.
    """
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.abs(ref).max()) or 1.0
    per_item = err.reshape(len(err), -1).max(axis=1)
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()), "max_rel": float(err.max() / scale),
            "p99_rel": float(np.percentile(per_item, 99) / scale),
            "argmax_agreement": float((got.argmax(-1) == ref.argmax(-1)).mean())}


def _run_artifact(name: str, path: Path, x: NDArray[np.float32], te: TaskExport | None = None
                  ) -> NDArray[np.float32]:
    if name.startswith("onnx"):
        from edgeemg.export import onnx_export

        if te is not None and te.state:
            return onnx_export.run_sequences(path, x, te.state, output_name=te.output_name)
        return onnx_export.run(path, x)
    from edgeemg.export import tflite_export

    if te is not None and te.state:
        return tflite_export.run_sequences(path, x, te.state)
    return tflite_export.run(path, x)


def _torch_scores(module: Any, x: NDArray[np.float32], state: list[Any] | None = None) -> NDArray[np.float32]:
    """PyTorch outputs of every held-out item; for a stateful module, every sequence chunk by chunk.

    The stateful form is what the board computes (state fed back, zeros at the
    start of each sequence), so int8 parity and the task metric are judged on
    the streaming outputs, not on a one-shot pass the board never runs.
    """
    import torch

    module = module.eval()
    with torch.no_grad():
        if state:
            seqs = []
            for seq in x:
                st = [torch.from_numpy(s.zeros()) for s in state]
                rows = []
                for chunk in seq:
                    out, *st = module(torch.from_numpy(np.ascontiguousarray(chunk[None], dtype=np.float32)), *st)
                    rows.append(out[0].numpy())
                seqs.append(np.stack(rows))
            return np.stack(seqs).astype(np.float32)
        return np.concatenate([module(torch.from_numpy(np.ascontiguousarray(x[i : i + 256]))).numpy()
                               for i in range(0, len(x), 256)]).astype(np.float32)


def _flat_items(scores: NDArray[np.float32], stateful: bool) -> NDArray[np.float32]:
    """Stateful outputs (n_seq, n_chunks, ...) as one row per chunk, the unit parity is judged on."""
    return scores.reshape(-1, *scores.shape[2:]) if stateful else scores


def _loss_pp(te: TaskExport, ref: float, got: float) -> float:
    """Percentage points the artifact loses vs fp32 (positive = worse), whatever the metric's direction and unit."""
    diff = (got - ref) if te.metric_lower_is_better else (ref - got)
    return diff if te.metric_in_percent else 100.0 * diff


def _check_recipe(recipe: Recipe, ckpt: Checkpoint, formats: tuple[str, ...] | None) -> tuple[str, ...]:
    if recipe.task != ckpt.task:
        raise InvalidInputError(f"recipe is for task '{recipe.task}' but the checkpoint is a '{ckpt.task}' model")
    chosen = tuple(formats) if formats else recipe.convert.formats
    bad = sorted(set(chosen) - set(FORMATS))
    if bad or not chosen:
        raise InvalidInputError(f"--formats {list(chosen)}: allowed are {list(FORMATS)}")
    return chosen


def export_checkpoint(
    checkpoint: Checkpoint | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    recipe: Recipe | str | os.PathLike[str] | None = None,
    formats: tuple[str, ...] | None = None,
    target: str | None = None,
    source: DataSource | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExportResult:
    """Export a trained checkpoint to a verified int8 bundle.

    Parameters
    ----------
    checkpoint : Checkpoint or path
    output : path
        Bundle folder to create; refused if it exists unless ``overwrite``.
    recipe : Recipe or path or task name, optional
        Default: ``export/<task>.toml``.
    formats : tuple of str, optional
        Subset of ("onnx", "tflite"); default the recipe's.
    target : str, optional
        Board profile name (``targets/<name>.toml``), recorded in the manifest.
    source : DataSource, optional
        Data for calibration, fine-tuning and the held-out metric (default: how
        the checkpoint was trained).
    overwrite : bool
    progress : bool
        Stage display on stderr.

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        int8 loses more than ``recipe.tolerance.max_loss_pp`` (the message names
        the metric, both values and the layers that lose most per
        ``qdq_loss_debug``), an artifact disagrees with PyTorch beyond its
        tolerance, or a converter fails. Nothing is left at ``output``.
    InvalidInputError
        Recipe for another task, unknown format, ``output`` exists.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    recipe_obj = recipe if isinstance(recipe, Recipe) else load_recipe(recipe or ckpt.task)
    fmts = _check_recipe(recipe_obj, ckpt, formats)
    out = Path(output)
    if out.exists() and not overwrite:
        raise InvalidInputError(f"output '{out}' exists; choose another -o or pass --force to replace it")
    target_profile = None
    if target:
        from edgeemg.runtime.targets import load_target

        target_profile = load_target(target).to_dict()
    stages = ["prepare data", "prune + fine-tune"]
    if "onnx" in fmts:
        stages += ["onnx fp32", "onnx int8"]
    if "tflite" in fmts:
        stages += ["tflite fp32", "tflite int8"]
    stages += ["verify", "write bundle"]
    display = StageDisplay(stages, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="edgeemg-export-") as work_dir:
            manifest = _run_chain(ckpt, recipe_obj, fmts, staging, Path(work_dir), display, source or DataSource())
        manifest["target"] = target_profile
        if not isinstance(checkpoint, Checkpoint):  # where `edgeemg bench` finds the float model for torch eager
            manifest["source_checkpoint"].update(path=str(Path(checkpoint).resolve()),
                                                 sha256=sha256_file(checkpoint))
        display.start("write bundle")
        (staging / MANIFEST_NAME).write_bytes(seal_manifest(manifest, staging))
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
        display.done(str(out))
    except BaseException:
        display.fail()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from edgeemg.runtime.bundle import load_bundle

    return ExportResult(out, load_bundle(out).manifest)


def _golden(te: TaskExport, module: Any, staging: Path, io: dict[str, Any], artifacts: dict[str, Any],
            scale: float, tol: Any) -> dict[str, Any]:
    """Write golden.npz and run every artifact's self-check on this host: the manifest's ``self_check``."""
    from edgeemg.export import golden

    record = golden.write_golden(te, module, staging, output_name=io["outputs"][0]["name"], scale=scale,
                                 tolerance={"int8": tol.int8_rtol, "fp32": tol.fp32_rtol},
                                 drift_tolerance={"int8": tol.int8_drift_rtol, "fp32": tol.fp32_rtol})
    record["export_host"] = golden.check_on_host(staging, {**io, "artifacts": artifacts, "self_check": record})
    return record


def _run_chain(ckpt: Checkpoint, recipe: Recipe, fmts: tuple[str, ...], staging: Path, work: Path,
               display: StageDisplay, source: DataSource) -> dict[str, Any]:
    from edgeemg.export.prune import model_cost, prune_structured

    display.start("prepare data")
    te: TaskExport = task_export(ckpt, source=source, calibration_items=recipe.quantize.calibration_windows,
                                 progress=False)
    if source.lm is not None and not te.extra_files:
        raise InvalidInputError(f"--lm {source.lm}: task '{ckpt.task}' has no decoder that reads an LM; "
                                "expected a keystroke checkpoint")
    metric_name = recipe.tolerance.metric
    x_held, y_held = te.held_out.x, te.held_out.y
    ref_scores = _torch_scores(te.module, x_held, te.state)
    ref_metrics = te.metric(y_held, ref_scores)
    if metric_name not in ref_metrics:
        raise InvalidInputError(
            f"recipe [tolerance] metric '{metric_name}' is not reported by task '{ckpt.task}'; "
            f"it reports {sorted(ref_metrics)}")
    display.done(f"{te.calibration.n_items} calibration items, {len(y_held)} held-out items")
    useful = usefulness(metric_name, ref_metrics[metric_name],
                        te.metric(y_held, input_ignoring_scores(ref_scores))[metric_name],
                        te.metric_lower_is_better, te.metric_in_percent)
    if "warning" in useful:
        log.warning("%s", useful["warning"])

    display.start("prune + fine-tune")
    state_shapes = tuple(tuple(s.shape) for s in te.state)
    cost_before = model_cost(te.module, te.input_shape, state_shapes)
    module, layers = te.module, []
    if recipe.prune.method == "l1-filter" and recipe.prune.ratio > 0 and te.prune_groups and te.state:
        raise InvalidInputError(f"recipe [prune] method 'l1-filter': the chain does not prune stateful models "
                                f"(state {[s.input for s in te.state]}); use method \"none\"")
    if recipe.prune.method == "l1-filter" and recipe.prune.ratio > 0 and te.prune_groups:
        module, layers = prune_structured(te.module, te.prune_groups, recipe.prune.ratio,
                                         recipe.prune.channel_multiple)
        module = te.finetune(module, recipe.prune.finetune_epochs, False)
    cost_after = model_cost(module, te.input_shape, state_shapes)
    pruned_scores = _torch_scores(module, x_held, te.state)
    pruned_metrics = te.metric(y_held, pruned_scores)
    pruning = {"method": recipe.prune.method, "ratio": recipe.prune.ratio,
               "channel_multiple": recipe.prune.channel_multiple,
               "finetune_epochs": recipe.prune.finetune_epochs if layers else 0, "layers": layers,
               "before": cost_before.to_dict(), "after": cost_after.to_dict()}
    display.done(f"params {cost_before.params} -> {cost_after.params}, MACs {cost_before.macs} -> {cost_after.macs}")

    artifacts: dict[str, dict[str, Any]] = {}
    quant_record: dict[str, Any] = {}
    if "onnx" in fmts:
        from edgeemg.export import onnx_export

        display.start("onnx fp32")
        if te.state:
            raw = onnx_export.export_stateful(module, te.input_shape, te.state, work / "raw.onnx",
                                              output_name=te.output_name, dynamic_axes=te.dynamic_axes)
        else:
            raw = onnx_export.export_float(module, te.input_shape, work / "raw.onnx")
        fp32 = staging / ARTIFACT_FILES["onnx-fp32"]
        onnx_export.optimize_offline(raw, fp32)
        artifacts["onnx-fp32"] = {"file": fp32.name, "format": "onnx", "precision": "fp32",
                                  "optimization": "onnxruntime ORT_ENABLE_BASIC, saved offline",
                                  "opset": onnx_export.DYNAMO_OPSET if te.state else onnx_export.OPSET,
                                  "batch": 1 if te.state else None,
                                  **({"exporter": "torch.onnx.export(dynamo=True)"} if te.state else {})}
        display.done()
        display.start("onnx int8")
        int8 = staging / ARTIFACT_FILES["onnx-int8"]
        quant_record = onnx_export.quantize_int8(fp32, int8, te.calibration, recipe.quantize, work)
        if te.state:
            quant_record["calibration_items"] = te.calibration.n_items
            quant_record["calibration_unit"] = "sequence chunks with the state the float model carried into them"
        artifacts["onnx-int8"] = {"file": int8.name, "format": "onnx", "precision": "int8",
                                  "batch": 1 if te.state else None, "quantization": quant_record}
        display.done(f"static: {quant_record.get('static_op_types')}, dynamic: {quant_record.get('dynamic_nodes')}")
    if "tflite" in fmts:
        from edgeemg.export import tflite_export

        for precision in ("fp32", "int8"):
            name = f"tflite-{precision}"
            display.start(name.replace("-", " "))
            path = staging / ARTIFACT_FILES[name]
            try:
                if te.state:
                    q = tflite_export.convert_stateful(module, te.input_shape, te.state, path, precision,
                                                       te.calibration, recipe.quantize)
                elif precision == "fp32":
                    tflite_export.convert_fp32(module, te.input_shape, path)
                    q = None
                else:
                    tflite_export.convert_int8(module, te.input_shape, path, te.calibration.batches(),
                                               per_channel=recipe.quantize.per_channel)
                    q = {"scheme": "static", "tool": "litert-torch PT2E (torchao)", "per_channel":
                         recipe.quantize.per_channel, "symmetric": True, "calibration_items": te.calibration.n_items}
                io = tflite_export.io_details(path)  # builds an interpreter: a model TFLite cannot prepare fails here
            except Exception as exc:  # a converter failure is recorded, not faked (issue 6)
                path.unlink(missing_ok=True)
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:400]
                log.warning("%s could not be produced: %s", name, reason)
                artifacts[name] = {"status": "unavailable", "format": "tflite", "precision": precision,
                                   "reason": reason}
                display.done("unavailable")
                continue
            artifacts[name] = {"file": path.name, "format": "tflite", "precision": precision, "batch": 1,
                               "io": io, **({"quantization": q} if q else {})}
            display.done()

    display.start("verify")
    tol = recipe.tolerance
    metrics: dict[str, Any] = {"metric": metric_name, "held_out": {"n_items": int(len(y_held)),
                                                                    "source": te.held_out.source},
                               "torch-fp32": ref_metrics, "torch-pruned-fp32": pruned_metrics}
    failures, loss_notes = [], []
    for name, art in artifacts.items():
        if art.get("status") == "unavailable":
            continue
        path = staging / art["file"]
        scores = _run_artifact(name, path, x_held, te) if te.state else _run_artifact(name, path, x_held)
        par = parity(_flat_items(scores, bool(te.state)), _flat_items(pruned_scores, bool(te.state)))
        judged = "p99_rel" if art["precision"] == "int8" else "max_rel"
        limit = tol.int8_rtol if art["precision"] == "int8" else tol.fp32_rtol
        par.update(judged_on=judged, tolerance=limit)
        art["parity"] = par
        art["metric"] = te.metric(y_held, scores)
        art["bytes"] = path.stat().st_size
        metrics[name] = art["metric"]
        loss = None
        if art["precision"] == "int8":
            loss = judge_int8_loss(name, metric_name, lambda y, s: te.metric(y, s)[metric_name],
                                   lambda ref, got: _loss_pp(te, ref, got), y_held, ref_scores, scores,
                                   tol.max_loss_pp, block=1 if te.state else None)
            art["loss_pp"], art["loss"] = loss.interval.loss_pp, loss.to_dict()
            loss_notes += [loss.warning()] if loss.warning() else []
        if par[judged] > limit:
            failures.append(parity_refusal(name, art["precision"], judged, par[judged], limit, par["max_abs"],
                                           recipe.quantize.calibration_windows, loss))
        if loss is not None:
            if loss.status == REFUSED:
                msg = (f"{name} {metric_name} {art['metric'][metric_name]:.4f} vs fp32 {ref_metrics[metric_name]:.4f}: "
                       f"{loss.describe()} > max_loss_pp {tol.max_loss_pp:g} (pruned fp32: "
                       f"{pruned_metrics[metric_name]:.4f}); "
                       f"{loss_refusal_advice(recipe.quantize.calibration_windows)}")
                prune_loss = _loss_pp(te, ref_metrics[metric_name], pruned_metrics[metric_name])
                if prune_loss > tol.max_loss_pp:
                    msg += (f"; pruning alone loses {prune_loss:.2f} pp: lower [prune] ratio or raise "
                            "finetune_epochs")
                if name == "onnx-int8":
                    from edgeemg.export import onnx_export

                    worst = onnx_export.layer_losses(staging / ARTIFACT_FILES["onnx-fp32"], path,
                                                     te.calibration.feeds() if te.state else x_held, work)
                    art["layer_losses"] = worst
                    msg += "; layers losing most (qdq_loss_debug SQNR, dB): " + ", ".join(
                        f"{w['node']} ({w['op']}) {w['sqnr_db']:.1f}" for w in worst)
                failures.append(msg)
    if failures:
        raise ExportError("export refused, no bundle written: " + " | ".join(failures))
    in_shape = [1 if te.state else None, *te.input_shape]
    for ax, dim_name in te.dynamic_axes.items():
        in_shape[1 + int(ax)] = None
        log.debug("input axis %d (%s) is dynamic", ax, dim_name)
    io = {"input": {"name": "x", "shape": in_shape, "dtype": "float32",
                    "layout": "(batch, *item) as the DSP chain produces items"},
          "state": [s.to_manifest() for s in te.state] if te.state else te.manifest.get("state", []),
          # a task may describe its output itself (motor units: multi-output sigmoid "probabilities", one per unit)
          "outputs": te.manifest.get("outputs") or [{"name": "logits", "shape": [None, len(te.manifest["labels"])],
                                                     "dtype": "float32", "kind": "logits"}]}
    self_check = _golden(te, module, staging, io, artifacts, float(np.abs(pruned_scores).max()), tol)
    int8_loss = [a["loss_pp"] for a in artifacts.values() if "loss_pp" in a]
    metrics["max_int8_loss_pp"] = max(int8_loss) if int8_loss else None
    metrics["max_loss_pp"] = tol.max_loss_pp
    metrics["fp32_usefulness"] = useful
    metrics["direction"] = "lower is better" if te.metric_lower_is_better else "higher is better"
    display.done(f"{metric_name}: fp32 {ref_metrics[metric_name]:.4f}, " + ", ".join(
        f"{k} {v['metric'][metric_name]:.4f}" for k, v in artifacts.items() if "metric" in v))
    for note in loss_notes:  # after the stage line, so it reads as its own line
        log.warning("%s", note)

    for name, src in te.extra_files.items():  # task files the decoder reads (a keystroke LM), hashed with the rest
        if name in ARTIFACT_FILES.values() or name == MANIFEST_NAME:
            raise InvalidInputError(f"task file '{name}' would overwrite a bundle file; rename it")
        shutil.copyfile(src, staging / name)
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created_by": f"edgeemg {__version__}",
        **te.manifest,
        **io,
        "artifacts": artifacts,
        "default_artifacts": {"onnx": "onnx-int8", "tflite": "tflite-int8"},
        "quantization": {"onnx": quant_record, "per_op": quant_record.get("per_op", {}),
                         "calibration": {**te.calibration.stats(), "notes": te.notes},
                         "weights": recipe.quantize.weight_type, "activations": recipe.quantize.activation_type,
                         "reduce_range": recipe.quantize.reduce_range},
        "self_check": self_check,
        "export_host": host_record(),
        "pruning": pruning,
        "metrics": metrics,
        "recipe": recipe.to_dict(),
        "source_checkpoint": {"task": ckpt.task, "model": ckpt.model, "seed": ckpt.meta.get("seed"),
                              "data": ckpt.meta.get("data"), "summary": ckpt.meta.get("summary", {})},
        "stage_seconds": dict(display.seconds),
    }
    return manifest


__all__ = ["ARTIFACT_FILES", "ExportResult", "StageDisplay", "export_checkpoint"]
