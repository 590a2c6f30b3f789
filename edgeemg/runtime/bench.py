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
  the measured compute of that hop; how a truth event is paired with the event
  that reports it (first report, the manifest's mapping, or an order-preserving
  alignment for sequences) is :mod:`edgeemg.runtime.truth`'s;
* task timing: a task decoder with a ``stream_report(events, signal)`` method
  (gait: transition latency against the foot switches, heel strikes and
  toe-offs) scores the emitted events against the simulated band's truth
  itself; its ``lines`` are printed under the table.

The PyTorch-eager comparison needs torch, so it lives outside the runtime
(:mod:`edgeemg.cli.bench`); :func:`time_model` here measures the bundle's
backends on the same inputs for it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.runtime.engine import Engine
from edgeemg.runtime.events import Event
from edgeemg.runtime.truth import true_event_latencies

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
                 t0_us: int = 1_000_000, signal: Any = None) -> tuple[Any, list[bytes], int, float]:
    """(BandSignal, frames as bytes, samples per frame, device t0 µs): a band's byte stream, made up front.

    ``signal``: a :class:`~edgeemg.data.bands.BandSignal` to stream instead of simulating ``task``'s band.
    """
    from edgeemg.bridge import DeviceInfo, encode_device_info, encode_frame
    from edgeemg.data.bands import band_signal

    sig = signal if signal is not None else band_signal(task, seconds, seed=seed, session=session)
    spf = int(samples_per_frame or max(1, round(sig.fs_hz * 0.004)))
    scale = _power_of_two_scale(sig.emg)
    info = DeviceInfo(sig.fs_hz, sig.n_channels, sig.layout, "edgeemg-bench", spf, "int16", scale)
    frames = [encode_device_info(0, t0_us, info)]
    for k, i in enumerate(range(0, sig.emg.shape[0], spf)):
        ts = t0_us + int(round(i * 1e6 / sig.fs_hz))
        frames.append(encode_frame((k + 1) & 0xFFFF, ts, sig.emg[i : i + spf], fmt="int16", scale_uv=scale))
    return sig, frames, spf, float(t0_us)


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
                 precision: str = "int8", max_delay_s: float = 2.0, reps: int = 200,
                 signal: Any = None) -> tuple[BenchReport, NDArray]:
    """Run the engine over a simulated band faster than real time and measure it.

    ``seed`` is the simulated subject, ``session`` a recording of it: a session the
    model was not trained on gives held-out true-event latencies. ``signal`` (a
    ``BandSignal`` with its truth events) replaces the simulated band, e.g. the
    held-out part of the recording a model was trained on; ``seconds`` is then its length.

    Returns
    -------
    report : BenchReport
    items : ndarray of float32
        Model inputs the DSP made (a sample for :func:`time_model` comparisons).
    """
    from edgeemg.bridge import Block, DeviceInfo, FrameDecoder, FrameType
    from edgeemg.runtime.backends import open_backend

    eng = Engine(bundle, target=target, precision=precision, skip_after_ms=float("inf"))
    sig, frames, spf, t0_us = encoded_band(bundle.task, seconds, seed=seed, session=session, signal=signal)
    seconds = sig.emg.shape[0] / sig.fs_hz
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
    true_lat, n_truth, notes = true_event_latencies(m, truth, events, seed=seed, samples_per_frame=spf, fs_hz=fs,
                                                    max_delay_s=max_delay_s)
    if not n_truth and not notes:
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
        true_events_matched=len(true_lat), true_events=n_truth, model_ms=model_ms,
        notes=tuple(([eng.self_check.message()] if eng.self_check is not None else []) + notes),
        hop_latency_s=tuple(h.total_s for h in hops), true_latency_s=tuple(true_lat), task_timing=task_timing,
    )
    return report, x


def _items(bundle: Any, emg: NDArray[np.float32]) -> NDArray[np.float32]:
    from edgeemg.dsp import Pipeline
    from edgeemg.runtime.items import model_dsp

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


__all__ = ["BenchReport", "Percentiles", "bench_bundle", "encoded_band", "format_report", "time_model"]
