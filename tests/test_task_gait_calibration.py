"""Per-user gait calibration (issue 14): a person's event lag fitted on one walk is removed on another session
of that person, judged against the simulator's foot switches; refusals; `edgeemg calibrate --json`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeemg.data.gait_record import write_gait_record
from edgeemg.data.sim_gait import simulate_gait
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgeemg.tasks.gait import causal_workflow as cw
from edgeemg.tasks.gait import spec
from edgeemg.tasks.gait.calibration import calibrate_checkpoint
from edgeemg.tasks.gait.causal_decoder import CausalConfig
from edgeemg.tasks.gait.recordings import Recording

HOP = 40
LAG = {"heel_strike": 70, "toe_off": -50}  # samples: this person's detector is 35 ms late on heel strikes, 25 early


def _rec(sim):
    return Recording(sim.emg, sim.states, sim.fs_hz, tuple(sim.channel_names), sim.subject_id, "simulated",
                     sim.heel_strikes, sim.toe_offs)


def _person_outputs(rec):
    """Frame outputs of a detector that sees this person's events ``LAG`` samples off: confident contact logits
    flipping at heel strike + LAG['heel_strike'] and toe-off + LAG['toe_off'] (states: the truth)."""
    n = len(rec.states)
    shifted = tuple(tuple(np.asarray(t) + LAG[k] / rec.fs_hz for t in ev)
                    for k, ev in (("heel_strike", rec.heel_strikes), ("toe_off", rec.toe_offs)))
    contact = spec.contact_from_events(n, shifted[0], shifted[1], rec.fs_hz)
    ends = cw.frame_ends(n, HOP, HOP)
    states, c = spec.frame_targets(rec.states, contact, ends, 0, 0)
    return np.concatenate([8.0 * np.eye(4)[states], 8.0 * (2 * c - 1)], axis=1)


@pytest.fixture()
def person_ckpt(monkeypatch):
    """A causal checkpoint whose network is replaced by :func:`_person_outputs` (population offsets 0)."""
    monkeypatch.setattr(cw, "checkpoint_outputs", lambda ckpt, recs: [_person_outputs(r) for r in recs])
    meta = {"preset": "causal", "window": HOP, "hop": HOP, "fs_hz": spec.FS_HZ, "labels": list(spec.LABELS),
            "decoder": CausalConfig().to_dict()}
    return Checkpoint(task="gait", model="cnn", arrays={"w": np.zeros(1, np.float32)}, meta=meta)


def _mae(ckpt, rec):
    m = ckpt.meta
    rep = cw.score([rec], cw.checkpoint_outputs(ckpt, [rec]), CausalConfig.from_dict(m["decoder"]), HOP, HOP)
    return rep["gait_events"]


def test_calibration_walk_fits_the_persons_lag_and_it_holds_on_another_session(person_ckpt):
    walk = _rec(simulate_gait(60.0, seed=3, subject=2, session=2))
    scored = _rec(simulate_gait(60.0, seed=3, subject=2, session=1))  # same person, a walk not calibrated on
    user, report = calibrate_checkpoint(person_ckpt, [walk])
    for kind in spec.GAIT_EVENTS:
        fitted = user.meta["decoder"][f"{kind}_offset"]
        assert abs(fitted + LAG[kind]) <= HOP // 2, (kind, fitted)
        assert report["offsets"][kind]["after_ms"] == pytest.approx(1000.0 * fitted / spec.FS_HZ)
    before, after = _mae(person_ckpt, scored), _mae(user, scored)
    for kind in spec.GAIT_EVENTS:
        assert before[kind]["mae_ms"] >= 1000.0 * (abs(LAG[kind]) - HOP / 2) / spec.FS_HZ  # off by the lag
        assert after[kind]["mae_ms"] <= 1000.0 * (HOP / 2) / spec.FS_HZ + 1.0  # within half a hop after
        assert after[kind]["detection_rate"] == 1.0
    assert user.meta["calibration"]["subject"] == walk.subject_id and user.arrays is person_ckpt.arrays


def test_calibration_refuses_two_people_a_short_walk_and_seed_models(person_ckpt):
    two = [_rec(simulate_gait(30.0, seed=3, subject=s)) for s in (0, 1)]
    with pytest.raises(InvalidInputError, match="one person"):
        calibrate_checkpoint(person_ckpt, two)
    with pytest.raises(InvalidInputError, match="too few matched events"):
        calibrate_checkpoint(person_ckpt, [_rec(simulate_gait(8.0, seed=3, subject=2))])
    seed = Checkpoint(task="gait", model="cnn", arrays={}, meta={"preset": "seed"})
    with pytest.raises(InvalidInputError, match="causal gait checkpoint"):
        calibrate_checkpoint(seed, two[:1])


def test_cli_calibrate_writes_the_user_checkpoint_and_one_json_object(person_ckpt, tmp_path, capfd):
    from edgeemg.cli import main

    save_checkpoint(tmp_path / "pop.ckpt", person_ckpt)
    (tmp_path / "walk").mkdir()
    write_gait_record(tmp_path / "walk" / "S01", simulate_gait(40.0, seed=3, subject=2, session=2))
    rc = main(["-q", "calibrate", str(tmp_path / "pop.ckpt"), "--data", str(tmp_path / "walk"), "-o",
               str(tmp_path / "user.ckpt"), "--json"])
    assert rc == 0
    lines = capfd.readouterr().out.splitlines()
    assert len(lines) == 1  # `--json`: exactly one object on stdout (as tests/test_cli_json.py asks of every verb)
    report = json.loads(lines[0])
    user = load_checkpoint(tmp_path / "user.ckpt")
    assert user.meta["decoder"]["heel_strike_offset"] == pytest.approx(
        report["offsets"]["heel_strike"]["after_ms"] * spec.FS_HZ / 1000.0)
    assert abs(user.meta["decoder"]["heel_strike_offset"] + LAG["heel_strike"]) <= HOP // 2
