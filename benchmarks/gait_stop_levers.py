"""Decoder-side levers on issue 14's walk -> stop latency, measured on a trained causal checkpoint (no retraining).

The "stop" label starts at a bout's 4th-last heel strike, and the simulator's
only stop-specific activity before it is a 10-50 % stronger tibialis-anterior
burst (``benchmarks/gait_stop_ceiling.py`` bounds what that cue can give). This
script measures what is left on the decoder side, on the held-out people of
``benchmarks/report_gait.py`` (S1001-S1004 of seed 1, session 1):

* the smoothing (the HMM's evidence weight and confidence threshold, which
  validation picks for the fewest false transitions);
* a bias on the stop state's logit before the HMM (``+b`` multiplies the stop
  posterior by ``e^b`` against the others): a stop-specific threshold, i.e.
  the same network asked to report stops on less evidence.

For each pair and bias: smoothed macro F1, false transitions per minute, and
median / p90 latency of walk -> stop against its heel strike, how many of the
stops were reported (a report more than a second before the label is a false
transition and leaves its stop unreported) and how many no later than their
heel strike (the goal's median <= 0 ms needs more than half). Run::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/gait_stop_levers.py CKPT [--seconds 180] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from edgeemg.tasks.checkpoint import load_checkpoint
from edgeemg.tasks.gait import workflow as wf
from edgeemg.tasks.gait.causal_decoder import CausalConfig
from edgeemg.tasks.gait.causal_workflow import checkpoint_outputs, score
from edgeemg.tasks.gait.spec import LABELS

STOP = LABELS.index("stop")
BIASES: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
PAIRS: tuple[tuple[float, float], ...] = ((0.05, 0.95), (0.1, 0.95), (0.25, 0.95), (1.0, 0.95), (1.0, 0.0))
"""(evidence weight, min confidence) pairs; the checkpoint's own pair is measured first."""


def biased(outputs: list[np.ndarray], bias: float) -> list[np.ndarray]:
    """Copies of the frame outputs with ``bias`` added to the stop state's logit."""
    out = [o.copy() for o in outputs]
    for o in out:
        o[:, STOP] += bias
    return out


def row(report: dict[str, Any], weight: float, confidence: float, bias: float) -> dict[str, Any]:
    stop = report["transitions"]["per_type"]["walk->stop"]
    return {"evidence_weight": weight, "min_confidence": confidence, "stop_bias": bias,
            "macro_f1": report["macro_f1"], "false_per_min": report["transitions"]["false_per_min"],
            "walk_stop_median_ms": stop["latency_vs_footswitch_ms"]["median"],
            "walk_stop_p90_ms": stop["latency_vs_footswitch_ms"]["p90"],
            "walk_stop_reported": stop["reported"], "walk_stop_in_time": stop["in_time"], "walk_stop_n": stop["n"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a causal gait checkpoint (edgeemg train gait)")
    p.add_argument("--subjects", type=int, default=4, help="held-out people (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=180.0, help="each (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the rows) instead of the table")
    args = p.parse_args(argv)
    ck = load_checkpoint(args.checkpoint)
    held = wf.simulate_recordings(args.subjects, seed=1, seconds=args.seconds, snr_db=None,
                                  first_subject=wf.DEFAULT_SIMULATION.eval_subject_offset, session=1)
    outputs = checkpoint_outputs(ck, held)
    base = CausalConfig.from_dict(ck.meta["decoder"])
    rf, hop = int(ck.meta["window"]), int(ck.meta["hop"])
    pairs = [(base.evidence_weight, base.min_confidence)]
    pairs += [pc for pc in PAIRS if pc != pairs[0]]
    rows = []
    for w, c in pairs:
        cfg = CausalConfig(**{**base.to_dict(), "evidence_weight": w, "min_confidence": c})
        for b in BIASES:
            rows.append(row(score(held, biased(outputs, b), cfg, rf, hop), w, c, b))
            r = rows[-1]
            med = "-" if r["walk_stop_median_ms"] is None else f"{r['walk_stop_median_ms']:+.0f} / {r['walk_stop_p90_ms']:+.0f}"
            print(f"weight {w:<5g} conf {c:<5g} stop bias {b:<4g} F1 {r['macro_f1']:.3f}  false {r['false_per_min']:.2f}/min"
                  f"  walk->stop {med} ms, reported {r['walk_stop_reported']}/{r['walk_stop_n']}, "
                  f"in time {r['walk_stop_in_time']}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
