"""Ablation of the generic keystroke model's cross-user levers: band alignment and rotation augmentation.

Trains one generic model per variant on the same simulated users (the CPU
settings otherwise) and scores each on users it never saw (greedy and beam +
the built-in LM), so each lever's effect on a new person is read off one table:

* ``none``: raw bands, no augmentation (the CPU settings before issue 15's generic work);
* ``rotation``: raw bands, band rotation +-1 electrode;
* ``aligned``: bands turned to one frame (:mod:`edgeemg.tasks.keystroke.alignment`), no augmentation;
* ``aligned+rotation``: both (the default of ``train --users N``).

With ``--ckpt GENERIC.ckpt`` it trains nothing and scores that generic model on
the test users twice: turned to each user's band from an unlabeled session (as
``edgeemg eval`` does) and read raw (alignment's test-time part ablated).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ablation_generic_keystroke.py --users 8 --epochs 8
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ablation_generic_keystroke.py --ckpt generic.ckpt --test-users 0,1,2,3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

VARIANTS = {"none": (False, (0,)), "rotation": (False, (-1, 0, 1)), "aligned": (True, (0,)),
            "aligned+rotation": (True, (-1, 0, 1))}


def _plan(a: argparse.Namespace) -> Any:
    from edgeemg.tasks.keystroke import workflow as wf

    return dataclasses.replace(wf.CPU_SIMULATION, train_sessions=1, seconds=a.seconds, eval_seconds=a.seconds)


def score(name: str, ckpt: Any, a: argparse.Namespace, lm: Path) -> dict[str, Any]:
    """Greedy and beam+LM CER of ``ckpt`` on each test user (row ``name``)."""
    from edgeemg.tasks.keystroke import workflow as wf

    rows = []
    for user in a.test_users:
        out = wf.evaluate(ckpt, None, simulate=True, seed=user, device="cpu", progress=False,
                          options={"lm": str(lm)}, plan=_plan(a))
        rows.append({"user": user, "greedy_cer": out["greedy"]["cer"], "beam_lm_cer": out["beam_lm"]["cer"],
                     "protocol": out["protocol"]})
    s = ckpt.meta["summary"]
    res = {"variant": name, "val_cer": s["val_cer"], "best_epoch": s["best_epoch"], "train_cpu_s": s["train_cpu_s"],
           "users": rows}
    print(json.dumps(res), file=sys.stderr, flush=True)
    return res


def run_variant(name: str, a: argparse.Namespace, lm: Path) -> dict[str, Any]:
    """Train the generic model of variant ``name`` and score it on each test user."""
    from edgeemg.tasks.keystroke import workflow as wf

    align, rotation = VARIANTS[name]
    tc = dataclasses.replace(wf.cpu_train_config(), rotation_offsets=rotation, epochs=a.epochs)
    ckpt = wf.train(None, simulate=True, model=a.model, epochs=None, device="cpu", seed=a.generic_seed,
                    progress=not a.quiet, options={"users": a.users}, plan=_plan(a), train_config=tc,
                    align_bands=align)
    return score(name, ckpt, a, lm)


def score_checkpoint(path: str, a: argparse.Namespace, lm: Path) -> list[dict[str, Any]]:
    """A trained generic model, turned to each user's band and read raw; then with the decoder settings
    chosen on its validation user (:func:`~edgeemg.tasks.keystroke.transfer.tune_decoder`)."""
    from edgeemg.tasks.checkpoint import load_checkpoint
    from edgeemg.tasks.keystroke.alignment import REFERENCE_KEY
    from edgeemg.tasks.keystroke.lm import CharNgramLM
    from edgeemg.tasks.keystroke.protocol import validation_sessions
    from edgeemg.tasks.keystroke.transfer import tune_decoder

    ckpt = load_checkpoint(path, task="keystroke")
    raw = dataclasses.replace(ckpt, meta={k: v for k, v in ckpt.meta.items() if k != REFERENCE_KEY})
    rows = [] if a.tuned_only else [score("turned", ckpt, a, lm), score("raw", raw, a, lm)]
    tuned, grid = tune_decoder(ckpt, validation_sessions(ckpt.meta["val_user"], 0, _plan(a)), CharNgramLM.load(lm))
    print(json.dumps({"decoder_grid": grid, "chosen": tuned.meta["decoder"]}), file=sys.stderr, flush=True)
    return [*rows, score("turned+tuned LM", tuned, a, lm)]


def format_table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<18}{'val CER %':>10}{'best ep':>8}{'unseen greedy %':>16}{'unseen beam+LM %':>17}"
             f"{'CPU s':>7}  per user greedy / beam+LM"]
    for r in results:
        g = sum(u["greedy_cer"] for u in r["users"]) / len(r["users"])
        b = sum(u["beam_lm_cer"] for u in r["users"]) / len(r["users"])
        lines.append(f"{r['variant']:<18}{r['val_cer']:>10.1f}{r['best_epoch']:>8}{g:>16.1f}{b:>17.1f}"
                     f"{r['train_cpu_s']:>7.0f}  "
                     + ", ".join(f"{u['user']}: {u['greedy_cer']:.1f} / {u['beam_lm_cer']:.1f}" for u in r["users"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--ckpt", help="score this generic checkpoint (turned, raw, tuned LM) instead of training variants")
    p.add_argument("--tuned-only", action="store_true", help="with --ckpt: only the tuned-LM row")
    p.add_argument("--model", default="tds")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--generic-seed", type=int, default=100)
    p.add_argument("--test-users", type=lambda s: [int(u) for u in s.split(",")], default=[0, 1])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lm-order", type=int, default=6)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text

    with tempfile.TemporaryDirectory(prefix="ablation-keystroke-") as tmp:
        lm = Path(tmp) / "lm.bin"
        build_lm(builtin_corpus_text(), order=a.lm_order).save(lm)
        results = (score_checkpoint(a.ckpt, a, lm) if a.ckpt
                   else [run_variant(v, a, lm) for v in a.variants.split(",")])
    print(json.dumps(results) if a.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
