"""``edgeemg run ... --sink lsl:NAME``: decoded events and metrics published as Lab Streaming Layer streams.

Two irregular-rate string streams, one JSON object per sample (the same
objects the stdout sink prints):

* ``NAME`` (type ``Markers``): one sample per decoded event, stamped with the
  event's device time (the newest sample its decision used) on this machine's
  LSL clock, so LabRecorder files the EMG and the decoder's events on one time
  line. From an ``lsl:`` source the device time *is* that clock; from a serial
  or BrainFlow band the band's clock mapping carries it onto the host clock,
  which LSL's ``local_clock`` shares up to a constant read at publication.
* ``NAME-metrics`` (type ``Metrics``): the periodic metrics and the health lines (gaps, stretches
  without valid frames, disconnects; :mod:`edgeemg.runtime.health`), stamped when sent.

The event's own ``emit_s`` and ``latency_ms`` stay in the payload, so a
consumer sees both when the muscle acted and when the decision was out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LslSink:
    """Outlets ``name`` (events) and ``name``-metrics; :meth:`bind` to the band before the first event.

    Raises
    ------
    MissingExtraError
        pylsl is not installed (the ``devices`` extra).
    """

    def __init__(self, name: str) -> None:
        from edgeemg.bridge.lsl_band import _pylsl
        from edgeemg.errors import InvalidInputError

        if not name:
            raise InvalidInputError("--sink lsl:NAME needs a stream name, e.g. lsl:edgeemg-events")
        lsl = self._lsl = _pylsl()
        self.name = name
        self._events = lsl.StreamOutlet(self._info(f"{name}", "Markers"))
        self._metrics = lsl.StreamOutlet(self._info(f"{name}-metrics", "Metrics"))
        self._to_lsl: Callable[[int], float] | None = None

    def _info(self, name: str, kind: str) -> Any:
        lsl = self._lsl
        info = lsl.StreamInfo(name, kind, 1, lsl.IRREGULAR_RATE, lsl.cf_string, f"edgeemg-{name}")
        desc = info.desc()
        desc.append_child_value("producer", "edgeemg")
        desc.append_child_value("payload", "one JSON object per sample (edgeemg run's JSON lines)")
        desc.append_child("channels").append_child("channel").append_child_value("label", "json")
        return info

    def bind(self, band: Any) -> None:
        """Learn how the band's device time maps onto the LSL clock (identity for an ``lsl:`` source)."""
        from edgeemg.bridge.lsl_band import LslBand

        if isinstance(band, LslBand):
            self._to_lsl = lambda us: us * 1e-6
            return
        clock = getattr(band, "clock", None)
        if clock is None:
            return
        offset = self._lsl.local_clock() - time.monotonic()
        self._to_lsl = lambda us: clock.to_host(us) + offset if clock.ready else self._lsl.local_clock()

    def write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj)
        if obj.get("type") == "event":
            ts = self._to_lsl(obj["time_us"]) if self._to_lsl is not None else self._lsl.local_clock()
            self._events.push_sample([line], ts)
        else:
            self._metrics.push_sample([line], self._lsl.local_clock())

    def close(self) -> None:
        """Drop the outlets (liblsl destroys an outlet with its last reference; consumers see the stream end)."""
        self._events = self._metrics = None


__all__ = ["LslSink"]
