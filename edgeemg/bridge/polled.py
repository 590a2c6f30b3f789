"""A band fed by a library that buffers samples itself (BrainFlow, LSL): poll it on a thread, route frames.

BrainFlow's board controller and an LSL inlet each run their own acquisition
thread and hand out whatever arrived since the last call. :class:`PolledBand`
polls such a source every ``poll_interval_s`` on a reader thread and pushes
the frames it returns through the same :class:`~edgeemg.bridge.routing.FrameRouter`
the serial band uses, so gaps, the device-clock mapping, the bounded queue and
the lifecycle (``open -> start -> read -> stop -> close``) behave exactly as
for the edgeemg serial link. A subclass says how to connect, what one poll
returns, and how to disconnect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.band import BandStats, QueuedBand
from edgeemg.bridge.frames import DeviceInfo, Frame
from edgeemg.bridge.routing import BoundedQueue, FrameRouter
from edgeemg.errors import DeviceError, InvalidInputError

log = logging.getLogger(__name__)


class PolledBand(QueuedBand):
    """Base of the library-backed bands; subclasses implement ``_connect``, ``_poll`` and ``_disconnect``.

    Parameters
    ----------
    name : str
        The source as the user wrote it (``brainflow:synthetic``), for messages.
    poll_interval_s : float
        Sleep between polls that returned nothing; it bounds the latency the
        polling adds (half of it on average), unless the source can wait for
        data itself (:attr:`poll_waits`).
    queue_frames : int
        Bound of the item queue (see :class:`~edgeemg.bridge.routing.BoundedQueue`).
    """

    def __init__(self, name: str, *, poll_interval_s: float = 0.005, queue_frames: int = 4096) -> None:
        if not poll_interval_s > 0:
            raise InvalidInputError(f"{name}: poll_interval_s must be > 0 seconds, got {poll_interval_s!r}")
        self.name = name
        self.poll_interval_s = float(poll_interval_s)
        self._queue = BoundedQueue(queue_frames)
        self._router: FrameRouter | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._opened = self._started = False
        self.lost_samples = 0  # samples the source's counter or timestamps say never arrived
        self.exhausted = False  # a finite source (a playback file) delivered everything
        self.error: BaseException | None = None

    # -- what a subclass provides ----------------------------------------------------
    #: True when ``_poll`` itself waits up to ``poll_interval_s`` for data (and returns as soon as some
    #: arrives), so the reader thread need not sleep between empty polls and adds no polling delay.
    poll_waits = False

    def _connect(self) -> DeviceInfo:
        raise NotImplementedError

    def _poll(self) -> list[tuple[Frame, float]]:
        """Frames that arrived since the last poll, each with the host monotonic time its last sample arrived."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> "PolledBand":
        """Connect (the device info is then known) and start polling; idempotent."""
        if self._opened:
            return self
        info = self._connect()
        self._router = FrameRouter(self._queue.put, info)
        self._router.delivering = True
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name=f"edgeemg-{self.name}", daemon=True)
        self._thread.start()
        self._opened = True
        return self

    def start(self) -> None:
        """Start reading. Everything the source delivered since :meth:`open` is kept (the queue bound holds):
        the library buffered it anyway, and a stream that starts when a consumer subscribes (LSL) loses nothing."""
        if not self._opened:
            raise DeviceError(f"start() on band '{self.name}' before open()")
        self._queue.reopen()
        self._router.delivering = True
        self._started = True

    def close(self) -> None:
        """Stop polling and release the source. Idempotent."""
        self.stop()
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        if self._opened:
            self._opened = False
            self._disconnect()

    # -- data --------------------------------------------------------------------------
    @property
    def info(self) -> DeviceInfo:
        if self._router is None:
            raise DeviceError(f"band '{self.name}' is not open; call open() first")
        return self._router.info

    @property
    def done(self) -> bool:
        """True once a finite source has delivered everything and the queue is empty (the stream may end)."""
        return self._finished() and len(self._queue) == 0

    @property
    def label(self) -> str:
        return self.name

    def _finished(self) -> bool:
        return self.exhausted or self.error is not None

    @property
    def stats(self) -> BandStats:
        r, q = self._router, self._queue
        if r is None:
            return BandStats()
        return BandStats(frames=r.frames, samples=r.samples, lost_frames=self.lost_samples,
                         dropped_frames=q.dropped_frames, gaps=r.gaps, queue_len=len(q), queue_max=q.maxlen)

    # -- reader thread -----------------------------------------------------------------
    def _run(self) -> None:
        router = self._router
        while not self._halt.is_set():
            try:
                got = self._poll()
            except Exception as exc:  # the library's own error types: keep the cause for the consumer
                log.error("band '%s' failed: %s", self.name, exc)
                self.error = exc
                self._queue.close()
                return
            for frame, host_s in got:
                router.handle([frame], host_s)
            if not got:
                if self.exhausted:
                    self._queue.close()
                    return
                if not self.poll_waits:
                    self._halt.wait(self.poll_interval_s)


def pick_channels(available: Sequence[str], wanted: Sequence[int | str] | None, source: str) -> list[int]:
    """Positions in ``available`` of ``wanted`` (names, case-insensitive, or 0-based positions), in that order."""
    if wanted is None:
        return list(range(len(available)))
    low = [a.lower() for a in available]
    out = []
    for w in wanted:
        if isinstance(w, (int, np.integer)) or (isinstance(w, str) and w.isdigit()):
            i = int(w)
            if not 0 <= i < len(available):
                raise InvalidInputError(f"{source}: channel position {i} is out of range; it has "
                                        f"{len(available)} channels {list(available)}")
        elif str(w).lower() in low:
            i = low.index(str(w).lower())
        else:
            raise InvalidInputError(f"{source}: no channel named '{w}'; its channels are {list(available)}")
        out.append(i)
    return out


def onto_monotonic(stamps_s, other_clock) -> NDArray[np.float64]:
    """Map stamps taken on ``other_clock`` (``time.time`` for BrainFlow, ``pylsl.local_clock`` for LSL) onto
    ``time.monotonic()``, with the two clocks' offset read now, and clamp them to now (never in the future)."""
    mono = time.monotonic()
    offset = other_clock() - mono
    return np.minimum(np.asarray(stamps_s, dtype=np.float64) - offset, mono)


__all__ = ["PolledBand", "onto_monotonic", "pick_channels"]
