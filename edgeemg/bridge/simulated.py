"""A simulated band: a task simulator's signal sent as protocol frames.

Two transports, one frame stream:

* in-process (default): frames are encoded and decoded in the caller's thread,
  no OS involved; the fastest path, for tests and ``edgeemg bench``;
* ``pty=True``: a device thread writes the frames into a pseudo-terminal whose
  path (a stable symlink, :attr:`SimulatedBand.port_path`) any serial reader
  can open, so the whole serial path runs without hardware. ``unplug()`` /
  ``replug()`` simulate a cable pull: the device clock keeps running, frames
  sent meanwhile are lost, the symlink points at a fresh pty afterwards.

Streaming starts when a host first opens the port (like a CDC device waiting
for DTR), so no data is lost to a slow start; after that the device clock runs
continuously. ``speed`` scales the real rate (``float('inf')``: as fast as possible).
"""

from __future__ import annotations

import math
import time
from typing import Iterator

from edgeemg.bridge.band import BandItem, BandStats
from edgeemg.bridge.decoder import FrameDecoder
from edgeemg.bridge.faults import BandFault
from edgeemg.bridge.frames import DeviceInfo
from edgeemg.bridge.pty_device import PtyDevice
from edgeemg.bridge.routing import FrameRouter
from edgeemg.bridge.sim_source import FrameSource, TimedTruthEvent
from edgeemg.data.recording import BandSignal
from edgeemg.errors import DeviceError, InvalidInputError

class SimulatedBand:
    """A band that streams ``band_signal(task, ...)`` as protocol frames.

    Parameters
    ----------
    task : str
        Any task of :func:`edgeemg.data.bands.band_signal` ("synthetic" needs no simulator).
    seed, session : int
        Passed to the simulator.
    seconds : float or None
        Length of the stream; None streams endless consecutive sessions.
    speed : float
        1.0 is real time, 10.0 ten times faster, ``float('inf')`` as fast as possible.
    pty : bool
        Stream over a pseudo-terminal (:attr:`port_path`) instead of in-process.
    samples_per_frame : int, optional
        Default: about 4 ms of samples.
    fmt : {"int16", "int24", "float32"}
    queue_frames : int
        Queue bound of the pty reader (in-process mode has no queue).
    drift_ppm : float
        pty mode: the device clock runs this much slower than host time,
        to exercise clock mapping.
    link_path : str, optional
        pty mode: where the port symlink lives (default: a fresh temporary folder).
    faults : sequence of BandFault
        Misbehaviour to act out at given signal times (garbage, dropped frames,
        a reboot; see :mod:`edgeemg.bridge.faults`).

    Notes
    -----
    Both modes decode through :class:`FrameDecoder`, so what the runtime sees
    in tests is what it sees from a band. :attr:`truth_events` gives the
    simulator's ground truth in device time, for latency from the true event.
    """

    def __init__(
        self,
        task: str,
        seed: int = 0,
        *,
        session: int = 0,
        seconds: float | None = 30.0,
        speed: float = 1.0,
        pty: bool = False,
        samples_per_frame: int | None = None,
        fmt: str = "int16",
        queue_frames: int = 1024,
        info_interval_s: float = 1.0,
        drift_ppm: float = 0.0,
        link_path: str | None = None,
        faults: tuple[BandFault, ...] = (),
    ) -> None:
        if not speed > 0:
            raise InvalidInputError(f"speed must be > 0 (inf for as fast as possible), got {speed}")
        self.task = task
        self.speed = float(speed)
        self.pty = bool(pty)
        self.queue_frames = queue_frames
        self.drift_ppm = drift_ppm
        self._link_path = link_path
        self._source = FrameSource(task, seed, session, seconds, samples_per_frame, fmt, info_interval_s,
                                    faults=faults)
        self._device: PtyDevice | None = None
        self._host = None
        self._decoder = FrameDecoder()
        self._pending: list[BandItem] = []
        self._router = FrameRouter(self._pending.append)
        self._opened = self._started = False
        self._t0: float | None = None
        self._bytes = 0

    # -- description -------------------------------------------------------------
    @property
    def info(self) -> DeviceInfo:
        return self._source.info

    @property
    def signal(self) -> BandSignal:
        """The (first) simulated signal; frames carry it quantised to the frame format."""
        return self._source.signal

    @property
    def truth_events(self) -> tuple[TimedTruthEvent, ...]:
        """Ground-truth events generated so far, with device times in µs."""
        return tuple(self._source.truth)

    def sample_time_s(self, index: int) -> float | None:
        """``time.monotonic()`` at which the device's sample ``index`` (counted from its first) existed.

        The device paces its frames on a clock that starts when streaming
        starts: sample ``index`` exists at that start plus ``index / fs``
        (scaled by ``speed`` and, over a pty, ``drift_ppm``), and leaves in
        the frame that ends after it. A block's ``host_time_s`` is when the host
        read it; this is the sample's own time, for latency measured from the
        sample as an LSL sender's stamps measure it (``benchmarks/report_sources.py``).
        None before streaming starts, or at ``speed=inf`` (no clock).
        """
        start = self._device.started_s if self._device is not None else self._t0
        if start is None or not math.isfinite(self.speed):
            return None
        drift = 1.0 + self.drift_ppm * 1e-6 if self._device is not None else 1.0
        return start + index / self._source.fs_hz * drift / self.speed

    @property
    def port_path(self) -> str:
        if self._device is None:
            raise DeviceError("port_path exists only for SimulatedBand(..., pty=True) after open()")
        return self._device.port_path

    @property
    def clock(self):
        return self._host.clock if self._host is not None else self._router.clock

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> "SimulatedBand":
        """In pty mode, create the pty and start the device (it waits for a reader)."""
        if self._opened:
            return self
        if self.pty:
            self._device = PtyDevice(self._source, self.speed, self._link_path, self.drift_ppm)
            self._device.start()
        self._opened = True
        return self

    def start(self) -> None:
        """Start delivering. In pty mode this opens a reader on :attr:`port_path`."""
        if not self._opened:
            raise DeviceError("start() on SimulatedBand before open()")
        if self.pty:
            if self._host is None:
                from edgeemg.bridge.serial_band import SerialBand

                self._host = SerialBand(self.port_path, queue_frames=self.queue_frames, buffer_before_start=True).open()
            self._host.start()
        else:
            self._router.delivering = True
        self._started = True

    def stop(self) -> None:
        if self._host is not None:
            self._host.stop()
        self._router.delivering = False
        self._started = False

    def close(self) -> None:
        self.stop()
        if self._host is not None:
            self._host.close()
            self._host_stats = self._host.stats  # keep the figures readable after close
            self._host = None
        if self._device is not None:
            self._device.close()
            self._device = None
        self._opened = False

    def __enter__(self) -> "SimulatedBand":
        self.open()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def unplug(self) -> None:
        """pty mode: pull the cable (the reader sees the port vanish)."""
        self._require_pty("unplug").unplug()

    def replug(self) -> None:
        """pty mode: plug it back in at the same :attr:`port_path`."""
        self._require_pty("replug").replug()

    def _require_pty(self, what: str) -> PtyDevice:
        if self._device is None:
            raise DeviceError(f"{what}() needs SimulatedBand(..., pty=True) opened")
        return self._device

    @property
    def connected(self) -> bool:
        """pty mode: whether the host side has the port open (False while unplugged); in-process: always."""
        return self._host is None or self._host.connected

    @property
    def done(self) -> bool:
        """True once every frame of a finite signal has been sent and delivered."""
        if self._device is not None:
            return self._device.done.is_set() and self._host is not None and self._host.stats.bytes_read >= self._device.bytes_written and len(self._host._queue) == 0
        return self._source.seconds is not None and self._exhausted and not self._pending

    _exhausted = False
    _next = None

    # -- data --------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> BandItem | None:
        """Next :class:`Block` or :class:`Gap`; None at the end of the signal or after ``timeout``."""
        if not self._started:
            raise DeviceError("read() on SimulatedBand before start(); use `with band:` or call start()")
        if self._host is not None:
            return self._host.read(timeout)
        while not self._pending:
            if self._next is None:
                if self._exhausted:
                    return None
                self._next = self._source.next_frame()
                if self._next is None:
                    self._exhausted = True
                    return None
            data, end_sample = self._next
            if self._t0 is None:
                self._t0 = time.monotonic()
            if math.isfinite(self.speed):
                delay = self._t0 + end_sample / self._source.fs_hz / self.speed - time.monotonic()
                if delay > 0:
                    if timeout is not None and delay > timeout:
                        time.sleep(timeout)
                        return None  # the frame stays due; the next read delivers it
                    time.sleep(delay)
            self._next = None
            self._bytes += len(data)
            self._router.handle(self._decoder.feed(data), time.monotonic())
        return self._pending.pop(0)

    def __iter__(self) -> Iterator[BandItem]:
        """Every item until the signal ends (or the band is stopped)."""
        while self._started:
            item = self.read(0.5)
            if item is not None:
                yield item
            elif self.done or (self._host is None and self._exhausted):
                return

    _host_stats: BandStats | None = None

    @property
    def stats(self) -> BandStats:
        if self._host is not None:
            return self._host.stats
        if self._host_stats is not None:
            return self._host_stats
        d = self._decoder.stats
        r = self._router
        return BandStats(
            frames=r.frames, samples=r.samples, bytes_read=self._bytes, crc_errors=d.crc_errors, resyncs=d.resyncs,
            lost_frames=d.lost_frames, bytes_discarded=d.bytes_discarded, gaps=r.gaps, restarts=r.restarts,
            device_errors=r.device_errors,
        )
