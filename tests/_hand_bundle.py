"""A hand-made bundle for runtime tests that need no training: 8 channels at 2 kHz (the synthetic band's
layout), 100 ms windows, and a real ONNX model written with onnx.helper (mean over the window, a fixed
2-class linear map, softmax), so the daemon and the CLI run it through onnxruntime like any bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeemg.runtime.bundle import MANIFEST_NAME, seal_manifest

FS_HZ = 2000.0
N_CHANNELS = 8
WINDOW = 200


def _model(path: Path) -> None:
    w = numpy_helper.from_array(np.linspace(-1, 1, 2 * N_CHANNELS, dtype=np.float32).reshape(N_CHANNELS, 2), "w")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["m", "w"], ["z"]),
         helper.make_node("Softmax", ["z"], ["p"], axis=1)],
        "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, WINDOW, N_CHANNELS])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [None, 2])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _golden(path: Path) -> dict:
    """Golden vectors computed in numpy (the model's math, independent of onnxruntime) and their manifest record."""
    x = np.random.default_rng(0).normal(size=(4, WINDOW, N_CHANNELS)).astype(np.float32)
    z = x.mean(axis=1) @ np.linspace(-1, 1, 2 * N_CHANNELS, dtype=np.float32).reshape(N_CHANNELS, 2)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    with open(path, "wb") as fh:
        np.savez(fh, x=x, **{"ref.p": (p / p.sum(axis=1, keepdims=True)).astype(np.float32)})
    return {"file": path.name, "n_items": len(x), "scale": 1.0, "tolerance": {"int8": 1e-4, "fp32": 1e-4}}


def hand_bundle(folder: Path) -> Path:
    """Write the bundle into ``folder`` (created) and return it."""
    folder.mkdir(parents=True)
    _model(folder / "model.int8.onnx")
    self_check = _golden(folder / "golden.npz")
    manifest = {
        "format": "edgeemg-bundle", "format_version": 1, "task": "gait", "model": "hand", "fs_hz": FS_HZ,
        "n_channels": N_CHANNELS, "channel_names": [f"ch{i}" for i in range(N_CHANNELS)],
        "dsp": [{"stage": "window", "window": WINDOW, "hop": WINDOW}], "window": WINDOW, "hop": WINDOW,
        "labels": ["lo", "hi"], "input": {"name": "x", "shape": [None, WINDOW, N_CHANNELS], "dtype": "float32"},
        "outputs": [{"name": "p", "shape": [None, 2], "dtype": "float32", "kind": "probabilities"}], "state": [],
        "decoder": {"kind": "none", "votes": 1, "outputs": "probabilities"},
        "decoder_class": "edgeemg.tasks.gait.decoder:GaitDecoder", "algorithmic_latency_ms": 0.0,
        "artifacts": {"onnx-int8": {"file": "model.int8.onnx", "format": "onnx", "precision": "int8"}},
        "quantization": {}, "metrics": {}, "files": {}, "self_check": self_check,
    }
    (folder / MANIFEST_NAME).write_bytes(seal_manifest(manifest, folder))
    return folder
