"""How much spike errors cost the neural-drive score, on the simulator's truth alone (no decoder).

Not a pytest module. Run::

    .venv/bin/python benchmarks/drive_sensitivity.py --levels 0.1 0.3 0.5

Why: ``eval``'s ``neural_drive_r`` (seed 004, section 3.4.3:
:func:`edgeemg.tasks.motor_units.metrics.drive_correlation`) correlates the
400 ms-Hann-smoothed cumulative spike train of the decoded units with that of
the same true units, per 1 s segment. On a plateau the true drive moves only
by the simulated common fluctuation, so within a second it varies by a few
pulses per second, about what one missing or extra spike adds. This script
takes ``--units`` true units of the held-out last third and scores, against
their own drive, the same trains (a) stamped at the MO-DCNN's step centres,
(b) with a fraction of spikes removed at random, (c) with as many spikes added
at random times, (d) with as many spikes repeated one step later (a discharge
reported by two windows). It prints r per case and level: the accuracy a
decoder needs for r >= 0.95, whatever the decoder.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def cases(trains: list[np.ndarray], n: int, rate: float, step: int, rng: np.random.Generator) -> dict[str, list]:
    q = [(t // step) * step + step // 2 for t in trains]
    return {
        "step centres": q,
        f"{rate:.0%} missed": [t[rng.random(t.size) >= rate] for t in q],
        f"{rate:.0%} false": [np.sort(np.concatenate([t, rng.integers(0, n, int(round(rate * t.size)))])) for t in q],
        f"{rate:.0%} doubled": [np.sort(np.concatenate([t, t[rng.random(t.size) < rate] + step])) for t in q],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.3, 0.5], help="default: %(default)s")
    p.add_argument("--seconds", type=float, default=60.0, help="default: %(default)s")
    p.add_argument("--units", type=int, default=12, help="true units in the drive (default: %(default)s)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.02, 0.04], help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    args = p.parse_args(argv)
    from edgeemg.data.sim_motor_units import simulate_motor_units
    from edgeemg.tasks.motor_units.metrics import drive_correlation, neural_drive
    from edgeemg.tasks.motor_units.spec import STEP

    print(f"{'level':>6} {'case':<14} {'r':>6}")
    for level in args.levels:
        sim = simulate_motor_units(args.seconds, seed=args.seed, level=level)
        cut = 2 * sim.emg.shape[0] // 3
        n = sim.emg.shape[0] - cut
        held = [d[d >= cut] - cut for d in sim.discharges]
        held = [t for t in held if t.size >= 10]
        rng = np.random.default_rng(args.seed)
        units = [held[i] for i in rng.choice(len(held), min(args.units, len(held)), replace=False)]
        rate_pps = np.mean([t.size for t in units]) / (n / sim.fs_hz)
        print(f"{100 * level:>5g}% {len(units)} units, {rate_pps:.1f} pulses/s each on average", file=sys.stderr)
        truth = neural_drive(units, n, sim.fs_hz)
        for rate in args.rates:
            for name, trains in cases(units, n, rate, STEP, rng).items():
                if name == "step centres" and rate != args.rates[0]:
                    continue
                r = drive_correlation(neural_drive(trains, n, sim.fs_hz), truth, sim.fs_hz)
                print(f"{100 * level:>5g}% {name:<14} {r:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
