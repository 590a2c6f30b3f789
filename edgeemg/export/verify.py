"""The export's verify stage: each artifact's outputs and task metric against the PyTorch model's.

Parity (output agreement on the held-out items) and the int8 metric loss with
its confidence interval are judged against the recipe's tolerances; a refusal
names what to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.export.convert import ARTIFACT_FILES
from edgeemg.export.hooks import TaskExport
from edgeemg.export.recipe import Recipe
from edgeemg.export.verdict import REFUSED, judge_int8_loss, loss_refusal_advice, parity_refusal


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


def torch_scores(module: Any, x: NDArray[np.float32], state: list[Any] | None = None) -> NDArray[np.float32]:
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


def flat_items(scores: NDArray[np.float32], stateful: bool) -> NDArray[np.float32]:
    """Stateful outputs (n_seq, n_chunks, ...) as one row per chunk, the unit parity is judged on."""
    return scores.reshape(-1, *scores.shape[2:]) if stateful else scores


def loss_pp(te: TaskExport, ref: float, got: float) -> float:
    """Percentage points the artifact loses vs fp32 (positive = worse), whatever the metric's direction and unit."""
    diff = (got - ref) if te.metric_lower_is_better else (ref - got)
    return diff if te.metric_in_percent else 100.0 * diff


def verify_artifacts(te: TaskExport, recipe: Recipe, artifacts: dict[str, dict[str, Any]], staging: Path, work: Path,
                     ref: tuple[NDArray[np.float32], dict[str, Any]], pruned: tuple[NDArray[np.float32], dict[str, Any]],
                     ) -> tuple[dict[str, Any], list[str], list[str]]:
    """Score every produced artifact on the held-out items: (manifest ``metrics``, refusals, loss warnings).

    ``ref`` and ``pruned`` are (scores, metrics) of the float model before and
    after pruning. Each artifact entry gets its ``parity``, ``metric`` and
    ``bytes`` (int8 ones also ``loss_pp`` / ``loss``, and ``layer_losses``
    when ONNX int8 is refused).
    """
    (ref_scores, ref_metrics), (pruned_scores, pruned_metrics) = ref, pruned
    tol = recipe.tolerance
    metric_name = tol.metric
    x_held, y_held = te.held_out.x, te.held_out.y
    metrics: dict[str, Any] = {"metric": metric_name, "held_out": {"n_items": int(len(y_held)),
                                                                    "source": te.held_out.source},
                               "torch-fp32": ref_metrics, "torch-pruned-fp32": pruned_metrics}
    failures, loss_notes = [], []
    for name, art in artifacts.items():
        if art.get("status") == "unavailable":
            continue
        path = staging / art["file"]
        scores = _run_artifact(name, path, x_held, te) if te.state else _run_artifact(name, path, x_held)
        par = parity(flat_items(scores, bool(te.state)), flat_items(pruned_scores, bool(te.state)))
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
                                   lambda ref, got: loss_pp(te, ref, got), y_held, ref_scores, scores,
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
                prune_loss = loss_pp(te, ref_metrics[metric_name], pruned_metrics[metric_name])
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
    return metrics, failures, loss_notes


__all__ = ["flat_items", "loss_pp", "parity", "torch_scores", "verify_artifacts"]
