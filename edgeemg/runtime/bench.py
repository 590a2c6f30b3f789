"""Latency of a bundle on this machine, by stage and from the true event (behind ``edgeemg bench``; no torch).

The band is simulated and its frames are encoded up front, then fed to the
engine as fast as it takes them, each frame timed through the host's
:class:`~edgeemg.bridge.FrameDecoder`. So every figure is compute on this
machine, per hop:

* per stage (frame decode, DSP, model, task decoder) and end to end: median,
  p99, max milliseconds of work per model item;
* algorithmic latency: what the model's window / look-ahead costs by design
  (the manifest's ``algorithmic_latency_ms``, plus the decoder's added delay
  where it states one) and the frame buffering (a sample waits up to one frame
  before the band sends it);
* total = algorithmic + frame + compute p99, against the target's budget (80 ms
  electromechanical delay by default);
* real-time factor: seconds of signal processed per second of wall time;
* true-event latency: from each simulator truth event (a gait transition, a
  key press, a diagnosis) to the emitted event that reports it, in the device
  time of the newest sample used, plus the wait for that sample's frame, plus
  the measured compute of that hop. A truth event is reported by the first
  event at or after it whose decision (the payload's first key, or a list in
  the payload containing the value) equals the truth value within
  ``max_delay_s``; unmatched ones are counted, not hidden. A task whose
  decisions do not name truth values directly (motor units: the decoder
  reports head indices, the simulator unit IDs) puts the pairing in its
  manifest's ``truth_events`` (:func:`truth_map`): only the truth events it
  lists are counted, each is looked for as the value it is reported as, inside
  its own delay window. A task whose events form a sequence that may repeat a
  value every few hundred ms, and may report a value before its truth time
  (keystrokes: a character can be final before its key's muscle burst has
  ended, and "e" recurs), puts ``{"match": "sequence", "window_ms": [lo, hi]}``
  in ``truth_events`` instead: truth values and event decisions are aligned in
  order (:func:`match_sequence`, the pairing CER counts as correct), each pair
  allowed only when the event is ``lo``..``hi`` ms after its truth event.
* task timing: a task decoder with a ``stream_report(events, signal)`` method
  (gait: transition latency against the foot switches, heel strikes and
  toe-offs) scores the emitted events against the simulated band's truth
  itself; its ``lines`` are printed under the table.

The PyTorch-eager comparison needs torch, so it lives outside the runtime
(:mod:`edgeemg.cli.bench`); :func:`time_model` here measures the bundle's
backends on the same inputs for it.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.runtime.engine import Engine, Event

STAGES = ("decode", "dsp", "model", "decoder", "total")


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds: median, 99th percentile and max over hops."""

    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Any) -> Percentiles:
        v = 1000.0 * np.asarray(seconds, dtype=np.float64)
        if v.size == 0:
            return cls(math.nan, math.nan, math.nan)
        return cls(float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(v.max()))

    def to_dict(self) -> dict[str, float]:
        return {"p50_ms": self.p50, "p99_ms": self.p99, "max_ms": self.max}


@dataclass(frozen=True)
class BenchReport:
    """What ``edgeemg bench`` reports; times in ms unless the name says otherwise."""

    bundle: str
    task: str
    backend: str
    providers: tuple[str, ...]
    precision: str
    target: str | None
    seconds: float
    hops: int
    hop_ms: float
    stages: dict[str, Percentiles]
    algorithmic_ms: float
    decoder_added_ms: float
    frame_ms: float
    total_ms: float
    budget_ms: float
    realtime_factor: float
    true_event: Percentiles | None
    true_events_matched: int
    true_events: int
    model_ms: dict[str, float] = field(default_factory=dict)  # median per hop, batch 1: "int8", "fp32", "torch-eager"
    notes: tuple[str, ...] = ()
    hop_latency_s: tuple[float, ...] = ()  # per-hop compute, for plots
    true_latency_s: tuple[float, ...] = ()
    task_timing: dict[str, Any] | None = None  # the decoder's own stream_report, where it has one

    @property
    def within_budget(self) -> bool:
        return self.total_ms <= self.budget_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle, "task": self.task, "backend": self.backend, "providers": list(self.providers),
            "precision": self.precision, "target": self.target, "seconds": self.seconds, "hops": self.hops,
            "hop_ms": self.hop_ms, "stages": {k: v.to_dict() for k, v in self.stages.items()},
            "algorithmic_ms": self.algorithmic_ms, "decoder_added_ms": self.decoder_added_ms,
            "frame_ms": self.frame_ms, "total_ms": self.total_ms, "budget_ms": self.budget_ms,
            "within_budget": self.within_budget, "realtime_factor": self.realtime_factor,
            "true_event": None if self.true_event is None else self.true_event.to_dict(),
            "true_events_matched": self.true_events_matched, "true_events": self.true_events,
            "model_ms": dict(self.model_ms), "notes": list(self.notes), "task_timing": self.task_timing,
        }


def _power_of_two_scale(emg: NDArray[np.float32]) -> float:
    peak = float(np.abs(emg).max()) if emg.size else 1.0
    return float(2.0 ** math.ceil(math.log2(max(peak, 1e-3) / 32000.0)))


def encoded_band(task: str, seconds: float, *, seed: int = 0, session: int = 0, samples_per_frame: int | None = None,
                 t0_us: int = 1_000_000) -> tuple[Any, list[bytes], int, float]:
    """(BandSignal, frames as bytes, samples per frame, device t0 µs): a band's byte stream, made up front."""
    from edgeemg.bridge import DeviceInfo, encode_device_info, encode_frame
    from edgeemg.data.bands import band_signal

    sig = band_signal(task, seconds, seed=seed, session=session)
    spf = int(samples_per_frame or max(1, round(sig.fs_hz * 0.004)))
    scale = _power_of_two_scale(sig.emg)
    info = DeviceInfo(sig.fs_hz, sig.n_channels, sig.layout, "edgeemg-bench", spf, "int16", scale)
    frames = [encode_device_info(0, t0_us, info)]
    for k, i in enumerate(range(0, sig.emg.shape[0], spf)):
        ts = t0_us + int(round(i * 1e6 / sig.fs_hz))
        frames.append(encode_frame((k + 1) & 0xFFFF, ts, sig.emg[i : i + spf], fmt="int16", scale_uv=scale))
    return sig, frames, spf, float(t0_us)


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


def time_model(run: Any, x: NDArray[np.float32], *, reps: int = 200, warmup: int = 20) -> float:
    """Median seconds of ``run(x_item)`` over ``reps`` calls on batch-1 items cycled from ``x``."""
    n = x.shape[0]
    for i in range(warmup):
        run(x[i % n : i % n + 1])
    t = np.empty(reps)
    for i in range(reps):
        item = x[i % n : i % n + 1]
        t0 = time.perf_counter()
        run(item)
        t[i] = time.perf_counter() - t0
    return float(np.median(t))


def bench_bundle(bundle: Any, *, target: Any = None, seconds: float = 20.0, seed: int = 0, session: int = 0,
                 precision: str = "int8", max_delay_s: float = 2.0, reps: int = 200) -> tuple[BenchReport, NDArray]:
    """Run the engine over a simulated band faster than real time and measure it.

    ``seed`` is the simulated subject, ``session`` a recording of it: a session the
    model was not trained on gives held-out true-event latencies.

    Returns
    -------
    report : BenchReport
    items : ndarray of float32
        Model inputs the DSP made (a sample for :func:`time_model` comparisons).
    """
    from edgeemg.bridge import Block, DeviceInfo, FrameDecoder, FrameType
    from edgeemg.runtime.backends import open_backend

    eng = Engine(bundle, target=target, precision=precision, skip_after_ms=float("inf"))
    sig, frames, spf, t0_us = encoded_band(bundle.task, seconds, seed=seed, session=session)
    eng.check_band(DeviceInfo(sig.fs_hz, sig.n_channels, sig.layout, "edgeemg-bench"))
    dec = FrameDecoder()
    events: list[Event] = []
    wall0 = time.perf_counter()
    for data in frames:
        t0 = time.perf_counter()
        decoded = dec.feed(data)
        decode_s = time.perf_counter() - t0
        for fr in decoded:
            if fr.kind is not FrameType.DATA:
                continue
            host = time.monotonic()
            events += eng.feed(Block(fr.samples, fr.timestamp_us, host, fr.seq, host), decode_s=decode_s)
            decode_s = 0.0
    events += eng.finish()
    wall = time.perf_counter() - wall0
    hops = list(eng.hops)
    stages = {
        "decode": Percentiles.of([h.decode_s for h in hops]), "dsp": Percentiles.of([h.dsp_s for h in hops]),
        "model": Percentiles.of([h.model_s for h in hops]), "decoder": Percentiles.of([h.decoder_s for h in hops]),
        "total": Percentiles.of([h.total_s for h in hops]),
    }
    m = bundle.manifest
    fs = bundle.fs_hz
    algorithmic = float(m.get("algorithmic_latency_ms", 0.0))
    added = float(m.get("decoder_added_latency_ms") or 0.0)
    frame_ms = 1000.0 * spf / fs
    total = algorithmic + added + frame_ms + stages["total"].p99
    # true-event latency, device time of the newest sample + its frame wait + that hop's measured compute
    truth = [(int(round(t0_us + e.time_s * 1e6)), e.value) for e in sig.events]
    notes = []
    spec = m.get("truth_events") or {}
    mapping = None if spec.get("match") == "sequence" else truth_map(m)
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
    true_lat = []
    for t_us, ev in pairs:
        if ev is None:
            continue
        frame_wait = ((ev.sample_index // spf + 1) * spf - 1 - ev.sample_index) / fs
        true_lat.append((ev.time_us - t_us) * 1e-6 + frame_wait + ev.latency_ms / 1000.0)
    if not truth and not notes:
        notes.append("the simulator gave no truth events for this task")
    scorer = getattr(eng.decoder, "stream_report", None)
    task_timing = scorer([(e.sample_index, e.payload) for e in events], sig) if callable(scorer) else None
    x = _items(bundle, sig.emg)
    model_ms = {}
    for prec in ("int8", "fp32"):
        try:
            be = open_backend(bundle, backend=eng.backend.name, precision=prec,
                              providers=getattr(eng.backend, "providers", ()) or ("CPUExecutionProvider",),
                              threads=getattr(eng.backend, "threads", 1))
        except Exception as exc:  # an artifact the exporter could not make: say so, keep the rest
            notes.append(f"{eng.backend.name} {prec}: {exc}")
            continue
        if m["state"]:
            notes.append("stateful model: batch-1 model timings use zero state")
        feeds = _zero_state(m)
        model_ms[prec] = 1000.0 * time_model(lambda v, be=be: be.run({m["input"]["name"]: v, **feeds}), x, reps=reps)
    report = BenchReport(
        bundle=str(bundle.path), task=bundle.task, backend=eng.backend.name, providers=tuple(eng.backend.providers),
        precision=precision, target=getattr(eng.target, "name", None), seconds=float(seconds), hops=len(hops),
        hop_ms=1000.0 * eng.item_hop / fs, stages=stages, algorithmic_ms=algorithmic, decoder_added_ms=added,
        frame_ms=frame_ms, total_ms=total, budget_ms=eng.latency_budget_ms,
        realtime_factor=float(seconds / wall) if wall > 0 else math.inf,
        true_event=Percentiles.of(true_lat) if true_lat else None,
        true_events_matched=len(true_lat), true_events=len(truth), model_ms=model_ms,
        notes=tuple(([eng.self_check.message()] if eng.self_check is not None else []) + notes),
        hop_latency_s=tuple(h.total_s for h in hops), true_latency_s=tuple(true_lat), task_timing=task_timing,
    )
    return report, x


def _items(bundle: Any, emg: NDArray[np.float32]) -> NDArray[np.float32]:
    from edgeemg.dsp import Pipeline
    from edgeemg.runtime.engine import model_dsp

    p = Pipeline.from_description(model_dsp(bundle.manifest), bundle.fs_hz, bundle.n_channels)
    data = p.process_offline(np.ascontiguousarray(emg, dtype=np.float32)).data
    return data[: min(len(data), 256)]


def _zero_state(m: dict[str, Any]) -> dict[str, NDArray]:
    return {s["input"]: np.zeros([1 if d is None else int(d) for d in s["shape"]], np.dtype(s.get("dtype", "float32")))
            for s in m["state"]}


def format_report(r: BenchReport) -> str:
    """The latency table (human form of ``--json``)."""
    lines = [f"bench {r.bundle}: task {r.task}, {r.backend} {r.precision} on {', '.join(r.providers) or 'cpu'}"
             f"{' (target ' + r.target + ')' if r.target else ''}; {r.seconds:g} s of simulated band, {r.hops} hops "
             f"of {r.hop_ms:.1f} ms",
             f"{'stage':<22}{'median':>10}{'p99':>10}{'max':>10}   (ms of compute per hop)"]
    names = {"decode": "frame decode", "dsp": "DSP", "model": "model", "decoder": "task decoder",
             "total": "end to end"}
    for k in STAGES:
        p = r.stages[k]
        lines.append(f"{names[k]:<22}{p.p50:>10.3f}{p.p99:>10.3f}{p.max:>10.3f}")
    lines += [
        f"algorithmic latency   {r.algorithmic_ms:8.1f} ms (window / look-ahead)"
        + (f" + {r.decoder_added_ms:.1f} ms decoder smoothing" if r.decoder_added_ms else ""),
        f"frame buffering       {r.frame_ms:8.1f} ms",
        f"total                 {r.total_ms:8.1f} ms vs budget {r.budget_ms:.0f} ms: "
        + ("within" if r.within_budget else "OVER"),
        f"real-time factor      {r.realtime_factor:8.1f} x",
    ]
    if r.true_event is not None:
        lines.append(f"true event -> report  {r.true_event.p50:8.1f} ms median, p99 {r.true_event.p99:.1f}, "
                     f"max {r.true_event.max:.1f} ({r.true_events_matched} of {r.true_events} truth events reported)")
    else:
        lines.append(f"true event -> report  none of {r.true_events} truth events was reported")
    lines += (r.task_timing or {}).get("lines", [])
    if r.model_ms:
        parts = [f"{k} {v:.3f} ms" for k, v in r.model_ms.items()]
        lines.append("model, batch 1 median: " + ", ".join(parts))
        base = r.model_ms.get("int8")
        for other in ("torch-eager", "fp32"):
            if base and other in r.model_ms:
                ratio = r.model_ms[other] / base
                lines.append(f"  {other} / int8 = {ratio:.2f}x (int8 {'faster' if ratio >= 1 else 'SLOWER'})")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


__all__ = ["BenchReport", "Percentiles", "TruthMap", "bench_bundle", "encoded_band", "format_report", "match_mapped_truth",
           "match_sequence", "match_truth", "time_model", "truth_map"]
