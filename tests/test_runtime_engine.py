"""Engine mechanics on hand-made bundles (no training): state fed back and zeroed at gaps, per-frame rows
for outputs with a time axis, overload skipping, shape refusal, provider fallback, targets."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from edgeemg.bridge import Block, Gap, GapKind
from edgeemg.errors import BundleError, InvalidInputError
from edgeemg.runtime.bundle import MANIFEST_NAME, load_bundle, seal_manifest
from edgeemg.runtime.engine import Engine, item_hop_samples, model_dsp

FS = 1000.0
C = 2
WIN = 4


def _bundle(tmp, *, state=(), out_shape=(None, 2), in_shape=(None, WIN, C), extra=None):
    folder = tmp / "b"
    folder.mkdir()
    manifest = {
        "format": "edgeemg-bundle", "format_version": 1, "task": "gait", "model": "test", "fs_hz": FS,
        "n_channels": C, "channel_names": ["a", "b"], "dsp": [{"stage": "window", "window": WIN, "hop": WIN}],
        "window": WIN, "hop": WIN, "labels": ["lo", "hi"],
        "input": {"name": "x", "shape": list(in_shape), "dtype": "float32"},
        "outputs": [{"name": "p", "shape": list(out_shape), "dtype": "float32", "kind": "probabilities"}],
        "state": [dict(s) for s in state],
        "decoder": {"kind": "none", "votes": 1, "outputs": "probabilities"},
        "decoder_class": "edgeemg.tasks.gait.decoder:GaitDecoder", "algorithmic_latency_ms": 0.0,
        "artifacts": {}, "quantization": {}, "metrics": {}, "files": {}, **(extra or {}),
    }
    (folder / MANIFEST_NAME).write_bytes(seal_manifest(manifest, folder))
    return load_bundle(folder)


class Spy:
    """A backend computing in numpy what the model would, recording every feed."""

    name = "spy"
    providers = ()

    def __init__(self, fn):
        self.fn = fn
        self.feeds: list[dict] = []

    def run(self, feeds):
        self.feeds.append({k: v.copy() for k, v in feeds.items()})
        return self.fn(feeds)


def _blocks(x, per=3, t0_us=5_000_000, host0=100.0):
    out, i = [], 0
    while i < len(x):
        n = min(per, len(x) - i)
        out.append(Block(x[i : i + n], t0_us + int(i * 1e6 / FS), host0 + i / FS, i // per, host0 + i / FS))
        i += n
    return out


STATE = ({"input": "h_in", "output": "h_out", "shape": [1, C], "dtype": "float32", "init": "zeros"},)


def _cumulative(feeds):
    s = feeds["h_in"] + feeds["x"].sum(axis=1)
    p = np.stack([s[:, 0] > s[:, 1], s[:, 0] <= s[:, 1]], axis=1).astype(np.float32)
    return {"p": p, "h_out": s}


def test_state_is_fed_back_and_zeroed_after_a_gap(tmp_path):
    b = _bundle(tmp_path, state=STATE)
    spy = Spy(_cumulative)
    eng = Engine(b, backend=spy, skip_after_ms=float("inf"), clock=lambda: 1e9, warmup=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6 * WIN, C)).astype(np.float32)
    for blk in _blocks(x):
        eng.feed(blk)
    assert len(spy.feeds) == 6 and all(f["x"].shape == (1, WIN, C) for f in spy.feeds)  # stateful: item by item
    sums = x.reshape(6, WIN, C).sum(axis=1)
    for k, f in enumerate(spy.feeds):
        np.testing.assert_allclose(f["h_in"][0], sums[:k].sum(axis=0), rtol=1e-5, atol=1e-5)  # zeros first
    eng.feed(Gap(GapKind.LOST_FRAMES, 2, 10, 0, 0, 0.0))
    for blk in _blocks(x[: 2 * WIN], t0_us=9_000_000):
        eng.feed(blk)
    np.testing.assert_array_equal(spy.feeds[6]["h_in"], 0.0)  # zeros after the gap
    np.testing.assert_allclose(spy.feeds[7]["h_in"][0], sums[0], rtol=1e-5)
    assert eng.stats().gaps == 1 and eng.stats().gap_samples == 10


def test_time_axis_outputs_become_one_decoder_row_per_frame(tmp_path):
    b = _bundle(tmp_path, out_shape=(None, 2, 2))
    toggle = np.array([[[1, 0], [0, 1]]], np.float32)  # two frames per item: lo then hi
    spy = Spy(lambda f: {"p": np.repeat(toggle, f["x"].shape[0], axis=0)})
    eng = Engine(b, backend=spy, skip_after_ms=float("inf"), clock=lambda: 1e9, warmup=False)
    events = [e for blk in _blocks(np.zeros((3 * WIN, C), np.float32)) for e in eng.feed(blk)]
    # frames of item k end at 4k+3 and 4k+1 (2 samples apart: a 4-sample hop over 2 frames)
    assert [(e["state"], e["end_index"]) for e in events] == [
        ("lo", 1), ("hi", 3), ("lo", 5), ("hi", 7), ("lo", 9), ("hi", 11)]
    assert [e.sample_index for e in events] == [3, 3, 7, 7, 11, 11]  # newest sample the model call used
    assert events[0].time_us == 5_000_000 + 3000


def test_overload_skips_stale_items_and_counts_them(tmp_path):
    b = _bundle(tmp_path)
    spy = Spy(lambda f: {"p": np.tile([[1.0, 0.0]], (f["x"].shape[0], 1)).astype(np.float32)})
    now = {"t": 100.0}
    eng = Engine(b, backend=spy, skip_after_ms=80.0, clock=lambda: now["t"], warmup=False)
    blocks = _blocks(np.zeros((8 * WIN, C), np.float32), per=WIN)
    now["t"] = 100.0 + 1.0  # one second late: every item is stale
    for blk in blocks[:4]:
        assert eng.feed(blk) == []
    assert eng.stats().skipped == 4 and not spy.feeds
    for blk in blocks[4:]:
        now["t"] = blk.host_time_s + 0.001  # caught up: items run again, 1 ms after arrival
        eng.feed(blk)
    st = eng.stats()
    assert st.skipped == 4 and st.items == 4 and st.latency_ms_p50 == pytest.approx(1.0, abs=0.01)


def test_dsp_items_must_fit_the_model_input(tmp_path):
    b = _bundle(tmp_path, in_shape=(None, WIN + 1, C))
    with pytest.raises(BundleError, match=r"makes items of shape \(4, 2\) but the model input 'x' is \[5, 2\]"):
        Engine(b, backend=Spy(lambda f: {}), warmup=False)


def test_segment_manifest_becomes_a_stack_stage(tmp_path):
    m = {"dsp": [{"stage": "log_spectrogram", "n_fft": 128, "hop": 64}], "segment": {"frames": 64, "hop_frames": 32}}
    assert model_dsp(m)[-1] == {"stage": "stack", "length": 64, "hop": 32}
    assert item_hop_samples(model_dsp(m)) == 64 * 32
    with pytest.raises(BundleError, match="'segment' must be"):
        model_dsp({"dsp": [], "segment": {"frames": 3}})


def _identity_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["p"])], "id",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
                          [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 2])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def test_onnx_backend_falls_back_to_cpu_with_a_warning(tmp_path, caplog):
    from edgeemg.runtime.backends import OnnxBackend

    _identity_onnx(tmp_path / "m.onnx")
    with caplog.at_level(logging.WARNING, logger="edgeemg.runtime.backends"):
        be = OnnxBackend(tmp_path / "m.onnx", providers=["NoSuchExecutionProvider", "CPUExecutionProvider"], threads=1)
    assert be.providers == ("CPUExecutionProvider",)
    assert "NoSuchExecutionProvider" in caplog.text and "falling back" in caplog.text
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(be.run({"x": x})["p"], x)
    with pytest.raises(InvalidInputError, match="threads must be an integer >= 1"):
        OnnxBackend(tmp_path / "m.onnx", threads=0)


def test_open_backend_names_missing_artifacts(tmp_path):
    from edgeemg.runtime.backends import open_backend

    b = _bundle(tmp_path)
    with pytest.raises(BundleError, match="has no 'onnx-int8' model"):
        open_backend(b)
    with pytest.raises(InvalidInputError, match="backend must be one of"):
        open_backend(b, backend="tensorrt")


def test_every_target_profile_loads_and_engine_reads_its_budget(tmp_path):
    from edgeemg.runtime.targets import available_targets, load_target

    names = available_targets()
    assert {"rpi4", "rpi5", "jetson-orin-nano", "x86-host"} <= set(names)
    for n in names:
        assert load_target(n).latency_budget_ms > 0
    b = _bundle(tmp_path)
    eng = Engine(b, backend=Spy(lambda f: {}), target="rpi4", warmup=False)
    assert eng.latency_budget_ms == 80.0 and eng.skip_after_s == pytest.approx(0.08)


def test_event_json_line(tmp_path):
    b = _bundle(tmp_path)
    spy = Spy(lambda f: {"p": np.tile([[0.2, 0.8]], (f["x"].shape[0], 1)).astype(np.float32)})
    eng = Engine(b, backend=spy, skip_after_ms=float("inf"), clock=lambda: 200.0, warmup=False)
    (ev,) = [e for blk in _blocks(np.zeros((WIN, C), np.float32)) for e in eng.feed(blk)]
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["type"] == "event" and d["task"] == "gait" and d["state"] == "hi"
    # the newest sample (index 3) came in the second 3-sample block, which arrived at 100.003 s
    assert d["time_us"] == 5_003_000 and d["arrival_s"] == pytest.approx(100.003) and d["emit_s"] == 200.0
    assert d["latency_ms"] == pytest.approx(99_997.0) and ev.time == pytest.approx(5.003)
