"""The band's health as lines in the event stream: holes in the samples, and stretches without valid frames.

A consumer of the daemon's JSON lines must see a hole where it is instead of
inferring it from frozen metrics. Two kinds of line, both ``{"type": "health"}``:

* ``"state": "gap"``: samples that will never arrive, one line per
  :class:`~edgeemg.bridge.Gap` at the place in the stream where they are missing,
  with its ``kind`` (``lost_frames``, ``reconnect``, ``restart``, ``dropped``),
  where it begins and ends in device time (``from_us``, ``to_us``; a restart's two
  sides are on different device clocks), ``frames`` and ``samples`` missing and
  ``duration_s`` (from the samples; for a restart, the host time between the
  last block before it and the first after). A gap is known once the stream
  resumes, so its line comes then, stating both ends.
* ``"state": "begin"`` / ``"end"``: a condition seen live on the host clock.
  ``no_valid_frames`` begins when no valid data frame has arrived for
  ``stall_after_s`` while the port is connected (``bytes_in`` and the decoder's
  counters say whether garbage or nothing is arriving) and ends at the next
  valid frame; ``disconnected`` begins when the port vanishes and ends when it
  is reopened, at the times the band's reader saw both where the band stamps
  them (a decoder busy then still reports the stretch as it was). The ``end``
  line carries ``duration_s`` and what the decoder
  counted meanwhile (``bytes_read``, ``crc_errors``, ``bytes_discarded``,
  ``resyncs``), as increases of the band's counters since they were read at
  the last valid frame; the reader thread may have decoded a few more bytes by
  then, so these are close to, not exactly, the stretch's (the metrics line's
  totals are exact).

:class:`HealthMonitor` is fed the band's items and polled with its counters
and the host time, so it runs without a band in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Decoder counters reported for a stretch (their increase over it).
STRETCH_COUNTERS = ("bytes_read", "crc_errors", "bytes_discarded", "resyncs")


@dataclass
class _Stretch:
    kind: str
    begin_s: float
    counters: dict[str, int]


class HealthMonitor:
    """Turns band items and counters into health lines (dicts ready for JSON).

    Parameters
    ----------
    fs_hz : float
        The band's sample rate (a gap's duration from its samples).
    stall_after_s : float
        Host seconds without a valid data frame before a ``no_valid_frames`` stretch begins.
    """

    def __init__(self, fs_hz: float, stall_after_s: float = 1.0) -> None:
        self.fs_hz = float(fs_hz)
        self.stall_after_s = float(stall_after_s)
        self.stalls = 0  # no_valid_frames stretches begun
        self._last_block_s: float | None = None
        self._last_arrival_s: float | None = None  # when the last block's bytes were read (the reader's stamp)
        self._at_last_block: dict[str, int] = dict.fromkeys(STRETCH_COUNTERS, 0)  # counters when it arrived
        self._open: dict[str, _Stretch] = {}
        self._disconnects = 0

    def start(self, now_s: float) -> None:
        """The stream starts now (a stall is measured from here until the first block)."""
        self._last_block_s = now_s

    def item(self, item: Any, stats: Any, now_s: float) -> list[dict[str, Any]]:
        """A band item arrived: the port is back and frames are valid again; a gap gives its line."""
        from edgeemg.bridge import Block

        lines = self._connection(stats, now_s, connected=True)
        lines += self._end("no_valid_frames", stats, now_s)  # a gap notice comes with the frame after it
        if not isinstance(item, Block):
            lines.append(self._gap_line(item))
        else:
            self._last_arrival_s = item.host_time_s
        self._last_block_s = now_s
        self._at_last_block = _counters(stats)
        return lines

    def poll(self, stats: Any, now_s: float, connected: bool = True) -> list[dict[str, Any]]:
        """Check the live conditions against the band's counters (``BandStats``) and whether its port is open."""
        lines = self._connection(stats, now_s, connected)
        if (connected and "no_valid_frames" not in self._open and self._last_block_s is not None
                and now_s - self._last_block_s >= self.stall_after_s):
            self.stalls += 1
            lines += self._begin("no_valid_frames", stats, now_s, since=(self._last_block_s, self._at_last_block))
        return lines

    def _connection(self, stats: Any, now_s: float, connected: bool) -> list[dict[str, Any]]:
        """Begin a ``disconnected`` stretch when the band counted a new disconnect; end it once connected."""
        lines: list[dict[str, Any]] = []
        if stats.disconnects > self._disconnects:
            self._disconnects = stats.disconnects
            lines += self._end("no_valid_frames", stats, now_s)  # the cause is known now
            gone_s = getattr(stats, "disconnected_at_s", None)
            since = None if gone_s is None else (min(gone_s, now_s), _counters(stats))
            lines += self._begin("disconnected", stats, now_s, since=since)
        if connected and "disconnected" in self._open:
            stamped = getattr(stats, "disconnected_at_s", None) is not None
            back_s = getattr(stats, "reconnected_at_s", None)
            # a stamping band not reopened since: this is a frame queued before the unplug
            if not stamped or (back_s is not None and back_s >= self._open["disconnected"].begin_s):
                at_s = now_s if back_s is None else min(back_s, now_s)
                lines += self._end("disconnected", stats, at_s)
                self._last_block_s = at_s  # a stall is measured from the reconnect
        return lines

    def finish(self, stats: Any, now_s: float) -> list[dict[str, Any]]:
        """The stream ends: close every open stretch (its end line says ``"open_at_stop": true``)."""
        lines: list[dict[str, Any]] = []
        for kind in list(self._open):
            lines += self._end(kind, stats, now_s, open_at_stop=True)
        return lines

    # -- lines ---------------------------------------------------------------------
    def _begin(self, kind: str, stats: Any, now_s: float,
               since: tuple[float, dict[str, int]] | None = None) -> list[dict[str, Any]]:
        """Open a stretch now, or ``since`` (host time, counters) when it is noticed after it began."""
        begin, counters = (now_s, _counters(stats)) if since is None else since
        self._open[kind] = _Stretch(kind, begin, counters)
        return [{"type": "health", "state": "begin", "kind": kind, "host_s": round(begin, 6)}]

    def _end(self, kind: str, stats: Any, now_s: float, **extra: Any) -> list[dict[str, Any]]:
        st = self._open.pop(kind, None)
        if st is None:
            return []
        line = {"type": "health", "state": "end", "kind": kind, "host_s": round(now_s, 6),
                "duration_s": round(now_s - st.begin_s, 3)}
        line.update({c: getattr(stats, c) - v for c, v in st.counters.items()})
        line.update(extra)
        return [line]

    def _gap_line(self, gap: Any) -> dict[str, Any]:
        """One line for a hole in the samples, stating both ends and its duration."""
        if gap.samples >= 0:
            duration = gap.samples / self.fs_hz
        else:  # a restart: the two sides are on different device clocks; the host's reader saw how long it took
            duration = gap.host_time_s - self._last_arrival_s if self._last_arrival_s is not None else 0.0
        return {"type": "health", "state": "gap", "kind": gap.kind.value, "frames": gap.frames,
                "samples": gap.samples, "from_us": gap.from_us, "to_us": gap.to_us, "duration_s": round(duration, 3),
                "host_s": round(gap.host_time_s, 6)}


def _counters(stats: Any) -> dict[str, int]:
    return {c: getattr(stats, c) for c in STRETCH_COUNTERS}


__all__ = ["HealthMonitor", "STRETCH_COUNTERS"]
