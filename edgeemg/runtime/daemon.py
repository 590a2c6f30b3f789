"""The on-device daemon behind ``edgeemg run``: band -> engine -> JSON lines on stdout or a Unix socket.

Output is one JSON object per line: ``{"type": "event", ...}`` for each decoded
event, ``{"type": "health", ...}`` where the band's samples have a hole or a
stretch without valid frames or a disconnect begins and ends
(:mod:`edgeemg.runtime.health`; each also logged as a warning on stderr), and
``{"type": "metrics", ...}`` every ``metrics_every_s`` seconds (frames, lost,
dropped, skipped, restarts, reconnects, CRC errors, resyncs, bytes discarded,
p50/p99 latency; :class:`~edgeemg.runtime.streaming.Metrics`) and once more with
``"final": true`` when the daemon stops. SIGTERM and SIGINT stop it cleanly: the
stream ends at the next band item, the decoder's held-back events and the last
metrics line are written, the socket file is removed and the exit code is 0.

A serial band that disappears (cable pulled, board reset) is reopened by the
band's reader thread; the engine sees an explicit RECONNECT gap and restarts
its chain, and the daemon keeps running. A missing port *at start* is an error
(exit 1) so that systemd's ``Restart=on-failure`` retries with back-off.

The Unix-socket sink (``unix:PATH``) is a listening stream socket created with
mode 0660 (owner and group only: put consumers in the daemon's group). Every
client connected before a line is written gets that line (pending connections
are accepted at each write, so there is no accept thread to race); a client that cannot keep up (its socket
buffer is full) is disconnected rather than allowed to stall the decoder.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from edgeemg.errors import DeviceError, InvalidInputError

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660


class StdoutSink:
    """JSON lines on a text stream (stdout by default), flushed per line."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.broken = False

    def write(self, obj: dict[str, Any]) -> None:
        if self.broken:
            return
        try:
            self.out.write(json.dumps(obj) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop writing, keep shutting down cleanly
            self.broken = True

    def close(self) -> None:
        pass


class UnixSocketSink:
    """A listening Unix stream socket at ``path`` (mode 0660); lines go to every connected client.

    Raises
    ------
    InvalidInputError
        ``path`` exists and is not a socket, or another process is listening on it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise InvalidInputError(
                    f"--sink unix:{self.path}: the path exists and is not a socket; refusing to replace it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()  # a stale socket from a daemon that died
            else:
                raise InvalidInputError(f"--sink unix:{self.path}: another process is listening there")
            finally:
                probe.close()
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o117)  # the socket is born 0660: no window in which others could connect
        try:
            self._srv.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, SOCKET_MODE)
        self._srv.listen(8)
        self._srv.setblocking(False)
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()

    def _accept_pending(self) -> None:
        """Take every connection waiting in the backlog (no thread: a client that connected before a line gets it)."""
        while True:
            try:
                conn, _ = self._srv.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            self._clients.append(conn)
            log.info("sink client connected on %s", self.path)

    @property
    def n_clients(self) -> int:
        with self._lock:
            self._accept_pending()
            return len(self._clients)

    def write(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        with self._lock:
            self._accept_pending()
            for c in list(self._clients):
                try:
                    sent = c.send(data)
                    if sent != len(data):
                        raise BlockingIOError("partial write")
                except (BlockingIOError, OSError):
                    log.warning("sink client on %s is not keeping up or went away; disconnecting it", self.path)
                    self._clients.remove(c)
                    c.close()

    def close(self) -> None:
        with self._lock:
            for c in self._clients:
                c.close()
            self._clients.clear()
        self._srv.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def open_sink(spec: str, out: TextIO | None = None) -> Any:
    """``stdout``, ``unix:PATH`` or ``lsl:NAME`` (:class:`~edgeemg.runtime.lsl_sink.LslSink`, the devices extra)."""
    if spec == "stdout":
        return StdoutSink(out)
    if spec.startswith("unix:") and len(spec) > 5:
        return UnixSocketSink(spec[5:])
    if spec.startswith("lsl:") and len(spec) > 4:
        from edgeemg.runtime.lsl_sink import LslSink

        return LslSink(spec[4:])
    raise InvalidInputError(f"--sink must be 'stdout', 'unix:PATH' or 'lsl:NAME', got {spec!r}")


def open_source(source: str, bundle: Any) -> Any:
    """Open a ``brainflow:`` or ``lsl:`` source, taking the bundle's channels by name where the source has them.

    A source string that names its channels (``?channels=...``) is used as
    written; otherwise the bundle's channel names are tried first, and a
    source without those names delivers all its channels (the bundle check
    then refuses a count that differs, naming both).
    """
    from edgeemg.bridge import open_band

    if "channels=" not in source:
        try:
            return open_band(source, channels=list(bundle.channel_names))
        except InvalidInputError as exc:
            log.info("%s: not selecting the bundle's channels by name (%s); using all of its channels", source, exc)
    return open_band(source)


def apply_affinity(cores: tuple[int, ...]) -> None:
    """Pin this process to the profile's cores where the OS allows it; warn (never fail) otherwise."""
    if not cores:
        return
    if not hasattr(os, "sched_setaffinity"):
        log.warning("cpu_affinity %s ignored: this OS has no sched_setaffinity", list(cores))
        return
    have = os.sched_getaffinity(0)
    usable = set(cores) & have
    if not usable:
        log.warning("cpu_affinity %s ignored: this machine offers cores %s", list(cores), sorted(have))
        return
    os.sched_setaffinity(0, usable)
    log.info("pinned to cores %s", sorted(usable))


def run_daemon(bundle_path: str | os.PathLike[str], *, port: str | None = None, simulate: bool = False,
               source: str | None = None, sink: str = "stdout", seconds: float | None = None, target: str | None = None,
               metrics_every_s: float = 5.0, precision: str = "int8", speed: float = 1.0, seed: int = 0,
               skip_after_ms: float | None = None, out: TextIO | None = None,
               on_ready: Callable[[Any], None] | None = None) -> int:
    """Run the daemon until the band ends, ``seconds`` pass, or SIGTERM/SIGINT; return the exit code.

    Parameters
    ----------
    bundle_path : path
    port : str, optional
        Serial device of a real band (exclusive with ``simulate``).
    source : str, optional
        ``brainflow:BOARD[:PORT][?...]`` or ``lsl:NAME_OR_TYPE`` (see
        :func:`edgeemg.bridge.open_band`); channels chosen by :func:`open_source`.
    simulate : bool
        Stream the bundle's task from a :class:`~edgeemg.bridge.SimulatedBand`
        over a pty (the whole serial path, no hardware), for ``seconds`` of
        signal at ``speed`` x real time (endless without ``seconds``).
    sink : str
        ``stdout``, ``unix:PATH`` or ``lsl:NAME``.
    seconds : float, optional
        With ``port`` or ``source``: stop after this wall time. With ``simulate``: length of the simulated signal.
    target : str, optional
        Board profile (backend, providers, threads, CPU affinity, budget).
    on_ready : callable(band), optional
        Called once the band is open and checked (tests use it to find the pty).
    """
    from edgeemg.bridge import SimulatedBand
    from edgeemg.bridge.serial_band import open_band
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.runtime.engine import Engine
    from edgeemg.runtime.streaming import Stream
    from edgeemg.runtime.targets import load_target

    if [simulate, port is not None, source is not None].count(True) != 1:
        raise InvalidInputError("edgeemg run: give exactly one of --port DEVICE, --source SOURCE or --simulate")
    bundle = load_bundle(bundle_path, precision=precision)
    profile = load_target(target) if target else None
    if profile is not None:
        apply_affinity(profile.cpu_affinity)
    engine = Engine(bundle, target=profile, precision=precision, skip_after_ms=skip_after_ms)
    snk = open_sink(sink, out)
    band: Any = None
    try:
        if simulate:
            band = SimulatedBand(bundle.task, seed=seed, seconds=seconds, speed=speed, pty=True).open()
        elif source is not None:
            band = open_source(source, bundle)
        else:
            band = open_band(port, reconnect=True)  # its errors carry the hints their evidence supports
        # a finite simulation that has been silent for 5 s is over, whatever the pty's byte count says
        st = Stream(band, engine=engine, seconds=None if simulate else seconds,
                    idle_timeout_s=5.0 if simulate and seconds is not None else None,
                    on_event=lambda e: snk.write(e.to_dict()),
                    on_metrics=lambda m: _metrics(snk, m, sink != "stdout", out),
                    on_health=lambda line: _health(snk, line), metrics_every_s=metrics_every_s)
        if hasattr(snk, "bind"):
            snk.bind(band)  # the LSL sink stamps events with device time on the LSL clock
        log.info("decoding %s (%s, %s %s) from %s -> %s", bundle.path, bundle.task, engine.backend.name, precision,
                 port or source or getattr(band, "port_path", "simulated band"), sink)
        if on_ready is not None:
            on_ready(band)
        old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, lambda *_: st.stop())
        try:
            st.run()
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
        if getattr(band, "error", None) is not None:  # a brainflow:/lsl: source whose library failed mid-stream
            raise DeviceError(f"{source}: the source failed while streaming ({band.error}); the events up to "
                              "there were written") from band.error
        return 0
    finally:
        if band is not None:
            band.close()
        snk.close()


def _metrics(snk: Any, m: Any, also_stdout: bool, out: TextIO | None) -> None:
    d = m.to_dict()
    snk.write(d)
    if also_stdout:  # the socket carries data for clients; the journal still gets the metrics line
        StdoutSink(out).write(d)
    log.info("metrics: %s", d)


def _health(snk: Any, line: dict[str, Any]) -> None:
    """A health line goes to the sink, and to the operator's log as a warning (a gap, garbage or unplug is news)."""
    snk.write(line)
    log.warning("band health: %s", " ".join(f"{k}={v}" for k, v in line.items() if k != "type"))


__all__ = ["SOCKET_MODE", "StdoutSink", "UnixSocketSink", "apply_affinity", "open_sink", "open_source", "run_daemon"]
