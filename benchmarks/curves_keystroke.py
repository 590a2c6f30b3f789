"""Learning curves of the keystroke decoders at the CPU budget: one from-scratch run per call.

Trains one model (``--model``, ``--preset``, ``--model-config`` overrides) on
simulated user ``--user`` with the CLI's CPU defaults (``--train-config``
overrides any :class:`~edgeemg.tasks.keystroke.training.TrainConfig` field),
validates each epoch on a separate session, and scores the best epoch on a
later session with test-split text, greedily and with beam search + the
built-in character LM at the settings training chose on the validation
session (:mod:`~edgeemg.tasks.keystroke.decoder_tuning`). Prints one JSON
object: the per-epoch validation CER with this process's cumulative CPU
seconds (the learning curve), the validation beam+LM CER, the test rates,
parameters and training CPU seconds. Run with ``OMP_NUM_THREADS=1`` so
CPU seconds are one core's.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/curves_keystroke.py --model cnn_bilstm
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/curves_keystroke.py --model tds \
        --model-config '{"mlp_features": 96}' --train-config '{"key_ce_frames": [4, 5, 6, 7]}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tds")
    p.add_argument("--preset", help="model size (default: the CLI's on a CPU)")
    p.add_argument("--model-config", default="{}", help="JSON overrides of the preset's sizes")
    p.add_argument("--train-config", default="{}", help="JSON overrides of the CPU TrainConfig")
    p.add_argument("--user", type=int, default=0)
    p.add_argument("--train-sessions", type=int, help="training sessions (default: the CLI's)")
    p.add_argument("--seconds", type=float, help="session length (default: the CLI's)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lm-order", type=int, default=6)
    p.add_argument("-o", "--output", type=Path, help="also save the checkpoint here")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text

    tc = json.loads(a.train_config)
    tc = dataclasses.replace(wf.cpu_train_config(), **{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in tc.items()})
    plan = wf.CPU_SIMULATION
    plan = dataclasses.replace(plan, **{k: v for k, v in (("train_sessions", a.train_sessions), ("seconds", a.seconds),
                                                          ("eval_seconds", a.seconds)) if v is not None})
    ckpt = wf.train(None, simulate=True, model=a.model, epochs=a.epochs, device="cpu", seed=a.user, progress=False,
                    options={}, preset=a.preset, model_config=json.loads(a.model_config), train_config=tc, plan=plan)
    if a.output:
        save_checkpoint(a.output, ckpt)
    with tempfile.TemporaryDirectory(prefix="curves-keystroke-") as tmp:
        lm = Path(tmp) / "lm.bin"
        build_lm(builtin_corpus_text(), order=a.lm_order).save(lm)
        out = wf.evaluate(ckpt, None, simulate=True, seed=a.user, device="cpu", progress=False,
                          options={"lm": str(lm)}, plan=plan)
    s = ckpt.meta["summary"]
    h = ckpt.meta["history"]
    row = {"model": a.model, "model_config": ckpt.meta["model_config"], "train_config": json.loads(a.train_config),
           "plan": dataclasses.asdict(plan), "n_params": s["n_params"], "train_cpu_s": s["train_cpu_s"],
           "best_epoch": s["best_epoch"], "val_cer": s["val_cer"],
           "curve": [[e, round(c, 1), round(t)] for e, c, t in zip(h["epoch"], h["val_cer"], h["cpu_s"])],
           "val_beam_lm_cer": min(r["cer"] for r in ckpt.meta["decoder_tuning"]["grid"]),
           "protocol": out["protocol"], "greedy": out["greedy"], "beam_lm": out["beam_lm"],
           "beam_lm_offline": out["beam_lm_offline"]}
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
