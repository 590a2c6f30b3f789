"""Seed 000's table on simulated typing: model x (from scratch, fine-tuned from generic, generic on an unseen user).

For each model it trains, on this machine's CPU, with the workflow's defaults
unless told otherwise (:mod:`edgeemg.tasks.keystroke.workflow`):

* **scratch**: user ``--user``'s training sessions, validation on a separate
  session, scored on a later session with test-split text (:mod:`.protocol`;
  ``--test-sessions N``: the N later sessions pooled, a less noisy comparison);
* **generic**: ``--users`` other simulated users (``--generic-seed ..``, one
  session each, bands turned to one frame: :mod:`edgeemg.tasks.keystroke.transfer`),
  early stopping on one more unseen user, scored on users ``--unseen-users``
  (default ``--user``) whom it never saw, each turned to their band from an
  unlabeled session, beam + LM settings chosen on its validation user
  (``transfer.tune_decoder``); the row is their mean;
  ``--generic-ckpt`` keeps it between runs (it is a one-off, longer run);
* **fine-tuned**: the generic model turned to user ``--user``'s band and
  fine-tuned on their sessions with ``train --init``'s recipe
  (``transfer.FINETUNE``: its own, shorter epochs unless ``--epochs`` sets both
  rows'; the CPU column says what each cost), scored like scratch;

scratch is the generic model's architecture (its ``model_config``) and trains
at its key-time frames (which the fine-tune keeps), so the two personal rows
differ only in their start. ``--train-config`` overrides CPU training
settings for both (e.g. the key-time frames), ``--ckpt-dir`` keeps
every trained checkpoint and reuses it on the next run (the table in one
command, its training done once);

each decoded greedily and with the beam search + the built-in character LM
(order ``--lm-order``, from ``lm_corpus.txt``, which shares no sentence with the
prompts). For the streaming models the scratch checkpoint is exported to an
int8 bundle (with the LM) and benched: median character latency from each
key's burst end, model compute p99 per 40 ms hop, and the int8 CER loss the
export measured. Training time is this process's CPU seconds.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/report_keystroke.py --quick      # minutes
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/report_keystroke.py              # the CLI defaults
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/report_keystroke.py --models tds --generic-ckpt 'generic-{model}.npz'
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/report_keystroke.py --models tds --generic-ckpt G.npz \
        --train-config '{"key_ce_frames": [6, 7, 8, 9]}' --epochs 4 --unseen-users 0,1,2,3 --ckpt-dir ckpts --no-board
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/report_keystroke.py --models tds --generic-ckpt G.npz \
        --unseen-users 0,1,2,3 --test-sessions 4 --ckpt-dir ckpts --no-board    # each row at its CLI default
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

RATES = ("cer", "ier", "der", "ser")


def _plans(a: argparse.Namespace) -> tuple[Any, Any]:
    from edgeemg.tasks.keystroke import workflow as wf

    base = wf.CPU_SIMULATION
    personal = dataclasses.replace(base, **{k: v for k, v in (("train_sessions", a.train_sessions),
                                                               ("seconds", a.seconds), ("eval_seconds", a.seconds))
                                            if v is not None})
    generic = dataclasses.replace(personal, train_sessions=a.generic_sessions)
    return personal, generic


def _scores(ckpt: Any, seeds: list[int], plan: Any, lm: Path) -> dict[str, Any]:
    """Greedy and beam + LM rates of ``ckpt`` on each user of ``seeds``, and their mean (the row)."""
    from edgeemg.tasks.keystroke import workflow as wf

    per_user = []
    for seed in seeds:
        out = wf.evaluate(ckpt, None, simulate=True, seed=seed, device="cpu", progress=False,
                          options={"lm": str(lm)}, plan=plan)
        per_user.append({"greedy": {k: out["greedy"][k] for k in RATES},
                         "beam_lm": {k: out["beam_lm"][k] for k in RATES}, "protocol": out["protocol"]})
    mean = {dec: {k: sum(u[dec][k] for u in per_user) / len(per_user) for k in RATES} for dec in ("greedy", "beam_lm")}
    return {**mean, "n_params": out["n_params"], "users": per_user}


def _personal_scores(ckpt: Any, user: int, plan: Any, lm: Path, n: int) -> dict[str, Any]:
    """Greedy and beam + LM rates of a personal ``ckpt`` on ``n`` later sessions of ``user`` pooled (the first is
    ``edgeemg eval``'s): the scratch and fine-tuned rows are scored on the same sessions, so more of them make the
    difference between two rows less a matter of which sentences one session typed."""
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.decoder import DecoderConfig, KeystrokeDecoder
    from edgeemg.tasks.keystroke.lm import CharNgramLM
    from edgeemg.tasks.keystroke.protocol import personal_test_sessions
    from edgeemg.tasks.torch_support import count_parameters

    sessions = personal_test_sessions(user, plan.train_sessions, plan, n=n)
    net = wf.load_model(ckpt)
    em = wf.model_emissions(net, sessions)
    beam = KeystrokeDecoder(DecoderConfig.from_dict({**ckpt.meta.get("decoder", {}), "kind": "beam"}),
                            CharNgramLM.load(lm))
    rates = {dec: wf.score_sessions(em, sessions, d).to_dict() for dec, d in (("greedy", None), ("beam_lm", beam))}
    row = {dec: {k: r[k] for k in RATES} for dec, r in rates.items()}
    first = plan.train_sessions + 1
    return {**row, "n_params": int(count_parameters(net)),
            "users": [{**row, "protocol": f"personalised (user {user}, sessions {first}-{first + n - 1})"}]}


def _train_config(a: argparse.Namespace, start: dict[str, Any], finetune: bool) -> Any:
    """The CPU training settings at the generic model's key-time frames (``start``: its training settings, what
    ``train --init`` keeps), ``train --init``'s recipe for the fine-tune, then ``--train-config``'s overrides."""
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.transfer import recipe

    frames = {"key_ce_frames": tuple(start["key_ce_frames"])} if start.get("key_ce_frames") else {}
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(a.train_config).items()}
    return dataclasses.replace(recipe(dataclasses.replace(wf.cpu_train_config(), **frames), generic=False,
                                      finetune=finetune), **over)


def _cached(path: Path | None, train: Any, what: str) -> Any:
    """The checkpoint at ``path`` when it exists (reported on stderr), else ``train()``'s, saved there if given."""
    from edgeemg.tasks.checkpoint import load_checkpoint, save_checkpoint

    if path is not None and path.exists():
        print(f"{what}: loaded {path}", file=sys.stderr, flush=True)
        return load_checkpoint(path, task="keystroke")
    ckpt = train()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, ckpt)
    return ckpt


def _board(ckpt: Any, plan: Any, lm: Path, folder: Path, user: int) -> dict[str, Any]:
    """Export ``ckpt`` to int8 (with the LM) and bench it: char latency, compute per hop, int8 CER loss."""
    from edgeemg.errors import ExportError
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.runtime.bench import bench_bundle
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    path = save_checkpoint(folder / f"{ckpt.model}.npz", ckpt)
    try:
        res = export_checkpoint(path, folder / f"{ckpt.model}.int8", formats=("onnx",), progress=False,
                                overwrite=True, source=DataSource(plan=plan, lm=lm))
    except ExportError as exc:  # e.g. int8 loses more CER than the recipe allows: report it, go on
        return {"export_refused": str(exc)}
    m = res.to_dict()["metrics"]
    cer = {"fp32": m["torch-fp32"].get("cer"), "int8": m.get("onnx-int8", {}).get("cer")}
    report, _ = bench_bundle(load_bundle(res.bundle), seconds=20.0, seed=user, session=plan.train_sessions + 1)
    d = report.to_dict()
    return {"char_latency_p50_ms": (d["true_event"] or {}).get("p50_ms"),
            "model_p99_ms": d["stages"].get("model", {}).get("p99_ms"),
            "hop_total_p99_ms": d["stages"].get("total", {}).get("p99_ms"), "held_out_greedy_cer": cer}


def _partial(model: str, variant: str, rows: dict[str, Any]) -> None:
    """Each result on stderr as soon as it exists (a long run can be read before it ends)."""
    print(f"{model} {variant}: {json.dumps(rows[variant])}", file=sys.stderr, flush=True)


def run_model(model: str, a: argparse.Namespace, lm: Path, folder: Path) -> dict[str, Any]:
    """Train (or load) the three variants of ``model`` and score them (see the module docstring)."""
    from edgeemg.tasks.keystroke import workflow as wf
    from edgeemg.tasks.keystroke.lm import CharNgramLM
    from edgeemg.tasks.keystroke.protocol import validation_sessions
    from edgeemg.tasks.keystroke.transfer import tune_decoder

    personal, generic_plan = _plans(a)
    kw = dict(simulate=True, model=model, device="cpu", progress=not a.quiet)
    cache = (lambda v: a.ckpt_dir / f"{model}-{v}.npz") if a.ckpt_dir else (lambda v: None)
    gpath = Path(str(a.generic_ckpt).replace("{model}", model)) if a.generic_ckpt else cache("generic")
    generic = _cached(gpath, lambda: wf.train(None, epochs=a.generic_epochs, seed=a.generic_seed, preset=a.preset,
                                              options={"users": a.users}, plan=generic_plan, **kw), f"{model} generic")
    arch = generic.meta["model_config"]  # scratch is the generic model's architecture and key-time frames
    start = generic.meta.get("train_config", {})
    rows: dict[str, Any] = {}
    scratch = _cached(cache("scratch"), lambda: wf.train(
        None, epochs=a.epochs, seed=a.user, options={}, plan=personal, model_config=arch,
        train_config=_train_config(a, start, finetune=False), **kw), f"{model} scratch")
    rows["scratch"] = {**_personal_scores(scratch, a.user, personal, lm, a.test_sessions),
                       "train_cpu_s": scratch.meta["summary"]["train_cpu_s"]}
    _partial(model, "scratch", rows)
    tuned = _cached(cache("fine-tuned"), lambda: wf.train(
        None, epochs=a.epochs, seed=a.user, options={}, plan=personal, init=generic,
        train_config=_train_config(a, start, finetune=True), **kw), f"{model} fine-tuned")
    rows["fine-tuned"] = {**_personal_scores(tuned, a.user, personal, lm, a.test_sessions),
                          "train_cpu_s": tuned.meta["summary"]["train_cpu_s"]}
    _partial(model, "fine-tuned", rows)
    val = validation_sessions(generic.meta["val_user"], 0, personal)
    generic, _ = tune_decoder(generic, val, CharNgramLM.load(lm))  # the generic model's LM settings
    rows["generic"] = {**_scores(generic, a.unseen_users or [a.user], personal, lm),
                       "train_cpu_s": generic.meta["summary"]["train_cpu_s"]}
    _partial(model, "generic", rows)
    if model != "cnn_bilstm" and not a.no_board:
        for variant, ckpt in (("scratch", scratch), ("fine-tuned", tuned)):
            rows[variant]["board"] = _board(ckpt, personal, lm, folder / variant, a.user)
            _partial(model, variant, rows)
    return rows


def format_table(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'model':<11}{'mode':<10}{'variant':<12}{'greedy CER/IER/DER/SER %':>27}"
            f"{'beam+LM CER/IER/DER/SER %':>29}{'train CPU s':>12}{'params':>9}{'char lat ms':>12}{'hop p99 ms':>11}"
            f"{'int8 loss pp':>13}")
    lines = [head, "-" * len(head)]
    for model, rows in results.items():
        for variant, r in rows.items():
            g = "/".join(f"{r['greedy'][k]:.1f}" for k in RATES)
            b = "/".join(f"{r['beam_lm'][k]:.1f}" for k in RATES)
            board = r.get("board", {})
            lat, hop = board.get("char_latency_p50_ms"), board.get("model_p99_ms")
            cer = board.get("held_out_greedy_cer") or {}
            loss = None if cer.get("int8") is None else cer["int8"] - cer["fp32"]
            mode = "offline" if model == "cnn_bilstm" else "streaming"
            lines.append(f"{model:<11}{mode:<10}{variant:<12}{g:>27}{b:>29}{r['train_cpu_s']:>12.0f}"
                         f"{r['n_params']:>9}{'' if lat is None else f'{lat:.0f}':>12}"
                         f"{'' if hop is None else f'{hop:.2f}':>11}{'' if loss is None else f'{loss:.2f}':>13}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="tds,cnn_lstm,cnn_bilstm")
    p.add_argument("--user", type=int, default=0, help="the personal user (default: %(default)s)")
    p.add_argument("--users", type=int, default=20, help="users of the generic model (default: %(default)s)")
    p.add_argument("--generic-seed", type=int, default=100, help="first generic user (default: %(default)s)")
    p.add_argument("--generic-sessions", type=int, default=1, help="sessions per generic user (default: %(default)s)")
    p.add_argument("--train-sessions", type=int, help="personal training sessions (default: the CLI's)")
    p.add_argument("--seconds", type=float, help="session length (default: the CLI's)")
    p.add_argument("--epochs", type=int, help="scratch and fine-tune epochs (default: the CLI's)")
    p.add_argument("--generic-epochs", type=int, help="generic epochs (default: the CLI's)")
    p.add_argument("--preset", help="model size (default: the CLI's on a CPU)")
    p.add_argument("--generic-ckpt", help="cache of the generic model: loaded if it exists, else trained and saved "
                                          "there; '{model}' in the name becomes the model's name")
    p.add_argument("--train-config", default="{}", help="JSON overrides of the CPU TrainConfig (scratch and "
                                                          "fine-tune), e.g. '{\"key_ce_frames\": [6, 7, 8, 9]}'")
    p.add_argument("--unseen-users", type=lambda s: [int(u) for u in s.split(",")],
                   help="users the generic row is scored on, comma-separated (default: --user)")
    p.add_argument("--ckpt-dir", type=Path, help="keep every trained checkpoint here and reuse it on the next run")
    p.add_argument("--test-sessions", type=int, default=1, help="later sessions the personal rows are scored on, "
                                                                    "pooled (default: %(default)s, `eval`'s one)")
    p.add_argument("--lm-order", type=int, default=6)
    p.add_argument("--no-board", action="store_true", help="skip the int8 export and bench")
    p.add_argument("--quick", action="store_true", help="2 x 40 s, 4 generic users, 3 epochs: the mechanics in minutes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.train_sessions, a.seconds, a.users = a.train_sessions or 2, a.seconds or 40.0, min(a.users, 4)
        a.epochs, a.generic_epochs = a.epochs or 3, a.generic_epochs or 3
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="report-keystroke-") as tmp:
        lm = Path(tmp) / "lm.bin"
        build_lm(builtin_corpus_text(), order=a.lm_order).save(lm)
        for model in a.models.split(","):
            results[model] = run_model(model, a, lm, Path(tmp))
    print(json.dumps(results) if a.json else format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
