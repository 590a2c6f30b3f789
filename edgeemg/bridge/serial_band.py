"""A band on a serial port (USB CDC, UART, pty): reader thread, bounded queue, reconnect.

The reader thread owns the port. It decodes as bytes arrive, stamps each chunk
with ``time.monotonic()``, and puts blocks and gap notices on a bounded queue,
so a slow consumer costs dropped (and counted) frames, never unbounded memory.
When the port vanishes (unplug, pty master closed) the thread closes it and
retries the same path until it reappears; the first frame after that carries an
explicit RECONNECT gap sized from device timestamps.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from typing import Callable

import serial

from edgeemg.bridge.band import BandStats, QueuedBand
from edgeemg.bridge.decoder import FrameDecoder
from edgeemg.bridge.frames import DeviceInfo
from edgeemg.bridge.routing import BoundedQueue, FrameRouter
from edgeemg.errors import DeviceError, InvalidInputError

logger = logging.getLogger(__name__)

#: Default line rate. USB CDC ignores it; a real UART needs >= 10 bits per byte,
#: i.e. >= 2.62 Mbaud for a 64-channel, 2048 Hz, int16 band (262 kB/s).
DEFAULT_BAUDRATE = 3_000_000


class SerialBand(QueuedBand):
    """An edgeemg band (or another link, via ``decoder_factory``) on a serial port.

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyACM0``, a pty path or a symlink to one) or a
        pyserial URL (``loop://``, ``socket://host:port``).
    baudrate : int
    queue_frames : int
        Bound of the item queue; at 256 frames/s the default holds 4 s.
    reconnect : bool
        Reopen the port after it disappears (default). Without it the stream ends.
    reconnect_interval_s : float
        Time between reopen attempts while the port is missing.
    info_timeout_s : float
        :meth:`open` waits this long for the device-info frame.
    decoder_factory : callable, optional
        Returns the byte decoder (``feed``, ``reset``, ``stats``); default :class:`FrameDecoder`.
    static_info : DeviceInfo, optional
        For links without device-info frames (OpenBCI Cyton).
    buffer_before_start : bool
        Queue items from :meth:`open` on, and keep them at :meth:`start` (the
        queue bound still holds). Default False: frames before ``start()`` only
        teach the device info and clock, as a live band's backlog is stale.
    on_connect, on_disconnect : callable(serial.Serial), optional
        Hooks run on the reader thread after each (re)open / before close, e.g.
        to send a start-streaming command.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        queue_frames: int = 1024,
        reconnect: bool = True,
        reconnect_interval_s: float = 0.1,
        info_timeout_s: float = 3.0,
        decoder_factory: Callable[[], object] = FrameDecoder,
        static_info: DeviceInfo | None = None,
        on_connect: Callable[[serial.SerialBase], None] | None = None,
        on_disconnect: Callable[[serial.SerialBase], None] | None = None,
        buffer_before_start: bool = False,
    ) -> None:
        if not isinstance(port, str) or not port:
            raise InvalidInputError(f"port must be a device path or pyserial URL, got {port!r}")
        if reconnect_interval_s <= 0 or info_timeout_s <= 0:
            raise InvalidInputError(
                f"reconnect_interval_s and info_timeout_s must be > 0, got {reconnect_interval_s}, {info_timeout_s}"
            )
        self.port = port
        self.baudrate = int(baudrate)
        self.reconnect = bool(reconnect)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.info_timeout_s = float(info_timeout_s)
        self._queue = BoundedQueue(queue_frames)
        self._decoder = decoder_factory()
        self._router = FrameRouter(self._queue.put, static_info)
        self._on_connect = on_connect
        self._buffer_before_start = bool(buffer_before_start)
        self._on_disconnect = on_disconnect
        self._ser: serial.SerialBase | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._opened = False
        self._started = False
        self.connected = False
        self._disconnects = 0
        self._disconnected_at_s: float | None = None
        self._reconnected_at_s: float | None = None
        self._reconnects = 0
        self._bytes = 0

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> "SerialBand":
        """Open the port, start the reader thread and wait for the device info.

        Raises
        ------
        DeviceError
            If the port cannot be opened, or no device-info frame arrives within
            ``info_timeout_s`` (the message says what did arrive).
        """
        if self._opened:
            return self
        try:
            self._ser = self._open_port()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"could not open port '{self.port}': {exc}{_open_hint(exc)}") from exc
        self.connected = True
        self._router.delivering = self._buffer_before_start
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"edgeemg-band-{self.port}", daemon=True)
        self._thread.start()
        self._opened = True
        if not self._router.info_event.wait(self.info_timeout_s):
            d = self._decoder.stats
            self.close()
            raise DeviceError(
                f"no device-info frame from '{self.port}' within {self.info_timeout_s} s "
                f"(received {self._bytes} bytes, {d.frames} valid frames, {d.crc_errors} CRC errors, "
                f"{d.bytes_discarded} bytes discarded); {self._silence_hint(d.frames)}"
            )
        return self

    def _silence_hint(self, valid_frames: int) -> str:
        """What the bytes that did (or did not) arrive point to; a hint follows the evidence, nothing else."""
        if self._bytes == 0:
            return "the port opened but sent nothing: is the band powered on and streaming?"
        if valid_frames == 0:
            return (f"bytes arrive but none forms an edgeemg frame: check the line rate (this reader uses "
                    f"{self.baudrate} baud) and that the device on this port speaks firmware_bridge/PROTOCOL.md")
        return ("valid frames arrive but no device-info frame: the firmware must send one at start and about every "
                "second (firmware_bridge/PROTOCOL.md)")

    def start(self) -> None:
        """Start queueing blocks; earlier frames only served to learn the device and its clock."""
        if not self._opened:
            raise DeviceError(f"start() on band '{self.port}' before open()")
        if not self._buffer_before_start:
            self._queue.clear()
        self._queue.reopen()
        self._router.delivering = True
        self._started = True

    def close(self) -> None:
        """Stop the reader thread and close the port. Idempotent."""
        self.stop()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        self._close_port()
        self._opened = False

    # -- data ----------------------------------------------------------------------
    @property
    def info(self) -> DeviceInfo:
        if self._router.info is None:
            raise DeviceError(f"band '{self.port}' has not sent its device info yet (call open() first)")
        return self._router.info

    @property
    def label(self) -> str:
        return self.port

    def _finished(self) -> bool:
        """The reader thread ended: the port is gone for good (reconnect=False) or the band was closed."""
        return self._thread is None or not self._thread.is_alive()

    @property
    def stats(self) -> BandStats:
        d = self._decoder.stats
        r = self._router
        q = self._queue
        return BandStats(
            frames=r.frames,
            samples=r.samples,
            bytes_read=self._bytes,
            crc_errors=d.crc_errors,
            resyncs=d.resyncs,
            lost_frames=d.lost_frames,
            bytes_discarded=d.bytes_discarded,
            dropped_frames=q.dropped_frames,
            gaps=r.gaps,
            disconnects=self._disconnects,
            reconnects=self._reconnects,
            disconnected_at_s=self._disconnected_at_s,
            reconnected_at_s=self._reconnected_at_s,
            restarts=r.restarts,
            device_errors=r.device_errors,
            queue_len=len(q),
            queue_max=q.maxlen,
        )

    # -- reader thread -------------------------------------------------------------
    def _open_port(self) -> serial.SerialBase:
        exclusive = None if "://" in self.port else True
        ser = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05, exclusive=exclusive)
        if self._on_connect is not None:
            self._on_connect(ser)
        return ser

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        self.connected = False
        if ser is None:
            return
        try:
            if self._on_disconnect is not None:
                self._on_disconnect(ser)
        except (serial.SerialException, OSError) as exc:
            logger.debug("on_disconnect hook failed on '%s': %s", self.port, exc)
        try:
            ser.close()
        except (serial.SerialException, OSError):
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            ser = self._ser
            if ser is None:
                if not self.reconnect:
                    break
                try:
                    self._ser = self._open_port()
                except (serial.SerialException, OSError, ValueError):
                    self._stop.wait(self.reconnect_interval_s)
                    continue
                self._reconnected_at_s = time.monotonic()
                self.connected = True
                self._reconnects += 1
                self._decoder.reset()  # partial bytes from before the unplug belong to no frame
                self._router.mark_reconnect()
                logger.info("band '%s' reconnected", self.port)
                continue
            try:
                n = ser.in_waiting
                data = ser.read(min(max(n, 1), 1 << 16))
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial on a port closed under it
                logger.warning("band '%s' disconnected: %s", self.port, exc)
                self._disconnected_at_s = time.monotonic()
                self._disconnects += 1
                self._close_port()
                continue
            if data:
                host_s = time.monotonic()
                self._bytes += len(data)
                self._router.handle(self._decoder.feed(data), host_s)
        self._close_port()


def _open_hint(exc: BaseException) -> str:
    """A hint for a port that would not open, from its errno only (no errno: no hint)."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return "; this user may not open it: add the user to the port's group (e.g. dialout) and log in again"
    if code == errno.ENOENT:
        return "; no such device: is the band plugged in (ls /dev/ttyACM* /dev/ttyUSB*)?"
    if code in (errno.EBUSY, errno.EAGAIN):
        return "; another process holds the port (is a second `edgeemg run` or a serial monitor open on it?)"
    return ""


def open_band(port: str, **kwargs) -> SerialBand:
    """Open an edgeemg band on ``port`` and return it with its device info known.

    Call ``start()`` (or use ``with open_band(port) as band:``) before reading.
    Keyword arguments are those of :class:`SerialBand`.

    Examples
    --------
    >>> with open_band("/dev/ttyACM0") as band:          # doctest: +SKIP
    ...     print(band.info.fs_hz, band.info.n_channels)
    ...     for item in band:
    ...         ...
    """
    return SerialBand(port, **kwargs).open()
