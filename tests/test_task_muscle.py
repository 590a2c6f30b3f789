"""Muscle-health decoder: frame stacking, running decision, the in-model delta, gradient x input,
segments shared by CNN and SVM, subject-wise stratified splits, tiny training above chance,
ONNX parity, and the CLI (train, eval --json, explain) end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from edgeemg.dsp import Pipeline, log_spectrogram
from edgeemg.errors import CheckpointError, InvalidInputError
from edgeemg.tasks.checkpoint import load_checkpoint, save_checkpoint
from edgeemg.tasks.classification import softmax
from edgeemg.tasks.muscle_health import spec
from edgeemg.tasks.muscle_health import workflow as wf
from edgeemg.tasks.muscle_health.decoder import DecisionConfig, MuscleDecoder
from edgeemg.tasks.muscle_health.explain import gradient_x_input
from edgeemg.tasks.muscle_health.models import SpectroEMGNet, delta_time

TINY = wf.SimulationPlan(n_subjects=9, seconds=8.0, eval_subjects=6)


# ----------------------------------------------------------------------------- spec / decoder


def test_frame_stacker_chunked_equals_offline():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((300, 5, 1)).astype(np.float32)
    ends = 127 + 64 * np.arange(300)
    want, want_end = spec.segment_frames(frames, ends, length=64, hop=32)
    assert want.shape == (1 + (300 - 64) // 32, 64, 5, 1)
    np.testing.assert_array_equal(want[2], frames[64:128])
    stacker = spec.FrameStacker(64, 32)
    cuts = np.sort(rng.choice(np.arange(1, 300), 12, replace=False))
    got, got_end = [], []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 300]):
        s, e = stacker.process(frames[a:b], ends[a:b])
        got.append(s)
        got_end.append(e)
    np.testing.assert_array_equal(np.concatenate(got), want)
    np.testing.assert_array_equal(np.concatenate(got_end), want_end)


def test_segments_and_td_windows_cover_the_same_samples():
    window, hop = spec.segment_samples()
    x = np.random.default_rng(1).standard_normal((20000, 1)).astype(np.float32)
    frames = log_spectrogram(x, spec.N_FFT, spec.FRAME_HOP)
    ends = spec.N_FFT - 1 + spec.FRAME_HOP * np.arange(len(frames))
    seg, seg_end = spec.segment_frames(frames, ends)
    # segment k spans samples [k*hop, k*hop + window): its last frame ends where the TD window ends
    np.testing.assert_array_equal(seg_end, hop * np.arange(len(seg)) + window - 1)


def test_running_decision_is_the_mean_of_probabilities():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((10, 3)) * 2
    dec = MuscleDecoder(spec.LABELS)
    events = dec.step(logits[:4], np.arange(4)) + dec.step(logits[4:], np.arange(4, 10))
    assert len(events) == 10
    for k, ev in enumerate(events, start=1):
        mean = softmax(logits[:k], axis=1).mean(0)
        assert ev["class"] == spec.LABELS[int(mean.argmax())] and ev["n_segments"] == k
        np.testing.assert_allclose(list(ev["probabilities"].values()), mean)
    final = dec.finish()
    assert final[0]["final"] and final[0]["n_segments"] == 10
    change = MuscleDecoder.from_manifest({"labels": list(spec.LABELS), "decoder": {"emit": "change"}})
    ev = change.step(np.log([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.0001, 0.0001, 0.9998], [0.0001, 0.0001, 0.9998]]),
                     np.arange(4))
    assert [e["class"] for e in ev] == ["als", "normal"]
    with pytest.raises(InvalidInputError, match=r"outputs must be \(n_segments, 3\)"):
        change.step(np.zeros((1, 2)), [0])
    with pytest.raises(InvalidInputError, match="emit must be one of"):
        DecisionConfig(emit="sometimes")


# ----------------------------------------------------------------------------- model / saliency


def test_delta_is_a_central_difference_along_time():
    x = torch.randn(2, 1, 5, 9)
    d = delta_time(x).numpy()
    xn = x.numpy()
    np.testing.assert_allclose(d, np.gradient(xn, axis=3), rtol=1e-5, atol=1e-6)


class _Linear(torch.nn.Module):
    def __init__(self, shape, n_classes=3):
        super().__init__()
        self.fc = torch.nn.Linear(int(np.prod(shape)), n_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_gradient_x_input_is_the_per_input_contribution_of_a_linear_model():
    torch.manual_seed(0)
    shape = (6, 5, 1)
    model = _Linear(shape)
    x = np.random.default_rng(3).standard_normal((4, *shape)).astype(np.float32)
    target = np.array([0, 2, 1, 2])
    sal, tgt = gradient_x_input(model, x, target)
    w = model.fc.weight.detach().numpy()
    b = model.fc.bias.detach().numpy()
    for i in range(4):
        np.testing.assert_allclose(sal[i].ravel(), w[target[i]] * x[i].ravel(), rtol=1e-5, atol=1e-7)
        logit = float(model(torch.from_numpy(x[i : i + 1]))[0, target[i]])
        assert sal[i].sum() == pytest.approx(logit - b[target[i]], rel=1e-4, abs=1e-5)
    assert tgt.tolist() == target.tolist()
    _, own = gradient_x_input(model, x)  # default: the model's own prediction
    assert own.tolist() == model(torch.from_numpy(x)).argmax(1).tolist()


@pytest.mark.parametrize("attention", [True, False])
def test_spectroemgnet_exports_to_onnx_with_parity(tmp_path, attention):
    import onnxruntime as ort

    net = SpectroEMGNet(spec.SEGMENT_FRAMES, spec.n_freq(), attention=attention).eval()
    x = torch.randn(3, spec.SEGMENT_FRAMES, spec.n_freq(), 1)
    torch.onnx.export(net, (x,), tmp_path / "m.onnx", input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {0: "batch"}})
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)
    if attention:
        att = net.attention_map(x)
        assert att.shape == (3, spec.n_freq() // 4, spec.SEGMENT_FRAMES // 4)
        np.testing.assert_allclose(att.sum(dim=(1, 2)).numpy(), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", TINY)
    try:
        return {m: wf.train(None, simulate=True, model=m, epochs=4, device="cpu", seed=0, progress=False, options={})
                for m in wf.MODELS}
    finally:
        mp.undo()


def test_split_is_by_subject_with_every_class_on_both_sides(trained):
    for ck in trained.values():
        split = ck.meta["split"]
        assert not set(split["train"]) & set(split["test"])
        for prefix in ("als", "myo", "nor"):
            assert any(f"-{prefix}" in s for s in split["train"]) and any(f"-{prefix}" in s for s in split["test"])


def test_svm_and_cnns_share_segments_and_labels(trained):
    recs = wf.simulate_recordings(3, seed=4, seconds=6.0)
    segsets = [wf.load_segments(ck, None, True, seed=4, progress=False)[1] for ck in trained.values()]
    for s in segsets[1:]:
        np.testing.assert_array_equal(s.x, segsets[0].x)
        np.testing.assert_array_equal(s.y, segsets[0].y)
        np.testing.assert_array_equal(s.end_index, segsets[0].end_index)
    ck = trained["svm"]
    segs = wf.make_segments(recs, ck.meta["dsp"], ck.meta["dsp_time"], 4000.0)
    board = Pipeline.from_description(ck.meta["dsp_time"], 4000.0, 1).process_offline(recs[0].emg)
    m = segs.record == 0
    np.testing.assert_array_equal(board.end_index[: m.sum()], segs.end_index[m])
    np.testing.assert_array_equal(segs.y, [spec.LABELS.index(recs[i].condition) for i in segs.record])


def test_tiny_models_beat_chance_and_report_recall(trained, monkeypatch):
    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", TINY)
    for model, ck in trained.items():
        rep = wf.evaluate(ck, None, simulate=True, seed=1, device="cpu", progress=False, options={})
        assert rep["held_out"]
        assert rep["accuracy"] > 0.5, (model, rep["accuracy"])  # chance: 1/3
        cm = np.asarray(rep["confusion"])
        yt = np.repeat(np.arange(3), cm.sum(1))
        yp = np.concatenate([np.repeat(np.arange(3), row) for row in cm])
        want = skm.recall_score(yt, yp, labels=[0, 1, 2], average=None, zero_division=0)
        np.testing.assert_allclose(list(rep["per_class_recall"].values()), want)
        assert rep["per_record"]["n_records"] == TINY.eval_subjects


def test_checkpoint_round_trip(trained, tmp_path):
    segs = wf.load_segments(trained["attention"], None, True, seed=7, progress=False)[1]
    for model, ck in trained.items():
        back = load_checkpoint(save_checkpoint(tmp_path / f"{model}.ckpt", ck), task="muscle")
        np.testing.assert_array_equal(wf.model_scores(back, segs), wf.model_scores(ck, segs))
        assert back.meta["input_shape"] == [spec.SEGMENT_FRAMES, spec.n_freq(), 1]
    with pytest.raises(CheckpointError, match="not a CNN"):
        wf.build_network(trained["svm"])


# ----------------------------------------------------------------------------- CLI


def test_cli_train_eval_and_explain(tmp_path, capsys, monkeypatch):
    from edgeemg.cli import main

    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", wf.SimulationPlan(n_subjects=6, seconds=5.0, eval_subjects=3))
    ckpt = tmp_path / "att.ckpt"
    assert main(["-q", "train", "muscle", "--simulate", "--model", "attention", "--epochs", "2", "--device", "cpu",
                 "-o", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "attention" and summary["n_params"] > 0
    data = tmp_path / "rec"
    assert main(["-q", "simulate", "muscle", "-o", str(data), "--seconds", "5", "--subjects", "3", "--seed", "3"]) == 0
    capsys.readouterr()
    assert main(["-q", "eval", str(ckpt), "--data", str(data), "--json", "--plot", str(tmp_path / "p")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class_f1", "per_class_recall", "confusion", "model"} <= set(rep)
    assert (tmp_path / "p" / "muscle_attention_confusion.png").is_file()
    assert main(["-q", "explain", str(ckpt), "--data", str(data), "-o", str(tmp_path / "sal"), "--per-class", "2",
                 "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert len(files) == 6 and all(f.endswith(".png") for f in files)
    for cls in spec.LABELS:
        assert sum(f"saliency_{cls}_" in f for f in files) == 2
