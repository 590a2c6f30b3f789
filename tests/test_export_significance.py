"""The int8-loss interval and the export's verdicts, against independent references: scipy.stats.bootstrap
for independent items, the AR(1) variance of a mean for dependent ones, and hand-built score sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from edgeemg.errors import InvalidInputError
from edgeemg.export.significance import block_indices, default_block, paired_bootstrap
from edgeemg.export.verdict import (NOT_SIGNIFICANT, REFUSED, WITHIN, input_ignoring_scores, judge_int8_loss,
                                    parity_refusal, usefulness)


def test_independent_items_match_scipy_bootstrap():
    d = np.random.default_rng(1).normal(2.0, 5.0, 400)  # per-item loss in pp
    ours = paired_bootstrap(lambda idx: float(d[idx].mean()), len(d), block=1, n_boot=4000, budget_s=None)
    ref = stats.bootstrap((d,), np.mean, n_resamples=4000, method="percentile", confidence_level=0.95,
                          rng=np.random.default_rng(2)).confidence_interval
    assert ours.loss_pp == pytest.approx(d.mean())
    assert ours.low_pp == pytest.approx(ref.low, abs=0.08) and ours.high_pp == pytest.approx(ref.high, abs=0.08)
    assert (ours.n_items, ours.block, ours.n_boot) == (400, 1, 4000)


def test_blocks_widen_the_interval_to_what_dependent_items_really_allow():
    rho, n, sd = 0.8, 3000, 1.0
    rng = np.random.default_rng(3)
    e = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    d = np.empty(n)
    d[0] = rng.normal(0, sd)
    for i in range(1, n):
        d[i] = rho * d[i - 1] + e[i]
    true_half = 1.96 * np.sqrt(sd**2 / n * (1 + rho) / (1 - rho))  # the AR(1) mean's long-run variance
    iid = paired_bootstrap(lambda idx: float(d[idx].mean()), n, block=1, n_boot=2000, budget_s=None)
    blk = paired_bootstrap(lambda idx: float(d[idx].mean()), n, block=40, n_boot=2000, budget_s=None)
    assert (iid.high_pp - iid.low_pp) / 2 < 0.5 * true_half  # independent resampling is far too sure
    assert (blk.high_pp - blk.low_pp) / 2 == pytest.approx(true_half, rel=0.25)


def test_block_resample_shape_and_defaults():
    idx = block_indices(10, 3, np.random.default_rng(0))
    assert len(idx) == 10 and idx.min() >= 0 and idx.max() <= 9
    assert all(idx[k + 1] == idx[k] + 1 for k in (0, 1, 3, 4, 6, 7))  # runs of 3 consecutive items
    assert (default_block(299), default_block(1000), default_block(4)) == (7, 10, 2)
    with pytest.raises(InvalidInputError, match="at least 2 held-out items"):
        paired_bootstrap(lambda idx: 0.0, 1)


def _scores(y, flip, n_classes=4, seed=0):
    """One-hot scores that are right except on the items in ``flip``."""
    pred = np.array(y)
    pred[flip] = (pred[flip] + 1) % n_classes
    return np.eye(n_classes, dtype=np.float32)[pred]


def _accuracy(y, s):
    return float((s.argmax(1) == y).mean())


def _judge(y, ref, got, max_loss_pp):
    return judge_int8_loss("onnx-int8", "accuracy", _accuracy, lambda r, g: 100 * (r - g), y, ref, got,
                           max_loss_pp, block=1)


def test_a_small_loss_on_few_items_is_not_significant_and_a_large_one_is_refused():
    y = np.random.default_rng(4).integers(0, 4, 300)
    ref = _scores(y, [])
    few = _judge(y, ref, _scores(y, [10, 20, 30, 40, 50, 60]), max_loss_pp=1.0)  # 2 pp lost, 6 of 300 items
    assert few.interval.loss_pp == pytest.approx(2.0) and few.interval.low_pp <= 1.0
    assert few.status == NOT_SIGNIFICANT and "cannot tell this loss from noise" in few.warning()
    many = _judge(y, ref, _scores(y, np.arange(0, 300, 5)), max_loss_pp=1.0)  # 20 pp lost
    assert many.status == REFUSED and many.interval.low_pp > 1.0 and many.warning() is None
    assert _judge(y, ref, ref, max_loss_pp=1.0).status == WITHIN


def test_a_parity_refusal_says_what_to_change():
    y = np.random.default_rng(5).integers(0, 4, 300)
    sound = _judge(y, _scores(y, []), _scores(y, []), max_loss_pp=1.0)
    msg = parity_refusal("onnx-int8", "int8", "p99_rel", 0.287, 0.25, 1.9, 512, sound)
    assert msg.startswith("onnx-int8 disagrees with PyTorch: p99_rel 0.287 > tolerance 0.25")
    assert "calibration_windows 512 -> 1024" in msg and "dynamic_ops" in msg and "int8_rtol to 0.29" in msg
    bad = _judge(y, _scores(y, []), _scores(y, np.arange(0, 300, 3)), max_loss_pp=1.0)
    assert "int8_rtol" not in parity_refusal("onnx-int8", "int8", "p99_rel", 0.287, 0.25, 1.9, 512, bad)
    assert "converter problem" in parity_refusal("tflite-fp32", "fp32", "max_rel", 1e-2, 1e-4, 0.1, 512, None)


def test_a_model_no_better_than_ignoring_its_input_is_flagged():
    y = np.random.default_rng(6).integers(0, 4, 200)
    noise = np.random.default_rng(7).random((200, 4)).astype(np.float32)
    base = _accuracy(y, input_ignoring_scores(noise))
    rec = usefulness("accuracy", _accuracy(y, noise), base, lower_is_better=False, in_percent=False)
    assert rec["input_ignoring_baseline"] == base == float((y == noise.mean(0).argmax()).mean())
    good = usefulness("accuracy", 0.9, base, lower_is_better=False, in_percent=False)
    assert good["useful"] and "warning" not in good
    cer = usefulness("cer", 100.0, 100.0, lower_is_better=True, in_percent=True)
    assert not cer["useful"] and "cer 100 %, no better than 100 %" in cer["warning"]


def test_a_long_export_stage_shows_its_elapsed_time(capsys):
    import time

    from edgeemg.export.stages import StageDisplay

    d = StageDisplay(["prepare data"], True, tick_s=0.05)
    d.start("prepare data")
    deadline = time.monotonic() + 10
    while " s" not in capsys.readouterr().err.split("...", 1)[-1] and time.monotonic() < deadline:
        time.sleep(0.02)
    d.done("ok")
    line = capsys.readouterr().err
    assert line.endswith("  ok\n") and line.count("\n") == 1
    time.sleep(0.2)
    assert capsys.readouterr().err == ""  # no tick after the stage ended


def test_a_single_held_out_sequence_is_judged_on_its_point_loss():
    """A streaming model's one held-out session cannot be resampled: the verdict is the plain comparison."""
    y = np.array([2])
    right, wrong = _scores(y, []), _scores(y, [0])
    for got, status in ((right, WITHIN), (wrong, REFUSED)):
        v = judge_int8_loss("onnx-int8", "accuracy", _accuracy, lambda r, g: 100 * (r - g), y, right, got, 1.0)
        assert v.status == status and v.interval.n_boot == 0
        assert v.interval.low_pp == v.interval.loss_pp == v.interval.high_pp == (0.0 if status == WITHIN else 100.0)
