"""How a band's decoded frames become the items it queues: gap tracking, routing, the bounded queue.

Every band (serial, in-process simulated, polled sources, the Cyton adapter) feeds its
decoded frames to a :class:`FrameRouter`, which keeps the device info, the clock mapping
and a :class:`GapTracker`, and puts :class:`~edgeemg.bridge.band.Block` and
:class:`~edgeemg.bridge.band.Gap` items into a :class:`BoundedQueue` that the consumer
reads (:class:`~edgeemg.bridge.band.QueuedBand`). The items and the band interface are in
:mod:`edgeemg.bridge.band`.
"""

from __future__ import annotations

import threading
from collections import deque

from edgeemg.bridge.band import BandItem, Block, Gap, GapKind
from edgeemg.bridge.frames import DeviceInfo, Frame

__all__ = ["BoundedQueue", "FrameRouter", "GapTracker"]


class GapTracker:
    """Turns a stream of decoded data frames into blocks and explicit gaps.

    Sample counts of a gap come from device timestamps (which do not wrap and
    are unaffected by lost non-data frames); frame counts from the decoder's
    sequence gap. A restart (the decoder flagged a frame whose clock went
    back, often the device-info frame a rebooting band sends first, or a data
    frame stamped before the expected time) wins over a reconnect: a band that
    rebooted while unplugged restarted, and its clock must be re-anchored.
    """

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = float(fs_hz)
        self._next_us: float | None = None  # expected timestamp of the next frame's first sample
        self._reconnected = False
        self._restarted = False
        self._lost = 0  # sequence gaps seen since the last data frame (device-info frames carry some)

    def note(self, frame: Frame) -> None:
        """Any frame, data or not: its sequence gap and restart flag belong to the next data frame's gap."""
        self._lost += frame.lost_before
        self._restarted |= frame.restart

    def mark_reconnect(self) -> None:
        """The next frame's gap (if any, even an empty one) is reported as a reconnect."""
        self._reconnected = True

    def check(self, frame: Frame, host_s: float) -> Gap | None:
        gap = None
        ts = frame.timestamp_us
        if self._next_us is not None:
            missing = int(round((ts - self._next_us) * self.fs_hz * 1e-6))
            if self._restarted or (ts < self._next_us - 0.5e6 / self.fs_hz and missing < 0):
                gap = Gap(GapKind.RESTART, 0, -1, int(round(self._next_us)), ts, host_s)
            elif self._reconnected:
                gap = Gap(GapKind.RECONNECT, self._lost, max(missing, 0), int(round(self._next_us)), ts, host_s)
            elif self._lost or missing > 0:
                gap = Gap(GapKind.LOST_FRAMES, self._lost, max(missing, 0), int(round(self._next_us)), ts, host_s)
        self._reconnected = self._restarted = False
        self._lost = 0
        self._next_us = ts + frame.n_samples * 1e6 / self.fs_hz
        return gap


class BoundedQueue:
    """A queue of band items that never grows past ``maxlen`` items.

    When full, the *oldest* item is evicted (a real-time consumer wants fresh
    data) and the evictions are coalesced into one pending DROPPED :class:`Gap`
    that :meth:`get` returns before the next surviving item, so the consumer
    learns exactly which device-time span it missed. Evicted gap notices are
    folded into that gap (their frames and samples add up).
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            from edgeemg.errors import InvalidInputError

            raise InvalidInputError(f"queue length must be >= 1, got {maxlen}")
        self.maxlen = int(maxlen)
        self._q: deque[BandItem] = deque()
        self._cond = threading.Condition()
        self._drop: list[int] | None = None  # [frames, samples, from_us, to_us]
        self.dropped_frames = 0
        self.high_water = 0
        self._closed = False

    def __len__(self) -> int:
        return len(self._q)

    def put(self, item: BandItem) -> None:
        with self._cond:
            q = self._q
            if len(q) >= self.maxlen:
                old = q.popleft()
                if isinstance(old, Block):
                    f, s, a, b = 1, old.n_samples, old.timestamp_us, old.timestamp_us
                    self.dropped_frames += 1
                else:
                    f, s, a, b = old.frames, max(old.samples, 0), old.from_us, old.to_us
                if self._drop is None:
                    self._drop = [f, s, a, b]
                else:
                    self._drop[0] += f
                    self._drop[1] += s
                    self._drop[3] = b
            q.append(item)
            self.high_water = max(self.high_water, len(q))
            self._cond.notify()

    def get(self, timeout: float | None) -> BandItem | None:
        import time

        with self._cond:
            if not self._q and self._drop is None:
                if self._closed:
                    return None
                self._cond.wait_for(lambda: self._q or self._drop is not None or self._closed, timeout)
            if self._drop is not None:
                f, s, a, _b = self._drop
                self._drop = None
                nxt = self._q[0] if self._q else None
                to_us = nxt.timestamp_us if isinstance(nxt, Block) else (nxt.from_us if nxt else a)
                return Gap(GapKind.DROPPED, f, s, a, to_us, time.monotonic())
            return self._q.popleft() if self._q else None

    def clear(self) -> None:
        with self._cond:
            self._q.clear()
            self._drop = None

    def close(self) -> None:
        """Wake every waiting reader; get() returns None once empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


class FrameRouter:
    """Shared by every band: decoded frames in, blocks and gaps out through ``put``.

    Keeps the device info, the clock mapping and the gap tracker, so a serial
    band, the in-process simulated band and the Cyton adapter behave alike.
    Data frames that arrive before the device info are skipped (their sample
    rate is unknown) and counted in ``frames_before_info``.
    """

    def __init__(self, put, info: DeviceInfo | None = None) -> None:
        from edgeemg.bridge.clock import ClockMapper

        self._put = put
        self.clock = ClockMapper()
        self.info: DeviceInfo | None = None
        self.info_event = threading.Event()
        self.tracker: GapTracker | None = None
        self.delivering = False
        self.frames = self.samples = self.gaps = self.restarts = self.device_errors = self.frames_before_info = 0
        self.last_error = None
        if info is not None:
            self._set_info(info)

    def _set_info(self, info: DeviceInfo) -> None:
        import logging

        if self.info is not None and (info.fs_hz, info.n_channels) != (self.info.fs_hz, self.info.n_channels):
            logging.getLogger(__name__).error(
                "device info changed mid-stream: fs_hz %s -> %s, n_channels %d -> %d; keeping the first",
                self.info.fs_hz, info.fs_hz, self.info.n_channels, info.n_channels,
            )
            return
        if self.info is None:
            self.info = info
            self.tracker = GapTracker(info.fs_hz)
            self.info_event.set()

    def mark_reconnect(self) -> None:
        if self.tracker is not None:
            self.tracker.mark_reconnect()

    def handle(self, frames: list[Frame], host_s: float) -> None:
        import logging

        from edgeemg.bridge.protocol import FrameType

        for fr in frames:
            if self.tracker is not None:
                self.tracker.note(fr)
            if fr.kind is FrameType.DATA:
                tr = self.tracker
                if tr is None:
                    self.frames_before_info += 1
                    continue
                if fr.samples.shape[1] != self.info.n_channels:
                    self.frames_before_info += 1
                    logging.getLogger(__name__).warning(
                        "data frame seq %d has %d channels, device info says %d; skipped",
                        fr.seq, fr.samples.shape[1], self.info.n_channels,
                    )
                    continue
                gap = tr.check(fr, host_s)
                if gap is not None:
                    if gap.kind is GapKind.RESTART:  # a new device clock: the old mapping means nothing now
                        self.clock.reset()
                        self.restarts += 1
                    self.gaps += 1
                    if self.delivering:
                        self._put(gap)
                self.clock.update(int(fr.timestamp_us + fr.n_samples * 1e6 / tr.fs_hz), host_s)
                block = Block(fr.samples, fr.timestamp_us, host_s, fr.seq, self.clock.to_host(fr.timestamp_us))
                if self.delivering:
                    self.frames += 1
                    self.samples += fr.n_samples
                    self._put(block)
            elif fr.kind is FrameType.DEVICE_INFO:
                self._set_info(fr.info)
            elif fr.kind is FrameType.ERROR:
                self.device_errors += 1
                self.last_error = fr.error
                logging.getLogger(__name__).warning(
                    "device error frame seq %d: code %d: %s", fr.seq, fr.error.code, fr.error.message
                )
