"""Causal gait decoder (issue 14): the HMM forward pass against brute force, fitted transitions against counts,
causality and board/training equivalence of the network, gait events and transition scoring against the
simulator's foot-switch truth, and a tiny train -> eval -> export -> engine run."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from edgeemg.data.sim_gait import simulate_gait
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.gait import metrics, spec
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.causal_decoder import CausalConfig, CausalGaitDecoder, ContactTracker
from edgeemg.tasks.gait.hmm import ForwardFilter, durations, erlang_stages, fit_duration_hmm, fit_transitions

# ----------------------------------------------------------------------------- HMM


def _brute_force_filter(trans, init, lik):
    """P(state_t | obs_1..t) for every t by summing over every state path (the definition, no recursion)."""
    n, k = lik.shape
    out = np.zeros((n, k))
    for t in range(n):
        for path in itertools.product(range(k), repeat=t + 1):
            p = init[path[0]] * lik[0, path[0]]
            for u in range(1, t + 1):
                p *= trans[path[u - 1], path[u]] * lik[u, path[u]]
            out[t, path[-1]] += p
        out[t] /= out[t].sum()
    return out


@pytest.mark.parametrize("weight", [1.0, 0.4])
def test_forward_filter_equals_brute_force_path_sums(weight):
    rng = np.random.default_rng(3)
    trans = rng.dirichlet(np.ones(3), size=3)
    init = rng.dirichlet(np.ones(3))
    lik = rng.uniform(0.05, 1.0, size=(6, 3))
    want = _brute_force_filter(trans, init, lik**weight)
    f = ForwardFilter(trans, init, evidence_weight=weight)
    np.testing.assert_allclose(f.filter(lik), want, rtol=1e-9)
    f.reset()  # streaming equals offline
    np.testing.assert_allclose(np.stack([f.step(row) for row in lik]), want, rtol=1e-9)


def test_expanded_state_filter_equals_brute_force_over_hidden_paths():
    """Classes observed through several hidden states: brute force over hidden paths, summed per class."""
    rng = np.random.default_rng(5)
    trans = rng.dirichlet(np.ones(4), size=4)
    groups = np.array([0, 0, 1, 1])
    init = rng.dirichlet(np.ones(4))
    lik = rng.uniform(0.05, 1.0, size=(5, 2))
    hidden = _brute_force_filter(trans, init, lik[:, groups])
    want = np.stack([hidden[:, groups == c].sum(1) for c in range(2)], axis=1)
    np.testing.assert_allclose(ForwardFilter(trans, init, groups=groups).filter(lik), want, rtol=1e-9)


def test_duration_hmm_matches_the_moments_of_the_training_runs():
    rng = np.random.default_rng(0)
    runs = [(s, int(n)) for _ in range(300) for s, n in ((0, rng.integers(60, 140)), (1, rng.integers(95, 105)))]
    seq = np.concatenate([np.full(n, s) for s, n in runs])
    d = durations([seq], 2)
    assert [len(x) for x in d] == [299, 299]  # first and last runs are cut by the sequence's ends: left out
    for x in d:
        n, p = erlang_stages(x)
        assert n / (1 - p) == pytest.approx(x.mean(), rel=1e-6)  # Erlang mean = observed mean
        if n < 24:  # not capped: the variance matches too
            assert n * p / (1 - p) ** 2 == pytest.approx(x.var(), rel=0.2)
    t, groups = fit_duration_hmm([seq], 2)
    assert np.allclose(t.sum(1), 1.0) and np.bincount(groups).tolist() == [erlang_stages(x)[0] for x in d]
    assert erlang_stages(d[1])[0] > erlang_stages(d[0])[0]  # the steadier state gets the longer chain
    # the matrix holds the fitted stay probability on every stage of the chain
    n1 = int(np.sum(groups == 1))
    first = int(np.flatnonzero(groups == 1)[0])
    p = t[first, first]
    assert n1 / (1 - p) == pytest.approx(d[1].mean(), rel=1e-6)


def test_fit_transitions_counts_consecutive_pairs():
    seqs = [np.array([0, 0, 1, 1, 1, 2]), np.array([2, 2, 0])]
    got = fit_transitions(seqs, 3, pseudo_count=0.0)
    counts = np.zeros((3, 3))
    for s in seqs:
        for a, b in zip(s[:-1], s[1:]):
            counts[a, b] += 1
    np.testing.assert_allclose(got, counts / counts.sum(1, keepdims=True))
    smoothed = fit_transitions(seqs, 3)
    assert (smoothed > 0).all() and np.allclose(smoothed.sum(1), 1.0)
    with pytest.raises(InvalidInputError, match="states must be in 0..2"):
        fit_transitions([np.array([0, 3])], 3)
    with pytest.raises(InvalidInputError, match="row-stochastic"):
        ForwardFilter([[0.5, 0.6], [0.5, 0.5]])


def test_hmm_with_fitted_order_ignores_a_backward_blip():
    """Fitted on stand->start->walk->stop->stand, a one-frame 'start' inside walk is not emitted; argmax would."""
    cycle = np.repeat([0, 1, 2, 3] * 5, 40)
    cfg = CausalConfig(transitions=fit_transitions([cycle], 4).tolist(), evidence_weight=0.5)
    dec = CausalGaitDecoder(spec.LABELS, cfg, n_feet=0)
    logits = np.full((120, 4), -3.0)
    logits[:40, 0] = logits[40:80, 1] = logits[80:, 2] = 3.0
    logits[100] = [-3.0, 3.0, -3.0, -3.0]  # blip back to start
    states, events = dec.decode(logits, np.arange(120))
    assert [e["state"] for e in events] == ["stand", "start", "walk"]
    assert states[100] == 2 and logits.argmax(1)[100] == 1


# ----------------------------------------------------------------------------- network


def test_causal_net_is_causal_and_board_form_equals_sequence_form():
    import torch

    from edgeemg.tasks.gait.causal_models import CausalGaitNet

    torch.manual_seed(0)
    net = CausalGaitNet(6, width=8, dilations=(1, 2)).eval()
    rf, hop = net.receptive_field, net.hop
    assert rf == 20 + 10 * 3 + 2 * (1 + 2) * 40 and hop == 40
    x = torch.randn(1, rf + 5 * hop, 6)
    with torch.no_grad():
        seq = net.forward_sequence(x)[0]  # (n_outputs, frames)
        assert seq.shape == (6, 6)
        for j in range(6):  # frame j = the window ending at rf - 1 + hop * j
            np.testing.assert_allclose(net(x[:, j * hop : j * hop + rf]).numpy()[0], seq[:, j].numpy(), atol=1e-5)
        later = x.clone()
        later[:, rf:] += 10.0  # samples after frame 0's newest one
        assert torch.equal(net.forward_sequence(later)[0][:, 0], seq[:, 0])
        oldest = x.clone()
        oldest[:, 0] += 10.0  # frame 0's oldest sample is inside its receptive field
        assert not torch.equal(net.forward_sequence(oldest)[0][:, 0], seq[:, 0])


# ----------------------------------------------------------------------------- events against simulator truth


@pytest.fixture(scope="module")
def sim():
    return simulate_gait(40.0, seed=2, subject=1)


def test_contact_truth_follows_the_simulated_foot_switches(sim):
    contact = spec.contact_from_events(len(sim.states), sim.heel_strikes, sim.toe_offs, sim.fs_hz)
    fsw = sim.footswitch - sim.footswitch.min(axis=0)
    swing_level = np.array([np.median(fsw[contact[:, f] == 0, f]) for f in range(2)])
    stance_level = np.array([np.median(fsw[contact[:, f] == 1, f]) for f in range(2)])
    assert (swing_level < 0.2 * stance_level).all()  # swing is where the foot switch is open
    assert (contact[sim.states == 0] == 1).all()  # both feet on the ground while standing


HOP = 40


def _true_contact_logits(sim, horizon, contact_lag):
    """Frame ends every HOP and confident logits of the true state ``horizon`` samples ahead and of the true
    contact ``contact_lag`` samples before the newest one (a detector that lags the foot by that much)."""
    contact = spec.contact_from_events(len(sim.states), sim.heel_strikes, sim.toe_offs, sim.fs_hz)
    ends = np.arange(HOP - 1, len(sim.states), HOP)
    states, c = spec.frame_targets(sim.states, contact, ends, horizon, -contact_lag)
    return np.concatenate([8.0 * np.eye(4)[states], 8.0 * (2 * c - 1)], axis=1), ends


def _event_report(sim, cfg, logits, ends):
    _, events = CausalGaitDecoder(spec.LABELS, cfg).decode(logits, ends)
    decoded = {k: [np.array([e["event_index"] / sim.fs_hz for e in events
                             if e.get("event") == k and e["foot"] == foot]) for foot in spec.FOOTS]
               for k in spec.GAIT_EVENTS}
    return metrics.event_report({"heel_strike": list(sim.heel_strikes), "toe_off": list(sim.toe_offs)}, decoded,
                                minutes=40.0 / 60.0)


def _assert_events_within_half_a_hop(rep, sim):
    for kind in spec.GAIT_EVENTS:
        assert rep[kind]["n"] > 20 and rep[kind]["detection_rate"] == 1.0, rep
        assert rep[kind]["mae_ms"] <= 1000.0 * HOP / 2 / sim.fs_hz + 1.0, rep
        assert rep[kind]["false_per_min"] == 0.0


@pytest.mark.parametrize("contact_horizon", [120, -60])
def test_decoder_events_from_true_contact_match_the_simulator_within_half_a_hop(sim, contact_horizon):
    # ahead of the newest sample (a prediction) or behind it (a look-back): the event is timed at the foot
    logits, ends = _true_contact_logits(sim, 240, -contact_horizon)
    _assert_events_within_half_a_hop(_event_report(sim, CausalConfig(horizon=240, contact_horizon=contact_horizon),
                                                   logits, ends), sim)


def test_fitted_event_offsets_remove_a_detector_lag(sim):
    from edgeemg.tasks.gait.causal_workflow import fit_event_offsets

    lag = 90  # samples: the contact outputs describe the foot 45 ms before the newest sample, the config says 0
    logits, ends = _true_contact_logits(sim, 240, lag)
    cfg = CausalConfig(horizon=240)
    late = _event_report(sim, cfg, logits, ends)
    assert all(abs(late[k]["mae_ms"] - 1000.0 * lag / sim.fs_hz) <= 1000.0 * HOP / 2 / sim.fs_hz
               for k in spec.GAIT_EVENTS), late
    rec = wf.Recording(sim.emg, sim.states, sim.fs_hz, sim.channel_names, sim.subject_id, "sim", sim.heel_strikes,
                       sim.toe_offs)
    fitted = fit_event_offsets(cfg, [rec], [logits], HOP, HOP)
    assert abs(fitted.heel_strike_offset + lag) <= HOP // 2 and abs(fitted.toe_off_offset + lag) <= HOP // 2
    _assert_events_within_half_a_hop(_event_report(sim, fitted, logits, ends), sim)


def test_smoothing_chosen_on_validation_is_the_smoothest_with_the_fewest_false_then_missed_transitions(sim):
    from edgeemg.tasks.gait.causal_workflow import EVIDENCE_WEIGHTS, MIN_CONFIDENCES, choose_smoothing, score

    logits, ends = _true_contact_logits(sim, 240, 0)
    states = logits[:, :4].argmax(1)
    noisy = logits.copy()
    noisy[:, :4] = 2.0 * np.eye(4)[states] + np.random.default_rng(0).normal(0.0, 1.5, (len(states), 4))
    transitions, groups = fit_duration_hmm([states], 4)
    base = CausalConfig(transitions=transitions.tolist(), groups=groups.tolist(), horizon=240)
    n = len(ends) // 2  # the first 20 s keep it fast
    noisy, n_samples = noisy[:n], int(ends[n - 1]) + 1
    rec = wf.Recording(sim.emg[:n_samples], sim.states[:n_samples], sim.fs_hz, sim.channel_names, sim.subject_id,
                       "sim", *[tuple(t[t < n_samples / sim.fs_hz] for t in ev) for ev in (sim.heel_strikes,
                                                                                          sim.toe_offs)])
    chosen, rep = choose_smoothing(base, [rec], [noisy], HOP, HOP)
    reports = {(w, c): score([rec], [noisy], CausalConfig(**{**base.to_dict(), "evidence_weight": w,
                                                             "min_confidence": c}), HOP, HOP)
               for w in EVIDENCE_WEIGHTS for c in MIN_CONFIDENCES}
    false = {k: r["transitions"]["false_per_min"] for k, r in reports.items()}
    # missed = true transitions minus reported ones, counted here from the pairs independently of the workflow
    missed = {k: sum(v["n"] for v in r["transitions"]["per_type"].values())
              - sum(v["reported"] for v in r["transitions"]["per_type"].values()) for k, r in reports.items()}
    fewest = min(false.values())
    assert max(false.values()) > fewest  # the noisy outputs flicker under some settings
    assert rep["transitions"]["false_per_min"] == fewest
    least = min(m for k, m in missed.items() if false[k] == fewest)
    # then the fewest missed, then the smoothest: lowest evidence weight, then highest confidence
    assert (chosen.evidence_weight, -chosen.min_confidence) == min((w, -c) for (w, c), f in false.items()
                                                                    if f == fewest and missed[(w, c)] == least)


def test_contact_tracker_hysteresis_and_interpolated_crossing():
    tr = ContactTracker(margin=0.2)
    assert tr.step(0.9, 0) is None  # starts in contact
    assert tr.step(0.45, 40) is None  # below 0.5 but inside the band
    assert tr.step(0.1, 80) == "toe_off"
    assert tr.crossing == pytest.approx(40 * (0.9 - 0.5) / (0.9 - 0.45))  # crossed 0.5 between 0 and 40
    # an output of exactly 0.5 (a quantized logit of 0) is on the contact side: the crossing is found after it
    assert tr.step(0.5, 120) is None and tr.crossing == pytest.approx(120.0)
    assert tr.step(0.9, 160) == "heel_strike" and tr.crossing == pytest.approx(120.0)


def test_transition_scoring_against_simulator_truth(sim):
    truth = metrics.true_transitions(sim.states, sim.heel_strikes, sim.toe_offs, sim.fs_hz)
    first_to = min(float(t[0]) for t in sim.toe_offs)
    assert [(t.before, t.after) for t in truth[:4]] == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert truth[0].footswitch_s == pytest.approx(first_to) and truth[0].label_s < first_to
    last_hs = max(float(h[h < truth[3].label_s][-1]) for h in sim.heel_strikes)
    assert truth[3].footswitch_s == pytest.approx(last_hs)  # stop -> stand: feet together
    # the truth itself, reported per sample: every transition at latency 0 vs its label, no false one
    t = np.arange(len(sim.states)) / sim.fs_hz
    pairs, n_false = metrics.pair_transitions(truth, metrics.emitted_changes(sim.states, t))
    assert n_false == 0 and all(p is not None and p == pytest.approx(tr.label_s) for tr, p in pairs)
    # a spurious walk -> start blip inside walk adds two false changes; a 50 ms late copy shifts latency by 50 ms
    s = sim.states.copy()
    i = int(np.flatnonzero(s == 2)[200])
    s[i : i + 10] = 1
    _, n_false = metrics.pair_transitions(truth, metrics.emitted_changes(s, t))
    assert n_false == 2
    late = np.concatenate([np.full(100, sim.states[0]), sim.states[:-100]])
    pairs, _ = metrics.pair_transitions(truth, metrics.emitted_changes(late, t))
    rep = metrics.transition_report(pairs, 0, 1.0, spec.LABELS)
    assert rep["per_type"]["walk->stop"]["latency_vs_label_ms"]["median"] == pytest.approx(50.0)
    assert rep["per_type"]["walk->stop"]["in_time"] == 0  # reported after the defining heel strike
    early = np.concatenate([sim.states[100:], np.full(100, sim.states[-1])])
    pairs, _ = metrics.pair_transitions(truth, metrics.emitted_changes(early, t))
    per = metrics.transition_report(pairs, 0, 1.0, spec.LABELS)["per_type"]["walk->stop"]
    assert per["in_time"] == per["reported"] == per["n"] > 0  # 50 ms ahead of the foot: every one in time


def test_match_events_is_one_to_one_and_closest_first():
    assert metrics.match_events([1.0, 1.05], [1.04, 2.0], 0.1) == [(1, 0)]
    assert metrics.match_events([], [1.0]) == []


def test_gain_augmentation_scales_each_crops_channels_and_leaves_targets():
    from edgeemg.tasks.gait.causal_training import SequenceSet, _batch

    rng = np.random.default_rng(0)
    data = SequenceSet([rng.normal(size=(400, 6)).astype(np.float32)], [np.arange(10) % 4],
                       [rng.integers(0, 2, (10, 2)).astype(np.float32)])
    crops = [(0, 0), (0, 3)]
    gain = np.exp(rng.normal(0.0, 0.35, (2, 6))).astype(np.float32)
    x, y, c = _batch(data, crops, 100, 40, 5)
    xg, yg, cg = _batch(data, crops, 100, 40, 5, gain)
    np.testing.assert_allclose(xg.numpy(), x.numpy() * gain[:, None, :], rtol=1e-6)
    assert np.array_equal(x.numpy()[1], data.z[0][120:380]) and np.array_equal(yg.numpy(), y.numpy())
    assert np.array_equal(cg.numpy(), c.numpy())


def test_contact_ramp_target_is_the_box_average_and_crosses_half_at_the_event():
    contact = np.zeros((3000, 2), np.int8)
    contact[1000:, 0] = 1  # heel strike of foot 0 at sample 1000
    contact[:1703, 1] = 1  # toe-off of foot 1 at sample 1703
    ends = np.arange(200, 2900, 7)
    states = np.zeros(3000, np.int64)
    _, step = spec.frame_targets(states, contact, ends, 0, -30)
    _, ramp = spec.frame_targets(states, contact, ends, 0, -30, ramp=80)
    box = np.stack([np.convolve(contact[:, f].astype(float), np.ones(80) / 80, mode="full")[ends - 30 + 39]
                    for f in range(2)], axis=1)  # mean of samples t-40 .. t+39
    np.testing.assert_allclose(ramp, box, atol=1e-6)
    assert np.array_equal(step, contact[ends - 30].astype(np.float32))
    for foot, event in ((0, 1000), (1, 1703)):  # linear interpolation of the ramp's 0.5 crossing finds the event
        t = ends - 30
        k = int(np.flatnonzero(np.diff(ramp[:, foot] >= 0.5))[0])
        cross = t[k] + (t[k + 1] - t[k]) * (0.5 - ramp[k, foot]) / (ramp[k + 1, foot] - ramp[k, foot])
        assert abs(cross - event) <= 0.5


def test_lag_augmentation_shifts_each_channel_and_stays_inside_the_recording():
    from edgeemg.tasks.gait.causal_training import SequenceSet, _batch

    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 3)).astype(np.float32)
    data = SequenceSet([z], [np.arange(10) % 4], [rng.integers(0, 2, (10, 2)).astype(np.float32)])
    x0, y0, c0 = _batch(data, [(0, 2)], 100, 40, 5)
    x, y, c = _batch(data, [(0, 2), (0, 0)], 100, 40, 5, lag=np.array([[7, -5, 0], [3, -500, 0]]))
    start, length = 80, 260
    assert np.array_equal(x.numpy()[0, :, 0], z[start - 7 : start - 7 + length, 0])  # delayed: older samples
    assert np.array_equal(x.numpy()[0, :, 1], z[start + 5 : start + 5 + length, 1])  # advanced
    assert np.array_equal(x.numpy()[0, :, 2], x0.numpy()[0, :, 2])
    assert np.array_equal(x.numpy()[1, :, 0], z[:length, 0])  # a delay before the first sample is clipped to 0
    assert np.array_equal(x.numpy()[1, :, 1], z[400 - length :, 1])  # an advance past the end, to the last sample
    assert np.array_equal(y.numpy()[0], y0.numpy()[0]) and np.array_equal(c.numpy()[0], c0.numpy()[0])


# ----------------------------------------------------------------------------- tiny end to end


TINY = wf.SimulationPlan(n_subjects=4, seconds=20.0, eval_subjects=2)


@pytest.fixture(scope="module")
def causal_ckpt():
    mp = pytest.MonkeyPatch()
    mp.setattr(wf, "DEFAULT_SIMULATION", TINY)
    try:
        return wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False, options={})
    finally:
        mp.undo()


def test_default_training_is_causal_and_eval_reports_timing(causal_ckpt, monkeypatch):
    m = causal_ckpt.meta
    assert m["preset"] == "causal" and 1000.0 * m["hop"] / m["fs_hz"] <= 25.0
    assert m["decoder"]["transitions"] and np.allclose(np.sum(m["decoder"]["transitions"], 1), 1.0)
    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", TINY)
    rep = wf.evaluate(causal_ckpt, None, simulate=True, seed=1, device="cpu", progress=False, options={})
    assert rep["held_out"] and {"per_class_f1", "macro_f1", "transitions", "gait_events"} <= set(rep)
    assert set(rep["gait_events"]) >= {"heel_strike", "toe_off"} and "false_per_min" in rep["transitions"]
    assert json.loads(json.dumps(rep))["preset"] == "causal"  # what `eval --json` prints


def test_causal_refuses_svm_without_seed_preset():
    with pytest.raises(InvalidInputError, match="add --preset seed"):
        wf.train(None, simulate=True, model="svm", epochs=1, device="cpu", seed=0, progress=False, options={})
    with pytest.raises(InvalidInputError, match="--preset must be one of seed"):
        wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"preset": "cpu"})


def test_train_config_option_reaches_the_training_and_unknown_keys_are_refused(monkeypatch):
    """``options["train_config"]`` (the demo plan's lever) overrides CausalTrainConfig fields; a typo fails first."""
    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", TINY)
    with pytest.raises(InvalidInputError, match="train_config key.*lag_sd"):
        wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"train_config": {"lag_sd": 0.0}})
    ck = wf.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                  options={"train_config": {"lag_sd_s": 0.0, "gain_sd": 0.1}})
    assert ck.meta["train_config"]["lag_sd_s"] == 0.0 and ck.meta["train_config"]["gain_sd"] == 0.1


def test_exported_bundle_decodes_on_the_engine_like_offline(causal_ckpt, tmp_path, monkeypatch):
    """Export (ONNX int8), then the engine over a simulated band equals offline DSP + onnxruntime + decoder.

    The one-epoch model's fitted HMM would sit in one state and its contact outputs on one side of 0.5:
    uniform transitions, no contact hysteresis and contact biases that centre its logits on this band make
    the decoder change as often as the outputs do, so the comparison covers many gait events.
    """
    import dataclasses
    from types import SimpleNamespace

    from edgeemg.tasks.gait.causal_export import build_module
    from edgeemg.tasks.gait.causal_workflow import _predict, zscored

    import onnxruntime as ort

    from edgeemg.bridge import Block
    from edgeemg.dsp import Pipeline
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.recipe import load_recipe, recipe_from_dict
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.runtime.engine import Engine

    monkeypatch.setattr(wf, "DEFAULT_SIMULATION", TINY)
    r = load_recipe("gait").to_dict()
    r["tolerance"]["max_loss_pp"] = 100.0
    r["quantize"]["calibration_windows"] = 64
    emg = simulate_gait(12.0, seed=4).emg
    zs = next(s for s in causal_ckpt.meta["dsp"] if s["stage"] == "zscore")
    z = zscored([SimpleNamespace(emg=emg)], {"mean": zs["mean"], "std": zs["std"]}, 2000.0)[0]
    arrays = {k: np.array(v) for k, v in causal_ckpt.arrays.items()}
    arrays["head.bias"][4:] -= np.median(_predict(build_module(causal_ckpt), z)[:, 4:], axis=0).astype(np.float32)
    flicker = {**causal_ckpt.meta["decoder"], "transitions": np.full((4, 4), 0.25).tolist(), "groups": [],
               "contact_margin": 0.0, "min_confidence": 0.0}
    ck = dataclasses.replace(causal_ckpt, arrays=arrays, meta={**causal_ckpt.meta, "decoder": flicker})
    res = export_checkpoint(ck, tmp_path / "g.int8", recipe=recipe_from_dict(r), formats=("onnx",),
                            progress=False)
    b = load_bundle(res.bundle)
    look_back = -int(causal_ckpt.meta["decoder"]["contact_horizon"])  # gait events are known this much later
    assert look_back == round(-spec.CONTACT_HORIZON_S * 2000.0)
    assert b.manifest["decoder_class"].endswith(":CausalGaitDecoder")
    assert b.manifest["algorithmic_latency_ms"] == pytest.approx(1000.0 * max(0, look_back) / 2000.0)
    eng = Engine(b, skip_after_ms=float("inf"))
    got = []
    for i in range(0, len(emg), 8):
        got += [e.payload for e in eng.feed(Block(emg[i : i + 8], i * 500, 0.0, i // 8, 0.0))]
    frames = Pipeline.from_description(b.manifest["dsp"], b.fs_hz, b.n_channels).process_offline(emg)
    logits = ort.InferenceSession(str(b.path / "model.int8.onnx")).run(None, {"x": frames.data})[0]
    want = b.decoder().step(logits, frames.end_index)
    assert got == want
    assert any("state" in e for e in want) and sum("event" in e for e in want) >= 3


def test_stream_report_scores_the_band_truth_itself_perfectly():
    """Events that are the band's own truth (states at their label times, gait events at the foot switches)."""
    from edgeemg.data.sim_gait import band_signal

    sig = band_signal(30.0, seed=3)
    fs = sig.fs_hz
    events, prev = [], sig.meta["initial_state"]
    for ev in sig.events:
        events.append((int(round(ev.time_s * fs)), {"state": ev.value, "previous": prev}))
        prev = ev.value
    for kind, key in (("heel_strike", "heel_strikes"), ("toe_off", "toe_offs")):
        for foot, times in zip(spec.FOOTS, sig.meta[key]):
            events += [(int(t * fs), {"event": kind, "foot": foot, "event_index": int(round(t * fs))}) for t in times]
    rep = CausalGaitDecoder().stream_report(sorted(events, key=lambda e: e[0]), sig)
    assert rep["transitions"]["false_transitions"] == 0
    per = rep["transitions"]["per_type"]
    assert all(v["reported"] == v["n"] > 0 for v in per.values())
    assert per["stand->start"]["latency_vs_footswitch_ms"]["median"] < 0  # the label leads the first toe-off
    assert per["start->walk"]["latency_vs_footswitch_ms"]["median"] == pytest.approx(0.0, abs=1.0)
    for kind in spec.GAIT_EVENTS:
        assert rep["gait_events"][kind]["detection_rate"] == 1.0 and rep["gait_events"][kind]["mae_ms"] < 1.0
    assert any(line.startswith("transition latency vs foot switch") for line in rep["lines"])
