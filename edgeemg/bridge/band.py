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

from dataclasses import dataclass
from enum import Enum
from typing import Iterator, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.frames import DeviceInfo

__all__ = ["Band", "BandItem", "BandStats", "Block", "Gap", "GapKind", "QueuedBand"]


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
    """What every threaded band shares: a reader thread fills ``self._queue`` (a
    :class:`~edgeemg.bridge.routing.BoundedQueue`) through ``self._router`` (a
    :class:`~edgeemg.bridge.routing.FrameRouter`); consumers read, iterate or use the band as a context manager.

    A subclass sets ``_queue``, ``_router`` (None until built, e.g. at ``open``) and ``_started``, provides
    ``open``/``start``/``close`` and ``_finished()`` (True once no more items can come), and names itself in
    messages via ``label``.
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

    def stop(self) -> None:
        """Stop queueing; the reader (port or poll thread) and the clock mapping stay alive until ``close``."""
        if self._router is not None:
            self._router.delivering = False
        self._started = False
        self._queue.close()

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
