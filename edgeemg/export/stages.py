"""The export's progress display: one line per stage on stderr, with elapsed-time ticks for long stages."""

from __future__ import annotations

import sys
import threading
import time


class StageDisplay:
    """One line per stage on stderr (``[3/8] onnx int8 ... 1.4 s``); silent when ``enabled`` is False.

    A stage that runs longer than ``tick_s`` (simulating a keystroke user's
    sessions takes minutes on a small board) gets the elapsed time appended
    every ``tick_s`` seconds (``[1/6] prepare data ... 10 s 20 s ...``), so a
    long step is never silent.
    """

    def __init__(self, stages: list[str], enabled: bool, tick_s: float = 10.0) -> None:
        self.stages, self.enabled, self._i, self._t = stages, enabled, 0, 0.0
        self.seconds: dict[str, float] = {}
        self.tick_s = tick_s
        self._ticker: tuple[threading.Thread, threading.Event] | None = None

    def start(self, name: str) -> None:
        self._i = self.stages.index(name) + 1
        self._name, self._t = name, time.perf_counter()
        if self.enabled:
            print(f"[{self._i}/{len(self.stages)}] {name} ...", end="", file=sys.stderr, flush=True)
            stop = threading.Event()
            thread = threading.Thread(target=self._tick, args=(stop,), name="edgeemg-export-ticker", daemon=True)
            thread.start()
            self._ticker = (thread, stop)

    def _tick(self, stop: threading.Event) -> None:
        k = 1
        while not stop.wait(self.tick_s * k - (time.perf_counter() - self._t)):
            print(f" {self.tick_s * k:.0f} s", end="", file=sys.stderr, flush=True)
            k += 1

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            thread, stop = self._ticker
            stop.set()
            thread.join()
            self._ticker = None

    def fail(self) -> None:
        self._stop_ticker()
        if self.enabled and self._t:
            print(" failed", file=sys.stderr, flush=True)

    def done(self, note: str = "") -> None:
        self._stop_ticker()
        dt = time.perf_counter() - self._t
        self.seconds[self._name] = dt
        self._t = 0.0
        if self.enabled:
            print(f" {dt:.1f} s{'  ' + note if note else ''}", file=sys.stderr, flush=True)


__all__ = ["StageDisplay"]
