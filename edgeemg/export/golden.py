"""Golden vectors for the bundle's self-check: chosen, computed by PyTorch, written, and checked on the export host.

The board side (:mod:`edgeemg.runtime.selfcheck`) runs them before decoding; this
module makes them. The inputs are calibration items, spread evenly over the
calibration set (in range by construction, so the check measures the kernels,
not clipping of an unusual window); a stateful model's items carry the state the
float model had when it reached them. The reference is the (pruned) PyTorch
model the export judged parity against, and the scale is the one it used (the
largest |output| on the held-out data), so a board's figure reads like the
manifest's ``parity``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import ExportError
from edgeemg.runtime.selfcheck import GOLDEN_FILE, check_all, load_golden, run_golden

#: Items in golden.npz: enough to cover the calibration range, few enough to run in milliseconds on a Pi.
N_GOLDEN = 16


def _items(te: Any, n: int) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
    """``n`` calibration inputs spread over the calibration set, and their state inputs (stateful models)."""
    if te.state:
        feeds = te.calibration.feeds()
        pick = np.unique(np.linspace(0, len(feeds) - 1, min(n, len(feeds))).round().astype(int))
        x = np.concatenate([feeds[i][te.calibration.input_name] for i in pick]).astype(np.float32)
        state = {s.input: np.stack([np.asarray(feeds[i][s.input], np.float32) for i in pick]) for s in te.state}
        return x, state
    xs = np.concatenate(list(te.calibration.batches()))
    pick = np.unique(np.linspace(0, len(xs) - 1, min(n, len(xs))).round().astype(int))
    return np.ascontiguousarray(xs[pick], dtype=np.float32), {}


def _reference(module: Any, x: NDArray[np.float32], state: dict[str, NDArray[np.float32]], te: Any
               ) -> NDArray[np.float32]:
    """PyTorch's outputs for the golden items (each stateful item run alone with its own state)."""
    import torch

    with torch.no_grad():
        if not te.state:
            return module.eval()(torch.from_numpy(x)).numpy().astype(np.float32)
        rows = []
        for i in range(len(x)):
            out, *_ = module.eval()(torch.from_numpy(x[i : i + 1]), *(torch.from_numpy(state[s.input][i])
                                                                       for s in te.state))
            rows.append(out[0].numpy())
        return np.stack(rows).astype(np.float32)


def write_golden(te: Any, module: Any, folder: Path, *, output_name: str, scale: float,
                 tolerance: dict[str, float], drift_tolerance: dict[str, float]) -> dict[str, Any]:
    """Write ``golden.npz`` into ``folder``; returns the manifest's ``self_check`` record (host results added later).

    Parameters
    ----------
    te : TaskExport
    module : torch.nn.Module
        The model the export verified its artifacts against (pruned, float).
    output_name : str
        The manifest's output name the reference is stored under.
    scale : float
        Largest |output| of ``module`` on the held-out data (the parity scale).
    tolerance, drift_tolerance : dict
        ``{"int8": ..., "fp32": ...}`` from the recipe (``int8_rtol`` / ``int8_drift_rtol``, ``fp32_rtol``).
    """
    x, state = _items(te, N_GOLDEN)
    ref = _reference(module, x, state, te)
    arrays = {"x": x, **{f"state.{k}": v for k, v in state.items()}, f"ref.{output_name}": ref}
    with open(folder / GOLDEN_FILE, "wb") as fh:
        np.savez(fh, **arrays)
    return {"file": GOLDEN_FILE, "n_items": int(len(x)), "scale": float(scale), "tolerance": dict(tolerance),
            "drift_tolerance": dict(drift_tolerance),
            "statistic": "largest per-item max |artifact output - PyTorch output| / scale",
            "reference": "PyTorch float model (pruned) the export verified against",
            "items": "calibration inputs spread over the calibration set" + (", with the state the float model "
                                                                            "carried into them" if te.state else "")}


def check_on_host(folder: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Store every artifact's outputs for the golden inputs in golden.npz (what a board's drift is measured
    against), then run the self-check of every artifact here; refuse the export if one fails.

    ``manifest`` needs ``input``, ``outputs``, ``state``, ``artifacts`` and ``self_check``.
    Returns ``{artifact: {"error", "tolerance", "ms"}}`` for the manifest.
    """
    from edgeemg.runtime.backends import open_backend
    from edgeemg.runtime.bundle import Bundle

    bundle = Bundle(folder, manifest)
    golden = load_golden(bundle)
    if golden is None:
        raise ExportError(f"{folder / GOLDEN_FILE}: golden vectors were not written")
    for name in bundle.available_artifacts():
        fmt, precision = name.split("-")
        backend = open_backend(bundle, backend="onnxruntime" if fmt == "onnx" else "tflite", precision=precision)
        golden.update({f"host.{name}.{out}": y for out, y in run_golden(bundle, backend, golden).items()})
    with open(folder / GOLDEN_FILE, "wb") as fh:
        np.savez(fh, **golden)
    results, skipped = check_all(bundle)
    if skipped:
        raise ExportError(f"{folder}: golden self-check could not run on the export host: {skipped}")
    failures = [r.message() for r in results if not r.ok]
    if failures:
        raise ExportError("export refused, no bundle written: the golden self-check fails on the export host "
                          "itself: " + " | ".join(failures))
    return {r.artifact: {"error": r.error, "tolerance": r.tolerance, "ms": round(r.ms, 3)} for r in results}


__all__ = ["N_GOLDEN", "check_on_host", "write_golden"]
