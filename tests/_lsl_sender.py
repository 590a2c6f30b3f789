"""An LSL outlet playing a recording in real time, for the LSL tests and benchmarks/report_sources.py."""

from __future__ import annotations

import threading

import numpy as np
import pylsl


class Sender(threading.Thread):
    """An LSL outlet that plays ``x`` in real time once a consumer subscribes, ``chunk`` samples at a time, each sample
    stamped ``t0 + i / fs`` (its acquisition time); ``pause=(at, n)`` drops n samples at ``at`` (a dropout)."""

    def __init__(self, name, x, fs, labels, pause=None, go=None, chunk=20, unit="microvolts"):
        super().__init__(daemon=True)
        info = pylsl.StreamInfo(name, "EMG", x.shape[1], fs, pylsl.cf_float32, f"{name}-src")
        chans = info.desc().append_child("channels")
        for lab in labels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", lab)
            ch.append_child_value("unit", unit)
        self.outlet = pylsl.StreamOutlet(info)
        self.name = name
        self.x, self.fs, self.pause, self.go, self.chunk = x, fs, pause, go, chunk
        self.t0 = None

    def run(self):
        if not self.outlet.wait_for_consumers(20) or (self.go is not None and not self.go.wait(20)):
            return
        n, i, stop = len(self.x), 0, threading.Event()
        self.t0 = pylsl.local_clock() + 0.02
        while i < n:
            if self.pause and i == self.pause[0]:
                i += self.pause[1]
            j = min(i + self.chunk, n, self.pause[0] if self.pause and i < self.pause[0] else n)
            stop.wait(max(self.t0 + j / self.fs - pylsl.local_clock(), 0))
            self.outlet.push_chunk(self.x[i:j], list(self.t0 + np.arange(i, j) / self.fs))
            i = j
