"""A recording played as a Lab Streaming Layer stream: the fake amplifier for ``--source lsl:NAME``.

``edgeemg band-sim TASK --lsl NAME`` publishes a simulator's band signal the way
an acquisition program publishes an amplifier: a regular-rate float32 stream of
type ``EMG`` with channel labels and units (µV) in its description, pushed in
real time in small chunks, every sample stamped with its own acquisition time
on the LSL clock (``t0 + i / fs``). Nothing is sent before a consumer
subscribes, so a reader that starts later loses nothing (as ``band-sim --pty``
waits for the port to be opened). Tests and ``benchmarks/report_sources.py``
use :class:`LslPlayer` directly, with a dropout to make a gap.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.lsl_band import _pylsl

log = logging.getLogger(__name__)


class LslPlayer(threading.Thread):
    """Publish ``recordings`` (arrays shaped (n_samples, n_channels), µV, played one after the other) on LSL.

    Parameters
    ----------
    name : str
        LSL stream name (``source_id`` is ``NAME-src``).
    recordings : ndarray or iterable of ndarray
        One recording, or consecutive ones (an endless simulation); the stamps run on across them.
    fs_hz : float
    labels : sequence of str
        Channel labels (``desc/channels/channel/label``).
    chunk : int
        Samples per push (default: about 4 ms, as the serial band's frames).
    speed : float
        1.0 real time; larger is faster (stamps stay at the nominal rate).
    drop : (int, int), optional
        ``(at, n)``: the samples ``at .. at + n - 1`` are never sent, their time passes (a dropout).
    go : threading.Event, optional
        Also wait for this before sending (tests: until their own listeners subscribed).
    unit : str
        Unit written into each channel's description (the samples are sent as given).
    """

    def __init__(self, name: str, recordings: NDArray[np.float32] | Iterable[NDArray[np.float32]], fs_hz: float,
                 labels: Sequence[str], *, chunk: int | None = None, speed: float = 1.0,
                 drop: tuple[int, int] | None = None, go: threading.Event | None = None, unit: str = "microvolts",
                 stream_type: str = "EMG") -> None:
        super().__init__(name=f"edgeemg-lsl-{name}", daemon=True)
        lsl = self._lsl = _pylsl()
        info = lsl.StreamInfo(name, stream_type, len(labels), float(fs_hz), lsl.cf_float32, f"{name}-src")
        chans = info.desc().append_child("channels")
        for label in labels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", str(label))
            ch.append_child_value("unit", unit)
        self.outlet = lsl.StreamOutlet(info)
        self.stream_name = name
        self.fs_hz = float(fs_hz)
        self.recordings = [recordings] if isinstance(recordings, np.ndarray) else recordings
        self.chunk = int(chunk or max(1, round(0.004 * fs_hz)))
        self.speed = float(speed)
        self.drop = drop
        self.go = go
        self.halt = threading.Event()
        self.t0: float | None = None  # LSL stamp of sample 0
        self.sent = 0

    def _wait_for_consumer(self) -> bool:
        while not self.halt.is_set():
            if self.outlet.wait_for_consumers(0.2):
                return self.go is None or self.go.wait(20)
        return False

    def run(self) -> None:
        if not self._wait_for_consumer():
            return
        lsl, fs = self._lsl, self.fs_hz
        self.t0 = lsl.local_clock() + 0.02
        start = 0  # absolute index of the current recording's first sample
        for x in self.recordings:
            n, i = len(x), 0
            while i < n and not self.halt.is_set():
                j = min(i + self.chunk, n)
                if self.drop:
                    a, k = self.drop[0] - start, self.drop[1]
                    if a <= i < a + k:
                        i = min(a + k, n)
                        continue
                    if i < a < j:
                        j = a
                due = self.t0 + (start + j) / (fs * self.speed)
                self.halt.wait(max(due - lsl.local_clock(), 0.0))
                self.outlet.push_chunk(np.ascontiguousarray(x[i:j], dtype=np.float32),
                                       list(self.t0 + (start + np.arange(i, j)) / fs))
                self.sent += j - i
                i = j
            start += n
            if self.halt.is_set():
                return


def band_sim_lsl(task: str, name: str, *, seconds: float | None, seed: int, speed: float,
                 out: TextIO | None = None, progress: bool = True) -> int:
    """Body of ``edgeemg band-sim TASK --lsl NAME``: publish the task's simulated band until done or SIGINT/SIGTERM.

    Prints the stream name on ``out`` (stdout) once it is published; endless without ``seconds``
    (consecutive 30 s sessions). Returns the exit code.
    """
    from edgeemg.data.bands import band_signal

    if progress:
        print(f"band-sim: simulating {task} signal (seed {seed}) for LSL stream '{name}' ...", file=sys.stderr,
              flush=True)
    first = band_signal(task, seconds if seconds is not None else 30.0, seed=seed)

    def sessions():
        yield first.emg
        k = 1
        while seconds is None:
            yield band_signal(task, 30.0, seed=seed, session=k).emg
            k += 1

    player = LslPlayer(name, sessions(), first.fs_hz, first.channel_names, speed=speed)
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda *_: player.halt.set())
    try:
        print(name, file=out if out is not None else sys.stdout, flush=True)
        player.start()
        while player.is_alive():
            player.join(0.1)
        player.halt.wait(1.0)  # linger: liblsl sends on its own threads; exiting now would drop the last chunks
        log.info("band-sim: %d samples published on LSL stream '%s'", player.sent, name)
        return 0
    finally:
        player.halt.set()
        for sig, h in old.items():
            signal.signal(sig, h)


__all__ = ["LslPlayer", "band_sim_lsl"]
