"""A real, tiny bundle for any sample rate and channel names (no training): a high-pass and a window stage and an
ONNX graph ``logits = mean_over_window(x)`` that onnxruntime runs like an exported model, decoded by the gait decoder
(raw argmax, so every change of the winning class is an event). Sources whose rate is fixed by hardware
(BrainFlow's synthetic board: 250 Hz) get a bundle that fits them; the offline reference is the same
manifest's DSP, the same ONNX file in a plain onnxruntime session and a fresh decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeemg.runtime.bundle import MANIFEST_NAME, load_bundle, seal_manifest


def _model(path: Path, window: int, weights: np.ndarray) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c, k = weights.shape
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["m", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, window, c])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, k])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def tiny_bundle(folder: Path, fs_hz: float, channel_names: list[str], *, window: int = 25, hop: int = 25):
    """Write and load the bundle; class k wins where high-passed channel k has the largest window mean."""
    folder.mkdir(parents=True)
    c = len(channel_names)
    _model(folder / "model.int8.onnx", window, np.eye(c))
    manifest = {
        "format": "edgeemg-bundle", "format_version": 1, "task": "gait", "model": "tiny-mean", "fs_hz": fs_hz,
        "n_channels": c, "channel_names": list(channel_names),
        "dsp": [{"stage": "highpass", "cutoff_hz": fs_hz / 50, "order": 2},  # streaming filter state across blocks
                {"stage": "window", "window": window, "hop": hop}],
        "window": window, "hop": hop, "labels": [f"c{i}" for i in range(c)],
        "input": {"name": "x", "shape": [None, window, c], "dtype": "float32"},
        "outputs": [{"name": "logits", "shape": [None, c], "dtype": "float32", "kind": "logits"}],
        "state": [], "decoder": {"kind": "none", "votes": 1, "outputs": "logits", "hop_s": hop / fs_hz},
        "decoder_class": "edgeemg.tasks.gait.decoder:GaitDecoder", "algorithmic_latency_ms": 0.0,
        "artifacts": {"onnx-int8": {"file": "model.int8.onnx", "format": "onnx", "precision": "int8"}},
        "quantization": {}, "metrics": {}, "files": {},
    }
    (folder / MANIFEST_NAME).write_bytes(seal_manifest(manifest, folder))
    return load_bundle(folder)


def offline_events(bundle, x: np.ndarray) -> list[dict]:
    """Independent reference: offline DSP, the ONNX file in a plain session, a fresh decoder on all windows."""
    import onnxruntime as ort

    from edgeemg.dsp import Pipeline

    m = bundle.manifest
    frames = Pipeline.from_description(m["dsp"], m["fs_hz"], m["n_channels"]).process_offline(x)
    if len(frames.data) == 0:
        return []
    sess = ort.InferenceSession(str(bundle.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"x": frames.data})[0]
    dec = bundle.decoder()
    return dec.step(logits, frames.end_index) + dec.finish()
