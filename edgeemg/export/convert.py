"""The export's conversion stages: the (pruned) float module -> ONNX fp32/int8 and TFLite fp32/int8 files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgeemg.export.hooks import TaskExport
from edgeemg.export.recipe import Recipe
from edgeemg.export.stages import StageDisplay

log = logging.getLogger(__name__)

ARTIFACT_FILES = {
    "onnx-fp32": "model.fp32.onnx",
    "onnx-int8": "model.int8.onnx",
    "tflite-fp32": "model.fp32.tflite",
    "tflite-int8": "model.int8.tflite",
}


def convert_artifacts(module: Any, te: TaskExport, recipe: Recipe, fmts: tuple[str, ...], staging: Path, work: Path,
                      display: StageDisplay) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Write every artifact of ``fmts`` into ``staging``: (manifest ``artifacts`` entries, ONNX quantization record).

    A TFLite converter failure is recorded as ``status: unavailable`` with its
    reason instead of failing the export; ONNX failures raise.
    """
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
        quant_record = onnx_export.quantize_int8(fp32, int8, te.calibration, recipe.quantize, work,
                                                   output_name=te.output_name, float_modules=te.float_modules)
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
                    rq = recipe.quantize
                    tflite_export.convert_int8(module, te.input_shape, path, te.calibration.batches(),
                                               per_channel=rq.per_channel, float_first=rq.float_first,
                                               float_head=rq.float_head, float_modules=te.float_modules)
                    q = {"scheme": "static", "tool": "litert-torch PT2E (torchao)", "per_channel": rq.per_channel,
                         "symmetric": True, "calibration_items": te.calibration.n_items,
                         "float_first": rq.float_first, "float_head": rq.float_head,
                         "float_modules": list(te.float_modules)}
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
    return artifacts, quant_record


__all__ = ["ARTIFACT_FILES", "convert_artifacts"]
