"""The simulated band's device side: a task simulator's signal as a stream of protocol frames.

:class:`FrameSource` is what the band's firmware would send, frame by frame,
under a :class:`~edgeemg.bridge.faults.FaultPlan`; it knows nothing about the
transport. :class:`~edgeemg.bridge.simulated.SimulatedBand` decodes it
in-process, :class:`~edgeemg.bridge.pty_device.PtyDevice` writes it into a
pseudo-terminal, ``edgeemg band-sim`` onto a serial port.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeemg.bridge.codec import encode_device_info, encode_frame
from edgeemg.bridge.faults import FaultPlan
from edgeemg.bridge.frames import DeviceInfo
from edgeemg.data.bands import band_signal
from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import InvalidInputError

FIRMWARE = "edgeemg-sim/1"
DEVICE_T0_US = 1_000_000  # the simulated device clock does not start at 0, so nothing may assume it does


@dataclass(frozen=True)
class TimedTruthEvent:
    """A simulator truth event with the device time (µs) it happened at, for latency accounting."""

    device_time_us: int
    event: TruthEvent


class FrameSource:
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
