"""benchmarks/report_keystroke.py's bookkeeping: training settings per row, the checkpoint cache, mean rows.

Training and scoring take minutes (not here); these are the rules that make the
scratch and fine-tuned rows comparable and the table reproducible in one command.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("report_keystroke", ROOT / "benchmarks" / "report_keystroke.py")
rep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rep)


def test_both_personal_rows_train_at_the_generic_frames_and_the_fine_tune_adds_the_init_recipe() -> None:
    from edgeemg.tasks.keystroke.cpu_defaults import cpu_train_config
    from edgeemg.tasks.keystroke.transfer import FINETUNE

    start = {"key_ce_frames": [6, 7, 8, 9], "lr": 0.5}
    a = argparse.Namespace(train_config="{}")
    scratch, tuned = rep._train_config(a, start, finetune=False), rep._train_config(a, start, finetune=True)
    assert scratch.key_ce_frames == tuned.key_ce_frames == (6, 7, 8, 9)
    assert scratch.lr == cpu_train_config().lr and scratch.l2sp == 0.0
    assert {k: getattr(tuned, k) for k in FINETUNE} == FINETUNE
    a = argparse.Namespace(train_config='{"key_ce_frames": [2, 3], "epochs": 5}')  # overrides win, in both rows
    scratch, tuned = rep._train_config(a, start, finetune=False), rep._train_config(a, start, finetune=True)
    assert scratch.key_ce_frames == tuned.key_ce_frames == (2, 3) and scratch.epochs == tuned.epochs == 5


def test_cache_trains_once_then_loads(tmp_path) -> None:
    from edgeemg.tasks.checkpoint import Checkpoint

    calls = []

    def train():
        calls.append(1)
        return Checkpoint("keystroke", "tds", {"w": np.arange(3.0)}, {"summary": {"train_cpu_s": 1.0}})

    path = tmp_path / "d" / "tds-scratch.npz"
    first = rep._cached(path, train, "scratch")
    again = rep._cached(path, train, "scratch")
    assert len(calls) == 1 and path.exists()
    np.testing.assert_array_equal(again.arrays["w"], first.arrays["w"])
    rep._cached(None, train, "scratch")
    assert len(calls) == 2


def test_a_row_over_several_users_is_their_mean(monkeypatch) -> None:
    from edgeemg.tasks.keystroke import workflow as wf

    rates = {3: (40.0, 30.0), 4: (50.0, 44.0)}

    def evaluate(ckpt, data, *, seed, **kw):
        g, b = rates[seed]
        return {"greedy": dict.fromkeys(rep.RATES, g), "beam_lm": dict.fromkeys(rep.RATES, b), "protocol": f"u{seed}",
                "n_params": 7}

    monkeypatch.setattr(wf, "evaluate", evaluate)
    row = rep._scores(None, [3, 4], None, Path("lm.bin"))
    assert row["greedy"]["cer"] == pytest.approx(45.0) and row["beam_lm"]["ser"] == pytest.approx(37.0)
    assert [u["protocol"] for u in row["users"]] == ["u3", "u4"] and row["n_params"] == 7
    table = rep.format_table({"tds": {"generic": {**row, "train_cpu_s": 9.0}}})
    assert "45.0/45.0/45.0/45.0" in table and "37.0/37.0/37.0/37.0" in table


def test_personal_rows_pool_the_later_sessions(tmp_path) -> None:
    """``--test-sessions 2``: sessions n+1 and n+2 (test text), pooled: the row's CER lies between the two sessions'."""
    import torch

    from edgeemg.tasks.checkpoint import Checkpoint
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text
    from edgeemg.tasks.keystroke.models import PRESETS, build_model
    from edgeemg.tasks.keystroke.protocol import SimulationPlan, personal_test_sessions
    from edgeemg.tasks.torch_support import state_to_arrays

    torch.manual_seed(0)
    net = build_model("tds", PRESETS["tds"]["tiny"])
    ckpt = Checkpoint("keystroke", "tds", state_to_arrays(net), {"model_config": net.config.to_dict()})
    plan = SimulationPlan(train_sessions=1, seconds=8.0, eval_seconds=8.0)
    lm = build_lm(builtin_corpus_text(), order=3).save(tmp_path / "lm.bin")
    sessions = personal_test_sessions(0, 1, plan, n=2)
    assert [s.name for s in sessions] == [s.name for s in personal_test_sessions(0, 1, plan)] + [
        personal_test_sessions(0, 2, plan)[0].name]
    row = rep._personal_scores(ckpt, 0, plan, lm, 2)
    em = wf.model_emissions(wf.load_model(ckpt), sessions)
    each = [wf.score_sessions([e], [s]).rates.cer for e, s in zip(em, sessions)]
    assert min(each) <= row["greedy"]["cer"] <= max(each) and set(row["beam_lm"]) == set(rep.RATES)
    assert row["users"][0]["protocol"] == "personalised (user 0, sessions 2-3)"
