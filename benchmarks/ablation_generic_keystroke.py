"""Ablation of the generic keystroke model's cross-user levers: band alignment and rotation augmentation.

Trains one generic model per variant on the same simulated users (the CPU
settings otherwise) and scores each on users it never saw (greedy and beam +
the built-in LM), so each lever's effect on a new person is read off one table:

* ``none``: raw bands, no augmentation (the CPU settings before issue 15's generic work);
* ``rotation``: raw bands, band rotation +-1 electrode;
* ``aligned``: bands turned to one frame (:mod:`edgeemg.tasks.keystroke.alignment`), no augmentation;
* ``aligned+rotation``: both (the default of ``train --users N``).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ablation_generic_keystroke.py --users 8 --epochs 8
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


def run_variant(name: str, a: argparse.Namespace, lm: Path) -> dict[str, Any]:
    """Train the generic model of variant ``name`` and score it on each test user."""
    from edgeemg.tasks.keystroke import workflow as wf

    align, rotation = VARIANTS[name]
    plan = dataclasses.replace(wf.CPU_SIMULATION, train_sessions=1, seconds=a.seconds, eval_seconds=a.seconds)
    tc = dataclasses.replace(wf.cpu_train_config(), rotation_offsets=rotation, epochs=a.epochs)
    ckpt = wf.train(None, simulate=True, model=a.model, epochs=None, device="cpu", seed=a.generic_seed,
                    progress=not a.quiet, options={"users": a.users}, plan=plan, train_config=tc, align_bands=align)
    rows = []
    for user in a.test_users:
        out = wf.evaluate(ckpt, None, simulate=True, seed=user, device="cpu", progress=False,
                          options={"lm": str(lm)}, plan=plan)
        rows.append({"user": user, "greedy_cer": out["greedy"]["cer"], "beam_lm_cer": out["beam_lm"]["cer"]})
    s = ckpt.meta["summary"]
    res = {"variant": name, "val_cer": s["val_cer"], "best_epoch": s["best_epoch"], "train_cpu_s": s["train_cpu_s"],
           "users": rows}
    print(json.dumps(res), file=sys.stderr, flush=True)
    return res


def format_table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<18}{'val CER %':>10}{'best ep':>8}{'unseen greedy %':>16}{'unseen beam+LM %':>17}"
             f"{'CPU s':>7}"]
    for r in results:
        g = sum(u["greedy_cer"] for u in r["users"]) / len(r["users"])
        b = sum(u["beam_lm_cer"] for u in r["users"]) / len(r["users"])
        lines.append(f"{r['variant']:<18}{r['val_cer']:>10.1f}{r['best_epoch']:>8}{g:>16.1f}{b:>17.1f}"
                     f"{r['train_cpu_s']:>7.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS))
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
        results = [run_variant(v, a, lm) for v in a.variants.split(",")]
    print(json.dumps(results) if a.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
