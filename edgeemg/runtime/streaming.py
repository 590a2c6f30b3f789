"""The Python API: ``edgeemg.stream(band, bundle)`` yields decoded events (also with callbacks).

Examples
--------
>>> import edgeemg                                                   # doctest: +SKIP
>>> bundle = edgeemg.load_bundle("gait.int8/")
>>> band = edgeemg.SimulatedBand("gait", seed=0, seconds=10)
>>> for event in edgeemg.stream(band, bundle):
...     print(event.time, event.latency_ms, event["state"])

The band's sample rate and channel count are checked against the bundle
before the band is started, so a wrong bundle fails before a single frame is
decoded. ``stream`` opens the band if needed and starts it if it is not
running; it stops the band when the stream ends, and leaves closing to whoever
opened it (``with band:`` or ``band.close()``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from edgeemg.bridge.band import BandStats
from edgeemg.runtime.engine import Engine, EngineStats, Event
from edgeemg.runtime.health import HealthMonitor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metrics:
    """One periodic metrics record (the daemon's ``{"type": "metrics"}`` line).

    ``band`` holds the link's counters since the band opened: ``lost`` frames
    (on the wire or while unplugged; a reboot's sequence jump is not a loss),
    ``dropped`` (the bounded queue, when the engine fell behind), ``restarts``
    (band reboots), ``crc_errors``, ``resyncs`` and ``bytes_discarded`` (what the
    decoder threw away), ``disconnects`` / ``reconnects`` and ``device_errors``.
    ``stalls`` counts stretches without valid frames (health lines say when).
    """

    uptime_s: float
    band: BandStats
    skipped: int  # model items skipped because they were already older than the latency budget
    stalls: int
    engine: EngineStats
    final: bool = False

    def to_dict(self) -> dict[str, Any]:
        b, e = self.band, self.engine
        return {"type": "metrics", "final": self.final, "uptime_s": round(self.uptime_s, 3), "frames": b.frames,
                "lost": b.lost_frames, "dropped": b.dropped_frames, "skipped": self.skipped, "restarts": b.restarts,
                "reconnects": b.reconnects, "disconnects": b.disconnects, "stalls": self.stalls,
                "crc_errors": b.crc_errors, "resyncs": b.resyncs, "bytes_discarded": b.bytes_discarded,
                "device_errors": b.device_errors, "items": e.items, "events": e.events, "gaps": e.gaps,
                "latency_ms_p50": e.latency_ms_p50, "latency_ms_p99": e.latency_ms_p99,
                "latency_ms_max": e.latency_ms_max}


class Stream:
    """An engine bound to a band: iterate it for events; :meth:`stop` from any thread ends it.

    Parameters
    ----------
    band : Band
        A :class:`~edgeemg.bridge.SerialBand`, :class:`~edgeemg.bridge.SimulatedBand` or adapter.
    bundle : Bundle or path
    target : str or TargetProfile, optional
    precision : {"int8", "fp32"}
    seconds : float, optional
        Stop after this much wall time.
    on_event : callable(Event), optional
        Called for every event (the callback form); events are still yielded.
    on_metrics : callable(Metrics), optional
        Called every ``metrics_every_s`` seconds and once more, with ``final=True``, at the end.
    metrics_every_s : float
    engine : Engine, optional
        A prebuilt engine (``bundle``/``target``/``precision``/``skip_after_ms`` then unused).
    skip_after_ms : float, optional
        See :class:`~edgeemg.runtime.engine.Engine` (default: the target's budget;
        ``float('inf')`` to decode every item however late, e.g. faster than real time).
    idle_timeout_s : float, optional
        End the stream when the band delivers nothing for this long (a finite
        recording played into a port). Default: wait for ever (a live band that
        was unplugged is waited for, not given up on).
    on_health : callable(dict), optional
        Called with each health line (:mod:`edgeemg.runtime.health`): a gap in
        the samples, and the begin and end of a stretch without valid frames or
        of a disconnect.
    stall_after_s : float
        Host seconds without a valid frame before a ``no_valid_frames`` stretch begins.
    """

    def __init__(self, band: Any, bundle: Any = None, *, target: Any = None, precision: str = "int8",
                 seconds: float | None = None, on_event: Callable[[Event], None] | None = None,
                 on_metrics: Callable[[Metrics], None] | None = None, metrics_every_s: float = 5.0,
                 engine: Engine | None = None, skip_after_ms: float | None = None,
                 idle_timeout_s: float | None = None, on_health: Callable[[dict[str, Any]], None] | None = None,
                 stall_after_s: float = 1.0) -> None:
        if engine is None:
            from edgeemg.runtime.bundle import Bundle, load_bundle

            if bundle is None:
                raise TypeError("Stream needs a bundle or an engine")
            bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, precision=precision)
            engine = Engine(bundle, target=target, precision=precision, skip_after_ms=skip_after_ms)
        self.engine = engine
        self.band = band
        self.seconds = seconds
        self.on_event = on_event
        self.on_metrics = on_metrics
        self.metrics_every_s = float(metrics_every_s)
        self.idle_timeout_s = idle_timeout_s
        self._stop = threading.Event()
        self._t0: float | None = None
        band.open()
        engine.check_band(band.info)  # refuse a mismatch before anything is decoded
        self.on_health = on_health
        self.health = HealthMonitor(band.info.fs_hz, stall_after_s)

    def stop(self) -> None:
        """End the iteration at the next item (safe from a signal handler or another thread)."""
        self._stop.set()

    def metrics(self, final: bool = False) -> Metrics:
        s = self.band.stats
        up = 0.0 if self._t0 is None else time.monotonic() - self._t0
        return Metrics(up, s, self.engine.skipped, self.health.stalls, self.engine.stats(), final)

    @property
    def stats(self) -> EngineStats:
        return self.engine.stats()

    def _ended(self) -> bool:
        if getattr(self.band, "done", False):  # finite simulated bands say when everything was delivered
            return True
        # a serial band told not to reconnect is finished once its port is gone
        return getattr(self.band, "reconnect", True) is False and getattr(self.band, "connected", True) is False

    def __iter__(self) -> Iterator[Event]:
        band, eng = self.band, self.engine
        if not getattr(band, "_started", False):
            band.start()
        self._t0 = time.monotonic()
        self.health.start(self._t0)
        next_metrics = self._t0 + self.metrics_every_s
        last_item = self._t0
        try:
            while not self._stop.is_set():
                if self.seconds is not None and time.monotonic() - self._t0 >= self.seconds:
                    break
                item = band.read(0.1)
                now, stats = time.monotonic(), band.stats
                if item is not None:
                    last_item = now
                    self._health(self.health.item(item, stats, now))
                elif self.idle_timeout_s is not None and now - last_item >= self.idle_timeout_s:
                    break
                self._health(self.health.poll(stats, now, getattr(band, "connected", True)))
                events = eng.feed(item) if item is not None else []
                for ev in events:
                    if self.on_event is not None:
                        self.on_event(ev)
                    yield ev
                if self.on_metrics is not None and time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + self.metrics_every_s
                    self.on_metrics(self.metrics())
                if item is None and self._ended():
                    break
            for ev in eng.finish():
                if self.on_event is not None:
                    self.on_event(ev)
                yield ev
        finally:
            band.stop()
            self._health(self.health.finish(band.stats, time.monotonic()))
            if self.on_metrics is not None:
                self.on_metrics(self.metrics(final=True))

    def _health(self, lines: list[dict[str, Any]]) -> None:
        if self.on_health is not None:
            for line in lines:
                self.on_health(line)

    def run(self) -> EngineStats:
        """Consume the stream (the callback form); returns the engine's final counters."""
        for _ in self:
            pass
        return self.engine.stats()


def stream(band: Any, bundle: Any, **kwargs: Any) -> Stream:
    """Decode ``band`` with ``bundle``: an iterable of :class:`~edgeemg.runtime.engine.Event`.

    Keyword arguments are those of :class:`Stream` (``target``, ``precision``,
    ``seconds``, ``on_event``, ``on_metrics``, ``metrics_every_s``).

    Raises
    ------
    BundleError
        The band's sample rate or channel count differs from the bundle's
        (raised here, before the band is started).
    """
    return Stream(band, bundle, **kwargs)


__all__ = ["Metrics", "Stream", "stream"]
