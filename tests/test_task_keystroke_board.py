"""Keystrokes on the board: a tiny streaming TDS -> stateful int8 export -> bundle -> streamed characters.

The keystroke model is the first *stateful* one through the export chain: each call
takes one 40 ms chunk (5 spectrogram frames) and its conv cache, and returns the
emissions and the new cache, which the engine feeds back. Reference, independent of
the engine: the samples the band delivered, recorded on the side, through a fresh
offline ``Pipeline`` of the manifest's DSP, the bundle's int8 ONNX in a plain
onnxruntime session run chunk by chunk with the state fed back by hand, and a fresh
``KeystrokeDecoder``. The model is untrained (parity, not accuracy): its head is
scaled up so that the greedy decoder emits characters, so the comparison is not of
empty lists.
"""

from __future__ import annotations

import dataclasses

import json
import os

import numpy as np
import pytest
from _band_recorder import Recorder

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

torch = pytest.importorskip("torch")

from edgeemg.bridge import Block, Gap, SimulatedBand  # noqa: E402
from edgeemg.runtime.bundle import load_bundle  # noqa: E402
from edgeemg.tasks.checkpoint import Checkpoint, save_checkpoint  # noqa: E402

SEED = 0
SECONDS = 3.0


def tiny_checkpoint(model: str = "tds") -> Checkpoint:
    """An untrained tiny keystroke model whose greedy decoding is not all blanks (head weights scaled up)."""
    from edgeemg.tasks.keystroke import spec
    from edgeemg.tasks.keystroke.decoder import DecoderConfig
    from edgeemg.tasks.keystroke.models import PRESETS, build_model
    from edgeemg.tasks.torch_support import seed_everything, state_to_arrays

    seed_everything(0)
    net = build_model(model, PRESETS[model]["tiny"]).eval()
    with torch.no_grad():
        net.head.weight.mul_(20.0)
        net.head.bias.zero_()
    meta = {"labels": list(spec.LABELS), "blank": spec.BLANK, "fs_hz": spec.FS_HZ,
            "channel_names": list(spec.CHANNEL_NAMES), "dsp": spec.dsp_description(),
            "model_config": net.config.to_dict(), "decoder": DecoderConfig().to_dict(), "data": "simulated",
            "user_seed": SEED, "train_sessions": 1, "seed": SEED}
    return Checkpoint(task="keystroke", model=model, arrays=state_to_arrays(net), meta=meta)


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    from edgeemg.tasks.keystroke.lm import build_lm

    p = tmp_path_factory.mktemp("ks-lm") / "lm.bin"
    build_lm("the quick brown fox jumps over the lazy dog. " * 20, order=3).save(p)
    return p


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory, lm_path):
    """The tiny streaming TDS exported to ONNX (fp32 + int8) with an LM (beam decoder in the manifest)."""
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.keystroke.workflow import SimulationPlan

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("ks-board")
    ckpt = tmp / "ks.ckpt"
    save_checkpoint(ckpt, tiny_checkpoint("tds"))
    out = tmp / "ks.int8"
    # The model is untrained (CER in the hundreds of %, from its scaled-up head): the recipe's 1 pp CER-loss
    # gate is about trained models (benchmarks/report_keystroke.py measures it) and flips here with the
    # held-out text, so this bundle is gated on a loose CER loss; the tests below check the int8 path itself.
    recipe = load_recipe("keystroke")
    recipe = dataclasses.replace(recipe, tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=200.0))
    export_checkpoint(ckpt, out, formats=("onnx",), progress=False, recipe=recipe,
                      source=DataSource(plan=SimulationPlan(train_sessions=1, seconds=3.0, eval_seconds=4.0),
                                        lm=lm_path))
    return out


def _greedy_bundle(path, tmp_path):
    """The same bundle with the greedy decoder: a copy whose manifest is resealed (hashes still checked)."""
    import shutil

    from edgeemg.runtime.bundle import MANIFEST_NAME, seal_manifest

    dst = tmp_path / "greedy"
    shutil.copytree(path, dst)
    m = json.loads((dst / MANIFEST_NAME).read_text())
    m["decoder"] = {k: v for k, v in m["decoder"].items() if k != "lm"} | {"kind": "greedy"}
    (dst / "lm.bin").unlink()
    for k in ("files", "manifest_sha256"):
        m.pop(k, None)
    (dst / MANIFEST_NAME).write_bytes(seal_manifest(m, dst))
    return dst


def test_manifest_declares_state_chunking_and_per_op_quantization(bundle_path):
    b = load_bundle(bundle_path)
    m = b.manifest
    assert m["task"] == "keystroke" and m["model"] == "tds"
    assert m["dsp"] == [{"stage": "log_spectrogram", "n_fft": 64, "hop": 16}, {"stage": "stack", "length": 5, "hop": 5}]
    assert m["hop"] == 80 and m["input"]["shape"] == [1, None, 33, 32]
    assert [s["input"] for s in m["state"]] == ["conv_cache"]
    assert m["state"][0]["output"] == "conv_cache_next" and m["state"][0]["init"] == "zeros"
    assert m["metrics"]["metric"] == "cer" and m["metrics"]["direction"] == "lower is better"
    per_op = m["quantization"]["per_op"]
    assert "Conv" in per_op and not any("dynamic" in v for v in per_op.values())  # the TDS quantizes fully statically
    assert m["decoder"]["kind"] == "beam" and m["decoder"]["lm"] == "lm.bin" and "lm.bin" in m["files"]
    assert b.decoder().lm is not None
    # the recipe's int8_rtol. Measured for this tiny TDS with the portable scheme (uint8 activations, reduce_range):
    # 0.027 on AVX-512 VNNI, AVX2 (qemu -cpu Haswell), Cortex-A72 and A76 alike; the scheme shipped before (int8
    # activations) gave 0.023 on VNNI but 0.257 on AVX2, where this export was refused
    # (benchmarks/report_int8_portability.py).
    assert m["artifacts"]["onnx-int8"]["parity"]["p99_rel"] <= 0.25
    assert m["truth_events"] == {"match": "sequence", "window_ms": [-200.0, 500.0]}


def test_golden_self_check_runs_each_item_with_its_state(bundle_path):
    """golden.npz holds chunks with the state the float model carried into them; the check's figure is what a
    plain onnxruntime session gives when each chunk is run with its own state."""
    import onnxruntime as ort

    b = load_bundle(bundle_path)
    sc = b.manifest["self_check"]
    with np.load(bundle_path / "golden.npz") as z:
        g = {k: z[k] for k in z.files}
    assert set(g) == {"x", "state.conv_cache", "ref.logits", "host.onnx-fp32.logits", "host.onnx-int8.logits"}
    assert len(g["x"]) == sc["n_items"] == 16
    assert np.abs(g["state.conv_cache"]).max() > 0  # real carried state, not zeros
    sess = ort.InferenceSession(str(bundle_path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    got = np.stack([sess.run(["logits"], {"x": g["x"][i : i + 1], "conv_cache": g["state.conv_cache"][i]})[0][0]
                    for i in range(len(g["x"]))])
    err = np.abs(got - g["ref.logits"]).reshape(len(got), -1).max(axis=1).max() / sc["scale"]
    assert b.self_check.ok and b.self_check.error == pytest.approx(err, rel=1e-3, abs=1e-6)
    np.testing.assert_array_equal(got, g["host.onnx-int8.logits"])  # same CPU, same kernels: no drift at all
    assert b.self_check.drift == 0.0
    assert b.self_check.error <= sc["tolerance"]["int8"]


def test_lm_file_is_hashed_like_every_file(bundle_path, tmp_path):
    import shutil

    from edgeemg.errors import BundleError

    dst = tmp_path / "b"
    shutil.copytree(bundle_path, dst)
    data = bytearray((dst / "lm.bin").read_bytes())
    data[-1] ^= 0xFF
    (dst / "lm.bin").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="lm.bin"):
        load_bundle(dst)


def _offline_int8(path, samples):
    """Reference: offline DSP -> int8 ONNX chunk by chunk with the state fed back by hand."""
    import onnxruntime as ort

    from edgeemg.dsp import Pipeline

    b = load_bundle(path)
    m = b.manifest
    frames = Pipeline.from_description(m["dsp"], m["fs_hz"], m["n_channels"]).process_offline(samples)
    sess = ort.InferenceSession(str(b.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    state = {s["input"]: np.zeros(s["shape"], np.float32) for s in m["state"]}
    rows = []
    for chunk in frames.data:
        out = sess.run(None, {"x": chunk[None], **state})
        names = [o.name for o in sess.get_outputs()]
        res = dict(zip(names, out))
        state = {s["input"]: res[s["output"]] for s in m["state"]}
        rows.append(res["logits"][0])
    em = np.concatenate(rows)
    ends = (frames.end_index[:, None] - 16 * np.arange(4, -1, -1)[None, :]).reshape(-1)
    return em, ends, frames


def test_streamed_characters_match_offline_int8_reference(bundle_path, tmp_path):
    from edgeemg.runtime import stream

    path = _greedy_bundle(bundle_path, tmp_path)
    bundle = load_bundle(path)
    with SimulatedBand("keystroke", seed=SEED, seconds=SECONDS, speed=float("inf")) as band:
        rec = Recorder(band)
        events = list(stream(rec, bundle, skip_after_ms=float("inf")))
    assert not [it for it in rec.items if isinstance(it, Gap)]
    samples = np.concatenate([it.samples for it in rec.items if isinstance(it, Block)])
    em, ends, _ = _offline_int8(path, samples)
    dec = bundle.decoder()
    want = dec.step(em, ends) + dec.finish()
    got = [e.payload for e in events]
    assert len(want) > 3  # the scaled head emits characters: not a comparison of empty lists
    assert [g["char"] for g in got] == [w["char"] for w in want]
    assert [g["end_index"] for g in got] == [w["end_index"] for w in want]
    json.dumps(got)


def test_beam_lm_bundle_streams_the_offline_beam_text(bundle_path):
    from edgeemg.runtime import stream

    bundle = load_bundle(bundle_path)
    with SimulatedBand("keystroke", seed=SEED, seconds=SECONDS, speed=float("inf")) as band:
        rec = Recorder(band)
        events = list(stream(rec, bundle, skip_after_ms=float("inf")))
    samples = np.concatenate([it.samples for it in rec.items if isinstance(it, Block)])
    em, ends, _ = _offline_int8(bundle_path, samples)
    dec = bundle.decoder()
    want = dec.step(em, ends) + dec.finish()
    assert "".join(e.payload["char"] for e in events) == "".join(w["char"] for w in want)


def test_chunked_int8_equals_one_shot_int8_for_tds(bundle_path):
    """The TDS graph has a dynamic frame axis: a whole recording in one call equals 40 ms chunks with state."""
    import onnxruntime as ort

    from edgeemg.data.sim_keystroke import simulate_keystroke
    from edgeemg.tasks.keystroke import spec

    b = load_bundle(bundle_path)
    sim = simulate_keystroke(SECONDS, seed=SEED, session=0)
    em_chunked, _, frames = _offline_int8(bundle_path, sim.emg.astype(np.float32))
    full = spec.features(sim.emg)[: 5 * len(frames.data)]
    sess = ort.InferenceSession(str(b.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    zeros = {s["input"]: np.zeros(s["shape"], np.float32) for s in b.manifest["state"]}
    one = sess.run(["logits"], {"x": full[None].astype(np.float32), **zeros})[0][0]
    assert one.shape == em_chunked.shape
    # same int8 graph, same inputs; only the accumulation order of the chunked run can differ
    err = np.abs(one - em_chunked)
    assert np.percentile(err, 99) <= 0.05 * np.abs(one).max()
    # a frame may name another class only where its top two logits were within the two runs' difference
    # (int8 outputs tie exactly at one quantization step; which one argmax takes is then arbitrary)
    differ = one.argmax(1) != em_chunked.argmax(1)
    top2 = np.sort(one[differ], axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] <= 2 * err[differ].max(1) + 1e-6)
    assert differ.mean() <= 0.05


    def __iter__(self):
        while (item := self.read()) is not None:
            yield item


def _key_event(t_ms: float, char: str) -> object:
    from edgeemg.runtime.events import Event

    return Event("keystroke", int(1000 * t_ms), 0.0, 0.0, 0.0, int(2 * t_ms), {"char": char})


def test_character_latency_pairs_keys_and_characters_in_order():
    """Burst end -> emitted character: early characters count, and a repeated key is not paired with a later copy.

    Hand-built: "e" is typed twice; the decoder emits the first "e" 20 ms *before* its burst ends (a causal model
    can: the burst starts ~90 ms before it ends), misses "x", and emits the second "e" 20 ms after. The first
    event at or after each truth (``match_truth``) pairs both keys with the second "e" (a 220 ms latency that
    never happened, one character counted twice); the in-order alignment pairs each key with its own character.
    """
    from edgeemg.runtime.truth import match_sequence, match_truth

    truth = [(100_000, "e"), (200_000, "x"), (300_000, "e"), (400_000, " ")]
    events = [_key_event(80, "e"), _key_event(320, "e"), _key_event(390, " "), _key_event(450, "q")]
    naive = match_truth(truth, events, max_delay_s=2.0)
    assert [None if e is None else e.time_us for _, e in naive] == [320_000, None, 320_000, None]
    pairs = match_sequence(truth, events, (-200_000.0, 1_000_000.0))
    assert [None if e is None else e.time_us for _, e in pairs] == [80_000, None, 320_000, 390_000]
    lat = [e.time_us - t for t, e in pairs if e is not None]
    assert lat == [-20_000, 20_000, -10_000]
    # outside the window: not paired; order of the truth list is kept in the result
    assert match_sequence(truth, events, (0.0, 10_000.0))[0][1] is None
    assert [t for t, _ in match_sequence(truth[::-1], events, (-200_000.0, 1_000_000.0))] == [t for t, _ in truth[::-1]]
    assert match_sequence(truth, [], (-1.0, 1.0)) == [(t, None) for t, _ in truth]


def test_bench_measures_character_latency_from_the_burst_end(bundle_path):
    """``edgeemg bench`` on a keystroke bundle pairs keys with characters through the manifest's sequence rule."""
    from edgeemg.data.sim_keystroke import simulate_keystroke
    from edgeemg.runtime.bench import bench_bundle

    report, _ = bench_bundle(load_bundle(bundle_path), seconds=SECONDS, seed=SEED, reps=3)
    sim = simulate_keystroke(SECONDS, seed=SEED, session=0)
    assert report.true_events == len(sim.bursts) > 5
    lo, hi = -0.2, 0.5 + 0.004 + 1.0  # window + frame wait + generous compute
    assert all(lo <= x <= hi for x in report.true_latency_s)


def test_held_out_pieces_keep_each_key_once_with_its_frame():
    """The export scores the held-out session in pieces (the int8-loss bootstrap needs several items)."""
    from edgeemg.tasks.keystroke.export_hooks import held_out_pieces
    from edgeemg.tasks.keystroke.sessions import PreparedSession, Segment

    frames = [5, 30, 48, 49, 60, 99]
    segs = (Segment(0, 40, (1, 2), (5, 30)), Segment(40, 100, (3, 4, 5, 6), (48, 49, 60, 99)))
    ses = PreparedSession(np.arange(100, dtype=np.float32)[:, None], np.array(frames), np.arange(1, 7), segs, "s", "u")
    p0, p1 = held_out_pieces([ses])  # 100 frames -> two pieces of 50
    assert [list(g.key_frames) for g in p0.segments] == [[5, 30], [48]]  # a key in a piece's last frame is left out
    assert [list(g.classes) for g in p1.segments] == [[5]] and list(p1.segments[0].key_frames) == [10]
    assert p1.x[0, 0] == 50 and p1.segments[0].start == 0 and p1.segments[0].end == 50


def test_offline_bilstm_refuses_the_board_export(tmp_path):
    """The offline bidirectional CNN+LSTM needs the whole prompt: the export says so before any work."""
    from edgeemg.errors import InvalidInputError
    from edgeemg.export.chain import export_checkpoint

    save_checkpoint(tmp_path / "bi.ckpt", tiny_checkpoint("cnn_bilstm"))
    with pytest.raises(InvalidInputError, match="'cnn_bilstm' with causal=False: the offline bidirectional CNN"
                                                r"\+LSTM reads whole prompts, so it cannot stream on the board"):
        export_checkpoint(tmp_path / "bi.ckpt", tmp_path / "bi.int8", formats=("onnx",), progress=False)
    assert not (tmp_path / "bi.int8").exists()
