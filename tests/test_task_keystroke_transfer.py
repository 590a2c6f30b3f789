"""Generic, then personal: band orientation across users (alignment, folding) and the fine-tune recipe.

References are independent of the code under test: the simulator's own band
rotation (``simulate_keystroke(rotation=...)``, a numpy roll of the raw EMG)
and its users' true band angles; the model run on turned input for the fold.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from edgeemg.data._ks_muscles import make_subject
from edgeemg.data.sim_keystroke import KeystrokeSimConfig, simulate_keystroke
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.alignment import (REFERENCE_KEY, band_profile, candidate_shifts, checked_shift,
                                               estimate_shift, fit_reference, fold_shift, oriented_to, roll_bands,
                                               sessions_profile)
from edgeemg.tasks.keystroke.models import PRESETS, build_model
from edgeemg.tasks.keystroke.protocol import SimulationPlan, calibration_sessions, unseen_user_sessions
from edgeemg.tasks.keystroke.sessions import simulated_sessions
from edgeemg.tasks.keystroke.training import TrainConfig
from edgeemg.tasks.keystroke.transfer import FINETUNE_LR, GENERIC_ROTATION, recipe
from edgeemg.tasks.torch_support import arrays_to_state, state_to_arrays


def _features(emg: np.ndarray, fs: float) -> np.ndarray:
    return spec.model_input(spec.features(emg, fs_hz=fs))


def test_roll_bands_is_the_simulators_band_rotation() -> None:
    """Turning the log-spectra equals simulating the band turned (the spectrogram is per electrode)."""
    a = simulate_keystroke(2.0, seed=4)
    r = simulate_keystroke(2.0, seed=4, rotation=5)
    np.testing.assert_allclose(roll_bands(_features(a.emg, a.fs_hz), np.array([5, 5])),
                               _features(r.emg, r.fs_hz), rtol=0, atol=1e-5)
    x = np.arange(2 * 16 * 3, dtype=np.float32).reshape(1, 2, 16, 3)
    y = roll_bands(x, np.array([1, -2]))
    np.testing.assert_array_equal(y[0, 0], np.roll(x[0, 0], 1, axis=0))
    np.testing.assert_array_equal(y[0, 1], np.roll(x[0, 1], -2, axis=0))


@pytest.fixture(scope="module")
def user_profiles() -> dict[int, np.ndarray]:
    """Profiles of three simulated users' first session (60 s of typing each)."""
    return {u: sessions_profile(simulated_sessions(u, [0], 60.0, text="train")) for u in (100, 101, 102)}


def test_estimated_turn_between_users_matches_their_true_band_angles(user_profiles) -> None:
    """Measured on 20 users: within 0.7 electrodes of the truth (fractional angles round to +-0.5)."""
    cfg = KeystrokeSimConfig()
    angle = {u: make_subject(u, cfg).band_angle / (2 * np.pi / spec.N_ELECTRODES) for u in user_profiles}
    ref_user = 100
    for u in (101, 102):
        got = estimate_shift(user_profiles[u], user_profiles[ref_user])
        true = angle[u] - angle[ref_user]  # electrode e of u sits where electrode e + true of ref_user does
        err = (got - true + 8) % 16 - 8
        assert np.all(np.abs(err) <= 1.0), (u, got, true)


def test_reference_recovers_a_known_turn(user_profiles) -> None:
    ref = fit_reference(list(user_profiles.values()))
    p = user_profiles[101]
    base = estimate_shift(p, ref)
    for s in ([3, 11], [15, 0]):
        turned = roll_bands(p, -np.asarray(s))  # the band put on s electrodes the other way
        np.testing.assert_array_equal(estimate_shift(turned, ref), (base + s) % 16)
    with pytest.raises(ValueError, match="expected"):
        band_profile(np.zeros((10, 2, 16, 30), np.float32))


@pytest.mark.parametrize("name", ["tds", "cnn_lstm"])
@pytest.mark.parametrize("train_mode", [False, True])
def test_folded_model_reads_raw_input_as_the_model_reads_turned_input(name: str, train_mode: bool) -> None:
    torch.manual_seed(0)
    net = build_model(name, PRESETS[name]["tiny"])
    bn = net.front.norm.batch_norm
    with torch.no_grad():  # per-electrode statistics and affine terms that differ, so a wrong turn shows
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
    shifts = np.array([3, 13])
    folded = arrays_to_state(build_model(name, PRESETS[name]["tiny"]), fold_shift(state_to_arrays(net), shifts))
    x = np.random.default_rng(1).normal(size=(2, 40, 2, 16, 33)).astype(np.float32)
    net.train(train_mode)
    folded.train(train_mode)
    with torch.no_grad():
        want = net(torch.from_numpy(roll_bands(x, shifts)))
        got = folded(torch.from_numpy(x))
        unfolded = net(torch.from_numpy(x))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert float((unfolded - want).abs().max()) > 1e-2  # the turn matters: the test can fail


def test_recipe_turns_rotation_on_for_generic_and_lowers_the_fine_tune_rate() -> None:
    base = TrainConfig(lr=3e-3, rotation_offsets=(0,))
    assert recipe(base, generic=True, finetune=False).rotation_offsets == GENERIC_ROTATION
    assert recipe(base, generic=False, finetune=True).lr == FINETUNE_LR
    assert recipe(base, generic=False, finetune=False) == base


def test_calibration_typing_is_another_session_with_no_test_sentence() -> None:
    """A generic model is turned to a new user on unlabeled typing that is neither the scored session nor its text."""
    plan = SimulationPlan(eval_seconds=30.0)
    calib, test = calibration_sessions(7, plan), unseen_user_sessions(7, plan)
    assert calib[0].name != test[0].name and calib[0].user == test[0].user
    assert not set(calib[0].prompt_texts) & set(test[0].prompt_texts)


def test_cli_generic_plan_is_one_session_per_user(monkeypatch) -> None:
    """`train --simulate --users N` without a plan simulates N users x GENERIC_SESSIONS_PER_USER sessions."""
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.transfer import GENERIC_SESSIONS_PER_USER

    seen = []

    class Planned(Exception):
        pass

    def capture(seed, plan, progress=False):
        seen.append(plan)
        raise Planned

    monkeypatch.setattr(wf, "simulated_training_data", capture)
    for options in ({"users": 20}, {}):
        with pytest.raises(Planned):
            wf.train(None, simulate=True, model="tds", epochs=1, device="cpu", seed=100, progress=False,
                     options=options)
    generic, personal = seen
    assert (generic.users, generic.train_sessions) == (20, GENERIC_SESSIONS_PER_USER)
    assert (personal.users, personal.train_sessions) == (1, wf.CPU_SIMULATION.train_sessions)


def test_tune_decoder_keeps_the_setting_with_the_lowest_validation_cer() -> None:
    from edgeemg.tasks.checkpoint import Checkpoint
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text
    from edgeemg.tasks.keystroke.transfer import tune_decoder

    torch.manual_seed(0)
    net = build_model("tds", PRESETS["tds"]["tiny"])
    with torch.no_grad():  # emissions that name some keys, so the LM settings change the output
        net.head.bias.normal_(0.0, 3.0)
    ckpt = Checkpoint("keystroke", "tds", state_to_arrays(net), {"model_config": net.config.to_dict(), "x": 1})
    sessions = simulated_sessions(5, [0], 10.0, text="val")
    grid = {"lm_weight": (0.0, 2.0), "insertion_bonus": (0.0, 3.0)}
    tuned, rows = tune_decoder(ckpt, sessions, build_lm(builtin_corpus_text(), order=3), grid)
    assert len(rows) == 4 and len({r["cer"] for r in rows}) > 1
    best = min(rows, key=lambda r: r["cer"])
    assert (tuned.meta["decoder"]["lm_weight"], tuned.meta["decoder"]["insertion_bonus"]) == \
        (best["lm_weight"], best["insertion_bonus"])
    assert tuned.meta["x"] == 1 and tuned.arrays is ckpt.arrays


def _tiny_tds() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tds", PRESETS["tds"]["tiny"])


def test_l2sp_pulls_each_weight_toward_its_start_by_lr_times_strength() -> None:
    """After a step, ``w - w_start`` shrinks by ``1 - lr * l2sp`` (L2-SP, decoupled): checked in numpy."""
    from edgeemg.tasks.keystroke.anchor import StartAnchor

    net = _tiny_tds()
    start = {n: p.detach().numpy().copy() for n, p in net.named_parameters()}
    anchor = StartAnchor(net, TrainConfig(l2sp=2.0))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    moved = {n: p.detach().numpy().copy() for n, p in net.named_parameters()}
    anchor.after_step(0.1)
    for n, p in net.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), start[n] + 0.8 * (moved[n] - start[n]), rtol=1e-5, atol=1e-6)
    now = {n: p.detach().clone() for n, p in net.named_parameters()}
    StartAnchor(net, TrainConfig(l2sp=0.0)).after_step(0.1)  # from scratch: inert
    assert all(torch.equal(p.detach(), now[n]) for n, p in net.named_parameters())


def test_frozen_layers_keep_their_weights_for_the_freeze_epochs_only() -> None:
    """fit_ctc with the front end frozen for its one epoch: the front end is bit-identical, the rest moved, and
    every layer trains again afterwards; a later epoch releases the frozen layers."""
    from edgeemg.tasks.keystroke.training import examples_of, fit_ctc
    from edgeemg.tasks.keystroke.anchor import StartAnchor

    sessions = simulated_sessions(3, [0, 1], 8.0, text="train")
    tr, va = examples_of(sessions[:1]), examples_of(sessions[1:], 1)
    cfg = TrainConfig(epochs=1, batch_size=4, lr=3e-3, freeze_prefixes=("front.",), freeze_epochs=1, amp=False)
    net = _tiny_tds()
    start = {n: p.detach().clone() for n, p in net.named_parameters()}
    net, _ = fit_ctc(net, sessions, tr, va, config=cfg, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0), progress=False)
    moved = {n: not torch.equal(p.detach(), start[n]) for n, p in net.named_parameters()}
    front = [n for n in moved if n.startswith("front.")]
    assert front and len(front) < len(moved)
    assert not any(moved[n] for n in front) and all(m for n, m in moved.items() if n not in front)
    assert all(p.requires_grad for p in net.parameters())
    anchor = StartAnchor(net, dataclasses.replace(cfg, freeze_epochs=2))
    for epoch, released in ((0, False), (1, False), (2, True)):
        anchor.start_epoch(epoch)
        assert all(p.requires_grad == (released or not n.startswith("front.")) for n, p in net.named_parameters())


def test_gain_jitter_adds_one_offset_per_electrode_of_the_drawn_db() -> None:
    """A per-electrode gain of g dB adds g / 10 to every log10-power bin of that electrode, at every frame."""
    from edgeemg.tasks.keystroke.training import augment

    cfg = TrainConfig(rotation_offsets=(0,), jitter_frames=0, time_masks=0, freq_masks=0, gain_jitter_db=3.0)
    x = torch.randn(50, 2, 16, 33)
    offsets = []
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        d = (augment(x, cfg, gen) - x).numpy()
        np.testing.assert_allclose(d, np.broadcast_to(d[:1, :, :, :1], d.shape), atol=1e-5)  # constant in t and f
        offsets.append(d[0, :, :, 0])
    sd_db = 10.0 * np.std(offsets)
    assert 2.8 < sd_db < 3.2


def test_fine_tune_recipe_reaches_train_init(monkeypatch, tmp_path) -> None:
    """`train keystroke --init GENERIC` (no train config given) fine-tunes with transfer's recipe and the init's
    key-time frames; from scratch neither."""
    from edgeemg.tasks.checkpoint import Checkpoint, save_checkpoint
    from edgeemg.tasks.keystroke import training
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.transfer import FINETUNE

    seen = []

    class Trained(Exception):
        pass

    def capture(*args, config, **kw):
        seen.append(config)
        raise Trained

    monkeypatch.setattr(training, "fit_ctc", capture)
    net = _tiny_tds()
    frames = [3, 4, 5, 6]  # not the CPU default's, so keeping the init's is seen
    assert tuple(frames) != wf.cpu_train_config().key_ce_frames
    init = save_checkpoint(tmp_path / "g.npz", Checkpoint("keystroke", "tds", state_to_arrays(net), {
        "model_config": net.config.to_dict(), "train_config": {"key_ce_frames": frames, "lr": 0.5}}))
    plan = SimulationPlan(train_sessions=1, seconds=6.0, eval_seconds=6.0)
    for options in ({"init": init}, {}):
        with pytest.raises(Trained):
            wf.train(None, simulate=True, model="tds", epochs=None, device="cpu", seed=2, progress=False,
                     options=options, plan=plan, preset="tiny")
    tuned, scratch = seen
    assert tuned == dataclasses.replace(recipe(wf.cpu_train_config(), generic=False, finetune=True),
                                        key_ce_frames=tuple(frames))  # the generic model's emission delay, kept
    assert {k: getattr(tuned, k) for k in FINETUNE} == FINETUNE
    assert scratch == wf.cpu_train_config() and scratch.l2sp == 0 and scratch.freeze_epochs == 0


def test_candidate_turns_start_with_the_estimate_and_find_a_known_roll(user_profiles) -> None:
    """A profile rolled by (3, 11) electrodes is turned back by (13, 5) first; the other candidates differ."""
    ref = user_profiles[100]
    cands = candidate_shifts(roll_bands(ref, np.array([3, 11])), ref, 4)
    assert cands[:, 0].tolist() == [13, 5]
    assert cands.shape == (2, 4) and all(len(set(c)) == 4 for c in cands.tolist())
    other = user_profiles[101]
    np.testing.assert_array_equal(candidate_shifts(other, ref, 4)[:, 0], estimate_shift(other, ref))


def test_checked_shift_keeps_each_bands_best_scored_candidate_and_the_first_on_ties() -> None:
    cands = np.array([[3, 5, 7], [1, 2, 9]])
    calls = []

    def check(s: np.ndarray) -> float:
        calls.append(tuple(s))
        return -abs(s[0] - 5) - abs(s[1] - 9)

    shift, scores = checked_shift(cands, check)
    assert shift.tolist() == [5, 9]
    assert len(calls) == len(set(calls)) == 5  # the estimate once, then the other candidates of each band
    assert {tuple(r["shift"]): r["score"] for r in scores}[(5, 9)] == 0.0
    assert checked_shift(cands, lambda s: 1.0)[0].tolist() == [3, 1]


def test_oriented_to_folds_the_checked_turn_and_records_it(user_profiles) -> None:
    """With a check, the checkpoint comes back folded by the candidate the check scores highest."""
    net = _tiny_tds()
    arrays = state_to_arrays(net)
    sessions = simulated_sessions(101, [0], 20.0, text="train")
    ref = sessions_profile(simulated_sessions(100, [0], 20.0, text="train"))
    from edgeemg.tasks.checkpoint import Checkpoint

    ckpt = Checkpoint("keystroke", "tds", arrays, {"model_config": net.config.to_dict(), REFERENCE_KEY: ref.tolist()})
    cands = candidate_shifts(sessions_profile(sessions), ref, 4)
    want = np.array([cands[0, 2], cands[1, 3]])
    key = "front.left.mlp.0.weight"

    def check(turned) -> float:  # which turn is this? compare with each candidate's fold
        for s0 in cands[0]:
            for s1 in cands[1]:
                if np.array_equal(turned.arrays[key], fold_shift(arrays, np.array([s0, s1]))[key]) and np.array_equal(
                        turned.arrays["front.right.mlp.0.weight"], fold_shift(arrays, np.array([s0, s1]))[
                            "front.right.mlp.0.weight"]):
                    return -float(abs(s0 - want[0]) + abs(s1 - want[1]))
        raise AssertionError("the check saw a turn that is not a candidate")

    turned, shift = oriented_to(ckpt, sessions, check)
    assert shift.tolist() == want.tolist() and turned.meta["band_shift"] == want.tolist()
    assert turned.meta["band_turn"]["profile"] == cands[:, 0].tolist() and REFERENCE_KEY not in turned.meta
    np.testing.assert_array_equal(turned.arrays[key], fold_shift(arrays, want)[key])
    assert oriented_to(ckpt, sessions)[1].tolist() == cands[:, 0].tolist()  # no check: the profile's turn


def test_lm_pmi_reads_english_above_its_own_letters_shuffled() -> None:
    """A prompt sentence (not in the LM corpus) is more predictable than the same letters in a random order."""
    from edgeemg.data.sim_keystroke import corpus_sentences
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text
    from edgeemg.tasks.keystroke.transfer import lm_pmi

    lm = build_lm(builtin_corpus_text(), order=4)
    rng = np.random.default_rng(0)
    for text in corpus_sentences("test")[:5]:
        shuffled = "".join(rng.permutation(list(text)))
        assert lm_pmi(lm, text) > 0.5 > lm_pmi(lm, shuffled), text
    assert lm_pmi(lm, "") == -np.inf
