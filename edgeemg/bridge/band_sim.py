"""``edgeemg band-sim``: a simulated band's frames on a pseudo-terminal or a serial port, for any reader.

The frame source and the pty device are :mod:`edgeemg.bridge.sim_source`'s and :mod:`edgeemg.bridge.pty_device`'s;
this is the command around them: progress on stderr, the port path on stdout,
signals, and writing to a real port.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from typing import TextIO

from edgeemg.bridge.faults import BandFault
from edgeemg.bridge.pty_device import PtyDevice
from edgeemg.bridge.sim_source import FrameSource
from edgeemg.errors import DeviceError, InvalidInputError

logger = logging.getLogger(__name__)


def band_sim_main(task: str, *, pty: bool, port: str | None, seconds: float | None, seed: int, speed: float,
                  out: TextIO | None = None, progress: bool = True, faults: tuple[BandFault, ...] = ()) -> int:
    """Body of ``edgeemg band-sim TASK [--pty | --port DEVICE] [--seconds S]``.

    With ``pty`` it prints the port path (one line, on ``out``, default stdout)
    as soon as the port can be opened, and streams until the signal ends or
    SIGINT/SIGTERM; with ``port`` it writes the frames to that serial device or
    pyserial URL. Simulating the first stretch of signal takes seconds (more on
    a loaded board), so a progress line goes to stderr first. ``faults`` make
    the band misbehave (garbage, dropped frames, a reboot) at given signal
    times. Returns 0 once the stream ended or was stopped.

    Raises
    ------
    InvalidInputError
        Not exactly one of ``pty`` and ``port``, or a bad ``seconds``.
    DeviceError
        ``port`` cannot be opened or written (the message says which and why).
    """
    if pty == (port is not None):
        raise InvalidInputError("give exactly one of --pty or --port DEVICE")
    length = f"{seconds:g} s" if seconds is not None else "the first 30 s"
    if progress:
        print(f"band-sim: simulating {length} of {task} signal (seed {seed}); the port follows ...", file=sys.stderr,
              flush=True)
    source = FrameSource(task, seed, 0, seconds, None, "int16", 1.0, faults=faults)
    stop = threading.Event()
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        if pty:
            dev = PtyDevice(source, speed)
            try:
                print(dev.port_path, file=out if out is not None else sys.stdout, flush=True)
                dev.start()
                while not stop.is_set() and not dev.wait(0.1):
                    pass
                stop.wait(1.0)  # linger: closing the master would discard bytes the reader has not read yet
            finally:
                dev.close()
            logger.info("band-sim: %d bytes written, %d frames lost while unplugged", dev.bytes_written, dev.frames_lost)
            return 0
        return _stream_to_port(source, port, speed, stop)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _stream_to_port(source: FrameSource, port: str, speed: float, stop: threading.Event) -> int:
    import serial

    from edgeemg.bridge.serial_band import _open_hint

    try:
        ser = serial.serial_for_url(port, baudrate=3_000_000, write_timeout=1.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"could not open port '{port}': {exc}{_open_hint(exc)}") from exc
    t0 = time.monotonic()
    try:
        while not stop.is_set():
            item = source.next_frame()
            if item is None:
                return 0
            data, end_sample = item
            if math.isfinite(speed):
                delay = t0 + end_sample / source.fs_hz / speed - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
            ser.write(data)
        return 0
    except (serial.SerialException, OSError) as exc:
        raise DeviceError(f"write to '{port}' failed: {exc}; was the port closed or unplugged?") from exc
    finally:
        ser.close()


__all__ = ["band_sim_main"]
