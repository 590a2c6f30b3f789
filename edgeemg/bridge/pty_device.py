"""The device side of a pseudo-terminal: a simulated band's frames written at a paced rate.

Streaming starts when a host first opens the port (like a CDC device waiting
for DTR), so no data is lost to a slow start; after that the device clock runs
continuously. ``unplug()`` / ``replug()`` simulate a cable pull: the device
clock keeps running, frames sent meanwhile are lost, the symlink points at a
fresh pty afterwards.
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

from edgeemg.bridge.sim_source import FrameSource

logger = logging.getLogger(__name__)


class PtyDevice:
    """The device side of a pseudo-terminal: writes a frame source at a paced rate."""

    def __init__(self, source: FrameSource, speed: float, link_path: str | None = None, drift_ppm: float = 0.0):
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
        self.started_s: float | None = None  # time.monotonic() of sample 0 on the device's pacing clock
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
            t0 = self.started_s = time.monotonic()
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
