"""ONNX artifacts: float export, onnxruntime offline optimisation, int8 quantization, per-layer loss.

Everything here is a thin layer over the maintained tools:
``torch.onnx.export`` (TorchScript exporter, opset 17: the float models use
only ``permute`` with positive dims, which TOOLCHAIN.md says it handles),
onnxruntime's offline graph optimisation (``SessionOptions.optimized_model_filepath``),
``onnxruntime.quantization.quant_pre_process`` / ``quantize_static`` (QDQ,
per-channel) / ``quantize_dynamic`` and ``qdq_loss_debug`` for the per-layer
error report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray

from edgeemg.errors import ExportError
from edgeemg.export.float_layers import first_nodes, head_nodes, module_nodes, read_float_inputs
from edgeemg.export.recipe import QuantizeConfig
from edgeemg.stdio import stdout_to_stderr

log = logging.getLogger(__name__)

INPUT_NAME = "x"
OUTPUT_NAME = "logits"
OPSET = 17


def export_float(module: Any, input_shape: tuple[int, ...], path: Path) -> Path:
    """Export ``module`` (eval mode) to ONNX with a dynamic batch axis; check the file with onnx.checker."""
    import torch

    example = torch.zeros(2, *input_shape)
    try:
        torch.onnx.export(module.eval(), (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    except Exception as exc:  # the exporter raises many types; the message is what matters
        raise ExportError(f"torch.onnx.export failed for {type(module).__name__}: {exc}") from exc
    onnx.checker.check_model(str(path))
    return path


DYNAMO_OPSET = 20


def export_stateful(module: Any, input_shape: tuple[int, ...], state: list[Any], path: Path, *,
                    output_name: str = OUTPUT_NAME, dynamic_axes: dict[int, str] | None = None) -> Path:
    """Export a streaming module ``forward(x, *state_in) -> (out, *state_out)`` at batch 1 with the dynamo exporter.

    Why dynamo: with the TorchScript exporter (``dynamo=False``) the streaming
    keystroke models (TDS conv caches, LSTM h/c) exported without error but
    gave wrong outputs in onnxruntime; the dynamo graphs match torch to ~1e-6.
    Batch is fixed at 1 because state tensors do not share a batch axis (an
    LSTM's ``h`` is (layers, batch, hidden)); the runtime runs a stateful
    model item by item anyway. ``dynamic_axes`` marks input axes (0-based over
    ``input_shape``) that may vary, e.g. the frame axis of a model that is
    exact at any chunk length; the output's matching axis follows.

    Parameters
    ----------
    state : list of StateTensor
        Extra inputs/outputs, in ``forward``'s argument / return order.
    """
    import torch

    example = (torch.zeros(1, *input_shape), *(torch.zeros(*s.shape) for s in state))
    names_in = [INPUT_NAME, *(s.input for s in state)]
    names_out = [output_name, *(s.output for s in state)]
    kwargs: dict[str, Any] = {}
    if dynamic_axes:
        dyn = {1 + int(ax): torch.export.Dim(name, min=1, max=100000) for ax, name in dynamic_axes.items()}
        kwargs["dynamic_shapes"] = (dyn, *({} for _ in state))
    try:
        with stdout_to_stderr():  # the dynamo exporter prints "[torch.onnx] ..." steps to stdout
            torch.onnx.export(module.eval(), example, str(path), input_names=names_in, output_names=names_out,
                              opset_version=DYNAMO_OPSET, dynamo=True, external_data=False, **kwargs)
    except Exception as exc:  # the exporter raises many types; the message is what matters
        raise ExportError(f"torch.onnx.export (dynamo) failed for {type(module).__name__} with state "
                          f"{[s.input for s in state]}: {exc}") from exc
    onnx.checker.check_model(str(path))
    got = [i.name for i in onnx.load(str(path)).graph.input]
    if got != names_in:
        raise ExportError(f"exported graph inputs are {got}, expected {names_in} (the state was folded away?)")
    return path


def run_sequences(path: Path, x: NDArray[np.float32], state: list[Any], *, output_name: str = OUTPUT_NAME,
                  sess: Any = None) -> NDArray[np.float32]:
    """Run a stateful model over sequences chunk by chunk, zero state per sequence, state fed back.

    Parameters
    ----------
    x : ndarray, shape (n_sequences, n_chunks, *item)
    state : list of StateTensor

    Returns
    -------
    ndarray, shape (n_sequences, n_chunks, *output_item)
        What the board's engine computes for each chunk, stacked.
    """
    sess = sess or session(path)
    outs = []
    for seq in x:
        st = {s.input: s.zeros() for s in state}
        rows = []
        for chunk in seq:
            res = sess.run([output_name, *(s.output for s in state)], {INPUT_NAME: chunk[None].astype(np.float32),
                                                                       **st})
            rows.append(res[0][0])
            st = {s.input: v for s, v in zip(state, res[1:])}
        outs.append(np.stack(rows))
    return np.stack(outs).astype(np.float32)


def optimize_offline(src: Path, dst: Path) -> Path:
    """Save onnxruntime's ``ORT_ENABLE_BASIC`` optimised graph (constant folding, redundant-node removal).

    Basic level only: its rewrites are standard ONNX ops that every execution
    provider runs, whereas the extended/all levels fuse into CPU-specific
    contrib ops and layouts that a Jetson's TensorRT/CUDA provider would refuse.
    The board applies its own provider-specific fusions at load time.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    return dst


def _qtype(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    table = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if name not in table:
        raise ExportError(f"[quantize] type '{name}' is not supported; allowed are {sorted(table)}")
    return table[name]


def portable(cfg: QuantizeConfig) -> bool:
    """Whether ``cfg``'s integer results are exact on every CPU kernel family onnxruntime has.

    x86 AVX2 / AVX-512 without VNNI multiply u8 x s8 pairs into int16 with
    saturation (``vpmaddubsw``); 7-bit weights (``reduce_range``) or uint8
    weights (a u8 x u8 kernel that widens first) avoid it. VNNI and arm64
    kernels accumulate exactly either way. Measured, not argued:
    ``benchmarks/report_int8_portability.py``.
    """
    return cfg.reduce_range or cfg.weight_type == "uint8"


def quantize_int8(float_path: Path, out_path: Path, reader: Any, cfg: QuantizeConfig, work: Path,
                  output_name: str = OUTPUT_NAME, float_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """Static QDQ quantization (per-channel weights), dynamic for ``cfg.dynamic_ops``; returns the manifest record.

    ``quant_pre_process`` (symbolic shape inference + graph cleanup) runs first,
    as onnxruntime recommends. Operators listed in ``cfg.dynamic_ops`` (e.g.
    LSTM, which static QDQ leaves float) are excluded from the static pass and
    quantized by ``quantize_dynamic`` afterwards; which nodes went which way is
    returned for the manifest. With ``cfg.float_head`` the output layer
    (:func:`head_nodes`), with ``cfg.float_first`` the first layer
    (:func:`first_nodes`), and the task's ``float_modules``
    (:func:`~edgeemg.export.float_layers.module_nodes`) are left float by both
    passes; float nodes read their inputs unrounded where a float op made them
    (:func:`~edgeemg.export.float_layers.read_float_inputs`).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quant_pre_process, quantize_dynamic
    from onnxruntime.quantization import quantize_static

    pre = work / "pre.onnx"
    quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=False)
    model = onnx.load(str(pre))
    dynamic_nodes = [n.name for n in model.graph.node if n.op_type in cfg.dynamic_ops]
    first = first_nodes(model) if cfg.float_first else []
    head = head_nodes(model, output_name) if cfg.float_head else []
    task_float = module_nodes(model, float_modules)
    float_nodes = first + task_float + head
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}.get(cfg.calibration_method)
    if method is None:
        raise ExportError(f"[quantize] calibration_method '{cfg.calibration_method}' is not one of minmax, "
                          "entropy, percentile")
    if not portable(cfg):
        log.warning("[quantize] weight_type '%s' without reduce_range is not portable: x86 CPUs without VNNI "
                    "saturate u8 x s8 products and may decode this model differently (the bundle's self-check "
                    "will refuse it there); set reduce_range = true", cfg.weight_type)
    record: dict[str, Any] = {"format": "QDQ", "per_channel": cfg.per_channel, "weight_type": cfg.weight_type,
                              "activation_type": cfg.activation_type, "reduce_range": cfg.reduce_range,
                              "portable": portable(cfg), "symmetric_weights": cfg.weight_type == "int8",
                              "tool": f"onnxruntime {ort.__version__}"}
    if cfg.scheme == "static":
        static_out = work / "static.onnx" if dynamic_nodes else out_path
        reader.rewind()
        quantize_static(str(pre), str(static_out), reader, quant_format=QuantFormat.QDQ, per_channel=cfg.per_channel,
                        weight_type=_qtype(cfg.weight_type), activation_type=_qtype(cfg.activation_type),
                        calibrate_method=method, nodes_to_exclude=dynamic_nodes + float_nodes,
                        reduce_range=cfg.reduce_range)
        reader.rewind()
        if float_nodes:
            static_model = onnx.load(str(static_out))
            if read_float_inputs(static_model, float_nodes):
                onnx.save(static_model, str(static_out))
        record.update(scheme="static", calibration_method=cfg.calibration_method, calibration_items=reader.n_items)
        if dynamic_nodes:
            quantize_dynamic(str(static_out), str(out_path), op_types_to_quantize=list(cfg.dynamic_ops),
                             nodes_to_exclude=float_nodes,
                             per_channel=cfg.per_channel, weight_type=_qtype(cfg.weight_type),
                             reduce_range=cfg.reduce_range)
    else:
        quantize_dynamic(str(pre), str(out_path), per_channel=cfg.per_channel, weight_type=_qtype(cfg.weight_type),
                         reduce_range=cfg.reduce_range, nodes_to_exclude=float_nodes)
        record.update(scheme="dynamic")
        dynamic_nodes = [n.name for n in model.graph.node]
    qmodel = onnx.load(str(out_path))
    q_ops = sorted({n.op_type for n in qmodel.graph.node})
    dq_outputs = {o for n in qmodel.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    # an op reads int8 when one of its inputs comes out of a DequantizeLinear (QDQ's "quantized" pattern)
    static_nodes = sorted({n.op_type for n in qmodel.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                           and not n.op_type.startswith("DynamicQuantize")  # quantize_dynamic's own ops
                           and any(i in dq_outputs for i in n.input)})
    record.update(static_op_types=static_nodes, dynamic_nodes=dynamic_nodes, op_types=q_ops,
                  float_op_types=sorted({n.op_type for n in model.graph.node} - set(static_nodes)
                                        - set(cfg.dynamic_ops)))
    # per op type, how it runs in int8 (the manifest's "LSTM quantized dynamically")
    dyn_types = sorted({n.op_type for n in model.graph.node if n.name in set(dynamic_nodes)}) \
        if cfg.scheme == "static" else []
    weights = (f"{cfg.weight_type}{' 7-bit (reduce_range)' if cfg.reduce_range else ''} weights"
               f"{' per-channel' if cfg.per_channel else ''}")
    per_op = {t: f"static QDQ ({weights}, {cfg.activation_type} activations from calibration)" for t in static_nodes}
    for t in dyn_types:
        per_op[t] = f"quantized dynamically ({weights}; uint8 activations quantized per call at run time)"
    if cfg.scheme != "static":
        per_op = {t: "quantized dynamically" for t in q_ops if t not in ("DynamicQuantizeLinear",)}
    record["per_op"] = per_op
    record["notes"] = [f"{t} quantized dynamically" for t in dyn_types]
    if float_nodes:
        record["float_nodes"] = float_nodes
        if first:
            record["notes"].append(f"first layer kept float (float_first): {', '.join(first)}")
        if task_float:
            record["notes"].append(f"kept float by the task ({', '.join(float_modules)}): {', '.join(task_float)}")
        if head:
            record["notes"].append(f"output layer kept float (float_head): {', '.join(head)}")
    return record


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads (1: the board budget the benchmarks measure)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run(path: Path, x: NDArray[np.float32], batch: int = 256) -> NDArray[np.float32]:
    """Outputs of the ONNX model for every row of ``x``."""
    sess = session(path)
    outs = [sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x[i : i + batch])})[0]
            for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def _array_reader(batches: Iterable[NDArray[np.float32]]) -> Any:
    """A ``CalibrationDataReader`` over fixed batches (qdq_loss_debug iterates it, so subclass the real ABC)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _ArrayReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(list(batches))

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            b = next(self._it, None)
            if b is None or isinstance(b, dict):  # a stateful model's feeds (input and state) as they are
                return b
            return {INPUT_NAME: b}

    return _ArrayReader()


def layer_losses(float_path: Path, qdq_path: Path, x: Any, work: Path, top: int = 5,
                 batch: int = 64) -> list[dict[str, Any]]:
    """Per-layer quantization error with onnxruntime's ``qdq_loss_debug``, worst first.

    Both models are augmented to output every activation, run on the same
    held-out inputs, matched tensor by tensor, and scored by signal-to-
    quantization-noise ratio (dB; lower = more loss) of the int8 activation
    against the float one (``xmodel_err``).
    """
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    fa, qa = work / "float_aug.onnx", work / "qdq_aug.onnx"
    modify_model_output_intermediate_tensors(str(float_path), str(fa))
    modify_model_output_intermediate_tensors(str(qdq_path), str(qa))
    if isinstance(x, list):  # stateful: a list of feed dicts (input and state), one chunk each
        batches = x[: 4 * batch]
    else:
        batches = [x[i : i + batch] for i in range(0, min(len(x), 4 * batch), batch)]
    f_act = collect_activations(str(fa), _array_reader(batches))
    q_act = collect_activations(str(qa), _array_reader(batches))
    match = create_activation_matching(q_act, f_act)
    errors = compute_activation_error(match)
    producers = {o: n for n in onnx.load(str(float_path)).graph.node for o in n.output}
    rows = []
    for tensor, err in errors.items():
        if "xmodel_err" not in err:
            continue
        node = producers.get(tensor)
        rows.append({"tensor": tensor, "node": node.name if node else tensor, "op": node.op_type if node else "?",
                     "sqnr_db": float(err["xmodel_err"]), "qdq_sqnr_db": float(err["qdq_err"])})
    rows.sort(key=lambda r: r["sqnr_db"])
    return rows[:top]


__all__ = ["DYNAMO_OPSET", "INPUT_NAME", "OUTPUT_NAME", "export_float", "export_stateful", "layer_losses",
           "optimize_offline", "portable", "quantize_int8", "run", "run_sequences", "session"]
