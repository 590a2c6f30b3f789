"""Pairing simulator truth events with the events a bundle emitted: true-event latency (no torch).

Used by :func:`edgeemg.runtime.bench.bench_bundle`. A truth event is reported
by the first event at or after it whose decision (the payload's first key, or
a list in the payload containing the value) equals the truth value within
``max_delay_s``; unmatched ones are counted, not hidden. A task whose
decisions do not name truth values directly (motor units: the decoder reports
head indices, the simulator unit IDs) puts the pairing in its manifest's
``truth_events`` (:func:`truth_map`). A task whose events form a sequence that
may repeat a value and may report it before its truth time (keystrokes) puts
``{"match": "sequence", "window_ms": [lo, hi]}`` there instead
(:func:`match_sequence`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeemg.runtime.events import Event


def match_truth(truth_us: list[tuple[int, Any]], events: list[Event], *, max_delay_s: float = 2.0,
                ) -> list[tuple[int, Event | None]]:
    """Pair each truth ``(device µs, value)`` with the first event at/after it that reports the value."""
    evs = sorted(events, key=lambda e: e.time_us)
    times = [e.time_us for e in evs]
    return [(t_us, _first_report(evs, times, t_us, t_us + max_delay_s * 1e6, value)) for t_us, value in truth_us]


def _first_report(evs: list[Event], times: list[int], lo_us: float, hi_us: float, value: Any) -> Event | None:
    """The first of the time-sorted ``evs`` in [lo_us, hi_us] whose payload reports ``value``, or None."""
    for e in evs[bisect.bisect_left(times, lo_us):]:
        if e.time_us > hi_us:
            return None
        if _reports(e.payload, value):
            return e
    return None


@dataclass(frozen=True)
class TruthMap:
    """How a bundle reports a simulator's truth events, from its manifest's ``truth_events``.

    Why: a decoder may report a truth value under another name (a motor-unit
    head index for a simulator unit ID), and may report only some of them (the
    units it decodes). Matching raw values then pairs unrelated events.

    Attributes
    ----------
    reported : dict
        Truth value -> the value an event reports it as. Truth events with
        other values are not counted.
    window_us : dict
        Truth value -> (earliest, latest) µs from the truth event to the newest
        sample of the event that may report it.
    seed : int or None
        The simulated band's subject the pairing holds for (None: any).
    """

    reported: dict[Any, Any]
    window_us: dict[Any, tuple[float, float]]
    seed: int | None = None


def truth_map(manifest: dict[str, Any]) -> TruthMap | None:
    """The manifest's ``truth_events`` pairing, or None when it has none.

    ``truth_events = {"map": [{"truth": v, "reported": r, "window_ms": [lo, hi]}, ...], "seed": s}``:
    truth value ``v`` is reported as ``r`` by an event whose newest sample is
    ``lo``..``hi`` ms after it.
    """
    spec = manifest.get("truth_events")
    if not spec:
        return None
    reported, window = {}, {}
    for e in spec.get("map", []):
        lo, hi = e["window_ms"]
        reported[e["truth"]] = e["reported"]
        window[e["truth"]] = (1000.0 * float(lo), 1000.0 * float(hi))
    seed = spec.get("seed")
    return TruthMap(reported, window, None if seed is None else int(seed))


def match_mapped_truth(truth_us: list[tuple[int, Any]], events: list[Event], mapping: TruthMap,
                       ) -> list[tuple[int, Event | None]]:
    """Pair each truth event the mapping lists with the first event in its window that reports it.

    Truth values the mapping does not list are dropped (not counted as missed):
    the bundle does not claim to report them.
    """
    evs = sorted(events, key=lambda e: e.time_us)
    times = [e.time_us for e in evs]
    out = []
    for t_us, value in truth_us:
        if value not in mapping.reported:
            continue
        lo, hi = mapping.window_us[value]
        out.append((t_us, _first_report(evs, times, t_us + lo, t_us + hi, mapping.reported[value])))
    return out


def match_sequence(truth_us: list[tuple[int, Any]], events: list[Event], window_us: tuple[float, float],
                   ) -> list[tuple[int, Event | None]]:
    """Pair truth events with the events that report them by an order-preserving alignment.

    The pairs are a longest common subsequence of the truth values and the
    events' decisions (the characters a Levenshtein alignment counts as
    correct), where truth ``(t, v)`` and an event may pair only when the event
    reports ``v`` and its time is in ``[t + lo, t + hi]``. Unlike
    :func:`match_truth` this pairs an event emitted before its truth time
    (``lo`` < 0) and never pairs two truth events with one event, nor a truth
    event with a later repeat of its value when the event between was its own.

    Returns
    -------
    list of (int, Event or None)
        One entry per truth event, in the order given; None where unpaired.
    """
    evs = sorted(events, key=lambda e: e.time_us)
    order = sorted(range(len(truth_us)), key=lambda i: truth_us[i][0])
    n, m = len(order), len(evs)
    out: list[tuple[int, Event | None]] = [(t, None) for t, _ in truth_us]
    if not n or not m:
        return out
    lo, hi = window_us
    times = np.array([e.time_us for e in evs], dtype=np.float64)
    table = np.zeros((n + 1, m + 1), dtype=np.int32)  # table[i, j]: LCS of the first i truths and j events
    ok = np.zeros((n + 1, m + 1), dtype=bool)
    for i, k in enumerate(order, start=1):
        t, value = truth_us[k]
        inside = np.flatnonzero((times >= t + lo) & (times <= t + hi))
        ok[i, inside + 1] = [_reports(evs[j].payload, value) for j in inside]
        cand = np.maximum(table[i - 1, 1:], table[i - 1, :-1] + ok[i, 1:])
        table[i, 1:] = np.maximum.accumulate(cand)
    i, j = n, m
    while i > 0 and j > 0:
        if ok[i, j] and table[i, j] == table[i - 1, j - 1] + 1:
            k = order[i - 1]
            out[k] = (truth_us[k][0], evs[j - 1])
            i, j = i - 1, j - 1
        elif table[i, j] == table[i - 1, j]:
            i -= 1
        else:
            j -= 1
    return out


def _reports(payload: dict[str, Any], value: Any) -> bool:
    if not payload:
        return False
    first = next(iter(payload.values()))
    if first == value:
        return True
    return any(isinstance(v, (list, tuple)) and value in v for v in payload.values())


def true_event_latencies(manifest: dict[str, Any], truth: list[tuple[int, Any]], events: list[Event], *, seed: int,
                         samples_per_frame: int, fs_hz: float, max_delay_s: float,
                         ) -> tuple[list[float], int, list[str]]:
    """Seconds from each reported truth event to its event, the truth events counted, and notes.

    ``truth`` is ``(device µs, value)`` per simulator event. A latency is the
    device time of the event's newest sample minus the truth time, plus the
    wait for that sample's frame (``samples_per_frame`` at ``fs_hz``), plus the
    measured compute of that hop (the event's ``latency_ms``). The pairing is
    the manifest's ``truth_events`` (sequence, mapped) or :func:`match_truth`.
    """
    notes = []
    spec = manifest.get("truth_events") or {}
    mapping = None if spec.get("match") == "sequence" else truth_map(manifest)
    if mapping is not None and mapping.seed is not None and mapping.seed != seed:
        notes.append(f"true-event latency not measured: the bundle's truth pairing holds for simulated subject "
                     f"{mapping.seed}, the band simulated subject {seed} (pass --seed {mapping.seed})")
        truth = []
    if spec.get("match") == "sequence":
        lo, hi = spec["window_ms"]
        pairs = match_sequence(truth, events, (1000.0 * float(lo), 1000.0 * float(hi)))
    elif mapping is not None:
        pairs = match_mapped_truth(truth, events, mapping)
        truth = [(t, v) for t, v in truth if v in mapping.reported]
    else:
        pairs = match_truth(truth, events, max_delay_s=max_delay_s)
    spf = samples_per_frame
    true_lat = []
    for t_us, ev in pairs:
        if ev is None:
            continue
        frame_wait = ((ev.sample_index // spf + 1) * spf - 1 - ev.sample_index) / fs_hz
        true_lat.append((ev.time_us - t_us) * 1e-6 + frame_wait + ev.latency_ms / 1000.0)
    return true_lat, len(truth), notes


__all__ = ["TruthMap", "match_mapped_truth", "match_sequence", "match_truth", "true_event_latencies", "truth_map"]
