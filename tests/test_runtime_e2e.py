"""The runtime end to end over a pty with the simulated band, for every task that has a bundle (gait, muscle).

Reference, independent of the engine: the very samples the band delivered (recorded on the
side), split at gaps, run offline through a fresh ``Pipeline.process_offline`` of the
manifest's DSP (muscle: stacked with the task's own ``spec.segment_frames``), the bundle's
int8 ONNX in a plain onnxruntime session, and a fresh task decoder stepped on all windows at
once. The streamed events must carry the same payloads (same states/classes at the same
samples, probabilities equal to rounding) and device times consistent with the samples.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _band_recorder import Recorder, same_payloads

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

from edgeemg.bridge import Block, Gap, SimulatedBand  # noqa: E402
from edgeemg.errors import BundleError  # noqa: E402
from edgeemg.runtime.bundle import load_bundle  # noqa: E402
from edgeemg.runtime.engine import Engine  # noqa: E402
from edgeemg.runtime.streaming import stream  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RECIPE = """task = "{task}"
[prune]
method = "none"
ratio = 0.0
finetune_epochs = 0
[quantize]
scheme = "static"
per_channel = true
weight_type = "int8"
activation_type = "int8"
calibration_windows = 64
calibration_method = "minmax"
dynamic_ops = []
[convert]
formats = {formats}
optimize = true
[tolerance]
metric = "macro_f1"
max_loss_pp = 100.0
fp32_rtol = 1e-4
int8_rtol = 0.5
"""


def _tiny_bundle(tmp: Path, task: str, formats: list[str]) -> Path:
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.tasks.gait import workflow as gait_wf
    from edgeemg.tasks.muscle_health import workflow as muscle_wf

    wf, plan = {"gait": (gait_wf, gait_wf.SimulationPlan(n_subjects=4, seconds=12.0, eval_subjects=2)),
                "muscle": (muscle_wf, muscle_wf.SimulationPlan(n_subjects=6, seconds=5.0, eval_subjects=3))}[task]
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", plan)
    try:
        options = {"preset": "seed"} if task == "gait" else {}  # the causal gait bundle: tests/test_task_gait_causal.py
        ck = wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False, options=options)
        recipe = tmp / f"{task}.toml"
        recipe.write_text(RECIPE.format(task=task, formats=json.dumps(formats)))
        out = tmp / f"{task}.int8"
        export_checkpoint(ck, out, recipe=recipe, progress=False)
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rt-bundles")
    return {"gait": _tiny_bundle(tmp, "gait", ["onnx", "tflite"]), "muscle": _tiny_bundle(tmp, "muscle", ["onnx"])}


def _offline_events(bundle_path: Path, blocks: list[Block]) -> list[dict]:
    """Independent reference: offline DSP + plain onnxruntime + a fresh decoder on the recorded samples."""
    import onnxruntime as ort

    from edgeemg.dsp import Pipeline

    b = load_bundle(bundle_path)
    m = b.manifest
    x = np.concatenate([blk.samples for blk in blocks])
    frames = Pipeline.from_description(m["dsp"], m["fs_hz"], m["n_channels"]).process_offline(x)
    data, ends = frames.data, frames.end_index
    if "segment" in m:
        from edgeemg.tasks.muscle_health.spec import segment_frames

        data, ends = segment_frames(data, ends, length=m["segment"]["frames"], hop=m["segment"]["hop_frames"])
    if len(data) == 0:
        return []
    sess = ort.InferenceSession(str(b.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {m["input"]["name"]: data})[0]
    dec = b.decoder()
    return dec.step(logits, ends) + dec.finish()


@pytest.mark.parametrize("task", ["gait", "muscle"])
def test_pty_stream_matches_offline_reference(bundles, task):
    bundle = load_bundle(bundles[task])
    seconds = {"gait": 8.0, "muscle": 5.0}[task]
    with SimulatedBand(task, seed=5, seconds=seconds, speed=8.0, pty=True) as sim:
        rec = Recorder(sim)
        s = stream(rec, bundle, skip_after_ms=float("inf"), idle_timeout_s=10.0)  # never hang; all samples checked
        events = list(s)
    blocks = [it for it in rec.items if isinstance(it, Block)]
    assert not [it for it in rec.items if isinstance(it, Gap)]
    assert sum(b.n_samples for b in blocks) == int(seconds * bundle.fs_hz)  # every sample came through the pty
    want = _offline_events(bundles[task], blocks)
    assert len(want) >= 2
    same_payloads([e.payload for e in events], want)
    # timing: each event's device time is its newest sample's, read from the frame that carried it
    fs = bundle.fs_hz
    first_us = blocks[0].timestamp_us
    for e in events:
        if e.payload.get("end_index") is not None:
            assert e.sample_index == e.payload["end_index"]
            assert abs(e.time_us - (first_us + e.sample_index * 1e6 / fs)) <= 1
        assert e.emit_s >= e.arrival_s and e.latency_ms == pytest.approx(1000 * (e.emit_s - e.arrival_s))
    assert s.stats.skipped == 0 and s.stats.items > 0


def test_mismatched_band_is_refused_before_decoding(bundles):
    gait = load_bundle(bundles["gait"])
    with SimulatedBand("muscle", seed=0, seconds=2.0, speed=float("inf")) as band:
        with pytest.raises(BundleError, match=r"expects 2000 Hz but the band samples at 4000 Hz.*'gait' model"):
            stream(band, gait)
    # channel count: same rate, other channel count (a 4 kHz muscle bundle on a 4 kHz 2-channel band)
    import dataclasses

    from edgeemg.bridge import DeviceInfo

    muscle = Engine(load_bundle(bundles["muscle"]), warmup=False)
    info = DeviceInfo(4000.0, 2, "test-2ch", "x")
    with pytest.raises(BundleError, match="expects 1 channels but the band has 2"):
        muscle.check_band(info)
    muscle.check_band(dataclasses.replace(info, n_channels=1))  # the matching band passes
    assert muscle.blocks == 0


def test_unplug_replug_resumes_and_restarts_the_chain(bundles):
    bundle = load_bundle(bundles["gait"])
    with SimulatedBand("gait", seed=6, seconds=10.0, speed=5.0, pty=True) as sim:
        rec = Recorder(sim)
        # the simulated band cannot tell "done" after an unplug (bytes written to the old pty were never read),
        # so the stream ends when the band has been silent for a while, as a finite recording on a port would
        s = stream(rec, bundle, skip_after_ms=float("inf"), idle_timeout_s=3.0)
        events: list = []
        worker = threading.Thread(target=lambda: events.extend(s), daemon=True)
        worker.start()
        deadline = time.monotonic() + 30
        while sim.stats.frames < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        sim.unplug()
        time.sleep(0.4)
        sim.replug()
        worker.join(timeout=60)
        assert not worker.is_alive()
        reconnects = sim.stats.reconnects
    gaps = [it for it in rec.items if isinstance(it, Gap)]
    assert reconnects >= 1 and gaps and gaps[0].kind.value in ("reconnect", "lost_frames") and gaps[0].samples > 0
    segs = rec.segments()
    assert len(segs) >= 2 and sum(b.n_samples for b in segs[-1]) > 2000  # decoding resumed after the replug
    want = [p for seg in segs for p in _offline_events(bundles["gait"], seg)]
    same_payloads([e.payload for e in events], want)
    after = [e for e in events if e.time_us >= gaps[0].to_us]
    assert after and after[0].payload["previous"] is None  # the decoder restarted at the gap
    assert s.stats.gaps == len(gaps) and s.stats.gap_samples == sum(g.samples for g in gaps)


def test_tflite_backend_agrees_with_onnxruntime(bundles):
    from edgeemg.runtime.backends import open_backend

    b = load_bundle(bundles["gait"])
    if "tflite-fp32" not in b.available_artifacts():
        pytest.skip(f"the exporter could not make TFLite here: {b.manifest['artifacts']['tflite-fp32']}")
    with SimulatedBand("gait", seed=9, seconds=3.0, speed=float("inf")) as band:
        x = np.concatenate([it.samples for it in band if isinstance(it, Block)])
    items = b.pipeline().process_offline(x).data
    ort_fp32 = open_backend(b, backend="onnxruntime", precision="fp32").run({"x": items})["logits"]
    tfl_fp32 = open_backend(b, backend="tflite", precision="fp32").run({"x": items})["logits"]
    np.testing.assert_allclose(tfl_fp32, ort_fp32, rtol=1e-4, atol=1e-4 * np.abs(ort_fp32).max())
    if "tflite-int8" in b.available_artifacts():
        tfl_int8 = open_backend(b, backend="tflite", precision="int8").run({"x": items})["logits"]
        assert (tfl_int8.argmax(1) == ort_fp32.argmax(1)).mean() >= 0.8


def test_unix_socket_sink_mode_and_lines(bundles, tmp_path):
    from edgeemg.runtime.daemon import run_daemon

    path = tmp_path / "events.sock"
    got: dict = {}

    def ready(band):
        got["mode"] = stat.S_IMODE(os.stat(path).st_mode)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(path))
        got["client"] = c  # connected before the band starts: the sink accepts it at its first line

    code = run_daemon(bundles["gait"], simulate=True, seconds=3.0, speed=10.0, sink=f"unix:{path}",
                      metrics_every_s=0.2, skip_after_ms=float("inf"), on_ready=ready, out=sys.stderr)
    assert code == 0 and got["mode"] == 0o660 and not path.exists()
    c = got["client"]
    c.settimeout(5)
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    c.close()
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert any(d["type"] == "event" and d["task"] == "gait" for d in lines)
    assert lines[-1]["type"] == "metrics" and lines[-1]["final"] and lines[-1]["frames"] > 0


def test_daemon_sigterm_exits_cleanly_with_last_metrics_line(bundles):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "edgeemg", "-q", "run", str(bundles["gait"]), "--simulate",
                             "--speed", "2", "--metrics-every", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, env=env, text=True)
    try:
        deadline = time.monotonic() + 90
        first = None
        while time.monotonic() < deadline and first is None:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                first = json.loads(line)
        assert first is not None, "the daemon wrote nothing within 90 s"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["type"] == "metrics" and last["final"] is True and last["frames"] > 0
    assert "Traceback" not in err
