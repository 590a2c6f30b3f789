"""Measure candidate causal gait models through one training and scoring path (issue 14: measure, then pick).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/gait_candidates.py [--epochs 8] [--candidates tcn,short,gru]

Each candidate is trained on the same simulated subjects with
:func:`edgeemg.tasks.gait.causal_workflow.train_causal` (same crops, loss, HMM
fit and evidence-weight choice) and scored on the same held-out subjects with
:func:`~edgeemg.tasks.gait.causal_workflow.score`. Candidates:

* ``tcn``: the default CausalGaitNet (width 24, dilations 1-16, ~1.3 s receptive field);
* ``short``: the same front end with dilations 1, 2 only (~0.27 s, about the seed's window, but causal);
* ``long``: width 32, dilations 1-32 (~2.5 s); ``long24``: width 24, dilations 1-32
  (``c3``: contact loss x 3; ``ch100``: contacts 100 ms ahead instead of at the newest sample);
* ``gru``: the same front end, then a GRU(32) carried along the crop (state would travel between hops on a board);
* ``h0`` / ``h200``: the default at horizon 0 / 200 ms instead of 100 ms.

One JSON line per candidate on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeemg.tasks.classification import subject_split
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.causal_decoder import CausalConfig
from edgeemg.tasks.gait.causal_models import CausalGaitNet
from edgeemg.tasks.gait.causal_workflow import _predict, score, train_causal, zscored


class FrontGru(nn.Module):
    """CausalGaitNet's front end, then a GRU over the frames and a linear head (a recurrent candidate)."""

    def __init__(self, n_channels: int, n_outputs: int = 6, width: int = 24, hidden: int = 32) -> None:
        super().__init__()
        self.front = nn.Sequential(nn.Conv1d(n_channels, width, 20, stride=10), nn.ReLU(),
                                   nn.Conv1d(width, width, 4, stride=4), nn.ReLU())
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)
        self.receptive_field, self.hop, self.n_outputs = 50, 40, n_outputs

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        f = self.front(x.permute(0, 2, 1)).permute(0, 2, 1)
        return self.head(self.gru(f)[0]).permute(0, 2, 1)


CANDIDATES: dict[str, dict[str, Any]] = {
    "tcn": {},
    "short": {"model_config": {"dilations": [1, 2]}},
    "long": {"model_config": {"width": 32, "dilations": [1, 2, 4, 8, 16, 32]}},
    "long24": {"model_config": {"dilations": [1, 2, 4, 8, 16, 32]}},
    "long24c3": {"model_config": {"dilations": [1, 2, 4, 8, 16, 32]}, "train_config": {"contact_weight": 3.0}},
    "long24ch100": {"model_config": {"dilations": [1, 2, 4, 8, 16, 32]}, "contact_horizon_s": 0.1},
    "gru": {"net": lambda n_ch: FrontGru(n_ch)},
    "h0": {"horizon_s": 0.0},
    "h200": {"horizon_s": 0.2},
}


def _row(name: str, rep: dict[str, Any], n_params: int, seconds: float) -> str:
    tr = rep["transitions"]["per_type"]

    def med(k: str) -> str:
        v = tr.get(k, {}).get("latency_vs_footswitch_ms", {}).get("median")
        return "n/a" if v is None else f"{v:.0f}"

    ev = rep["gait_events"]
    return (f"{name:<7}{n_params:>8}{rep['raw']['macro_f1']:>7.3f}{rep['macro_f1']:>7.3f}"
            f"{med('stand->start'):>7}{med('start->walk'):>7}{med('walk->stop'):>7}{med('stop->stand'):>7}"
            f"{rep['transitions']['false_per_min']:>7.2f}"
            f"{ev['heel_strike']['detection_rate']:>6.2f}{ev['heel_strike']['mae_ms'] or float('nan'):>6.0f}"
            f"{ev['toe_off']['detection_rate']:>6.2f}{ev['toe_off']['mae_ms'] or float('nan'):>6.0f}{seconds:>7.0f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--epochs", type=int, default=None, help="default: the workflow's step budget")
    ap.add_argument("--data", nargs="+", help="training recordings (default: simulated, --subjects x --seconds)")
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--eval-subjects", type=int, default=4)
    args = ap.parse_args(argv)
    recs = (wf.read_recordings([Path(p) for p in args.data]) if args.data
            else wf.simulate_recordings(args.subjects, seed=0, seconds=args.seconds, snr_db=None))
    held = wf.simulate_recordings(args.eval_subjects, seed=1, seconds=args.seconds, snr_db=None, first_subject=1000)
    fs, _ = wf.check_consistent(recs)
    split = subject_split([r.subject_id for r in recs], test_fraction=wf.VALIDATION_FRACTION, seed=0)
    zs = wf.fit_zscore([r for r in recs if r.subject_id in split.train], fs)
    print(f"{'name':<7}{'params':>8}{'rawF1':>7}{'hmmF1':>7}{'st>sa':>7}{'sa>wa':>7}{'wa>so':>7}{'so>st':>7}"
          f"{'false':>7}{'HSdet':>6}{'HSmae':>6}{'TOdet':>6}{'TOmae':>6}{'train_s':>7}", file=sys.stderr)
    for name in args.candidates.split(","):
        kw = dict(CANDIDATES[name])
        if "net" in kw:
            kw["net"] = kw["net"](recs[0].emg.shape[1])
        t0 = time.perf_counter()
        arrays, meta = train_causal(recs, split, zs, fs, epochs=args.epochs, seed=0, progress=False, **kw)
        seconds = time.perf_counter() - t0
        net = kw.get("net") or CausalGaitNet(**meta["model_config"])
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
        outputs = [_predict(net, z) for z in zscored(held, zs.to_dict(), fs)]
        rep = score(held, outputs, CausalConfig.from_dict(meta["decoder"]), meta["window"], meta["hop"])
        n_params = sum(int(np.asarray(v).size) for v in arrays.values())
        print(_row(name, rep, n_params, seconds), file=sys.stderr, flush=True)
        print(json.dumps({"candidate": name, "n_params": n_params, "train_s": seconds, "summary": meta["summary"],
                          "held_out": {k: rep[k] for k in ("macro_f1", "per_class_f1", "raw", "transitions",
                                                           "gait_events")}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
