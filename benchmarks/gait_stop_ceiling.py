"""How much the simulated sEMG says about a stop before its defining heel strike (issue 14's walk -> stop goal).

The "stop" label starts at a bout's 4th-last heel strike; before it the simulator's
only stop-specific activity is a 10-50 % stronger tibialis-anterior (TA) burst:
the toe-clearance burst of that step (~350 ms before) and the rising half of its
foot-lowering burst. This script scores the best case of a per-step detector on
that cue: it is told every burst's true time (an oracle no decoder has), takes
the burst's RMS in the band-passed signal relative to the median of the same
leg's previous three bursts in the bout, and sets its threshold so that walking
steps alone make 1, 2 or 5 false alarms per minute of walking. The hit rate is
the share of stops such a detector reports no later than the heel strike: a
median latency <= 0 ms needs more than half. It first prints when that cue
comes: relative to the label and to the bout's final heel strike (the sources
on planned gait termination put the stop programme in the last one or two
steps; see the README's gait section).

Run::

    .venv/bin/python benchmarks/gait_stop_ceiling.py [--subjects 20] [--seconds 180]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import signal as sps

from edgeemg.data._gait_plan import STEPS_PER_TRANSITION, draw_subject, plan_bouts
from edgeemg.data._gait_signals import synthesize

FS_HZ = 2000.0
TA = (0, 3)  # TA channel of the left and right leg


def burst_rms(ta: np.ndarray, t0: float, t1: float) -> float:
    return float(np.sqrt(np.mean(ta[int(t0 * FS_HZ) : int(t1 * FS_HZ)] ** 2)))


def step_ratios(parts, seconds: float) -> tuple[list[float], list[float], float]:
    """(stop-step log ratios, walking-step log ratios, minutes of walking) of one simulated record."""
    x = sps.sosfilt(sps.butter(4, [20, 450], btype="bandpass", fs=FS_HZ, output="sos"),
                    parts.clean_uv + parts.noise_uv, axis=0)
    stop, walk, minutes = [], [], 0.0
    for b in parts.bouts:
        n, L = len(b.hs_s), b.stride_s
        if b.hs_s[-1] + 1.0 > seconds:
            continue
        amp = np.array([burst_rms(x[:, TA[int(b.feet[k])]], b.to_s[k] + 0.02 * L, b.to_s[k] + 0.12 * L)
                        + burst_rms(x[:, TA[int(b.feet[k])]], b.hs_s[k] - 0.1 * L, b.hs_s[k]) for k in range(n)])
        first_walk, stop_step = STEPS_PER_TRANSITION, n - STEPS_PER_TRANSITION
        for k in range(first_walk + 2, stop_step + 1):
            prev = [j for j in range(first_walk, k) if b.feet[j] == b.feet[k]][-3:]
            if len(prev) < 2:
                continue
            r = float(np.log(amp[k] / np.median(amp[prev])))
            (stop if k == stop_step else walk).append(r)
        minutes += (b.hs_s[stop_step] - b.hs_s[first_walk - 1]) / 60.0
    return stop, walk, minutes


def cue_timing(subjects: range, seconds: float) -> dict[str, np.ndarray]:
    """Per bout (seconds): label -> final heel strike, and the onset (centre - 2 s.d.) of the first stop-specific
    burst (the stronger toe-clearance TA burst of the 4th-last step) relative to the label, as the simulator plans them."""
    to_final, onset = [], []
    for subject in subjects:
        subj = draw_subject(1, subject, None)
        for b in plan_bouts(seconds, subj, np.random.default_rng([1, subject, 1, 0x6A17])):
            k = len(b.hs_s) - STEPS_PER_TRANSITION
            to_final.append(b.hs_s[-1] - b.hs_s[k])
            onset.append(b.to_s[k] + 0.07 * b.stride_s - 0.1 * b.stride_s - b.hs_s[k])
    return {"label_to_final_hs": np.array(to_final), "cue_onset_vs_label": np.array(onset)}


def _ms(v: np.ndarray) -> str:
    return f"{1000 * np.median(v):+.0f} ms (10-90 %: {1000 * np.percentile(v, 10):+.0f}..{1000 * np.percentile(v, 90):+.0f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subjects", type=int, default=20,
                   help="simulated people (seed 1, from S1001; default: %(default)s)")
    p.add_argument("--seconds", type=float, default=180.0, help="per person, session 1 (default: %(default)s)")
    args = p.parse_args(argv)
    cue = cue_timing(range(1000, 1000 + args.subjects), args.seconds)
    print(f"{cue['cue_onset_vs_label'].size} bouts: stop label -> final heel strike {_ms(cue['label_to_final_hs'])}; "
          f"first stop-specific burst onset vs label {_ms(cue['cue_onset_vs_label'])}, vs final heel strike "
          f"{_ms(cue['cue_onset_vs_label'] - cue['label_to_final_hs'])}")
    stop, walk, minutes = [], [], 0.0
    for subject in range(1000, 1000 + args.subjects):
        s, w, m = step_ratios(synthesize(args.seconds, 1, 1, subject, None, FS_HZ), args.seconds)
        stop, walk, minutes = stop + s, walk + w, minutes + m
    s, w = np.array(stop), np.array(walk)
    print(f"{s.size} stops, {w.size} walking steps in {minutes:.1f} min of walking; log RMS ratio to the leg's "
          f"previous bursts: stop {s.mean():+.3f} +- {s.std():.3f}, walking {w.mean():+.3f} +- {w.std():.3f}; "
          f"AUC {(s[:, None] > w[None, :]).mean():.3f}")
    for per_min in (1.0, 2.0, 5.0):
        threshold = np.quantile(w, 1.0 - per_min * minutes / w.size)
        print(f"{per_min:g} false/min: {100 * np.mean(s > threshold):.0f} % of stops reported by their heel strike")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
