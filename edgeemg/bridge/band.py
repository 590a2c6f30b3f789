"""The band interface every source (serial, simulated, OpenBCI) offers the runtime.

A band yields, in order, :class:`Block` items (one per data frame: samples,
device timestamp, host arrival time, seq) and :class:`Gap` notices. A gap is
always explicit: lost frames on the wire, a reconnect after the port vanished,
or frames dropped because the consumer fell behind. The runtime decides what a
gap means for its filters and windows; the bridge never bridges one silently.

Lifecycle (BrainFlow's, made explicit): ``open()`` (port open, device info
known) -> ``start()`` (items start to queue) -> ``read(timeout)`` / iteration ->
``stop()`` -> ``close()``. As a context manager a band is opened and started on
entry and stopped and closed on exit. Nothing is cleaned up in ``__del__``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Iterator, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.frames import DeviceInfo, Frame

__all__ = ["Band", "BandItem", "BandStats", "Block", "BoundedQueue", "Gap", "GapKind", "GapTracker", "QueuedBand"]


class GapKind(str, Enum):
    """Why samples are missing between two blocks."""

    LOST_FRAMES = "lost_frames"  # sequence gap on the wire (corrupted or dropped by the device)
    RECONNECT = "reconnect"  # the port disappeared and came back
    DROPPED = "dropped"  # the consumer was too slow; the bounded queue dropped the oldest frames
    RESTART = "restart"  # the band rebooted (seq and device clock started again): not a loss; timing re-anchors


@dataclass(frozen=True, slots=True)
class Block:
    """One data frame's worth of samples as delivered to the consumer.

    Attributes
    ----------
    samples : ndarray of float32, shape (n_samples, n_channels)
        Microvolts.
    timestamp_us : int
        Device time of the first sample (µs, device clock).
    host_time_s : float
        ``time.monotonic()`` when the frame's last byte was read on the host.
    seq : int
        Frame sequence number (wraps at the link's modulus: 2**16 for edgeemg, 256 for Cyton).
    device_host_s : float
        The first sample's device time mapped to host time by the band's
        :class:`~edgeemg.bridge.clock.ClockMapper` (at arrival): when the sample
        would have arrived over the fastest path seen. Latency accounting uses it.
    """

    samples: NDArray[np.float32]
    timestamp_us: int
    host_time_s: float
    seq: int
    device_host_s: float

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])


@dataclass(frozen=True, slots=True)
class Gap:
    """Samples that will never arrive, placed in the stream where they are missing.

    Attributes
    ----------
    kind : GapKind
    frames : int
        Frames missing (from the sequence numbers, modulo the link's sequence
        modulus for LOST_FRAMES / RECONNECT; exact for DROPPED; 0 for RESTART,
        whose sequence jump is the band starting again, not a loss). Some
        missing frames may be non-data frames.
    samples : int
        Samples missing per channel, from device timestamps (authoritative: they
        do not wrap). -1 when unknown (RESTART: the two sides are on different clocks).
    from_us, to_us : int
        Device time where the missing span starts (first missing sample) and
        the timestamp of the first sample after it.
    host_time_s : float
        ``time.monotonic()`` when the gap was detected.
    """

    kind: GapKind
    frames: int
    samples: int
    from_us: int
    to_us: int
    host_time_s: float


BandItem = Union[Block, Gap]


@dataclass(frozen=True)
class BandStats:
    """Counters of a band since open (a snapshot)."""

    frames: int = 0  # data frames delivered to the queue
    samples: int = 0
    bytes_read: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    lost_frames: int = 0  # from sequence gaps, reconnect gaps included (a restart's sequence jump is not a loss)
    bytes_discarded: int = 0
    dropped_frames: int = 0  # dropped by the bounded queue (slow consumer)
    gaps: int = 0  # Gap notices emitted, all kinds
    disconnects: int = 0
    reconnects: int = 0
    disconnected_at_s: float | None = None  # host monotonic time the reader saw the last disconnect
    reconnected_at_s: float | None = None  # host monotonic time the port was last reopened
    restarts: int = 0  # band reboots (RESTART gaps)
    device_errors: int = 0  # error frames received from the device
    queue_len: int = 0
    queue_max: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@runtime_checkable
class Band(Protocol):
    """What the runtime relies on; :class:`SerialBand`, :class:`SimulatedBand` and the Cyton adapter provide it."""

    @property
    def info(self) -> DeviceInfo: ...

    @property
    def stats(self) -> BandStats: ...

    def open(self) -> "Band": ...

    def start(self) -> None: ...

    def read(self, timeout: float | None = None) -> BandItem | None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def __iter__(self) -> Iterator[BandItem]: ...


class QueuedBand:
    """What every threaded band shares: a reader thread fills ``self._queue`` (a :class:`BoundedQueue`) through
    ``self._router`` (a :class:`FrameRouter`); consumers read, iterate or use the band as a context manager.

    A subclass sets ``_queue``, ``_router`` and ``_started``, provides ``open``/``start``/``close`` and
    ``_finished()`` (True once no more items can come), and names itself in messages via ``label``.
    """

    label = "band"

    def _finished(self) -> bool:
        raise NotImplementedError

    @property
    def clock(self):
        """The :class:`~edgeemg.bridge.clock.ClockMapper` of this band (device µs -> host s)."""
        return self._router.clock

    def read(self, timeout: float | None = None) -> BandItem | None:
        """Next :class:`Block` or :class:`Gap`, or None after ``timeout`` seconds or once stopped."""
        if not self._started:
            from edgeemg.errors import DeviceError

            raise DeviceError(f"read() on band '{self.label}' before start(); use `with band:` or call start()")
        return self._queue.get(timeout)

    def __iter__(self) -> Iterator[BandItem]:
        """Items until the band is stopped or closed, or its source is finished and the queue drained."""
        while self._started:
            item = self.read(0.1)
            if item is not None:
                yield item
            elif self._finished() and len(self._queue) == 0:
                return

    def __enter__(self):
        self.open()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
