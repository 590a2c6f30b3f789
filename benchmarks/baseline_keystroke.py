"""How hard is the simulated typing? A simple baseline given the *true* press times.

For every key press, the model's own input (log-spectra of both bands,
:func:`edgeemg.tasks.keystroke.spec.features`) is averaged over three 40 ms
windows around the press (from 80 ms before it, where the burst begins, to 40 ms
after) and pooled into 6 frequency bands: 3 x 32 x 6 = 576 features. A
standardised logistic regression names the key, its finger (hand x finger) and
its hand. It trains on the first 70 % of the presses of ``--train-sessions``
sessions of user ``--user`` and is scored on

* **in session**: the last 30 % of those sessions' presses,
* **next session**: a later session of the same user (the band put on again),
* **other user**: session 0 of another user,

with the protocol's text splits (:mod:`edgeemg.tasks.keystroke.protocol`).
Shift (either little finger) is left out. Chance is the most frequent class.

This is the table issue 15 asks for before and after any simulator change::

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/baseline_keystroke.py [--seconds 120] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET
from edgeemg.data.sim_keystroke import key_anatomy, simulate_keystroke
from edgeemg.tasks.keystroke import spec

WINDOWS = ((-10, -5), (-5, 0), (0, 5))  # frames (8 ms) around the press frame: -80 .. +40 ms
FREQ_BANDS = 6


def press_features(seconds: float, user: int, session: int, text: str) -> tuple[NDArray, NDArray]:
    """(features (n, 576), anatomy (n, 3): key class, hand * 5 + finger, hand) of one simulated session."""
    sim = simulate_keystroke(seconds, seed=user, session=session, text=text)
    x = spec.features(sim.emg, fs_hz=sim.fs_hz)  # (T, 33, 32)
    edges = np.linspace(0, x.shape[1], FREQ_BANDS + 1).astype(int)
    pooled = np.stack([x[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)  # (T, 6, 32)
    feats, labels = [], []
    for ks in sim.keystrokes:
        key = CHARSET.normalize_key(ks.key)
        anat = key_anatomy(key)
        f = int(spec.time_to_frame(ks.start - sim.time[0]))
        if anat is None or key not in CHARSET or f + WINDOWS[0][0] < 0 or f + WINDOWS[-1][1] > len(pooled):
            continue
        feats.append(np.concatenate([pooled[f + a:f + b].mean(axis=0).ravel() for a, b in WINDOWS]))
        labels.append((CHARSET.key_to_class(key), anat[0] * 5 + anat[1], anat[0]))
    return np.asarray(feats), np.asarray(labels)


def _scores(train: tuple[NDArray, NDArray], tests: dict[str, tuple[NDArray, NDArray]]) -> dict[str, dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xa, ya = train
    out: dict[str, dict] = {name: {} for name in tests}
    for j, what in enumerate(("key", "finger", "hand")):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.1)).fit(xa, ya[:, j])
        major = np.bincount(ya[:, j]).argmax()
        for name, (xb, yb) in tests.items():
            out[name][what] = float(np.mean(clf.predict(xb) == yb[:, j]))
            out[name][f"{what}_chance"] = float(np.mean(yb[:, j] == major))
    return out


def baseline(seconds: float, user: int, other_user: int, train_sessions: int) -> dict[str, dict]:
    """The table: accuracies (0-1) per test set and label."""
    parts = [press_features(seconds, user, s, "train") for s in range(train_sessions)]
    cut = [int(0.7 * len(y)) for _, y in parts]
    train = (np.concatenate([x[:c] for (x, _), c in zip(parts, cut)]),
             np.concatenate([y[:c] for (_, y), c in zip(parts, cut)]))
    tests = {"in session": (np.concatenate([x[c:] for (x, _), c in zip(parts, cut)]),
                            np.concatenate([y[c:] for (_, y), c in zip(parts, cut)])),
             "next session": press_features(seconds, user, train_sessions + 1, "test"),
             "other user": press_features(seconds, other_user, 0, "test")}
    table = _scores(train, tests)
    for name, (_, y) in tests.items():
        table[name]["n_presses"] = int(len(y))
    table["in session"]["n_train_presses"] = int(len(train[1]))
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0, help="length of each session (default: %(default)s)")
    p.add_argument("--train-sessions", type=int, default=2, help="training sessions (default: %(default)s)")
    p.add_argument("--user", type=int, default=0)
    p.add_argument("--other-user", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    table = baseline(a.seconds, a.user, a.other_user, a.train_sessions)
    if a.json:
        print(json.dumps(table))
        return 0
    print(f"{'test set':<14}{'key':>8}{'finger':>8}{'hand':>8}   chance key/finger/hand   presses")
    for name, r in table.items():
        print(f"{name:<14}{100 * r['key']:>7.1f}%{100 * r['finger']:>7.1f}%{100 * r['hand']:>7.1f}%   "
              f"{100 * r['key_chance']:.0f} / {100 * r['finger_chance']:.0f} / {100 * r['hand_chance']:.0f} %"
              f"{r['n_presses']:>12}")
    print(f"user {a.user}, {a.train_sessions} x {a.seconds:g} s, trained on {table['in session']['n_train_presses']} "
          f"presses", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
