"""``float_first`` / ``float_head``: the layers an int8 export keeps float, in the ONNX and the PT2E (TFLite) graphs.

Reference: the model's own structure. The MO-DCNN permutes its input then runs
C1 (the first layer), and ends in F2, a sigmoid and a flatten (the output
layer); the ONNX names come from the torch module names, the PT2E nodes carry
the module they came from. A graph whose input or output reaches no layer
through the allowed ops is refused with the recipe key to change.
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
from edgeemg.export import onnx_export as ox  # noqa: E402
from edgeemg.export.float_layers import first_nodes, head_nodes  # noqa: E402
from edgeemg.export.hooks import WindowCalibrationReader  # noqa: E402
from edgeemg.export.recipe import load_recipe  # noqa: E402
from edgeemg.tasks.motor_units.models import MODCNN, MODCNNConfig  # noqa: E402


def _net() -> MODCNN:
    torch.manual_seed(0)
    net = MODCNN(MODCNNConfig(n_units=2, window=40, n_channels=4, trunk_filters=4, c3_filters=4, c4_filters=2,
                              hidden=4, trunk_kernel=3)).eval()
    with torch.no_grad():  # trained biases differ (zero ones are shared initializers after ORT's optimisation)
        for m in (net.c1, net.c2, net.c3, net.c4, net.f1, net.f2):
            m.bias.uniform_(-0.1, 0.1)
    return net


def test_onnx_first_and_head_layers_of_the_mo_dcnn(tmp_path):
    model = onnx.load(str(ox.export_float(_net(), (40, 4), tmp_path / "m.onnx")))
    assert first_nodes(model) == ["/Transpose", "/c1/Conv"]
    assert head_nodes(model, "logits") == ["/Flatten", "/Sigmoid", "/f2/Conv"]


def test_onnx_int8_keeps_exactly_those_nodes_float(tmp_path):
    fp32 = ox.export_float(_net(), (40, 4), tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((64, 40, 4)).astype(np.float32)
    cfg = dataclasses.replace(load_recipe("motor-units").quantize, float_first=True, float_head=True)
    record = ox.quantize_int8(fp32, tmp_path / "q.onnx", WindowCalibrationReader(x, 64, input_name="x", seed=0),
                              cfg, tmp_path)
    assert record["float_nodes"] == ["/Transpose", "/c1/Conv", "/Flatten", "/Sigmoid", "/f2/Conv"]
    q = onnx.load(str(tmp_path / "q.onnx"))
    dq_out = {o for n in q.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    convs = {n.name: n for n in q.graph.node if n.op_type == "Conv"}
    assert not any(i in dq_out for i in convs["/c1/Conv"].input)  # C1 reads the float input with float weights
    assert not any(i in dq_out for i in convs["/f2/Conv"].input[1:])  # F2 reads F1's int8 output with float weights
    assert all(convs[n].input[1] in dq_out for n in ("/c2/Conv", "/c3/Conv", "/c4/Conv", "/f1/Conv"))  # int8


def test_pt2e_first_and_head_nodes_come_from_c1_and_f2():
    from edgeemg.export.tflite_export import float_fx_nodes

    graph = torch.export.export(_net(), (torch.zeros(1, 40, 4),)).run_decompositions().module()

    def module_of(node):
        return list(node.meta["nn_module_stack"].values())[-1][0]

    first = float_fx_nodes(graph, True, False)
    assert [module_of(n) for n in first] == ["", "c1"] and first[-1].target == torch.ops.aten.convolution.default
    head = float_fx_nodes(graph, False, True)
    assert [n.target for n in head] == [torch.ops.aten.view.default, torch.ops.aten.sigmoid.default,
                                        torch.ops.aten.convolution.default]
    assert module_of(head[-1]) == "f2"


def test_a_graph_without_such_layers_is_refused_with_the_key_to_change():
    h = onnx.helper
    graph = h.make_graph([h.make_node("Relu", ["x"], ["r"], name="relu"), h.make_node("Relu", ["r"], ["logits"])],
                         "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                         [h.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ExportError, match="float_first: graph input 'x' reaches no MatMul/Gemm/Conv layer"):
        first_nodes(h.make_model(graph))
    with pytest.raises(ExportError, match="set float_head = false"):
        head_nodes(h.make_model(graph), "logits")


def test_task_float_modules_name_their_nodes_in_both_graphs(tmp_path):
    from edgeemg.export.float_layers import module_nodes
    from edgeemg.export.tflite_export import float_fx_nodes
    from edgeemg.tasks.motor_units.c1_split import split_teacher_c1

    net = _net()
    name = split_teacher_c1(net, [1, 3])
    model = onnx.load(str(ox.export_float(net, (40, 4), tmp_path / "m.onnx")))
    assert module_nodes(model, (name,)) == ["/c1/teacher/Conv"]
    graph = torch.export.export(net, (torch.zeros(1, 40, 4),)).run_decompositions().module()
    kept = float_fx_nodes(graph, False, False, (name,))
    assert [n.target for n in kept] == [torch.ops.aten.convolution.default]
    # float_first on the split C1 keeps both of its parts: every layer that reads the (transposed) input
    assert first_nodes(model) == ["/Transpose", "/c1/teacher/Conv", "/c1/learnt/Conv"]
    first = float_fx_nodes(graph, True, False)
    assert [n.target for n in first].count(torch.ops.aten.convolution.default) == 2
    with pytest.raises(ExportError, match="float module 'c9': no ONNX node"):
        module_nodes(model, ("c9",))
    with pytest.raises(ExportError, match=r"float modules \['c9'\]"):
        float_fx_nodes(graph, False, False, ("c9",))


def test_float_nodes_get_back_only_inputs_made_in_float():
    from edgeemg.export.float_layers import read_float_inputs

    h, f = onnx.helper, onnx.TensorProto.FLOAT
    s, z = h.make_tensor("s", f, [], [0.1]), h.make_tensor("z", onnx.TensorProto.UINT8, [], [0])

    def qdq(t):
        return [h.make_node("QuantizeLinear", [t, "s", "z"], [t + "_q"], name=t + "_Q"),
                h.make_node("DequantizeLinear", [t + "_q", "s", "z"], [t + "_dq"], name=t + "_DQ")]

    nodes = [h.make_node("Transpose", ["x"], ["t"], name="tr", perm=[1, 0]), *qdq("t"),
             h.make_node("Relu", ["t_dq"], ["a"], name="int8_layer"),  # stands for an int8 layer reading t rounded
             h.make_node("Neg", ["t_dq"], ["b"], name="float_first"),  # float, reads the input: give back t
             h.make_node("Relu", ["a"], ["r"], name="relu"), *qdq("r"),
             h.make_node("Neg", ["r_dq"], ["c"], name="float_head")]  # float, reads an int8 layer's output: keep
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", f, [2, 2])],
                         [h.make_tensor_value_info(o, f, None) for o in ("b", "c")], initializer=[s, z])
    model = h.make_model(graph)
    assert read_float_inputs(model, ["float_first", "float_head"]) == 1
    by_name = {n.name: n for n in model.graph.node}
    assert list(by_name["float_first"].input) == ["t"] and list(by_name["float_head"].input) == ["r_dq"]
    assert "t_Q" in by_name and "r_Q" in by_name  # still read by int8_layer / float_head
