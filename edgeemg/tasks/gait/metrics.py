"""Gait timing metrics against the foot switches: transition latency, false transitions, gait-event detection.

numpy only. Conventions (all times in seconds of the recording):

* A true transition is a change of the labelled state. Its *foot-switch time*
  is the foot-switch event that marks it: for stand -> start the bout's first
  toe-off (the first thing a foot switch sees of a gait initiation), for
  stop -> stand the bout's last heel strike (the feet come together; the label
  adds a settling time after it), and for start -> walk and walk -> stop the
  heel strike that the label is defined by (the nearest one).
* Latency = report time (the newest sample of the frame whose decision first
  shows the new state) minus that time; negative means ahead of the foot.
* Emitted changes are paired with true transitions of the same type in time
  order, each true transition taking the first unpaired emitted change into
  its new state from ``early_s`` before its label time until the next true
  transition; every unpaired emitted change is a false transition.
* A decoded heel strike / toe-off pairs with the nearest true one of the same
  foot and kind within ``tolerance_s`` (one-to-one, closest pairs first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.tasks.gait.spec import FOOTS, GAIT_EVENTS

EARLY_S = 1.0
"""How long before its labelled time a reported transition may come and still count as reporting it."""
EVENT_TOLERANCE_S = 0.1
"""A decoded heel strike / toe-off further than this from every true one is a false event (and the true one missed)."""


@dataclass(frozen=True)
class Transition:
    """One labelled state change: its type, label time and foot-switch time (s)."""

    before: int
    after: int
    label_s: float
    footswitch_s: float


def true_transitions(states: Any, heel_strikes: tuple[Any, ...], toe_offs: tuple[Any, ...],
                     fs_hz: float) -> list[Transition]:
    """The labelled transitions of a recording with their foot-switch times (module docstring)."""
    s = np.asarray(states)
    hs = np.sort(np.concatenate([np.asarray(h, float) for h in heel_strikes] or [np.empty(0)]))
    to = np.sort(np.concatenate([np.asarray(t, float) for t in toe_offs] or [np.empty(0)]))
    out = []
    for i in np.flatnonzero(s[1:] != s[:-1]) + 1:
        a, b, t = int(s[i - 1]), int(s[i]), i / fs_hz
        if a == 0 and to[to >= t].size:
            ref = float(to[to >= t][0])
        elif b == 0 and hs[hs <= t].size:
            ref = float(hs[hs <= t][-1])
        elif hs.size:
            ref = float(hs[np.argmin(np.abs(hs - t))])
        else:
            ref = t
        out.append(Transition(a, b, t, ref))
    return out


def emitted_changes(frame_states: Any, frame_time_s: Any) -> list[tuple[float, int, int]]:
    """(time, before, after) of every change in a per-frame decoded state sequence."""
    s = np.asarray(frame_states)
    t = np.asarray(frame_time_s, float)
    return [(float(t[i]), int(s[i - 1]), int(s[i])) for i in np.flatnonzero(s[1:] != s[:-1]) + 1]


def pair_transitions(truth: list[Transition], emitted: list[tuple[float, int, int]], *,
                     early_s: float = EARLY_S) -> tuple[list[tuple[Transition, float | None]], int]:
    """Pair true transitions with emitted changes (module docstring); return (pairs, number of false changes)."""
    used = np.zeros(len(emitted), bool)
    times = np.array([e[0] for e in emitted])
    pairs: list[tuple[Transition, float | None]] = []
    for k, tr in enumerate(truth):
        hi = truth[k + 1].label_s if k + 1 < len(truth) else np.inf
        hit = None
        for j in np.flatnonzero((times >= tr.label_s - early_s) & (times < hi) & ~used):
            if emitted[j][2] == tr.after:
                hit = int(j)
                break
        if hit is not None:
            used[hit] = True
        pairs.append((tr, None if hit is None else float(times[hit])))
    return pairs, int((~used).sum())


def transition_report(pairs: list[tuple[Transition, float | None]], n_false: int, minutes: float,
                      labels: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Per transition type: count, reported, in time, latency median / p90 vs foot switch and vs label (ms).

    ``in_time`` counts the transitions reported no later than their foot-switch time (latency <= 0): the
    median over reported ones alone flatters a decoder that misses many, and the goal "median <= 0 ms" of
    all transitions needs ``in_time`` above half of ``n``.
    """
    per: dict[str, Any] = {}
    for a, b in sorted({(tr.before, tr.after) for tr, _ in pairs}):
        sel = [(tr, t) for tr, t in pairs if (tr.before, tr.after) == (a, b)]
        fs = np.array([1000.0 * (t - tr.footswitch_s) for tr, t in sel if t is not None])
        lab = np.array([1000.0 * (t - tr.label_s) for tr, t in sel if t is not None])
        per[f"{labels[a]}->{labels[b]}"] = {
            "n": len(sel), "reported": int(fs.size), "in_time": int(np.sum(fs <= 0.0)),
            "latency_vs_footswitch_ms": _median_p90(fs), "latency_vs_label_ms": _median_p90(lab),
        }
    return {"per_type": per, "false_transitions": n_false,
            "false_per_min": n_false / minutes if minutes > 0 else None}


def _median_p90(v: NDArray[np.float64]) -> dict[str, float | None]:
    if not v.size:
        return {"median": None, "p90": None}
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90))}


def match_events(true_s: Any, decoded_s: Any, tolerance_s: float = EVENT_TOLERANCE_S) -> list[tuple[int, int]]:
    """One-to-one pairs (true index, decoded index) within ``tolerance_s``, closest pairs first."""
    t, d = np.asarray(true_s, float), np.asarray(decoded_s, float)
    if not t.size or not d.size:
        return []
    dist = np.abs(t[:, None] - d[None, :])
    cand = np.argwhere(dist <= tolerance_s)
    cand = cand[np.argsort(dist[cand[:, 0], cand[:, 1]], kind="stable")]
    used_t, used_d, out = set(), set(), []
    for i, j in cand:
        if i not in used_t and j not in used_d:
            used_t.add(int(i))
            used_d.add(int(j))
            out.append((int(i), int(j)))
    return sorted(out)


def matched_errors(true_s: Any, decoded_s: Any, tolerance_s: float = EVENT_TOLERANCE_S) -> NDArray[np.float64]:
    """Decoded minus true time (s) of every pair :func:`match_events` makes; negative means decoded early."""
    t, d = np.asarray(true_s, float), np.asarray(decoded_s, float)
    return np.array([d[j] - t[i] for i, j in match_events(t, d, tolerance_s)], dtype=np.float64)


def event_report(truth: dict[str, list[Any]], decoded: dict[str, list[Any]], minutes: float,
                 tolerance_s: float = EVENT_TOLERANCE_S) -> dict[str, Any]:
    """Detection rate, mean absolute timing error (ms) and false events per minute, per event kind.

    ``truth`` and ``decoded`` map ``"heel_strike"`` / ``"toe_off"`` to a list
    (one entry per foot, :data:`~edgeemg.tasks.gait.spec.FOOTS` order) of time arrays in
    seconds; lists of several recordings are concatenated by the caller as
    separate list entries (foot ``k`` of recording ``r`` at index ``r * 2 + k``).
    """
    out: dict[str, Any] = {}
    for kind in GAIT_EVENTS:
        n_true = n_hit = n_dec = 0
        errors: list[float] = []
        for t, d in zip(truth[kind], decoded[kind]):
            err = matched_errors(t, d, tolerance_s)
            n_true += len(t)
            n_dec += len(d)
            n_hit += err.size
            errors += np.abs(err).tolist()
        out[kind] = {"n": n_true, "detected": n_hit, "detection_rate": n_hit / n_true if n_true else None,
                     "mae_ms": 1000.0 * float(np.mean(errors)) if errors else None,
                     "false_per_min": (n_dec - n_hit) / minutes if minutes > 0 else None}
    out["tolerance_ms"] = 1000.0 * tolerance_s
    out["feet"] = list(FOOTS)
    return out


def stream_report(events: list[tuple[int, dict[str, Any]]], states: Any, heel_strikes: tuple[Any, ...],
                  toe_offs: tuple[Any, ...], fs_hz: float, labels: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Score a decoded stream against its truth: ``events`` are (newest sample index, decoder payload).

    State events report at their newest sample; gait events are timed by their ``event_index``.
    """
    labels = list(labels)
    changes = [(i / fs_hz, labels.index(p["previous"]) if p.get("previous") else -1, labels.index(p["state"]))
               for i, p in events if "state" in p]
    pairs, n_false = pair_transitions(true_transitions(states, heel_strikes, toe_offs, fs_hz),
                                      [c for c in changes if c[1] >= 0])
    minutes = len(states) / fs_hz / 60.0
    decoded = {k: [np.array([p["event_index"] / fs_hz for _, p in events
                             if p.get("event") == k and p.get("foot") == foot]) for foot in FOOTS]
               for k in GAIT_EVENTS}
    return {"transitions": transition_report(pairs, n_false, minutes, labels),
            "gait_events": event_report({"heel_strike": list(heel_strikes), "toe_off": list(toe_offs)}, decoded,
                                        minutes)}


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Human lines of :func:`stream_report` / an eval report: latency vs foot switch, false transitions, events."""
    parts = []
    for kind, v in report["transitions"]["per_type"].items():
        med = v["latency_vs_footswitch_ms"]["median"]
        parts.append(f"{kind} {'n/a' if med is None else f'{med:+.0f} ms'} ({v['reported']}/{v['n']})")
    lines = ["transition latency vs foot switch (median, reported/true): " + ", ".join(parts),
             f"false transitions     {report['transitions']['false_per_min']:.2f} per min"]
    ev = report.get("gait_events")
    if ev:
        lines.append("gait events           " + ", ".join(
            f"{k.replace('_', ' ')} {ev[k]['detected']}/{ev[k]['n']} detected, MAE "
            + ("n/a" if ev[k]["mae_ms"] is None else f"{ev[k]['mae_ms']:.0f} ms") for k in GAIT_EVENTS))
    return lines


__all__ = ["EARLY_S", "EVENT_TOLERANCE_S", "Transition", "emitted_changes", "event_report", "match_events",
           "matched_errors", "pair_transitions", "stream_report", "summary_lines", "transition_report", "true_transitions"]
