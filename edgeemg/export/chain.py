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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeemg import __version__
from edgeemg.errors import ExportError, InvalidInputError
from edgeemg.export.convert import ARTIFACT_FILES, convert_artifacts
from edgeemg.export.hooks import DataSource, TaskExport, task_export
from edgeemg.export.recipe import FORMATS, Recipe, load_recipe
from edgeemg.export.stages import StageDisplay
from edgeemg.export.verdict import input_ignoring_scores, usefulness
from edgeemg.export.verify import torch_scores, verify_artifacts
from edgeemg.runtime.bundle import BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MANIFEST_NAME, seal_manifest, sha256_file
from edgeemg.runtime.selfcheck import host_record
from edgeemg.tasks.checkpoint import Checkpoint, load_checkpoint

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

log = logging.getLogger(__name__)


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
    ref_scores = torch_scores(te.module, x_held, te.state)
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
    pruned_scores = torch_scores(module, x_held, te.state)
    pruned_metrics = te.metric(y_held, pruned_scores)
    pruning = {"method": recipe.prune.method, "ratio": recipe.prune.ratio,
               "channel_multiple": recipe.prune.channel_multiple,
               "finetune_epochs": recipe.prune.finetune_epochs if layers else 0, "layers": layers,
               "before": cost_before.to_dict(), "after": cost_after.to_dict()}
    display.done(f"params {cost_before.params} -> {cost_after.params}, MACs {cost_before.macs} -> {cost_after.macs}")

    artifacts, quant_record = convert_artifacts(module, te, recipe, fmts, staging, work, display)

    display.start("verify")
    tol = recipe.tolerance
    metrics, failures, loss_notes = verify_artifacts(te, recipe, artifacts, staging, work, (ref_scores, ref_metrics),
                                                     (pruned_scores, pruned_metrics))
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


__all__ = ["ExportResult", "export_checkpoint"]
