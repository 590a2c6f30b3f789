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

import logging
import math
import os
import select
import tempfile
import threading
import time
import tty
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from edgeemg.bridge.band import BandItem, BandStats, Block, FrameRouter
from edgeemg.bridge.codec import DeviceInfo, FrameDecoder, encode_device_info, encode_frame
from edgeemg.bridge.faults import BandFault, FaultPlan
from edgeemg.data.bands import band_signal
from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import DeviceError, InvalidInputError

logger = logging.getLogger(__name__)

FIRMWARE = "edgeemg-sim/1"
DEVICE_T0_US = 1_000_000  # the simulated device clock does not start at 0, so nothing may assume it does


@dataclass(frozen=True)
class TimedTruthEvent:
    """A simulator truth event with the device time (µs) it happened at, for latency accounting."""

    device_time_us: int
    event: TruthEvent


class _FrameSource:
    """Produces the device's byte stream frame by frame: a device-info frame at start and every ``info_interval_s``."""

    def __init__(self, task, seed, session, seconds, samples_per_frame, fmt, info_interval_s, chunk_s=30.0,
                 faults=()):
        if seconds is not None and not seconds > 0:
            raise InvalidInputError(f"seconds must be > 0 or None (endless), got {seconds}")
        self.task, self.seed, self.session = task, seed, session
        self.seconds = seconds
        self.chunk_s = float(seconds) if seconds is not None else chunk_s
        self.fmt = fmt
        self.signal: BandSignal = band_signal(task, self.chunk_s, seed=seed, session=session)
        self.fs_hz = self.signal.fs_hz
        spf = samples_per_frame or max(1, int(round(self.fs_hz * 0.004)))  # ~4 ms frames
        self.spf = int(spf)
        self.info = DeviceInfo(
            self.fs_hz, self.signal.n_channels, self.signal.layout, FIRMWARE, self.spf, fmt, self._scale(self.signal.emg)
        )
        self.info_every = max(1, int(round(info_interval_s * self.fs_hz / self.spf)))
        self.faults = FaultPlan(faults, self.fs_hz, seed)
        self._booted: set[int] = set()
        self.truth: list[TimedTruthEvent] = []
        self._add_truth(self.signal, 0)
        self.seq = 0
        self.frames_made = 0
        self.sample_index = 0  # samples emitted so far
        self.n_chunks = 1

    def _scale(self, emg) -> float:
        if self.fmt == "float32":
            return 1.0
        peak = float(np.abs(emg).max()) if emg.size else 1.0
        lim = 32000.0 if self.fmt == "int16" else 8.0e6
        return float(2.0 ** math.ceil(math.log2(max(peak, 1e-3) / lim)))  # power of two: exact in float32

    def _add_truth(self, sig: BandSignal, first_sample: int) -> None:
        self.truth.extend(TimedTruthEvent(self.device_us(first_sample + e.time_s * self.fs_hz), e) for e in sig.events)

    def device_us(self, sample_index: float) -> int:
        """The device clock at a sample: from DEVICE_T0_US, or from 0 at the band's last reboot."""
        boot = self.faults.last_boot(sample_index)
        t0, first = (DEVICE_T0_US, 0) if boot is None else (0, boot)
        return t0 + int(round((sample_index - first) * 1e6 / self.fs_hz))

    def next_frame(self) -> tuple[bytes, int] | None:
        """(bytes, index of the sample after this frame) or None at the end of the signal.

        The bytes are what the band sends under its :class:`FaultPlan`: empty
        while it drops frames or is off, random during garbage.
        """
        first = self.sample_index
        boot = self.faults.last_boot(first)
        if boot is not None and boot not in self._booted:  # the band boots: seq from 0, device info first
            self._booted.add(boot)
            self.seq = self.frames_made = 0
        item = self._make_frame()
        return None if item is None else (self.faults.apply(item[0], first), item[1])

    def _make_frame(self) -> tuple[bytes, int] | None:
        if self.frames_made % (self.info_every + 1) == 0:
            b = encode_device_info(self.seq, self.device_us(self.sample_index), self.info)
            self.seq = (self.seq + 1) & 0xFFFF
            self.frames_made += 1
            return b, self.sample_index
        chunk_n = self.signal.emg.shape[0]
        local = self.sample_index - (self.n_chunks - 1) * int(round(self.chunk_s * self.fs_hz))
        if local >= chunk_n:
            if self.seconds is not None:
                return None
            self.signal = band_signal(self.task, self.chunk_s, seed=self.seed, session=self.session + self.n_chunks)
            self._add_truth(self.signal, self.sample_index)
            self.n_chunks += 1
            local = 0
            self._chunk_scale = None
        x = self.signal.emg[local : local + self.spf]
        scale = self.info.scale_uv if self.n_chunks == 1 else self._chunk_scale_for(self.signal.emg)
        b = encode_frame(self.seq, self.device_us(self.sample_index), x, fmt=self.fmt, scale_uv=scale)
        self.seq = (self.seq + 1) & 0xFFFF
        self.frames_made += 1
        self.sample_index += x.shape[0]
        return b, self.sample_index

    _chunk_scale = None

    def _chunk_scale_for(self, emg) -> float:
        if self._chunk_scale is None:
            self._chunk_scale = self._scale(emg)
        return self._chunk_scale


class _PtyDevice:
    """The device side of a pseudo-terminal: writes a frame source at a paced rate."""

    def __init__(self, source: _FrameSource, speed: float, link_path: str | None = None, drift_ppm: float = 0.0):
        self.source = source
        self.speed = speed
        self.drift = 1.0 + drift_ppm * 1e-6
        self._tmpdir = None
        if link_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="edgeemg-band-")
            link_path = os.path.join(self._tmpdir, "band")
        self.port_path = link_path
        self._master: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.done = threading.Event()
        self.settle_s = 0.1
        self.bytes_written = 0
        self.frames_lost = 0  # frames the device sent while nobody listened
        self._thread: threading.Thread | None = None
        self.replug()

    def replug(self) -> None:
        """Open a fresh pty and point :attr:`port_path` at it."""
        master, slave = os.openpty()
        tty.setraw(slave)  # raw before any reader opens it: no echo, no line editing, bytes pass untouched
        name = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        tmp = self.port_path + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self.port_path)
        with self._lock:
            self._master = master
        logger.debug("simulated band on %s -> %s", self.port_path, name)

    def unplug(self) -> None:
        """Close the pty (readers get EIO) and remove the path, as a pulled cable does."""
        with self._lock:
            m, self._master = self._master, None
        if os.path.lexists(self.port_path):
            os.unlink(self.port_path)
        if m is not None:
            os.close(m)

    def _listening(self, master: int) -> bool:
        ev = select.poll()
        ev.register(master, select.POLLOUT)
        return not any(e & select.POLLHUP for _fd, e in ev.poll(0))

    def _write(self, data: bytes) -> bool:
        view = memoryview(data)
        while view and not self._stop.is_set():
            with self._lock:
                m = self._master
                if m is None or not self._listening(m):
                    return False
                try:
                    n = os.write(m, view)
                except BlockingIOError:
                    n = 0
                except OSError:
                    return False
            self.bytes_written += n
            view = view[n:]
            if view:
                select.select([], [m], [], 0.05)
        return not view

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgeemg-sim-band", daemon=True)
        self._thread.start()

    def _wait_for_reader(self) -> bool:
        while not self._stop.is_set():
            with self._lock:
                m = self._master
                if m is not None and self._listening(m):
                    return True
            self._stop.wait(0.01)
        return False

    def _run(self) -> None:
        try:
            if not self._wait_for_reader():
                return
            # pyserial flushes the input buffer (tcflush) right after opening the port;
            # bytes written before that would vanish, so let the reader settle first.
            if self._stop.wait(self.settle_s):
                return
            fs = self.source.fs_hz
            t0 = time.monotonic()
            while not self._stop.is_set():
                item = self.source.next_frame()
                if item is None:
                    break
                data, end_sample = item
                if math.isfinite(self.speed):
                    due = t0 + end_sample / fs * self.drift / self.speed
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                if not self._write(data):
                    self.frames_lost += 1
        finally:
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.unplug()
        if self._tmpdir is not None:
            try:
                os.rmdir(self._tmpdir)
            except OSError:
                pass


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
        self._source = _FrameSource(task, seed, session, seconds, samples_per_frame, fmt, info_interval_s,
                                    faults=faults)
        self._device: _PtyDevice | None = None
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
            self._device = _PtyDevice(self._source, self.speed, self._link_path, self.drift_ppm)
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

    def _require_pty(self, what: str) -> _PtyDevice:
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
