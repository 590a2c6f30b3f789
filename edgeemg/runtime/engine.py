"""The streaming engine: band blocks -> the bundle's DSP chain -> model -> task decoder -> events (no torch).

The engine knows no task. Everything it does comes from the bundle manifest:

* ``dsp`` (plus ``segment`` where a manifest still states frame stacking that
  way: it becomes a ``stack`` stage) builds the streaming
  :class:`~edgeemg.dsp.Pipeline`; each item it completes is one model input row;
* ``input`` / ``outputs`` / ``state`` name the model's tensors. State tensors
  (streaming keystroke and motor-unit models) are fed back from one call to the
  next, zeros at the start and after a gap; a stateful model runs item by item;
* ``decoder_class`` is the task's board-side decoder (``reset`` / ``step`` /
  ``finish``), which turns outputs into task events.

Decoder input convention: one model output goes to ``step`` as is; several
are concatenated along the last axis in manifest order (one column per head of
a multi-head model). An output with a time axis, shape ``(batch, T, C)``, is
flattened to ``T`` rows per item, each stamped with its own end sample
(spaced evenly over the samples one item advances), so a CTC decoder gets one
emission row per frame.

Timing
------
Every event carries the device time of the newest sample its decision used,
the host arrival time of that sample (when the frame holding it was read), the
emit time, and ``latency_ms = emit - arrival``. The decoder is stepped once
per item, so "the newest sample used" is exact: the last sample of the item
whose step produced the event.

Gaps and overload
-----------------
A :class:`~edgeemg.bridge.Gap` (lost frames, reconnect, frames the band queue
dropped) restarts the chain: filters, windows, model state and decoder are
reset (the decoder's pending events flushed first), because samples that never
arrived cannot be invented and a window spanning a gap would splice two
stretches of signal. If compute falls behind, items whose newest sample arrived
more than ``skip_after_ms`` ago are skipped (counted in ``skipped``) rather than
run late; the DSP still sees every sample, so filters stay continuous. Memory
is bounded either way: the band's queue drops the oldest frames (a DROPPED
gap), and the engine keeps only recent timing and latency records.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import BundleError, InvalidInputError
from edgeemg.runtime.events import EngineStats, Event, HopTiming, percentiles
from edgeemg.runtime.items import BlockTable, item_hop_samples, model_dsp

log = logging.getLogger(__name__)

#: Recent records kept for percentiles (about 7 minutes of 10 Hz hops; a few hundred kB).
HISTORY = 4096


class Engine:
    """Runs one bundle on a stream of band blocks and gaps.

    Parameters
    ----------
    bundle : Bundle
        From :func:`edgeemg.runtime.bundle.load_bundle`.
    backend : Backend, optional
        Default: :func:`edgeemg.runtime.backends.open_backend` on ``target``'s settings.
    target : TargetProfile or str, optional
        Board profile (name or loaded); default: onnxruntime, CPU, 1 thread, 80 ms budget.
    precision : {"int8", "fp32"}
    skip_after_ms : float, optional
        Skip items whose newest sample is older than this when they would run;
        default: the target's latency budget. ``inf`` never skips.
    clock : callable, optional
        Host clock (default ``time.monotonic``, the band's arrival clock).
    warmup : bool
        Run :meth:`warmup` now (default).

    Examples
    --------
    >>> from edgeemg.bridge import SimulatedBand                     # doctest: +SKIP
    >>> eng = Engine(load_bundle("gait.int8"))                       # doctest: +SKIP
    >>> with SimulatedBand("gait", seconds=5, speed=float("inf")) as band:  # doctest: +SKIP
    ...     eng.check_band(band.info)
    ...     events = [e for item in band for e in eng.feed(item)] + eng.finish()
    """

    def __init__(self, bundle: Any, *, backend: Any = None, target: Any = None, precision: str = "int8",
                 skip_after_ms: float | None = None, clock: Any = time.monotonic, warmup: bool = True) -> None:
        from edgeemg.dsp import Pipeline
        from edgeemg.runtime.backends import open_backend
        from edgeemg.runtime.targets import TargetProfile, load_target

        self.bundle = bundle
        self.manifest = bundle.manifest
        self.target = load_target(target) if isinstance(target, str) else target
        if self.target is not None and not isinstance(self.target, TargetProfile):
            raise InvalidInputError(f"target must be a profile name or TargetProfile, got {type(target).__name__}")
        if backend is None:
            t = self.target
            backend = open_backend(bundle, backend=t.backend if t else "onnxruntime", precision=precision,
                                   providers=t.providers if t else ("CPUExecutionProvider",),
                                   threads=t.intra_op_threads if t else 1)
        self.backend = backend
        self.self_check = self._self_check(backend, precision)
        budget = self.target.latency_budget_ms if self.target else 80.0
        self.latency_budget_ms = float(budget)
        self.skip_after_s = (budget if skip_after_ms is None else float(skip_after_ms)) / 1000.0
        self.clock = clock
        self.fs_hz = bundle.fs_hz
        self.dsp = model_dsp(self.manifest)
        self.pipeline = Pipeline.from_description(self.dsp, self.fs_hz, bundle.n_channels)
        want = tuple(self.manifest["input"]["shape"][1:])
        if None not in want and tuple(self.pipeline.item_shape) != want:
            raise BundleError(
                f"bundle {bundle.path}: its DSP chain makes items of shape {self.pipeline.item_shape} but the model "
                f"input '{self.manifest['input']['name']}' is {list(want)} per batch row"
            )
        self.item_hop = item_hop_samples(self.dsp)
        self.decoder = bundle.decoder()
        self.task = bundle.task
        self._input = self.manifest["input"]["name"]
        self._outputs = [o["name"] for o in self.manifest["outputs"]]
        self._state_spec = list(self.manifest["state"])
        keep = max(bundle.window, self.pipeline.item_shape[0] if self.pipeline.item_shape else 1) + int(self.fs_hz)
        self._table = BlockTable(self.fs_hz, keep * 4)
        self.hops: deque[HopTiming] = deque(maxlen=HISTORY)
        self.blocks = self.samples = self.items = self.skipped = self.events = self.gaps = self.gap_samples = 0
        self._abs_next = 0  # absolute index of the next sample
        self._seg_start = 0  # absolute index where the current pipeline run started
        self._pending_decode_s = 0.0
        self._pending_dsp_s = 0.0
        self._last: tuple[int, int, float] | None = None  # newest (abs index, device µs, host s)
        if warmup:
            self.warmup()
        self._reset_chain()

    def _self_check(self, backend: Any, precision: str) -> Any:
        """The golden self-check on the backend this engine decodes with (skipped if load_bundle ran the same).

        Only real backends are checked: a test's stand-in backend computes nothing to check.
        """
        from edgeemg.runtime import selfcheck
        from edgeemg.runtime.backends import OnnxBackend, TFLiteBackend

        if not isinstance(backend, (OnnxBackend, TFLiteBackend)):
            return None
        done = getattr(self.bundle, "self_check", None)
        if selfcheck.covers(done, backend, precision):
            return done
        return selfcheck.require(self.bundle, backend, precision)

    def warmup(self) -> None:
        """Run silence through a copy of the chain, the model and the decoder once, then reset.

        The first call of a numba kernel loads (or compiles) it and the first
        backend call allocates its buffers; doing both before the band starts
        keeps that one-off cost out of the first real hop's latency.
        """
        from edgeemg.dsp import Pipeline

        p = Pipeline.from_description(self.dsp, self.fs_hz, self.bundle.n_channels)
        n = max(self.bundle.window, int(self.fs_hz // 10)) + 2 * self.item_hop
        frames = p.process(np.zeros((n, self.bundle.n_channels), np.float32))
        self._reset_chain()
        if frames.data.shape[0]:
            outs = self._run_model(np.ascontiguousarray(frames.data[:1], dtype=np.float32))
            rows, ends = self._decoder_rows(outs, 0, int(frames.end_index[0]))
            self.decoder.step(rows, ends)
            self.decoder.finish()

    # -- checks ---------------------------------------------------------------------
    def check_band(self, info: Any) -> None:
        """Refuse a band whose sample rate or channel count differs from the bundle's (before any decoding).

        Raises
        ------
        BundleError
            Naming both values and what to do.
        """
        try:
            self.bundle.check_band(info.fs_hz, info.n_channels)
        except BundleError as exc:
            layout = getattr(info, "layout", "?")
            raise BundleError(f"{exc} (band layout '{layout}', firmware '{getattr(info, 'firmware', '?')}'); "
                              f"this bundle is a '{self.task}' model: use a bundle exported for this band") from None

    # -- state ----------------------------------------------------------------------
    def _reset_chain(self) -> None:
        self.pipeline.reset()
        self.decoder.reset()
        self._state = {s["input"]: np.zeros([1 if d is None else int(d) for d in s["shape"]],
                                            dtype=np.dtype(s.get("dtype", "float32")))
                       for s in self._state_spec}
        self._seg_start = self._abs_next

    # -- feeding --------------------------------------------------------------------
    def feed(self, item: Any, *, decode_s: float = 0.0) -> list[Event]:
        """Consume one band item (:class:`Block` or :class:`Gap`); return the events it produced.

        ``decode_s``: time the caller spent decoding the frame (for the per-stage report).
        """
        from edgeemg.bridge import Block

        self._pending_decode_s += decode_s
        if isinstance(item, Block):
            return self._block(item)
        return self._gap(item)

    def _gap(self, gap: Any) -> list[Event]:
        events = self._decode_finish()
        self.gaps += 1
        missing = max(int(getattr(gap, "samples", 0)), 0)
        self.gap_samples += missing
        self._abs_next += missing
        log.info("gap (%s, %d frames, %d samples): restarting the DSP chain, model state and decoder",
                 getattr(getattr(gap, "kind", None), "value", gap), getattr(gap, "frames", 0), missing)
        self._reset_chain()
        return events

    def _block(self, block: Any) -> list[Event]:
        x = block.samples
        n = x.shape[0]
        first = self._abs_next
        self._table.add(first, n, int(block.timestamp_us), float(block.host_time_s))
        self._abs_next += n
        self.blocks += 1
        self.samples += n
        t0 = time.perf_counter()
        frames = self.pipeline.process(x)
        self._pending_dsp_s += time.perf_counter() - t0
        self._last = (first + n - 1, *self._table.lookup(first + n - 1))
        if frames.data.shape[0] == 0:
            return []
        return self._items(frames.data, frames.end_index + self._seg_start)

    def _items(self, data: NDArray[np.float32], abs_end: NDArray[np.int64]) -> list[Event]:
        now = self.clock()
        keep = []
        for i, e in enumerate(abs_end):
            _, arrival = self._table.lookup(int(e))
            if now - arrival > self.skip_after_s:
                self.skipped += 1
                if self._state_spec:  # a stateful model cannot skip a step: restart its state at the next item
                    self._state = {k: np.zeros_like(v) for k, v in self._state.items()}
            else:
                keep.append(i)
        if not keep:
            return []
        data, abs_end = data[keep], abs_end[keep]
        t0 = time.perf_counter()
        outs = self._run_model(np.ascontiguousarray(data, dtype=np.float32))
        model_s = (time.perf_counter() - t0) / len(keep)
        events: list[Event] = []
        decode_s, dsp_s = self._pending_decode_s, self._pending_dsp_s
        self._pending_decode_s = self._pending_dsp_s = 0.0
        for i, e in enumerate(abs_end):
            t1 = time.perf_counter()
            rows, row_end = self._decoder_rows(outs, i, int(e))
            raw = self.decoder.step(rows, row_end - self._seg_start)
            emit = self.clock()
            dec_s = time.perf_counter() - t1
            dev_us, arrival = self._table.lookup(int(e))
            for payload in raw:
                events.append(Event(self.task, dev_us, arrival, emit, 1000.0 * (emit - arrival), int(e), payload))
            self.items += 1
            self.hops.append(HopTiming(decode_s, dsp_s, model_s, dec_s, emit - arrival))
            decode_s = dsp_s = 0.0
        self.events += len(events)
        return events

    def _run_model(self, x: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        if not self._state_spec:
            out = self.backend.run({self._input: x})
            return [out[name] for name in self._outputs]
        per_item: list[list[NDArray[np.float32]]] = [[] for _ in self._outputs]
        for i in range(x.shape[0]):
            out = self.backend.run({self._input: x[i : i + 1], **self._state})
            for s in self._state_spec:
                self._state[s["input"]] = out[s["output"]]
            for k, name in enumerate(self._outputs):
                per_item[k].append(out[name])
        return [np.concatenate(o) for o in per_item]

    def _decoder_rows(self, outs: list[NDArray[np.float32]], i: int, end: int) -> tuple[NDArray, NDArray[np.int64]]:
        parts = [o[i] for o in outs]
        if parts[0].ndim >= 2:  # (T, C): one row per output frame
            rows = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
            t = rows.shape[0]
            step = self.item_hop / t
            ends = end - np.round((t - 1 - np.arange(t)) * step).astype(np.int64)
            return rows, ends
        rows = np.concatenate([p.reshape(-1) for p in parts])[None, :]
        return rows, np.array([end], np.int64)

    def _decode_finish(self) -> list[Event]:
        raw = self.decoder.finish()
        if not raw or self._last is None:
            return []
        emit = self.clock()
        idx, dev_us, arrival = self._last
        events = [Event(self.task, dev_us, arrival, emit, 1000.0 * (emit - arrival), idx, p) for p in raw]
        self.events += len(events)
        return events

    def finish(self) -> list[Event]:
        """End of stream: the decoder's held-back events (e.g. a final diagnosis)."""
        return self._decode_finish()

    # -- reporting ------------------------------------------------------------------
    def stats(self) -> EngineStats:
        p50, p99, mx = percentiles([1000.0 * h.latency_s for h in self.hops])
        return EngineStats(self.blocks, self.samples, self.items, self.skipped, self.events, self.gaps,
                           self.gap_samples, p50, p99, mx)


__all__ = ["Engine", "EngineStats", "Event", "HopTiming", "item_hop_samples", "model_dsp"]
