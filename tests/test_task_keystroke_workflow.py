"""Keystroke task end to end: a short CTC run on simulated typing, checkpoint, eval with an LM, the LM verb.

The run is far too short to learn key identities (a few hundred CTC steps on a
minute of typing: the loss leaves the all-blank start and settles near the key
unigram entropy), so this checks the mechanics and the bookkeeping, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeemg.cli import lm as lm_cli
from edgeemg.data.sim_keystroke import simulate_to_path
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.checkpoint import load_checkpoint, save_checkpoint
from edgeemg.tasks.keystroke import workflow as wf
from edgeemg.tasks.keystroke.lm import builtin_corpus_text
from edgeemg.tasks.keystroke.protocol import personal_test_sessions, simulated_training_data, unseen_user_sessions
from edgeemg.tasks.keystroke.alignment import REFERENCE_KEY, fold_shift, oriented_to
from edgeemg.tasks.keystroke.training import TrainConfig

PLAN = wf.SimulationPlan(train_sessions=2, seconds=15.0, eval_seconds=12.0)


def _lm_cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("-q", "--quiet", action="store_true")
    lm_cli.add_parser(parser.add_subparsers(dest="verb"))
    return parser.parse_args(argv, namespace=argparse.Namespace(out=sys.stdout))  # main() sets args.out


@pytest.fixture(scope="module")
def lm_file(tmp_path_factory) -> str:
    """An LM from the shipped LM corpus (``--builtin``), which shares no sentence with the simulated prompts."""
    out = tmp_path_factory.mktemp("lm") / "lm.bin"
    args = _lm_cli(["lm", "build", "--builtin", "-o", str(out), "--order", "4", "--json"])
    assert args.run(args) == 0
    return str(out)


def test_lm_build_from_a_file_equals_builtin_and_needs_one_corpus(tmp_path, lm_file, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(builtin_corpus_text(), encoding="utf-8")
    out = tmp_path / "lm.bin"
    args = _lm_cli(["lm", "build", str(corpus), "-o", str(out), "--order", "4", "--json"])
    assert args.run(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["order"] == 4 and summary["n_ngrams"] > 1000
    assert out.read_bytes() == Path(lm_file).read_bytes()
    for argv in (["lm", "build", "-o", str(out)], ["lm", "build", str(corpus), "--builtin", "-o", str(out)]):
        args = _lm_cli(argv)
        with pytest.raises(InvalidInputError, match="exactly one corpus"):
            args.run(args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ckpt = wf.train(None, simulate=True, model="cnn_lstm", epochs=EPOCHS, device="cpu", seed=0, progress=False,
                    options={}, preset="tiny", plan=PLAN, train_config=TrainConfig(batch_size=8, lr=3e-3))
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "ks.npz", ckpt)
    return load_checkpoint(path, task="keystroke")


EPOCHS = 3


def test_train_checkpoint_and_eval_with_lm(trained, lm_file) -> None:
    out = wf.evaluate(trained, None, simulate=True, seed=0, device="cpu", progress=False, options={"lm": lm_file},
                      plan=PLAN)
    for key in ("cer", "ier", "der", "ser", "algorithmic_latency_ms", "model", "n_params"):
        assert key in out
    assert out["protocol"].startswith("personalised")
    assert out["decoder"] == "beam+lm" and out["model"] == "cnn_lstm"
    json.dumps(out)
    g = out["greedy"]
    assert g["cer"] == pytest.approx(g["ier"] + g["der"] + g["ser"])
    assert 0.0 <= out["beam_lm"]["cer"] and out["n_target_chars"] > 50
    # the host's whole-prompt search: the board's settings without its commit deadline, on the scored session
    from edgeemg.tasks.keystroke.decoder import DecoderConfig, KeystrokeDecoder
    from edgeemg.tasks.keystroke.lm import CharNgramLM

    whole = DecoderConfig.from_dict({**trained.meta["offline_decoder"], "kind": "beam", "max_delay_frames": None})
    test = personal_test_sessions(0, PLAN.train_sessions, PLAN)
    em = wf.model_emissions(wf.load_model(trained), test)
    assert out["beam_lm_offline"]["cer"] == pytest.approx(
        wf.score_sessions(em, test, KeystrokeDecoder(whole, CharNgramLM.load(lm_file))).rates.cer)
    hist = trained.meta["history"]
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert trained.meta["summary"]["n_params"] == out["n_params"]
    assert trained.meta["dsp"] == [{"stage": "log_spectrogram", "n_fft": 64, "hop": 16}]


def test_workflow_refuses_bad_arguments(trained) -> None:
    with pytest.raises(InvalidInputError, match="do not apply"):
        wf.evaluate(trained, None, simulate=True, seed=0, device="cpu", progress=False, options={"split": 0.5})
    with pytest.raises(InvalidInputError, match="Allowed values are tds, cnn_lstm, cnn_bilstm"):
        wf.train(None, simulate=True, model="gru", epochs=1, device="cpu", seed=0, progress=False, options={})
    with pytest.raises(InvalidInputError, match="exactly one data source"):
        wf.evaluate(trained, None, simulate=False, seed=0, device="cpu", progress=False, options={})


def _texts(sessions) -> set[str]:
    return {t for s in sessions for t in s.prompt_texts}


def test_test_prompts_are_disjoint_from_training_and_validation_text() -> None:
    """The leak issue 15 found: test sessions typed sentences that training sessions had typed."""
    plan = wf.SimulationPlan(train_sessions=3, seconds=40.0, eval_seconds=40.0, users=2)
    data = simulated_training_data(0, plan)
    train, val = _texts(data.train), _texts(data.val)
    test = _texts(personal_test_sessions(0, plan.train_sessions, plan)) | _texts(unseen_user_sessions(7, plan))
    assert len(train) > 10 and val and len(test) > 4
    assert not train & test and not train & val and not val & test
    assert {s.name for s in data.val}.isdisjoint(s.name for s in data.train)  # validation is its own session


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    """A two-user 'generic' model (one epoch): the mechanics of --users and --init, not accuracy."""
    ckpt = wf.train(None, simulate=True, model="tds", epochs=1, device="cpu", seed=0, progress=False,
                    options={"users": 2}, preset="tiny", plan=PLAN)
    return save_checkpoint(tmp_path_factory.mktemp("generic") / "generic.npz", ckpt)


def test_generic_model_trains_on_users_and_validates_on_an_unseen_one(generic) -> None:
    ckpt = load_checkpoint(generic, task="keystroke")
    assert ckpt.meta["user_seeds"] == [0, 1] and ckpt.meta["val_user"] == 2
    assert ckpt.meta["summary"]["n_train_prompts"] > 0 and ckpt.meta["summary"]["train_cpu_s"] > 0
    small = wf.SimulationPlan(train_sessions=2, seconds=15.0, eval_seconds=8.0)
    assert wf.evaluate(ckpt, None, simulate=True, seed=1, device="cpu", progress=False, options={},
                       plan=small)["protocol"].startswith("personalised (user 1")
    assert wf.evaluate(ckpt, None, simulate=True, seed=5, device="cpu", progress=False, options={},
                       plan=small)["protocol"].startswith("generic (user 5")


def test_fine_tuning_starts_from_the_init_checkpoint(generic) -> None:
    """With a zero learning rate, fine-tuning returns the init weights turned to the user's band (BatchNorm
    statistics aside); with a small one it moves them a little."""
    base = load_checkpoint(generic, task="keystroke")
    assert np.asarray(base.meta[REFERENCE_KEY]).shape == (2, 16, 33)  # a generic model is in one band frame
    users = simulated_training_data(3, PLAN).train
    candidates = oriented_to(base, users, check=lambda ck: 0.0)[0].meta["band_turn"]["candidates"]
    weights = [k for k in base.arrays if "batch_norm" not in k]
    assert len(weights) > 10
    for lr in (0.0, 1e-4):
        tuned = wf.train(None, simulate=True, model="tds", epochs=1, device="cpu", seed=3, progress=False,
                         options={"init": generic}, plan=PLAN, train_config=TrainConfig(lr=lr, batch_size=8))
        assert tuned.meta["summary"]["origin"].startswith("fine-tuned") and tuned.meta["user_seeds"] == [3]
        shift = np.array(tuned.meta["init"]["band_shift"])  # the profile's candidates, checked on greedy text
        assert all(s in c for s, c in zip(shift, candidates)) and len(tuned.meta["init"]["band_turn"]["checked"]) > 1
        assert tuned.meta["init"]["recipe"] == "train_config given"
        assert f"band turned by {shift.tolist()}" in tuned.meta["summary"]["origin"]
        start = fold_shift(base.arrays, shift)
        assert REFERENCE_KEY not in tuned.meta  # it reads the user's raw bands
        assert json.loads(json.dumps(tuned.meta["model_config"])) == base.meta["model_config"]
        diff = max(float(np.abs(tuned.arrays[k] - start[k]).max()) for k in weights)
        assert diff == 0.0 if lr == 0.0 else 0.0 < diff < 0.05  # Adam steps of ~lr each
    with pytest.raises(InvalidInputError, match="holds a 'tds' model"):
        wf.train(None, simulate=True, model="cnn_lstm", epochs=1, device="cpu", seed=3, progress=False,
                 options={"init": generic}, plan=PLAN)


def test_training_refuses_data_that_cannot_validate_or_export(tmp_path) -> None:
    one = simulate_to_path(tmp_path / "one.hdf5", seconds=4.0, progress=False)
    with pytest.raises(InvalidInputError, match="at least 2 sessions"):
        wf.train(one, simulate=False, model="tds", epochs=1, device="cpu", seed=0, progress=False, options={})
    with pytest.raises(InvalidInputError, match="--users N"):
        wf.train(one, simulate=False, model="tds", epochs=1, device="cpu", seed=0, progress=False,
                 options={"users": 3})


def test_cli_fine_tune_needs_no_model_flag(generic) -> None:
    """`edgeemg train keystroke --init CKPT` trains the checkpoint's model when --model is not given."""
    from edgeemg.cli.train import _init_model
    from edgeemg.tasks.registry import task_argument

    assert _init_model(argparse.Namespace(init=generic, task=task_argument("keystroke"))) == "tds"
    assert _init_model(argparse.Namespace(init=None, task=task_argument("keystroke"))) is None


def test_cli_recipe_fine_tunes_a_generic_model_on_session_files(generic, tmp_path) -> None:
    """`train keystroke --init GENERIC --data FILES`: turned to the files' band, trained, then read raw by eval."""
    files = [p for s in (0, 1) for p in simulate_to_path(tmp_path / f"s{s}.hdf5", seconds=12.0, seed=4, session=s,
                                                         progress=False)]
    tuned = wf.train(files, simulate=False, model="tds", epochs=1, device="cpu", seed=0, progress=False,
                     options={"init": generic}, train_config=TrainConfig(batch_size=8))
    assert "band turned by" in tuned.meta["summary"]["origin"] and REFERENCE_KEY not in tuned.meta
    out = wf.evaluate(tuned, files[1:], simulate=False, seed=0, device="cpu", progress=False, options={})
    assert "band turned" not in out["protocol"]  # a personal model needs no calibration
    base = load_checkpoint(generic, task="keystroke")
    out = wf.evaluate(base, files[1:], simulate=False, seed=0, device="cpu", progress=False, options={})
    assert "band turned by" in out["protocol"]  # a generic one is turned on the files' own unlabeled signal


def test_export_refuses_a_generic_model(generic) -> None:
    from edgeemg.tasks.keystroke.export_hooks import board_module

    with pytest.raises(InvalidInputError, match="fine-tune it first"):
        board_module(load_checkpoint(generic, task="keystroke"))


def test_training_keeps_the_beam_setting_that_decodes_the_validation_session_best(trained) -> None:
    from edgeemg.tasks.keystroke.decoder import DecoderConfig, KeystrokeDecoder
    from edgeemg.tasks.keystroke.decoder_tuning import PERSONAL_GRID, builtin_lm

    rec = trained.meta["decoder_tuning"]
    assert len(rec["grid"]) == len(PERSONAL_GRID["lm_weight"]) * len(PERSONAL_GRID["insertion_bonus"])
    best = min(rec["grid"], key=lambda r: r["cer"])
    chosen = DecoderConfig.from_dict(trained.meta["decoder"])
    assert (chosen.lm_weight, chosen.insertion_bonus) == (best["lm_weight"], best["insertion_bonus"])
    assert chosen.max_delay_frames == DecoderConfig().max_delay_frames  # the latency bound is not tuned
    whole = DecoderConfig.from_dict(trained.meta["offline_decoder"])
    best_whole = min(rec["offline_grid"], key=lambda r: r["cer"])
    assert (whole.lm_weight, whole.insertion_bonus, whole.max_delay_frames) == \
        (best_whole["lm_weight"], best_whole["insertion_bonus"], None)
    # rescored here on the validation session simulated anew: the record is that session's, not the test's
    val = simulated_training_data(0, PLAN).val
    em = wf.model_emissions(wf.load_model(trained), val)
    assert wf.score_sessions(em, val, KeystrokeDecoder(chosen, builtin_lm())).rates.cer == pytest.approx(best["cer"])
    assert wf.score_sessions(em, val).rates.cer == pytest.approx(rec["greedy_cer"])
