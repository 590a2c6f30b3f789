"""The MO-DCNN student's CPU levers: C1 started from the teacher's separation filters, early stopping."""

import numpy as np
import pytest

from edgeemg.decompose import detect_spikes
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.motor_units import spec
from edgeemg.tasks.motor_units.labels import truth_units
from edgeemg.tasks.motor_units.metrics import spike_score
from edgeemg.tasks.motor_units.plans import SimulationPlan, TrainingPlan
from edgeemg.tasks.motor_units.recordings import load_recordings, max_amplitude, split_point

torch = pytest.importorskip("torch")

from edgeemg.tasks.motor_units.filter_workflow import causal_stream  # noqa: E402
from edgeemg.tasks.motor_units.models import MODCNN, MODCNNConfig  # noqa: E402
from edgeemg.tasks.motor_units.teacher_init import init_from_teacher  # noqa: E402
from edgeemg.tasks.motor_units.training import FitConfig, fit  # noqa: E402

SPLIT = 0.7


def _c1_scores(net, x, truth, cut, fs):
    """Per C1 filter: F1 of the peaks of its output after ``cut`` against ``truth`` (+-1 ms, lag removed)."""
    with torch.no_grad():
        out = net.c1(torch.from_numpy(x.T[None].copy()))[0].numpy()  # (F, n - k + 1): sample j + k - 1
    k = net.config.trunk_kernel
    scores = []
    for s in out:
        full = np.concatenate([np.zeros(k - 1), s])[cut:]
        found = detect_spikes(full, fs).spikes
        scores.append(spike_score(found, truth[truth >= cut] - cut, tolerance=2, max_lag=40).f1)
    return scores


def test_c1_filters_start_as_sources_that_fire_with_their_units():
    rec = load_recordings(None, True, seed=0, plan=SimulationPlan(seconds=8.0, level=0.3))[0]
    trains, info = truth_units([rec], SPLIT, TrainingPlan(max_units=3, min_spikes=10))
    amp = max_amplitude([rec], SPLIT)
    desc = spec.dsp_description(amp, rec.emg.shape[1], spec.WindowSpec())
    cfg = MODCNNConfig(n_units=3, trunk_filters=5, c3_filters=4, c4_filters=4, hidden=4, trunk_kernel=8)
    torch.manual_seed(0)
    net = MODCNN(cfg)
    before = _c1_scores(net, causal_stream(desc, rec.emg, rec.fs_hz), rec.discharges[info[0]["truth_id"]],
                        split_point(rec, SPLIT), rec.fs_hz)
    meta = init_from_teacher(net, [rec], trains, desc, SPLIT)
    assert meta["c1_from_teacher"] == [0, 1, 2]
    x = causal_stream(desc, rec.emg, rec.fs_hz)
    cut = split_point(rec, SPLIT)
    for head, unit in enumerate(info):
        # on the held-out part, which the filters never saw: C1 filter `head` fires with its unit, the others do not
        scores = _c1_scores(net, x, rec.discharges[unit["truth_id"]], cut, rec.fs_hz)
        assert scores[head] > 0.75, (head, scores)
        assert max(f for i, f in enumerate(scores[:3]) if i != head) < 0.5, scores
    assert max(before) < 0.6, before  # from a random start, none does (at most the largest unit, by chance, half)
    with pytest.raises(InvalidInputError, match="trunk_filters >= max_units"):
        init_from_teacher(MODCNN(MODCNNConfig(n_units=3, trunk_filters=2, trunk_kernel=8)), [rec], trains, desc, SPLIT)


def test_training_stops_when_validation_f1_stops_rising():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 30, 4)).astype(np.float32)
    y = (rng.random((64, 1)) < 0.5).astype(np.float32)  # labels the input cannot predict: F1 plateaus at once
    net = MODCNN(MODCNNConfig(n_units=1, window=30, n_channels=4, trunk_filters=2, c3_filters=2, c4_filters=2,
                              hidden=2))
    _, hist = fit(net, (x, y), (x[:32], y[:32]), config=FitConfig(epochs=40, patience=2),
                  device=torch.device("cpu"), generator=torch.Generator().manual_seed(0), progress=False)
    best = int(np.argmax(hist["val_macro_f1"]))
    assert len(hist["epoch"]) == best + 3 < 40  # two epochs without a rise after the best, then stop
    with pytest.raises(InvalidInputError, match="patience"):
        FitConfig(patience=0)


def test_kept_heads_compute_exactly_what_they_computed_in_the_full_model():
    from edgeemg.tasks.motor_units.models import keep_heads
    from edgeemg.tasks.motor_units.training import weak_heads

    torch.manual_seed(0)
    net = MODCNN(MODCNNConfig(n_units=5, window=40, n_channels=6, trunk_filters=4, c3_filters=3, c4_filters=2,
                              hidden=5, trunk_kernel=5)).eval()
    x = torch.randn(7, 40, 6)
    small = keep_heads(net, [3, 0]).eval()
    assert small.config.n_units == 2 and not small.training
    torch.testing.assert_close(small(x), net(x)[:, [3, 0]])
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    with pytest.raises(InvalidInputError, match="keep_heads"):
        keep_heads(net, [5])
    # weak_heads: window F1 per head by hand; never returns no head at all
    y = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]], np.float32)
    p = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.1], [0.8, 0.2, 0.7], [0.2, 0.3, 0.9]], np.float32)
    keep, f1 = weak_heads(y, p, 0.5, 0.9)
    np.testing.assert_allclose(f1, [1.0, 2 / 3, 2 * 1 / (2 + 2)])
    assert keep == [0] and weak_heads(y, p, 0.5, 1.1)[0] == [0]


def test_c1_rounded_onto_the_int8_grid_onnxruntime_keeps_and_errs_less_than_plain_rounding():
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    from edgeemg.tasks.motor_units.teacher_init import c1_on_int8_grid

    import scipy.signal

    rng = np.random.default_rng(0)
    # windows of a stream of two band-limited sources seen by 6 channels (a grid's stream in miniature)
    b, a = scipy.signal.butter(2, [0.05, 0.3], btype="band")
    s = scipy.signal.lfilter(b, a, rng.standard_normal((12000, 2)), axis=0)
    stream = s @ rng.standard_normal((2, 6)) + 0.05 * rng.standard_normal((12000, 6))
    x = np.stack([stream[i:i + 40] for i in range(0, 12000 - 40, 40)]).astype(np.float32)
    torch.manual_seed(0)
    net = MODCNN(MODCNNConfig(n_units=2, window=40, n_channels=6, trunk_filters=3, c3_filters=2, c4_filters=2,
                              hidden=2, trunk_kernel=8))
    before = net.c1.weight.detach().clone()

    def ort(w):  # onnxruntime's own per-channel int8 (reduce_range) rounding, dequantized
        zero, scale, q = quantize_data(w.numpy().ravel(), TensorProto.INT8, True, reduce_range=True)
        return torch.from_numpy(((q.astype(np.float64) - float(zero)) * float(scale)).reshape(w.shape).astype(np.float32))

    c1_on_int8_grid(net, x)
    after = net.c1.weight.detach()
    for o in range(3):
        torch.testing.assert_close(ort(after[o]), after[o], rtol=0, atol=1e-6 * float(after[o].abs().max()))
    xt = torch.from_numpy(x).permute(0, 2, 1)
    ref = torch.nn.functional.conv1d(xt, before)
    err_plain = (torch.nn.functional.conv1d(xt, torch.stack([ort(w) for w in before])) - ref).pow(2).mean().sqrt()
    err_grid = (torch.nn.functional.conv1d(xt, after) - ref).pow(2).mean().sqrt()
    assert err_grid < 0.5 * err_plain, (float(err_grid), float(err_plain))
    with torch.no_grad():
        net.c1.weight.copy_(before)
    c1_on_int8_grid(net, x, rows=[0, 2])  # the split export's learnt rows; row 1 (kept float) stays as it was
    assert torch.equal(net.c1.weight[1], before[1]) and not torch.equal(net.c1.weight[0], before[0])


def test_split_c1_rows_must_be_a_proper_subset_without_repeats():
    from edgeemg.errors import InvalidInputError
    from edgeemg.tasks.motor_units.c1_split import SplitConv1d

    conv = torch.nn.Conv1d(4, 5, 3)
    x = torch.randn(2, 4, 20)
    split = SplitConv1d(conv, [3, 1])
    torch.testing.assert_close(split(x), conv(x)[:, [3, 1, 0, 2, 4]])  # teacher rows first, in the given order
    for rows in ([1, 1], [], [0, 1, 2, 3, 4], [5]):
        with pytest.raises(InvalidInputError, match="proper, non-empty subset"):
            SplitConv1d(conv, rows)


def test_refractory_steps_is_the_longest_gap_shorter_than_the_teachers_minimum_distance():
    from edgeemg.decompose.spikes import MIN_PEAK_DISTANCE_S
    from edgeemg.tasks.motor_units.decoder import refractory_steps

    for fs, step in [(2048.0, 20), (2048.0, 8), (1000.0, 5), (2048.0, 50)]:
        r = refractory_steps(fs, step)
        gap = int(round(MIN_PEAK_DISTANCE_S * fs))
        # two spikes r steps apart can be at most (r + 1) * step - 1 samples apart: closer than the teacher allows,
        # and one step more would not be
        assert (r + 1) * step - 1 < gap <= (r + 2) * step - 1 or (r == 0 and 2 * step - 1 >= gap), (fs, step, r)
    assert refractory_steps(2048.0, 20) == 1


def test_refractory_decoder_streams_what_the_offline_rule_keeps_and_nothing_closer():
    from edgeemg.tasks.motor_units.decoder import (
        DecoderConfig,
        MotorUnitDecoder,
        apply_refractory,
        spike_trains_from_outputs,
    )

    rng = np.random.default_rng(4)
    prob = rng.uniform(size=(400, 3)) ** 2
    end = 119 + 20 * np.arange(400)
    for r in (0, 1, 2):
        cfg = DecoderConfig(step=20, label_delay=60, refractory_steps=r)
        fired = prob > 0.5
        kept = apply_refractory(fired, r)
        for u in range(3):
            k, f = np.flatnonzero(kept[:, u]), np.flatnonzero(fired[:, u])
            assert set(k) <= set(f) and (np.diff(k) > r).all()  # only firings, none within r steps of another
            for j in set(f) - set(k):  # each dropped firing follows a kept one within r steps
                assert ((j - k > 0) & (j - k <= r)).any()
        dec = MotorUnitDecoder(["a", "b", "c"], cfg)
        events = []
        for lo, hi in [(0, 1), (1, 2), (2, 137), (137, 400)]:  # any chunking: the state carries over
            events += dec.step(prob[lo:hi], end[lo:hi])
        assert [e["units"] for e in events] == [list(np.flatnonzero(row)) for row in kept]
        offline = spike_trains_from_outputs(prob, end, cfg)
        assert all(np.array_equal(offline[u], end[kept[:, u]] - 60) for u in range(3))
    assert not np.array_equal(apply_refractory(fired, 1), fired)  # the random draw does hold close firings
    with pytest.raises(InvalidInputError, match="refractory_steps"):
        DecoderConfig(refractory_steps=-1)


def test_thresholds_tuned_with_the_refractory_rule_score_what_sklearn_scores_after_it():
    from sklearn.metrics import f1_score

    from edgeemg.tasks.motor_units.decoder import apply_refractory
    from edgeemg.tasks.motor_units.training import tune_thresholds

    rng = np.random.default_rng(5)
    y = np.zeros((600, 2), np.float32)
    y[rng.choice(np.arange(0, 600, 4), 100, replace=False), 0] = 1  # discharges at least 4 windows apart
    y[rng.choice(np.arange(2, 600, 5), 80, replace=False), 1] = 1
    # a head that also reports half of its discharges one window late (a discharge at the steps' border)
    late = np.roll(y, 1, axis=0) * (rng.uniform(size=y.shape) < 0.5)
    prob = np.clip(0.2 + 0.6 * y + 0.45 * late + rng.normal(0, 0.08, y.shape), 0, 1)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    for r in (0, 1):
        got = tune_thresholds(y, prob, refractory=r)
        for u in range(2):
            scores = [f1_score(y[:, u], apply_refractory(prob[:, [u]] > t, r)[:, 0], zero_division=1.0) for t in grid]
            got_score = f1_score(y[:, u], apply_refractory(prob[:, [u]] > got[u], r)[:, 0], zero_division=1.0)
            assert got_score == pytest.approx(max(scores))
    plain, refr = tune_thresholds(y, prob), tune_thresholds(y, prob, refractory=1)
    assert all(b < a for a, b in zip(plain, refr))  # with the late reports dropped, a lower threshold pays off


def test_frozen_teacher_rows_of_c1_stay_exactly_as_started_while_the_rest_trains():
    from edgeemg.tasks.motor_units.teacher_init import freeze_rows

    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 30, 4)).astype(np.float32)
    y = (x[:, 10:20, 0].max(1, keepdims=True) > 1.5).astype(np.float32)
    net = MODCNN(MODCNNConfig(n_units=1, window=30, n_channels=4, trunk_filters=3, c3_filters=2, c4_filters=2,
                              hidden=2, trunk_kernel=5))
    before = net.c1.weight.detach().clone(), net.c1.bias.detach().clone()
    freeze_rows(net.c1, [0, 2])
    fit(net, (x, y), (x[:32], y[:32]), config=FitConfig(epochs=2, pos_weight=3.0), device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0), progress=False)
    torch.testing.assert_close(net.c1.weight[[0, 2]], before[0][[0, 2]], rtol=0, atol=0)
    torch.testing.assert_close(net.c1.bias[[0, 2]], before[1][[0, 2]], rtol=0, atol=0)
    assert not torch.equal(net.c1.weight[1], before[0][1])  # the row not frozen did train
