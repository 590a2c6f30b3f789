"""Motor units on the board: tiny MO-DCNN -> ``edgeemg export --int8`` -> bundle -> streamed spikes and drive.

Reference, independent of the engine (as tests/test_runtime_e2e.py does for gait and
muscle): the samples the simulated band delivered, recorded on the side, run offline
through a fresh ``Pipeline.process_offline`` of the manifest's DSP, the bundle's int8
ONNX in a plain onnxruntime session and a fresh ``MotorUnitDecoder``. The streamed
events must be the same windows with the same units firing and the same neural drive.
The band is the subject the checkpoint was trained on (a motor-unit model decodes the
units of one person's grid), at infinite speed so the test waits for nothing.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _band_recorder import Recorder

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

torch = pytest.importorskip("torch")

from edgeemg.bridge import Block, Gap, SimulatedBand  # noqa: E402
from edgeemg.decompose import DecompositionConfig  # noqa: E402
from edgeemg.runtime.bundle import load_bundle  # noqa: E402
from edgeemg.tasks.checkpoint import save_checkpoint  # noqa: E402
from edgeemg.tasks.motor_units import workflow as wf  # noqa: E402

SUBJECT = 3
SECONDS = 8.0
TINY = wf.TrainingPlan(epochs=2, trunk_filters=16, c3_filters=16, c4_filters=8, hidden=32, max_units=3, min_spikes=10,
                       decomposition=DecompositionConfig(extension=6, n_sources=12, min_spikes=10))


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    """A truth-labelled tiny MO-DCNN of subject SUBJECT exported through the CLI (ONNX only)."""
    from edgeemg.cli import main

    tmp = tmp_path_factory.mktemp("mu-board")
    ck = wf.train(None, simulate=True, model="mo_dcnn", epochs=None, device="cpu", seed=SUBJECT, progress=False,
                  options={"labels": "truth"}, plan=TINY, simulation=wf.SimulationPlan(seconds=SECONDS, level=0.3))
    _make_heads_fire(ck)
    ckpt = tmp / "mu.ckpt"
    save_checkpoint(ckpt, ck)
    out = tmp / "mu.int8"
    assert main(["-q", "export", "--int8", str(ckpt), "--formats", "onnx", "-o", str(out), "--json"]) == 0
    return out


def _make_heads_fire(ck) -> None:
    """Shift each head's F2 bias so it fires on ~10 % of the windows.

    Two epochs do not teach a tiny net to fire (rare spikes); this test checks the
    plumbing, so it needs decisions on both sides of the threshold, not good ones.
    """
    model = wf.load_model(ck)
    rec = wf.load_recordings(None, True, seed=SUBJECT, plan=wf.SimulationPlan(**ck.meta["simulation"]))[0]
    x, _ = wf.windows_of(rec, ck.meta["dsp"])
    with torch.no_grad():
        p = model(torch.from_numpy(x[::4])).clamp(1e-6, 1 - 1e-6).numpy()
    logit = np.log(p) - np.log1p(-p)
    ck.arrays["f2.bias"] = (ck.arrays["f2.bias"] - np.quantile(logit, 0.9, axis=0)).astype(np.float32)


def _offline_events(path, samples):
    import onnxruntime as ort

    from edgeemg.dsp import Pipeline

    b = load_bundle(path)
    m = b.manifest
    frames = Pipeline.from_description(m["dsp"], m["fs_hz"], m["n_channels"]).process_offline(samples)
    sess = ort.InferenceSession(str(b.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    prob = sess.run(None, {m["input"]["name"]: frames.data})[0]
    dec = b.decoder()
    return dec.step(prob, frames.end_index) + dec.finish(), prob


def test_bundle_manifest_describes_a_multi_output_spike_decoder(bundle_path):
    b = load_bundle(bundle_path)
    m = b.manifest
    assert m["task"] == "motor-units" and m["window"] == 120 and m["hop"] == 20
    assert m["outputs"] == [{"name": "logits", "shape": [None, 3], "dtype": "float32", "kind": "probabilities"}]
    assert m["decoder_class"] == "edgeemg.tasks.motor_units.decoder:MotorUnitDecoder"
    assert m["algorithmic_latency_ms"] == pytest.approx(1000 * 60 / 2048)
    assert m["metrics"]["metric"] == "f1" and "onnx-int8" in m["metrics"]
    assert m["pruning"]["method"] == "none"
    dec = b.decoder()
    assert dec.units == ("mu00", "mu01", "mu02") and dec.config.step == 20 and dec.config.label_delay == 60
    # truth-labelled heads: each head's simulator unit ID, for edgeemg bench's true-event latency
    te = m["truth_events"]
    assert te["seed"] == SUBJECT
    assert [(r["truth"], r["reported"]) for r in te["map"]] == [(u["truth_id"], i) for i, u in enumerate(m["units"])]


def test_streamed_spikes_and_drive_match_offline_int8_reference(bundle_path):
    from edgeemg.runtime import stream

    bundle = load_bundle(bundle_path)
    with SimulatedBand("motor-units", seed=SUBJECT, seconds=SECONDS, speed=float("inf")) as band:
        rec = Recorder(band)
        events = list(stream(rec, bundle, skip_after_ms=float("inf")))
    items = rec.items
    assert not [it for it in items if isinstance(it, Gap)]
    blocks = [it for it in items if isinstance(it, Block)]
    samples = np.concatenate([b.samples for b in blocks])
    assert samples.shape == (int(SECONDS * 2048), 64)
    want, prob = _offline_events(bundle_path, samples)
    got = [e.payload for e in events]
    assert len(got) == len(want) == int((samples.shape[0] - 120) // 20 + 1)
    # the engine and the reference run the same int8 graph in onnxruntime: decisions must agree, except where a
    # probability sits within one int8 output step (1/255) of the threshold and batch-size-dependent kernel
    # rounding may land on either side
    clear = np.abs(prob - 0.5).min(axis=1) > 1.0 / 255
    assert clear.mean() > 0.5
    for g, w, ok in zip(got, want, clear):
        assert g["end_index"] == w["end_index"] and g["spike_index"] == w["end_index"] - 60
        if ok:
            assert g["units"] == w["units"] and g["n_spikes"] == w["n_spikes"]
    if clear.all():
        np.testing.assert_allclose([g["neural_drive"] for g in got], [w["neural_drive"] for w in want], atol=1e-9)
    assert sum(w["n_spikes"] for w in want) > 0  # the tiny model does fire: the comparison is not of empty lists
    json.dumps(got)  # events are JSON-able as the daemon writes them
