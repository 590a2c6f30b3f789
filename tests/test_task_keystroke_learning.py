"""The keystroke models learn on a CPU: the fixes behind the 100 % CER plateau, and a short real run.

Why these exist: tiny models trained for minutes used to decode nothing. Three
causes, each pinned here: the best-epoch selection kept epoch 1 whenever the
validation CER tied at 100 % (so all later learning was thrown away), zero
padding made a third of SpectrogramNorm's batch statistics, and CTC alone
needs thousands of steps to find where keys are before it can learn which
(the key-time cross-entropy and the blank-biased output start shorten that).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.models import BLANK_PRIOR, PRESETS, build_model
from edgeemg.tasks.keystroke.protocol import SimulationPlan, personal_test_sessions, simulated_training_data
from edgeemg.tasks.keystroke.training import TrainConfig, chunk_examples, fit_ctc, key_ce_loss, make_batch
from edgeemg.tasks.keystroke.workflow import cpu_train_config, model_emissions, score_sessions, split_examples
from edgeemg.tasks.torch_support import seed_everything


@pytest.fixture(scope="module")
def typing():
    """Two 60 s training sessions, a validation session and a later test session of simulated user 0."""
    data = simulated_training_data(0, SimulationPlan(train_sessions=2, seconds=60.0, eval_seconds=30.0))
    return data, personal_test_sessions(0, 2, SimulationPlan(eval_seconds=60.0))[0]


@pytest.mark.parametrize("name", ["tds", "cnn_lstm"])
def test_output_starts_blank_dominated(name: str) -> None:
    torch.manual_seed(0)
    net = build_model(name, PRESETS[name]["tiny"]).eval()
    with torch.no_grad():
        p = net(torch.randn(1, 20, 2, 16, 33)).exp()
    assert float(p[..., spec.BLANK].mean()) == pytest.approx(BLANK_PRIOR, abs=0.05)
    assert float(p[..., : spec.BLANK].std()) < 0.01  # the keys start equal


def test_batch_rows_are_session_frames_not_padding(typing) -> None:
    sessions, train_ex, _ = split_examples(typing[0])
    cfg = dataclasses.replace(cpu_train_config(), left_context=16)
    batch = chunk_examples(sessions, train_ex, cfg, torch.Generator().manual_seed(0))[:6]
    xb, _, _, starts, ends = make_batch(sessions, batch, cfg, None, train=False)
    assert len(set(int(e) for e in ends)) > 1  # examples of different lengths share the batch
    for i, ex in enumerate(batch):
        a = ex.start - int(starts[i])
        want = sessions[ex.session].x[a:a + xb.shape[1]]
        np.testing.assert_array_equal(xb[i, : want.shape[0]].numpy(), want)


def test_key_ce_reads_the_frames_after_each_press(typing) -> None:
    sessions, train_ex, _ = split_examples(typing[0])
    ex = train_ex[0]
    cfg = TrainConfig(left_context=8)
    _, _, _, st, en = make_batch(sessions, [ex], cfg, None, train=False)
    a = ex.start - int(st[0])
    lp = torch.full((1, int(en[0]), spec.N_CLASSES), -50.0)
    for f, c in zip(ex.key_frames, ex.classes):
        lp[0, f + 2 - a, c] = 0.0  # certain of the right key two frames after its press
    assert float(key_ce_loss(lp, [ex], st, en, (2,))) == pytest.approx(0.0, abs=1e-6)
    assert float(key_ce_loss(lp, [ex], st, en, (5,))) > 10.0


def test_tiny_tds_learns_keys_in_a_short_cpu_run(typing) -> None:
    """The CPU defaults on two minutes of typing: greedy CER on a later session falls well below chance.

    Before the fixes the returned model was epoch 1's, its emissions were the
    same at every frame and greedy decoding gave nothing (CER 100 %).
    """
    sessions, train_ex, val_ex = split_examples(typing[0])
    later = typing[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model gains nothing from more, and spinning threads crawl on shared cores
    try:
        net = build_model("tds", PRESETS["tds"]["tiny"])
        cfg = dataclasses.replace(cpu_train_config(), epochs=14)  # the CLI's 22 are for 24 minutes of typing, not 2
        net, hist = fit_ctc(net, sessions, train_ex, val_ex, config=cfg, device=torch.device("cpu"),
                            generator=seed_everything(0), progress=False)
    finally:
        torch.set_num_threads(threads)
    # validation is another session: its loss falls, then rises as the model overfits two minutes of typing
    # (the epoch kept is the one with the best validation CER)
    assert min(hist["val_loss"]) < hist["val_loss"][0]
    em = model_emissions(net, [later])[0]
    kf, y = later.key_frames, later.key_classes
    at = kf + cpu_train_config().key_ce_frames[2]  # a frame the key-time term trains to name the key
    acc = float(np.mean(em[np.minimum(at, len(em) - 1), : spec.BLANK].argmax(1) == y))
    majority = float(np.mean(y == np.bincount(np.concatenate([s.key_classes for s in typing[0].train])).argmax()))
    assert acc > majority + ACC_MARGIN, (acc, majority)
    cer = score_sessions([em], [later]).rates.cer
    assert cer < MAX_CER, cer


ACC_MARGIN = 0.1  # key named at a key-time frame vs the majority key's share; measured +0.25 (user 0, frame 3)
MAX_CER = 90.0  # %, chance ~100; measured 69 (user 0), 80 and 75 with the same run on users 1 and 2


def test_patience_stops_when_validation_cer_stops_improving(typing, monkeypatch) -> None:
    """Validation CER 90, 80, 85, 86, 87...: with patience 2 the run ends after epoch 4 and keeps epoch 2."""
    from edgeemg.tasks.keystroke import training

    sessions, train_ex, val_ex = split_examples(typing[0])
    cers = iter([90.0, 80.0, 85.0, 86.0, 87.0, 88.0])
    seen = []

    def fake_validate(model, *_args):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(cers), 1.0

    monkeypatch.setattr(training, "validate", fake_validate)
    cfg = dataclasses.replace(cpu_train_config(), epochs=6, patience=2)
    net, hist = fit_ctc(build_model("tds", PRESETS["tds"]["tiny"]), sessions, train_ex[:8], val_ex, config=cfg,
                        device=torch.device("cpu"), generator=seed_everything(0), progress=False)
    assert hist["epoch"] == [1, 2, 3, 4]
    for k, v in net.state_dict().items():
        assert torch.equal(v, seen[1][k])
