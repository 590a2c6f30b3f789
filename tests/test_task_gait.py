"""Gait-phase decoder: metrics vs scikit-learn, SVM-from-arrays vs SVC, subject-wise splits,
the smoother's flicker and latency, shared windows for CNN and SVM, tiny training above chance,
checkpoint round trip, ONNX parity, and the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from edgeemg.dsp import Pipeline
from edgeemg.errors import CheckpointError, InvalidInputError
from edgeemg.tasks.checkpoint import load_checkpoint, save_checkpoint
from edgeemg.tasks.classification import (
    RbfSvm,
    SubjectSplit,
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    per_class_f1,
    per_class_recall,
    subject_split,
)
from edgeemg.tasks.gait import spec
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.decoder import GaitDecoder, SmootherConfig, count_changes, transition_delays

REPO = Path(__file__).resolve().parents[1]
TINY = wf.SimulationPlan(n_subjects=4, seconds=30.0, eval_subjects=2)


# ----------------------------------------------------------------------------- metrics


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=60))
def test_metrics_equal_sklearn(n_classes, pairs):
    yt = np.array([a % n_classes for a, _ in pairs])
    yp = np.array([b % n_classes for _, b in pairs])
    labels = list(range(n_classes))
    cm = confusion_matrix(yt, yp, n_classes)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(yt, yp, labels=labels))
    assert accuracy(cm) == pytest.approx(skm.accuracy_score(yt, yp))
    kw = {"labels": labels, "zero_division": 0}
    np.testing.assert_allclose(per_class_f1(cm), skm.f1_score(yt, yp, average=None, **kw))
    np.testing.assert_allclose(per_class_recall(cm), skm.recall_score(yt, yp, average=None, **kw))
    assert macro_f1(cm) == pytest.approx(skm.f1_score(yt, yp, average="macro", **kw))
    assert macro_f1(cm, present_only=True) == pytest.approx(skm.f1_score(yt, yp, average="macro", zero_division=0))


def test_classification_report_keys_and_errors():
    rep = classification_report(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 2]), spec.LABELS)
    assert rep["accuracy"] == 0.75 and rep["per_class_f1"]["stop"] == 0.0 and rep["confusion"][3][2] == 1
    with pytest.raises(InvalidInputError, match=r"y_pred must lie in 0..3 \(n_classes=4\), got values in 0..4"):
        confusion_matrix([0, 1], [0, 4], 4)
    with pytest.raises(InvalidInputError, match="equal length"):
        confusion_matrix([0, 1], [0], 4)


# ----------------------------------------------------------------------------- SVM as arrays


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_numpy_svm_equals_sklearn(n_classes):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(n_classes)
    x = rng.standard_normal((240, 8)) * rng.uniform(0.5, 20, 8) + rng.uniform(-5, 5, 8)
    y = rng.integers(0, n_classes, 240)
    x[:, 0] += 3 * y
    sc = StandardScaler().fit(x)
    svc = SVC(C=3.0, gamma=0.07).fit(sc.transform(x), y)
    svm = RbfSvm(svc.support_vectors_, svc._dual_coef_, svc._intercept_, svc.n_support_, svc._gamma, svc.classes_,
                 sc.mean_, sc.scale_)
    xt = rng.standard_normal((300, 8)) * 5
    np.testing.assert_allclose(svm.decision_function(xt), svc.decision_function(sc.transform(xt)), atol=1e-10)
    np.testing.assert_array_equal(svm.predict(xt), svc.predict(sc.transform(xt)))
    back = RbfSvm.from_arrays({k: np.asarray(v) for k, v in svm.to_arrays().items()})
    np.testing.assert_array_equal(back.predict(xt), svm.predict(xt))
    with pytest.raises(InvalidInputError, match=r"features must be \(n_windows, 8\), got shape \(3, 7\)"):
        svm.decision_function(np.zeros((3, 7)))


# ----------------------------------------------------------------------------- splits


def test_subject_split_is_disjoint_and_stratified():
    subjects = [f"s{i}" for i in range(12)]
    strata = ["als", "myopathy", "normal"] * 4
    for seed in range(5):
        sp = subject_split(subjects, test_fraction=0.25, seed=seed, strata=strata)
        assert not set(sp.train) & set(sp.test)
        assert set(sp.train) | set(sp.test) == set(subjects)
        for cls in set(strata):
            members = {s for s, c in zip(subjects, strata) if c == cls}
            assert members & set(sp.train) and members & set(sp.test)
    with pytest.raises(InvalidInputError, match="at least 2 subjects, got 1"):
        subject_split(["only"], test_fraction=0.5, seed=0)
    with pytest.raises(InvalidInputError, match=r"subject\(s\) \['a'\] are on both sides"):
        SubjectSplit(train=("a", "b"), test=("a",))


# ----------------------------------------------------------------------------- smoother


def _noisy_sequence(rng, n_per_state=40, flip=0.25, n_classes=4):
    truth = np.repeat([0, 1, 2, 3, 0], n_per_state)
    pred = truth.copy()
    flips = rng.random(truth.size) < flip
    pred[flips] = rng.integers(0, n_classes, flips.sum())
    return truth, np.eye(n_classes)[pred] * 0.9 + 0.025


def test_smoother_reduces_flicker_and_keeps_accuracy():
    rng = np.random.default_rng(0)
    truth, probs = _noisy_sequence(rng)
    raw = probs.argmax(1)
    for cfg in (SmootherConfig(votes=5, outputs="probabilities"), SmootherConfig(kind="hmm", outputs="probabilities")):
        smoothed = GaitDecoder(spec.LABELS, cfg).smooth(probs)
        assert count_changes(smoothed) < count_changes(raw) / 3, cfg.kind
        assert (smoothed == truth).mean() >= (raw == truth).mean() - 0.02, cfg.kind


@pytest.mark.parametrize("votes", [1, 3, 5, 7])
def test_majority_latency_is_the_documented_one(votes):
    cfg = SmootherConfig(votes=votes, outputs="probabilities", hop_s=0.1)
    truth = np.repeat([0, 2], 20)
    smoothed = GaitDecoder(spec.LABELS, cfg).smooth(np.eye(4)[truth])
    delays = transition_delays(truth, smoothed)
    assert delays.tolist() == [cfg.added_latency_windows()] == [votes // 2]
    assert cfg.added_latency_ms() == pytest.approx(100.0 * (votes // 2))


def test_decoder_streaming_events_equal_offline_smoothing():
    rng = np.random.default_rng(1)
    _, probs = _noisy_sequence(rng)
    logits = np.log(probs)
    ends = 399 + 200 * np.arange(len(logits))
    dec = GaitDecoder.from_manifest({"labels": list(spec.LABELS), "decoder": {"votes": 3}, "outputs": "logits"})
    events = []
    for a, b in [(0, 7), (7, 8), (8, 120), (120, len(logits))]:  # arbitrary chunking
        events += dec.step(logits[a:b], ends[a:b])
    events += dec.finish()
    smoothed = dec.smooth(logits)
    change_at = np.flatnonzero(np.r_[True, smoothed[1:] != smoothed[:-1]])
    assert [e["end_index"] for e in events] == ends[change_at].tolist()
    assert [e["state"] for e in events] == [spec.LABELS[s] for s in smoothed[change_at]]
    assert events[0]["previous"] is None and all(0 < e["probability"] <= 1 for e in events)
    with pytest.raises(InvalidInputError, match=r"outputs must be \(n_windows, 4\), got shape \(2, 3\)"):
        dec.step(np.zeros((2, 3)), np.arange(2))
    with pytest.raises(InvalidInputError, match="unknown key"):
        GaitDecoder.from_manifest({"labels": ["a", "b"], "decoder": {"vote": 3}})


def test_board_side_modules_import_without_torch():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "sklearn"):
                    raise ImportError(name + " is blocked on the board")
        sys.meta_path.insert(0, Block())
        import edgeemg.tasks.gait.decoder, edgeemg.tasks.gait.spec, edgeemg.tasks.gait.metrics
        import edgeemg.tasks.classification
        import edgeemg.tasks.muscle_health.decoder, edgeemg.tasks.muscle_health.spec
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ----------------------------------------------------------------------------- data -> windows


@pytest.fixture(scope="module")
def recordings():
    return wf.simulate_recordings(3, seed=5, seconds=20.0, snr_db=None)


def test_window_labels_are_the_centre_state():
    states = np.repeat(np.arange(4), 100).astype(np.int8)
    ends = np.array([99, 149, 199])
    np.testing.assert_array_equal(spec.window_labels(states, ends, 100), states[ends - 100 + 1 + 50])
    with pytest.raises(InvalidInputError, match="fall outside"):
        spec.window_labels(states, np.array([500]), 100)


def test_svm_and_cnn_share_windows_and_labels(recordings):
    fs = recordings[0].fs_hz
    zs = wf.fit_zscore(recordings, fs)
    cnn_desc = spec.dsp_description(fs, zs.to_dict())
    svm_desc = spec.dsp_description(fs, zs.to_dict(), features=True)
    assert svm_desc[:-1] == cnn_desc and svm_desc[-1]["stage"] == "td_features"
    win = wf.make_windows(recordings, cnn_desc, fs)
    win_svm = wf.make_windows(recordings, svm_desc, fs)  # what the SVM workflow builds from its own description
    np.testing.assert_array_equal(win.x, win_svm.x)
    np.testing.assert_array_equal(win.y, win_svm.y)
    np.testing.assert_array_equal(win.end_index, win_svm.end_index)
    # the SVM's features are the board's td_features stage run on exactly those windows
    board = [Pipeline.from_description(svm_desc, fs, 6).process_offline(r.emg) for r in recordings]
    np.testing.assert_allclose(win.features(), np.concatenate([b.data for b in board]).reshape(len(win.y), -1),
                               rtol=1e-6)
    # labels are the simulator's state at each window centre
    for i, r in enumerate(recordings):
        m = win.record == i
        np.testing.assert_array_equal(win.y[m], r.states[win.end_index[m] - 400 + 1 + 200])


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", TINY)
    out = {}
    try:
        for model in wf.MODELS:
            out[model] = wf.train(None, simulate=True, model=model, epochs=3, device="cpu", seed=0, progress=False,
                                  options={"preset": "seed"})
    finally:
        mp.undo()
    return out


def test_training_splits_by_subject(trained):
    for ck in trained.values():
        split = ck.meta["split"]
        assert split["train"] and split["test"] and not set(split["train"]) & set(split["test"])


def test_tiny_models_beat_chance_on_held_out_subjects(trained, monkeypatch):
    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", TINY)
    for model, ck in trained.items():
        rep = wf.evaluate(ck, None, simulate=True, seed=1, device="cpu", progress=False, options={})
        assert rep["held_out"] and not set(rep["subjects"]) & set(ck.meta["split"]["train"])
        assert rep["accuracy"] > 0.45, (model, rep["accuracy"])  # chance: 0.25 (4 states)
        assert rep["macro_f1"] > 0.35, (model, rep["macro_f1"])
        sm = rep["smoother"]
        assert sm["changes_per_min"]["smoothed"] < sm["changes_per_min"]["raw"]
        assert sm["added_latency_ms"] == pytest.approx(100.0)


def test_checkpoint_round_trip_gives_identical_scores(trained, tmp_path, recordings):
    for model, ck in trained.items():
        path = save_checkpoint(tmp_path / f"{model}.ckpt", ck)
        back = load_checkpoint(path, task="gait")
        assert back.meta["model_config"] == ck.meta["model_config"] and back.meta["dsp"] == ck.meta["dsp"]
        win = wf.make_windows(recordings, back.meta["dsp"], back.meta["fs_hz"])
        np.testing.assert_array_equal(wf.model_scores(back, win), wf.model_scores(ck, win))
        for key in ("labels", "fs_hz", "channel_names", "window", "hop", "input_shape", "summary"):
            assert key in back.meta, key
    broken = dict(trained["cnn"].arrays)
    broken.pop("classifier.3.bias")
    with pytest.raises(CheckpointError, match="does not match GaitCNN"):
        wf.model_scores(type(trained["cnn"])("gait", "cnn", broken, trained["cnn"].meta), win)


def test_cnn_exports_to_onnx_with_parity(trained, tmp_path):
    import onnxruntime as ort
    import torch

    from edgeemg.tasks.gait.models import GaitCNN, WithSoftmax
    from edgeemg.tasks.torch_support import arrays_to_state

    ck = trained["cnn"]
    net = WithSoftmax(arrays_to_state(GaitCNN(**ck.meta["model_config"]), ck.arrays)).eval()
    x = torch.randn(5, *ck.meta["input_shape"])
    torch.onnx.export(net, (x,), tmp_path / "g.onnx", input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {0: "batch"}})
    got = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)


def test_workflow_refuses_bad_options_and_mismatched_data(trained):
    with pytest.raises(InvalidInputError, match="--labels do not apply"):
        wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"labels": "truth"})
    with pytest.raises(InvalidInputError, match="exactly one data source"):
        wf.evaluate(trained["svm"], None, simulate=False, seed=1, device="cpu", progress=False, options={})
    rec = wf.simulate_recordings(1, seed=3, seconds=5.0, snr_db=None)[0]
    odd = wf.Recording(rec.emg[:, :5], rec.states, rec.fs_hz, rec.channel_names[:5], "x", "odd.hea")
    with pytest.raises(ValueError, match=r"odd.hea has channels .* expected"):
        wf.check_consistent([odd], fs_hz=2000.0, channel_names=spec.CHANNEL_NAMES)


# ----------------------------------------------------------------------------- CLI


def _cli(argv):
    from edgeemg.cli import main

    return main(argv)


def test_cli_train_and_eval_json_end_to_end(tmp_path, capsys, monkeypatch):
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    assert _cli(["-q", "simulate", "gait", "-o", str(train_dir), "--seconds", "25", "--subjects", "3"]) == 0
    assert _cli(["-q", "simulate", "gait", "-o", str(test_dir), "--seconds", "25", "--subjects", "2",
                 "--seed", "9"]) == 0
    capsys.readouterr()
    ckpt = tmp_path / "svm.ckpt"
    assert _cli(["-q", "train", "gait", "--data", str(train_dir), "--model", "svm", "--preset", "seed", "-o", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "svm" and "val_macro_f1" in summary and "n_params" in summary
    assert _cli(["-q", "eval", str(ckpt), "--data", str(test_dir), "--json", "--plot", str(tmp_path / "p")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class_f1", "confusion", "model", "smoother"} <= set(rep)
    assert rep["model"] == "svm" and np.asarray(rep["confusion"]).shape == (4, 4)
    assert (tmp_path / "p" / "gait_svm_confusion.png").stat().st_size > 1000
    # --simulate, the CNN, a couple of epochs, and training curves
    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", wf.SimulationPlan(n_subjects=3, seconds=15.0, eval_subjects=2))
    ckpt = tmp_path / "cnn.ckpt"
    assert _cli(["-q", "train", "gait", "--simulate", "--preset", "seed", "--model", "cnn", "--epochs", "1", "--device", "cpu",
                 "-o", str(ckpt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    assert _cli(["-q", "eval", str(ckpt), "--simulate", "--json", "--plot", str(tmp_path / "p")]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "cnn"
    assert (tmp_path / "p" / "gait_cnn_training.png").is_file()
