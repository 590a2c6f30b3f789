"""``float_head``: the int8 export keeps the output layer (last MatMul, bias Add, LogSoftmax) in float.

Why it exists: a quantized output layer rounds the keystroke logits onto one
8-bit grid before the softmax, so close classes tie (issue 15's int8 CER loss).
The reference is numpy: the int8 graph's own input to the head, multiplied by
the checkpoint's float head weights, must give the bundle's log-probabilities
to float rounding; the rest of the graph must still be int8, and the bundle's
golden self-check must pass.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgeemg.errors import ExportError  # noqa: E402
from edgeemg.export.float_layers import head_nodes  # noqa: E402
from edgeemg.runtime.bundle import load_bundle  # noqa: E402
from edgeemg.tasks.checkpoint import save_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from test_task_keystroke_board import tiny_checkpoint

    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.keystroke.workflow import SimulationPlan

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("ks-float-head")
    ckpt = tiny_checkpoint("tds")
    save_checkpoint(tmp / "ks.ckpt", ckpt)
    recipe = load_recipe("keystroke")
    recipe = dataclasses.replace(recipe, quantize=dataclasses.replace(recipe.quantize, float_head=True),
                                 tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=200.0))  # untrained
    export_checkpoint(tmp / "ks.ckpt", tmp / "ks.int8", formats=("onnx",), progress=False, recipe=recipe,
                      source=DataSource(plan=SimulationPlan(train_sessions=1, seconds=3.0, eval_seconds=4.0)))
    return tmp / "ks.int8", ckpt


def test_head_is_float_and_the_rest_int8(bundle):
    path, ckpt = bundle
    b = load_bundle(path)
    q = b.manifest["artifacts"]["onnx-int8"]["quantization"]
    model = onnx.load(str(path / "model.int8.onnx"))
    nodes = {n.name: n for n in model.graph.node}
    matmul, add, softmax = (nodes[n] for n in q["float_nodes"][::-1])
    assert (matmul.op_type, add.op_type, softmax.op_type) == ("MatMul", "Add", "LogSoftmax")
    dq_out = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    assert matmul.input[1] in inits and inits[matmul.input[1]].dtype == np.float32  # float weights, no DQ
    assert not any(i in dq_out for n in (matmul, add) for i in n.input[1:])
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and all(n.input[1] in dq_out for n in convs)  # the TDS blocks are still int8
    # numpy reference: the graph's own head input x the checkpoint's float weights -> the bundle's log-probs
    tap = onnx.helper.make_tensor_value_info(matmul.input[0], onnx.TensorProto.FLOAT, None)
    model.graph.output.append(tap)
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    with np.load(path / "golden.npz") as z:
        x, cache = z["x"][:4], z["state.conv_cache"][:4]
    for i in range(len(x)):
        logits, *_, h = sess.run(None, {"x": x[i:i + 1], "conv_cache": cache[i]})
        z = h @ ckpt.arrays["head.weight"].T + ckpt.arrays["head.bias"]
        ref = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) - z.max(-1, keepdims=True)
        np.testing.assert_allclose(logits, ref, rtol=0, atol=1e-4)
    assert b.self_check.ok and b.self_check.drift == 0.0


def test_head_nodes_refuses_a_graph_without_an_output_layer():
    h = onnx.helper
    graph = h.make_graph([h.make_node("Relu", ["x"], ["logits"], name="relu")], "g",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                         [h.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ExportError, match="float_head: no MatMul/Gemm/Conv output layer feeds 'logits'"):
        head_nodes(h.make_model(graph), "logits")
