"""TFLite artifacts through litert-torch (fp32, and int8 by torchao PT2E static quantization).

TOOLCHAIN.md: litert-torch 0.10 converts torch modules directly; onnx2tf is not
usable here. int8 uses litert-torch's own ``PT2EQuantizer`` with its symmetric
per-channel config (what the TFLite int8 kernels expect), calibrated with the
same items as the ONNX int8 model, plus one annotation pass of ours (a softmax
behind a reshape gets the fixed output parameters TFLite's int8 SOFTMAX needs;
see :func:`_quantizer_class`). The models are converted with batch 1 (a
board runs one window per hop; TFLite shapes are static), and the int8 model's
input and output tensors are int8 with a scale and zero point that
:func:`io_details` reads back for the manifest.

Where a model cannot be converted or the interpreter cannot prepare it, the
converters raise and the chain records ``{"status": "unavailable", "reason": ...}``
in the bundle instead of failing the whole export.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.stdio import stdout_to_stderr

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

log = logging.getLogger(__name__)


def convert_fp32(module: Any, input_shape: tuple[int, ...], path: Path) -> Path:
    """Float TFLite via ``litert_torch.convert`` (batch 1)."""
    import litert_torch
    import torch

    with stdout_to_stderr():
        edge = litert_torch.convert(module.eval(), (torch.zeros(1, *input_shape),))
        edge.export(str(path))
    return path


def _quantizer_class() -> type:
    """litert-torch's ``PT2EQuantizer`` that also gives a softmax behind a reshape TFLite's fixed int8 output.

    TFLite's int8 SOFTMAX kernel only prepares with output scale 1/256 and zero
    point -128 (probabilities on [0, 1) in 256 steps). litert-torch annotates
    a softmax with those fixed parameters only when the tensor feeding it is
    itself annotated, and a ``flatten`` (``aten.view``) between a conv and the
    softmax, as in the muscle model's attention pooling, is not; the softmax
    output then took the observed range of its consumer (``mul``), e.g. scale
    1/4096, and the interpreter refused the model. This pass runs after the
    stock annotation: an unannotated softmax gets an observed int8 input and
    the fixed output, and every consumer reads that output with the same
    (shared) parameters, so no requantisation step sits in between.
    """
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.pt2e_quantizer_utils import get_fixed_qparams_qspec, get_input_act_qspec
    import torch
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    class SoftmaxFixedQParamsQuantizer(pt2e_quantizer.PT2EQuantizer):
        float_first = False  # see float_fx_nodes
        float_head = False
        float_modules: tuple[str, ...] = ()

        def annotate(self, model: Any) -> Any:
            model = super().annotate(model)
            cfg = self.global_config
            fixed, act = get_fixed_qparams_qspec(cfg), get_input_act_qspec(cfg)
            if fixed is None or act is None:  # dynamic quantization: activations stay float
                return model
            for node in model.graph.nodes:
                if node.op != "call_function" or node.target != torch.ops.aten._softmax.default:
                    continue
                ann = node.meta.get("quantization_annotation")
                if ann is not None and ann._annotated:
                    continue
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: act}, output_qspec=fixed, _annotated=True)
                for user in node.users:
                    user_ann = user.meta.get("quantization_annotation")
                    if user_ann is not None and node in user_ann.input_qspec_map:
                        user_ann.input_qspec_map[node] = SharedQuantizationSpec(node)
            for kept in float_fx_nodes(model, self.float_first, self.float_head, self.float_modules):
                kept.meta.pop("quantization_annotation", None)
            return model

    return SoftmaxFixedQParamsQuantizer


def _fx_ops(*names: str) -> set[Any]:
    import torch

    aten = torch.ops.aten
    return {getattr(getattr(aten, n.split(".")[0]), n.split(".")[1]) for n in names}


def float_fx_nodes(model: Any, first: bool, head: bool, modules: tuple[str, ...] = ()) -> list[Any]:
    """The exported graph's nodes that ``float_first`` / ``float_head`` / the task's ``modules`` keep float (the PT2E
    twin of :mod:`edgeemg.export.float_layers`).

    First: from the graph input through layout ops to the first convolution or
    linear layer (every one reading that tensor: a split layer's parts). Head:
    back from the output through the ops that may follow an output layer
    (sigmoid, softmax, bias add, layout) to the last one. Their annotations are
    removed, so PT2E leaves them float; the tensors between them and the int8
    layers are (de)quantized as the neighbours' annotations say (per edge: a
    float node reads its input unrounded even when an int8 sibling reads it
    rounded). ``modules``: nodes whose innermost torch module is one of them.

    Raises
    ------
    ExportError
        Such a layer cannot be reached that way (the recipe's flag does not fit the model).
    """
    from edgeemg.errors import ExportError

    layers = _fx_ops("convolution.default", "linear.default", "addmm.default", "mm.default")
    layout = _fx_ops("permute.default", "view.default", "reshape.default", "_unsafe_view.default",
                     "unsqueeze.default", "squeeze.dims", "squeeze.dim", "clone.default", "transpose.int")
    tail = layout | _fx_ops("sigmoid.default", "_softmax.default", "_log_softmax.default", "add.Tensor")
    keep: list[Any] = [n for n in model.graph.nodes if n.op == "call_function" and modules
                       and list(n.meta.get("nn_module_stack", {}).values())[-1:]
                       and list(n.meta["nn_module_stack"].values())[-1][0] in modules]
    missing = set(modules) - {list(n.meta["nn_module_stack"].values())[-1][0] for n in keep}
    if missing:
        raise ExportError(f"float modules {sorted(missing)}: no node of the exported graph comes from them")
    if first:
        node = next(n for n in model.graph.nodes if n.op == "placeholder" and n.users)
        walked: list[Any] = []
        while True:
            users = [u for u in node.users if u.op == "call_function"]
            if users and all(u.target in layers for u in users):  # one first layer, or the parts of a split one
                walked += users
                break
            if len(users) != 1 or users[0].target not in layout:
                raise ExportError(f"[quantize] float_first: the exported graph's input reaches no convolution or "
                                  f"linear layer through layout ops alone (walked {[n.name for n in walked]}, then "
                                  f"{[u.name for u in users]}); set float_first = false for this model")
            node = users[0]
            walked.append(node)
        keep += walked
    if head:
        out = next(n for n in model.graph.nodes if n.op == "output").args[0]
        node, walked = (out[0] if isinstance(out, (tuple, list)) else out), []
        while getattr(node, "op", None) == "call_function" and node.target in tail | layers:
            walked.append(node)
            if node.target in layers:
                break
            node = node.args[0]
        if not walked or walked[-1].target not in layers:
            raise ExportError(f"[quantize] float_head: no convolution or linear output layer feeds the exported "
                              f"graph's output through sigmoid, softmax, add or layout ops (walked "
                              f"{[n.name for n in walked]}); set float_head = false for this model")
        keep += walked
    return keep


def convert_int8(module: Any, input_shape: tuple[int, ...], path: Path, calibration: Iterable[NDArray[np.float32]],
                 per_channel: bool = True, float_first: bool = False, float_head: bool = False,
                 float_modules: tuple[str, ...] = ()) -> Path:
    """Static int8 TFLite: torch.export -> PT2E prepare -> calibrate -> convert -> litert-torch.

    ``float_first`` / ``float_head`` / ``float_modules``: the layers kept float (:func:`float_fx_nodes`).
    """
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    example = (torch.zeros(1, *input_shape),)
    # core-ATen decompositions turn softmax.int into _softmax, which litert-torch's quantizer annotates with
    # the fixed output scale 1/256 that TFLite's int8 SOFTMAX kernel requires (else it refuses to prepare) when
    # its input is annotated; _quantizer_class annotates the ones behind a reshape
    graph = torch.export.export(module.eval(), example).run_decompositions().module()
    quantizer = _quantizer_class()().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False))
    quantizer.float_first, quantizer.float_head, quantizer.float_modules = float_first, float_head, float_modules
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration:  # batch-1 graph: feed items one at a time
            for item in batch:
                graph(torch.from_numpy(np.ascontiguousarray(item[None])))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    with stdout_to_stderr():
        edge = litert_torch.convert(graph, example, quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge.export(str(path))
    return path


def interpreter(path: Path, threads: int = 1) -> Any:
    """ai-edge-litert's interpreter (tflite-runtime as the fallback a board may ship)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - boards with the old runtime
        from tflite_runtime.interpreter import Interpreter
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


def _quant(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zp = detail.get("quantization", (0.0, 0))
    return {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name, "scale": float(scale), "zero_point": int(zp)}


def io_details(path: Path) -> dict[str, Any]:
    """Input/output tensor dtype, shape and (for int8 I/O) the scale and zero point, for the manifest."""
    it = interpreter(path)
    return {"input": _quant(it.get_input_details()[0]), "output": _quant(it.get_output_details()[0])}


def run(path: Path, x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Run the TFLite model item by item; int8 I/O is (de)quantized with the tensors' own parameters."""
    it = interpreter(path)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    results = []
    for item in x:
        v = item[None]
        if inp["dtype"] != np.float32:
            info = np.iinfo(inp["dtype"])
            v = np.clip(np.round(v / in_scale) + in_zp, info.min, info.max)
        it.set_tensor(inp["index"], v.astype(inp["dtype"]))
        it.invoke()
        y = it.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            y = (y.astype(np.float32) - out_zp) * out_scale
        results.append(y[0].astype(np.float32))
    return np.stack(results)


def convert_stateful(module: Any, input_shape: tuple[int, ...], state: list[Any], path: Path, precision: str,
                     calibration: Any, cfg: Any) -> dict[str, Any] | None:
    """A streaming model ``forward(x, *state) -> (out, *state')`` through litert-torch; returns the int8 record.

    fp32: ``litert_torch.convert`` with the state tensors as extra example
    inputs. int8: PT2E static (per-channel weights, activations calibrated on
    the same chunk + carried-state feeds as ONNX) when the recipe names no
    dynamic ops, else litert-torch's dynamic int8 (weights int8, activations
    float), the TFLite counterpart of onnxruntime's ``quantize_dynamic`` for an
    LSTM. Whatever fails here is recorded by the chain as "unavailable" with
    the converter's message, never replaced by something else.
    """
    import litert_torch
    import torch

    example = (torch.zeros(1, *input_shape), *(torch.zeros(*s.shape) for s in state))
    if precision == "fp32":
        with stdout_to_stderr():
            litert_torch.convert(module.eval(), example).export(str(path))
        return None
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    dynamic = bool(cfg.dynamic_ops)
    graph = torch.export.export(module.eval(), example).run_decompositions().module()
    quantizer = _quantizer_class()().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=cfg.per_channel, is_dynamic=dynamic))
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for feed in calibration.feeds():
            graph(*(torch.from_numpy(np.ascontiguousarray(feed[n])) for n in
                    [calibration.input_name, *(s.input for s in state)]))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    with stdout_to_stderr():
        litert_torch.convert(graph, example, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return {"scheme": "dynamic" if dynamic else "static", "tool": "litert-torch PT2E (torchao)",
            "per_channel": cfg.per_channel, "calibration_items": 0 if dynamic else calibration.n_items}


def run_sequences(path: Path, x: NDArray[np.float32], state: list[Any]) -> NDArray[np.float32]:
    """Run a stateful TFLite model over (n_seq, n_chunks, *item), state fed back (signature ``args_i`` order).

    litert-torch names a converted module's inputs ``args_0, args_1, ...`` in
    ``forward``'s order and its outputs ``output_0, ...`` in return order; the
    signature runner maps them by name, so the order the interpreter lists its
    tensors in does not matter.
    """
    it = interpreter(path)
    runner = it.get_signature_runner()
    outs = []
    for seq in x:
        st = [s.zeros() for s in state]
        rows = []
        for chunk in seq:
            res = runner(**{f"args_{i}": v for i, v in enumerate([chunk[None].astype(np.float32), *st])})
            rows.append(np.asarray(res["output_0"])[0])
            st = [np.asarray(res[f"output_{i + 1}"]) for i in range(len(state))]
        outs.append(np.stack(rows))
    return np.stack(outs).astype(np.float32)


__all__ = ["convert_fp32", "convert_int8", "convert_stateful", "float_fx_nodes", "interpreter", "io_details", "run",
           "run_sequences"]
