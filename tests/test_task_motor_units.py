"""Motor-unit task: eq. 2 labels, metrics by hand, the board decoder's drive, the MO-DCNN, training and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from edgeemg.decompose import DecompositionConfig
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units.decoder import DecoderConfig, MotorUnitDecoder, causal_neural_drive
from edgeemg.tasks.motor_units.metrics import (
    best_lag,
    drive_correlation,
    match_units,
    neural_drive,
    score_decoding,
    spike_score,
)

torch = pytest.importorskip("torch")

from edgeemg.tasks.motor_units import labels as lb  # noqa: E402
from edgeemg.tasks.motor_units import plans  # noqa: E402
from edgeemg.tasks.motor_units import recordings as rc  # noqa: E402
from edgeemg.tasks.motor_units import workflow as wf  # noqa: E402
from edgeemg.tasks.motor_units import evaluation as ev  # noqa: E402
from edgeemg.tasks.motor_units.models import MODCNN, MODCNNConfig  # noqa: E402

TINY = wf.TrainingPlan(epochs=6, trunk_filters=32, c3_filters=32, c4_filters=16, hidden=64, max_units=3,
                       decomposition=DecompositionConfig(extension=6, n_sources=12, min_spikes=10), min_spikes=10)

# --------------------------------------------------------------------------- spec


def test_window_labels_follow_equation_2():
    w = spec.WindowSpec(120, 20)
    end = np.array([119, 139, 159])  # label points 59, 79, 99; steps [50..69], [70..89], [90..109]
    y = spec.window_labels([np.array([50]), np.array([69, 70]), np.array([49, 110])], end, w)
    np.testing.assert_array_equal(y, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    assert w.latency_ms(2048.0) == pytest.approx(1000 * 60 / 2048)
    assert spec.WindowSpec(120, 20, label_delay=20).latency_ms() == pytest.approx(9.765625)
    with pytest.raises(InvalidInputError, match="label_delay"):
        spec.WindowSpec(120, 20, label_delay=115)


# --------------------------------------------------------------------------- metrics


def test_spike_score_equals_hand_count_after_lag_removal():
    truth = np.array([100, 200, 300, 400, 500])
    found = np.array([107, 208, 306, 450, 607, 700])  # lag ~7: 100, 201, 299 match; 450/607/700 do not
    s = spike_score(found, truth, tolerance=2, max_lag=10)
    assert s.lag == 6  # lags 6, 7 and 8 all align the three pairs within 2: the smallest |lag| wins
    assert (s.tp, s.fp, s.fn) == (3, 3, 2)
    assert s.sensitivity == pytest.approx(3 / 5) and s.precision == pytest.approx(3 / 6)
    assert s.f1 == pytest.approx(2 * 3 / (5 + 6)) and s.rate_of_agreement == pytest.approx(3 / 8)
    assert spike_score(found, truth, tolerance=2, max_lag=0).tp == 0
    assert best_lag(np.array([10, 20]), np.array([10, 20]), 1, 5) == 0


def test_units_are_matched_one_to_one_by_best_agreement():
    a, b = np.arange(0, 2000, 97), np.arange(13, 2000, 61)
    matches = match_units([b, a], [a, b, np.array([5, 9])], tolerance=1, max_lag=0)
    assert [(m.unit, m.reference_unit) for m in matches] == [(0, 1), (1, 0)]
    rep = score_decoding([b + 3, a[:-5]], [a, b], n_samples=2100, fs_hz=2048.0, tolerance=1, max_lag=5,
                         min_reference_spikes=1)
    assert rep["units_identified"] == 2 and rep["units_present"] == 2
    u1 = next(u for u in rep["per_unit"] if u["unit"] == 1)
    assert u1["sensitivity"] == pytest.approx((a.size - 5) / a.size) and u1["precision"] == 1.0
    assert rep["per_unit"][0]["lag_samples"] == 3


def test_neural_drive_is_a_hann_smoothed_cst_and_identical_drives_correlate():
    fs = 2048.0
    rng = np.random.default_rng(0)
    trains = [np.sort(rng.choice(20480, 150, replace=False)) for _ in range(3)]
    drive = neural_drive(trains, 20480, fs)
    cst = np.zeros(20480)
    for t in trains:
        cst[t] += 1
    h = scipy.signal.windows.hann(int(0.4 * fs) + 2)[1:-1]
    np.testing.assert_allclose(drive, scipy.signal.convolve(cst, h / h.sum() * fs, mode="same"), atol=1e-9)
    assert drive_correlation(drive, drive, fs) == pytest.approx(1.0)
    assert drive.mean() == pytest.approx(3 * 150 / 10.0, rel=0.05)  # pulses per second summed over units


# --------------------------------------------------------------------------- board decoder


def test_streamed_neural_drive_equals_offline_causal_smoothing():
    rng = np.random.default_rng(2)
    prob = rng.uniform(size=(300, 4)) ** 3
    end = 119 + 20 * np.arange(300)
    cfg = DecoderConfig(step=20, label_delay=60)
    dec = MotorUnitDecoder([f"mu{i}" for i in range(4)], cfg)
    events = []
    for lo, hi in [(0, 1), (1, 57), (57, 58), (58, 300)]:  # any chunking of the windows
        events += dec.step(prob[lo:hi], end[lo:hi])
    counts = (prob > 0.5).sum(1)
    taps = scipy.signal.windows.hann(41 + 2)[1:-1]
    offline = np.convolve(counts, taps / taps.sum() * 2048.0 / 20)[:300]
    np.testing.assert_allclose([e["neural_drive"] for e in events], offline, atol=1e-9)
    np.testing.assert_allclose(causal_neural_drive(counts, cfg.hann_taps()), offline, atol=1e-9)
    assert [e["units"] for e in events[:5]] == [list(np.flatnonzero(p > 0.5)) for p in prob[:5]]
    assert events[3]["spike_index"] == end[3] - 60
    dec.reset()
    assert dec.step(prob[:1], end[:1])[0]["neural_drive"] == pytest.approx(offline[0])
    with pytest.raises(InvalidInputError, match=r"\(n_windows, 4\)"):
        dec.step(prob[:, :3], end)
    d2 = MotorUnitDecoder.from_manifest({"labels": ["a", "b"], "decoder": cfg.to_dict()})
    assert d2.config == cfg


def test_board_side_modules_import_without_torch():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError(name + ' is blocked on the board')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import edgeemg.tasks.motor_units.decoder, edgeemg.tasks.motor_units.spec, "
            "edgeemg.tasks.motor_units.metrics, edgeemg.decompose\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# --------------------------------------------------------------------------- model


def test_grouped_heads_equal_separate_per_unit_networks():
    cfg = MODCNNConfig(n_units=3, window=40, trunk_filters=8, c3_filters=6, c4_filters=4, hidden=5, dropout=0.5)
    net = MODCNN(cfg).eval()
    x = torch.randn(2, 40, 64)
    out = net(x)
    assert out.shape == (2, 3) and bool(((out > 0) & (out < 1)).all())
    with torch.no_grad():  # head u by hand: its slices of C3..F2, flatten channel-major, dense layers
        fm = net.pool(torch.relu(net.c2(torch.relu(net.c1(x.permute(0, 2, 1))))))
        for u in range(3):
            h = torch.relu(torch.nn.functional.conv1d(fm, net.c3.weight[u * 6:(u + 1) * 6],
                                                      net.c3.bias[u * 6:(u + 1) * 6]))
            h = net.pool(torch.relu(torch.nn.functional.conv1d(h, net.c4.weight[u * 4:(u + 1) * 4],
                                                               net.c4.bias[u * 4:(u + 1) * 4])))
            flat = h.flatten(1)
            w1 = net.f1.weight[u * 5:(u + 1) * 5].reshape(5, -1)
            z = torch.relu(flat @ w1.T + net.f1.bias[u * 5:(u + 1) * 5])
            p = torch.sigmoid(z @ net.f2.weight[u].reshape(-1) + net.f2.bias[u])
            torch.testing.assert_close(out[:, u], p)
    # seed's widths, one head: exactly the seed's SO-DCNN parameter count (590 785)
    assert sum(p.numel() for p in MODCNN(MODCNNConfig(n_units=1)).parameters()) == 590785


def test_model_exports_to_onnx_with_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    net = MODCNN(MODCNNConfig(n_units=2, window=40, trunk_filters=8, c3_filters=6, c4_filters=4, hidden=5)).eval()
    x = torch.randn(3, 40, 64)
    path = tmp_path / "m.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"], output_names=["p"],
                      dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}})
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)


# --------------------------------------------------------------------------- training and evaluation


def test_student_trained_on_truth_decodes_the_later_part(monkeypatch):
    monkeypatch.setattr(plans, "DEFAULT_SIMULATION", wf.SimulationPlan(seconds=12.0, level=0.3))
    monkeypatch.setattr(plans, "CPU_TRAINING", TINY)
    ckpt = wf.train(None, simulate=True, model="mo_dcnn", epochs=None, device="cpu", seed=0, progress=False,
                    options={"labels": "truth"})
    assert ckpt.meta["summary"]["n_units"] == 3 and ckpt.meta["label_source"] == "truth"
    rep = wf.evaluate(ckpt, None, simulate=True, seed=5, device="cpu", progress=False, options={})
    assert rep["reference"] == "truth" and rep["teacher"] is None
    assert rep["algorithmic_latency_ms"] == pytest.approx(29.296875)
    best = max(rep["per_unit"], key=lambda u: u["f1"])
    # chance: a head firing at the unit's rate independently of the signal would match
    # ~ rate * (2 * tolerance + 1) / fs of its spikes, F1 ~ 0.2 here
    assert best["f1"] > 0.8, rep["per_unit"]
    assert rep["units_identified"] >= 1 and rep["neural_drive_r"] > 0.5


def _cli(argv):
    from edgeemg.cli import main

    return main(argv)


def test_cli_train_and_eval_json_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plans, "DEFAULT_SIMULATION", wf.SimulationPlan(seconds=8.0, level=0.3))
    monkeypatch.setattr(plans, "CPU_TRAINING", TINY)
    ckpt = tmp_path / "mu.npz"
    assert _cli(["-q", "train", "motor-units", "--simulate", "--epochs", "1", "--device", "cpu", "--window", "60",
                 "-o", str(ckpt), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "motor-units" and summary["label_source"] == "teacher" and summary["n_units"] >= 1
    assert _cli(["-q", "eval", str(ckpt), "--simulate", "--json", "--plot", str(tmp_path / "p")]) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("sensitivity", "precision", "f1", "rate_of_agreement", "units_identified", "units_present",
                "neural_drive_r", "algorithmic_latency_ms", "per_unit", "teacher"):
        assert key in rep
    assert rep["algorithmic_latency_ms"] == pytest.approx(1000 * 30 / 2048)
    # the teacher's held-out decoding is scored against the truth, and its units are real ones
    assert rep["teacher"]["units_identified"] >= 1 and rep["teacher"]["f1"] > 0.9
    assert (tmp_path / "p" / "motor_units_raster.png").stat().st_size > 0
    assert (tmp_path / "p" / "motor_units_neural_drive.png").stat().st_size > 0
    with pytest.raises(InvalidInputError, match="--lm"):
        wf.evaluate(Checkpoint("motor-units", "mo_dcnn", {}, {}), None, simulate=True, seed=0, device="cpu",
                    progress=False, options={"lm": "x"})
    with pytest.raises(InvalidInputError, match="--split"):
        wf.train(None, simulate=True, model="mo_dcnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"split": 0.99})


def test_cli_level_reaches_the_simulation_and_eval_regenerates_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plans, "DEFAULT_SIMULATION", wf.SimulationPlan(seconds=6.0, level=0.3))
    monkeypatch.setattr(plans, "CPU_TRAINING", TINY)
    made = []
    real = rc._simulate
    monkeypatch.setattr(rc, "_simulate", lambda plan, seed: made.append((plan, seed)) or real(plan, seed))
    ckpt = tmp_path / "mu.npz"
    assert _cli(["-q", "train", "motor-units", "--simulate", "--level", "0.5", "--labels", "truth", "--epochs", "1",
                 "--device", "cpu", "--seed", "2", "-o", str(ckpt), "--json"]) == 0
    capsys.readouterr()
    assert made == [(wf.SimulationPlan(seconds=6.0, level=0.5), 2)]
    assert _cli(["-q", "eval", str(ckpt), "--simulate", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert made[1] == made[0]  # the checkpoint's contraction, not the default 30 %
    assert "level 0.5" in rep["recordings"][0]
    with pytest.raises(InvalidInputError, match="--level"):
        wf.train(None, simulate=True, model="mo_dcnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"level": 1.5})
    with pytest.raises(InvalidInputError, match="needs --simulate"):
        wf.train([tmp_path], simulate=False, model="mo_dcnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"level": 0.5})


def test_teacher_units_learn_the_truth_id_they_decompose():
    rng = np.random.default_rng(1)
    truth = tuple(np.sort(rng.choice(np.arange(50, 9000), 60, replace=False)) for _ in range(4))
    rec = wf.Recording(np.zeros((10000, 2), np.float32), 2048.0, ("a", "b"), truth, (10, 11, 12, 13), "hand")
    cut = int(round(0.6 * 10000))
    # teacher unit 0 = truth 12 seen 3 samples late; unit 1 = truth 10; unit 2 = noise
    trains = [[truth[2][truth[2] < cut] + 3, truth[0][truth[0] < cut], np.arange(100, cut, 397)]]
    units = [{"teacher_index": i} for i in range(3)]
    lb.attach_truth_ids(units, trains, [rec], 0.6)
    assert [u["truth_id"] for u in units] == [12, 10, None]
    assert units[0]["truth_lag_samples"] == 3 and units[0]["truth_f1"] == pytest.approx(1.0)
    from edgeemg.tasks.motor_units.export_hooks import truth_events

    meta = {"simulation": {"seconds": 5.0}, "seed": 4, "fs_hz": 2048.0, "units": units,
            "decoder": DecoderConfig(step=20, label_delay=60).to_dict()}
    te = truth_events(meta)
    assert te["seed"] == 4 and [(r["truth"], r["reported"]) for r in te["map"]] == [(12, 0), (10, 1)]
    # head 0 reports a discharge at t in the window ending 63 +- 10 samples later, widened by half a step
    assert te["map"][0]["window_ms"] == pytest.approx([1000 * 43 / 2048, 1000 * 82 / 2048])
    assert truth_events({**meta, "simulation": None}) is None


def test_fit_options_weighted_bce_and_cosine_rate():
    from edgeemg.tasks.motor_units.training import FitConfig, fit

    with pytest.raises(InvalidInputError, match="pos_weight"):
        FitConfig(pos_weight=0.0)
    with pytest.raises(InvalidInputError, match="lr_decay"):
        FitConfig(lr_decay=1.5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 40, 64)).astype(np.float32)
    y = (rng.uniform(size=(64, 2)) < 0.1).astype(np.float32)
    net = MODCNN(MODCNNConfig(n_units=2, window=40, trunk_filters=8, c3_filters=6, c4_filters=4, hidden=5))
    gen = torch.Generator().manual_seed(0)
    _, hist = fit(net, (x, y), (x[:16], y[:16]), config=FitConfig(epochs=3, batch_size=32, pos_weight=5.0,
                                                                    lr_decay=0.1),
                  device=torch.device("cpu"), generator=gen, progress=False)
    assert len(hist["val_macro_f1"]) == 3 and all(np.isfinite(hist["train_loss"]))


def test_tuned_thresholds_reach_the_best_f1_sklearn_finds_on_the_grid():
    from sklearn.metrics import f1_score

    from edgeemg.tasks.motor_units.training import tune_thresholds

    rng = np.random.default_rng(3)
    y = (rng.uniform(size=(400, 3)) < 0.15).astype(np.float32)
    # unit 0 separates at ~0.7 (a pos-weighted head), unit 1 at ~0.3, unit 2 is noise
    prob = np.stack([np.where(y[:, 0] > 0, 0.75, 0.6) + rng.normal(0, 0.03, 400),
                     np.where(y[:, 1] > 0, 0.35, 0.2) + rng.normal(0, 0.03, 400),
                     rng.uniform(size=400)], axis=1)
    got = tune_thresholds(y, prob)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    for u in range(3):
        best = max(f1_score(y[:, u], prob[:, u] > t, zero_division=1.0) for t in grid)
        assert f1_score(y[:, u], prob[:, u] > got[u], zero_division=1.0) == pytest.approx(best)
    assert 0.6 < got[0] < 0.75 and 0.2 < got[1] < 0.35


def test_decoder_applies_per_unit_thresholds_and_checks_their_count():
    cfg = DecoderConfig(threshold=[0.3, 0.8], step=20, label_delay=60)
    assert cfg.threshold == (0.3, 0.8) and DecoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    ev = MotorUnitDecoder(["a", "b"], cfg).step(np.array([[0.4, 0.7], [0.2, 0.9]]), np.array([119, 139]))
    assert [e["units"] for e in ev] == [[0], [1]]
    with pytest.raises(InvalidInputError, match="2 per-unit values, expected 3"):
        MotorUnitDecoder(["a", "b", "c"], cfg)
    with pytest.raises(InvalidInputError, match="threshold must be in"):
        DecoderConfig(threshold=[0.5, 1.2])


def test_dense_training_windows_never_overlap_the_validation_windows():
    rec = wf.load_recordings(None, True, seed=0, plan=wf.SimulationPlan(seconds=4.0, level=0.3))[0]
    trains = [[d[d < rc.split_point(rec, 0.5)] for d in rec.discharges[:4]]]
    windows = spec.WindowSpec(120, 20)
    plan = wf.TrainingPlan(train_stride=4, val_fraction=0.25)
    (xtr, ytr), (xva, yva) = lb.training_windows([rec], trains, 100.0, windows, 0.5, plan)
    x_all, end = wf.windows_of(rec, spec.dsp_description(100.0, rec.emg.shape[1], spec.WindowSpec(120, 4)))
    # recover each window's end index by identity with the stride-1-aligned reference windows
    index = {x.tobytes(): e for x, e in zip(x_all, end)}
    e_tr = np.array([index[x.tobytes()] for x in xtr])
    e_va = np.array([index[x.tobytes()] for x in xva])
    assert np.all(np.diff(e_tr) == 4) and np.all(np.diff(e_va) == 20)
    assert e_tr.max() <= e_va.min() - 120  # no sample in both
    assert e_va.max() < rc.split_point(rec, 0.5)
    np.testing.assert_array_equal(ytr, spec.window_labels(trains[0], e_tr, windows))
    np.testing.assert_array_equal(yva, spec.window_labels(trains[0], e_va, windows))
    with pytest.raises(InvalidInputError, match="train_stride"):
        lb.training_windows([rec], trains, 100.0, windows, 0.5, wf.TrainingPlan(train_stride=0))


def test_on_teacher_units_scores_every_head_the_teacher_mapped_even_failed_ones():
    truth = (np.arange(1000, 9000, 100), np.arange(1050, 9000, 130), np.arange(1020, 9000, 70))
    rec = wf.Recording(np.zeros((10000, 2), np.float32), 2048.0, ("a", "b"), tuple(np.asarray(t) for t in truth),
                       (7, 8, 9), "hand-made")
    cut = 5000
    later = [t[t >= cut] - cut for t in truth]
    decoded = [later[0] + 3, later[2][::2], np.arange(0, 5000, 333)]  # perfect (lagged), half found, garbage
    units = [{"truth_id": 7}, {"truth_id": 9}, {"truth_id": None}]
    block = ev._on_teacher_units(decoded, rec, cut, units, tolerance=2, max_lag=10)
    assert block["heads"] == 2 and [h["truth_id"] for h in block["per_head"]] == [7, 9]
    # by hand: head 0 all found after removing the lag; head 1 half of unit 9's spikes, none spurious
    assert block["per_head"][0]["f1"] == 1.0
    n9 = later[2].size
    assert block["per_head"][1]["sensitivity"] == pytest.approx(((n9 + 1) // 2) / n9)
    assert block["per_head"][1]["precision"] == 1.0
    assert block["sensitivity"] == pytest.approx((1.0 + ((n9 + 1) // 2) / n9) / 2)
    assert ev._on_teacher_units(decoded, rec, cut, [{"truth_id": None}] * 3, tolerance=2, max_lag=10) is None


def test_preset_follows_the_device_unless_named():
    assert plans.training_plan(None, "cuda") == ("seed", plans.DEFAULT_TRAINING)
    assert plans.training_plan(None, "cpu") == ("cpu", plans.CPU_TRAINING)
    assert plans.training_plan("seed", "cpu") == ("seed", plans.DEFAULT_TRAINING)
    assert plans.DEFAULT_TRAINING.trunk_filters == 128 and plans.CPU_TRAINING.trunk_filters == 64
    with pytest.raises(InvalidInputError, match="preset must be one of"):
        plans.training_plan("huge", "cpu")
