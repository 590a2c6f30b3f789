"""Which ONNX nodes an int8 export keeps float: the output layer (``float_head``), the first layer (``float_first``),
and the submodules a task names (``TaskExport.float_modules``).

All three are handed to onnxruntime's ``quantize_static`` / ``quantize_dynamic`` as
``nodes_to_exclude``; everything else is quantized as the recipe says. Each
costs the float compute of one layer, so a recipe sets one only where its
task's measurements show the int8 layer to be the loss (the recipes' comments).
"""

from __future__ import annotations

import onnx

from edgeemg.errors import ExportError

HEAD_TAIL_OPS = ("LogSoftmax", "Softmax", "Sigmoid", "Add", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                 "Identity")
"""Ops that may follow a model's output layer on the way to the graph output (bias, softmax / sigmoid, layout)."""
LAYER_OPS = ("MatMul", "Gemm", "Conv")
"""Ops that are a model's layer (weights times input): what ``float_head`` / ``float_first`` keep float."""
LAYOUT_OPS = ("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
"""Ops that may sit between the graph input and the first layer (the package's time-major layout permuted)."""


def head_nodes(model: onnx.ModelProto, output_name: str) -> list[str]:
    """Names of the nodes from the last layer (MatMul/Gemm/Conv) to ``output_name``: what ``float_head`` keeps float.

    Why: a quantized output layer rounds its outputs onto one 8-bit grid (one
    scale for every class or unit) before the float softmax or sigmoid, so two
    close classes can tie or swap (issue 15: the keystroke int8 CER loss), and
    a unit whose logits span a small part of the grid reads a coarse
    probability near its threshold (issue 16: the motor-unit heads' F2). Walks
    back from the output through :data:`HEAD_TAIL_OPS` along each node's first input.

    Raises
    ------
    ExportError
        No layer feeds ``output_name`` through those ops.
    """
    producer = {o: n for n in model.graph.node for o in n.output}
    names: list[str] = []
    node = producer.get(output_name)
    while node is not None:
        names.append(node.name)
        if node.op_type in LAYER_OPS:
            return names
        if node.op_type not in HEAD_TAIL_OPS:
            break
        node = producer.get(node.input[0])
    raise ExportError(f"[quantize] float_head: no {'/'.join(LAYER_OPS)} output layer feeds '{output_name}' through "
                      f"{', '.join(HEAD_TAIL_OPS)} (walked {names}); set float_head = false for this model")


def first_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from the graph input to the first layer(s) (MatMul/Gemm/Conv): what ``float_first`` keeps.

    Why: a first layer whose filters cancel correlated inputs (the motor-unit
    MO-DCNN's C1 starts as the teacher's whitening-folded separation filters)
    amplifies the input's 8-bit rounding, which is white across channels and
    taps while the signal is not; kept float, its input is never rounded.
    Walks forward from the first graph input through :data:`LAYOUT_OPS`
    (each node's single consumer) to the tensor that layers read: every
    consumer of it must be a layer (one, or the parts of a split layer, as the
    motor-unit export's C1), and a bias ``Add`` right after a MatMul is taken.

    Raises
    ------
    ExportError
        The input reaches no layer through those ops, or reaches a non-layer op beside one.
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name for i in model.graph.initializer}
    tensor, names = model.graph.input[0].name, []
    while True:
        nodes = consumers.get(tensor, [])
        if nodes and all(n.op_type in LAYER_OPS for n in nodes):
            for node in nodes:
                names.append(node.name)
                nxt = consumers.get(node.output[0], [])
                if node.op_type == "MatMul" and len(nxt) == 1 and nxt[0].op_type == "Add" and set(nxt[0].input) & inits:
                    names.append(nxt[0].name)
            return names
        if len(nodes) != 1 or nodes[0].op_type not in LAYOUT_OPS:
            break
        names.append(nodes[0].name)
        tensor = nodes[0].output[0]
    raise ExportError(f"[quantize] float_first: graph input '{model.graph.input[0].name}' reaches no "
                      f"{'/'.join(LAYER_OPS)} layer through {', '.join(LAYOUT_OPS)} alone (walked {names}, then "
                      f"{[f'{n.name} ({n.op_type})' for n in nodes]}); set float_first = false for this model")


def module_nodes(model: onnx.ModelProto, modules: tuple[str, ...]) -> list[str]:
    """Names of the nodes the TorchScript exporter made from the torch submodules ``modules`` (``c1.teacher`` ->
    ``/c1/teacher/...``).

    Raises
    ------
    ExportError
        A module has no node (renamed, or folded away by the exporter).
    """
    names = []
    for m in modules:
        prefix = "/" + m.replace(".", "/") + "/"
        found = [n.name for n in model.graph.node if n.name.startswith(prefix)]
        if not found:
            raise ExportError(f"float module '{m}': no ONNX node named {prefix}*; the task names a submodule the "
                              "exported graph does not have")
        names += found
    return names


def read_float_inputs(model: onnx.ModelProto, nodes: list[str]) -> int:
    """Make the float ``nodes`` read float tensors that quantization rounded for their int8 siblings; returns how many.

    Why: onnxruntime quantizes a tensor once and rewires *every* consumer to its
    Quantize/Dequantize pair, so a node excluded from quantization that shares
    its input with an int8 node (the motor-unit C1 split into a float and an
    int8 part) would still read the rounded input. Only tensors made in float
    are given back: the graph input, or what layout ops and float nodes made of
    it (the rounded copy stays for the int8 nodes); a tensor an int8 layer
    produced exists in float only inside that layer's fused kernel. Unused
    Quantize/Dequantize nodes are removed.
    """
    producer = {o: n for n in model.graph.node for o in n.output}
    keep = set(nodes)

    def made_in_float(tensor: str) -> bool:
        node = producer.get(tensor)
        if node is None:  # the graph input or an initializer
            return True
        if node.name in keep or node.op_type in LAYOUT_OPS:
            return all(made_in_float(i) for i in node.input if i)
        return False

    rewired = 0
    for node in model.graph.node:
        if node.name not in keep:
            continue
        for k, tensor in enumerate(node.input):
            dq = producer.get(tensor)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear" and made_in_float(q.input[0]):
                node.input[k] = q.input[0]
                rewired += 1
    while True:  # drop Q/DQ pairs nobody reads any more
        used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and not any(o in used for o in n.output)]
        if not dead:
            return rewired
        for n in dead:
            model.graph.node.remove(n)


__all__ = ["HEAD_TAIL_OPS", "LAYER_OPS", "LAYOUT_OPS", "first_nodes", "head_nodes", "module_nodes",
           "read_float_inputs"]
