"""Lab Streaming Layer streams as bands: ``open_band("lsl:NAME_OR_TYPE[?timeout=S&channels=a,b]")``.

Most EMG amplifiers and acquisition programs (OpenBCI GUI, BrainVision, Delsys,
g.tec, the BrainFlow LSL bridge) publish an LSL stream. This adapter resolves
one by name, else by type, opens an inlet and pulls chunks on the polled-band
reader thread.

Time: LSL stamps each sample on the sender's clock; the inlet's ``clocksync``
processing adds the sender-to-here offset, so stamps arrive on this machine's
``local_clock()``. Device time (``Block.timestamp_us``) is that clock, counted
in samples at the nominal rate from the first stamp, re-anchored to the stamp
after every gap and pulled slowly toward the stamps in between: sample-exact
spacing whatever jitter the sender's chunking puts on individual stamps, yet
aligned with them however far the sender's crystal is off its nominal rate. Arrival (for latency) is the
stamp of a block's last sample, i.e. when the sender took it: latency then
includes the network and LSL buffering.

Units: each channel's ``desc/channels/channel/unit`` (V, mV, µV ...) is converted
to microvolts; a channel without a unit is taken as microvolts.

Gaps: LSL has no packet counter, so a gap is a stamp later than the previous
one plus one sample period by more than ``max_jitter_s``; its size is the
stamp difference in samples. A stamp that goes backwards by more than that
(sender restarted) is a clock reset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import parse_qsl

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.frames import DeviceInfo, Frame
from edgeemg.bridge.polled import PolledBand, onto_monotonic, pick_channels
from edgeemg.bridge.protocol import FrameType
from edgeemg.errors import DeviceError, InvalidInputError, require

log = logging.getLogger(__name__)


def _pylsl():
    try:
        return require("pylsl", "the lsl: band source and sink")
    except RuntimeError as exc:  # pylsl imports but finds no (loadable) liblsl
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceError(
            f"pylsl is installed but cannot load the liblsl library ({first}); pip's pylsl bundles liblsl only "
            "in its x86-64 Linux, macOS and Windows wheels: elsewhere (an arm64 board) install liblsl "
            "(github.com/sccn/liblsl releases, or conda-forge's liblsl) or set PYLSL_LIB to its path") from exc


def channel_meta(info, n: int) -> tuple[list[str], list[float]]:
    """Labels and µV-per-unit factors from ``desc/channels/channel`` (the XDF meta-data convention).

    A missing label is ``ch<i>``; a missing unit is taken as microvolts (what EMG senders such as the
    OpenBCI GUI send); a unit that is not a voltage is kept as sent (factor 1) with a warning.
    """
    from edgeemg.data.recording import uv_per_unit

    labels, factors, ch = [], [], info.desc().child("channels").child("channel")
    while not ch.empty() and len(labels) < n:
        labels.append(ch.child_value("label") or f"ch{len(labels) + 1}")
        unit = ch.child_value("unit") or "microvolts"
        f = uv_per_unit(unit)
        if f is None:
            log.warning("LSL stream '%s' channel '%s' has unit '%s', not a voltage; passed on unscaled",
                        info.name(), labels[-1], unit)
        factors.append(1.0 if f is None else f)
        ch = ch.next_sibling()
    k = len(labels)
    return labels + [f"ch{i + 1}" for i in range(k, n)], factors + [1.0] * (n - k)


def _describe(infos) -> str:
    return ", ".join(f"'{i.name()}' (type '{i.type()}', {i.channel_count()} ch, {i.nominal_srate():g} Hz)"
                     for i in infos) or "none"


def stamp_runs(ts: NDArray[np.float64], prev_s: float | None, period_s: float,
               max_jitter_s: float) -> list[tuple[int, int, int | None]]:
    """Split a chunk's stamps where they break: ``(start, stop, lost)`` per run, ``lost`` None when the run
    continues the previous one, else the samples missing before it (0 for a stamp that went back: a restart).

    ``prev_s`` is the stamp of the sample before ``ts[0]`` (None at the start). A stamp is a break when it
    differs from the previous stamp plus one period by more than ``max_jitter_s``; so a dropout shorter than
    the jitter tolerance cannot be told from jitter (LSL carries no sample counter).
    """
    before = np.concatenate([[ts[0] - period_s if prev_s is None else prev_s], ts[:-1]])
    late = ts - (before + period_s)
    breaks = np.flatnonzero(np.abs(late) > max_jitter_s)
    starts = sorted({0, *breaks.tolist()})
    lost = {int(i): max(int(round(late[i] / period_s)), 0) for i in breaks}
    return [(a, b, lost.get(a)) for a, b in zip(starts, [*starts[1:], len(ts)])]


class LslBand(PolledBand):
    """An LSL stream behind the band interface (see the module docstring).

    Parameters
    ----------
    query : str
        Stream name, or type when no stream has that name (``EMG``).
    timeout_s : float
        How long to look for the stream.
    channels : sequence of str or int, optional
        Channel labels or 0-based positions to deliver, in this order (default: all).
    max_jitter_s : float
        Stamp jitter tolerated before a late stamp counts as a gap (default 10 ms).
    """

    poll_waits = True  # pull_chunk(min_samples=1) returns as soon as a sample is in: no polling delay

    def __init__(self, query: str, *, timeout_s: float = 5.0, channels: Sequence[int | str] | None = None,
                 max_jitter_s: float = 0.01, name: str | None = None, **kwargs) -> None:
        if not query:
            raise InvalidInputError("lsl: give a stream name or type, e.g. lsl:MyAmp or lsl:EMG")
        if not timeout_s > 0 or not max_jitter_s >= 0:
            raise InvalidInputError(f"lsl:{query}: timeout_s must be > 0 and max_jitter_s >= 0, "
                                    f"got {timeout_s!r}, {max_jitter_s!r}")
        super().__init__(name or f"lsl:{query}", **kwargs)
        self.query, self.timeout_s, self.max_jitter_s = query, float(timeout_s), float(max_jitter_s)
        self._wanted = channels
        self._inlet = None
        self._anchor_s: float | None = None  # local-clock stamp of sample 0 of the current run
        self._k = 0  # samples since the anchor
        self._last_ts: float | None = None  # stamp of the last sample received

    def _resolve(self):
        lsl = _pylsl()
        q = self.query.replace("'", "")
        found = lsl.resolve_bypred(f"name='{q}' or type='{q}'", 1, self.timeout_s)
        if not found:
            visible = lsl.resolve_streams(0.5)
            raise DeviceError(f"{self.name}: no LSL stream named or typed '{self.query}' within {self.timeout_s:g} s; "
                              f"streams visible now: {_describe(visible)}; is the sender running on this network?")
        named = [i for i in found if i.name() == self.query]
        if len(named) > 1:
            raise DeviceError(f"{self.name}: {len(named)} LSL streams are named '{self.query}': {_describe(named)}; "
                              "stop the extra sender or rename one")
        return (named or found)[0]

    def _connect(self) -> DeviceInfo:
        lsl = _pylsl()
        info = self._resolve()
        fs = info.nominal_srate()
        if info.channel_format() == lsl.cf_string or fs <= 0:
            raise DeviceError(f"{self.name}: stream '{info.name()}' is not a regular-rate signal (format "
                              f"{info.channel_format()}, nominal rate {fs:g} Hz); it looks like a marker stream")
        inlet = lsl.StreamInlet(info, max_buflen=60, processing_flags=lsl.proc_clocksync, as_numpy=True)
        try:
            full = inlet.info(self.timeout_s)
            labels, factors = channel_meta(full, full.channel_count())
            self._sel = pick_channels(labels, self._wanted, self.name)
            self._scale = np.asarray([factors[i] for i in self._sel], dtype=np.float64)
            inlet.open_stream(self.timeout_s)
            inlet.time_correction(self.timeout_s)  # the first clock-sync round trip, here rather than in a poll
        except lsl.util.TimeoutError as exc:
            inlet.close_stream()
            raise DeviceError(f"{self.name}: stream '{info.name()}' was found but did not answer within "
                              f"{self.timeout_s:g} s ({exc})") from exc
        except InvalidInputError:
            inlet.close_stream()
            raise
        self._inlet = inlet
        self.fs_hz = float(fs)
        self.channel_names = tuple(labels[i] for i in self._sel)
        return DeviceInfo(self.fs_hz, len(self._sel), f"lsl stream '{info.name()}' (type '{info.type()}', "
                          f"{info.channel_count()} ch, source_id '{info.source_id()}', host '{info.hostname()}')",
                          f"liblsl {lsl.library_version()}", 0, "float32", 1.0)

    def _poll(self) -> list[tuple[Frame, float]]:
        lsl = _pylsl()
        x, ts = self._inlet.pull_chunk(timeout=self.poll_interval_s, max_samples=4096, min_samples=1)
        if ts is None or len(ts) == 0:
            return []
        x = (np.asarray(x, dtype=np.float64)[:, self._sel] * self._scale).astype(np.float32)  # µV
        ts = np.asarray(ts, dtype=np.float64)
        return self._frames(x, ts, onto_monotonic(ts, lsl.local_clock))

    def _frames(self, x: NDArray[np.float32], ts: NDArray[np.float64],
                arrival: NDArray[np.float64]) -> list[tuple[Frame, float]]:
        """One pulled chunk -> frames on the sample-count device clock, split where the stamps break.

        The count clock follows the sender's stamps: each run's start pulls it toward its stamp by at most a
        tenth of a sample (a slow average of the jitter), so a sender whose crystal is off its nominal rate
        by tens of ppm stays aligned, and no nudge is ever large enough to look like a lost sample.
        """
        period = 1.0 / self.fs_hz
        out = []
        for a, b, lost in stamp_runs(ts, self._last_ts, period, self.max_jitter_s):
            if lost is not None or self._anchor_s is None:  # a break (or the first sample): restart the count
                if lost and self._anchor_s is not None:  # size the hole on the count clock: its jitter is averaged
                    lost = max(int(round((ts[a] - self._anchor_s) / period)) - self._k, 0)
                self.lost_samples += lost or 0
                self._anchor_s, self._k = float(ts[a]), 0
            else:
                err = ts[a] - (self._anchor_s + self._k * period)
                self._anchor_s += float(np.clip(0.05 * err, -0.1 * period, 0.1 * period))
            t_us = int(round((self._anchor_s + self._k * period) * 1e6))
            out.append((Frame(FrameType.DATA, 0, t_us, x[a:b], lost or 0), float(arrival[b - 1])))
            self._k += b - a
        self._last_ts = float(ts[-1])
        return out

    def _disconnect(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            inlet.close_stream()


def open_lsl(spec: str, *, channels: Sequence[int | str] | None = None, **kwargs) -> LslBand:
    """Open ``NAME_OR_TYPE[?timeout=S&channels=a,b&max_jitter=S]`` (the part after ``lsl:``)."""
    query, _, qs = spec.partition("?")
    opts = dict(parse_qsl(qs, keep_blank_values=True))
    unknown = sorted(set(opts) - {"timeout", "channels", "max_jitter"})
    if unknown:
        raise InvalidInputError(f"lsl:{spec}: unknown parameter(s) {unknown}; known: timeout, channels, max_jitter")
    try:
        if "timeout" in opts:
            kwargs.setdefault("timeout_s", float(opts["timeout"]))
        if "max_jitter" in opts:
            kwargs.setdefault("max_jitter_s", float(opts["max_jitter"]))
    except ValueError:
        raise InvalidInputError(f"lsl:{spec}: timeout and max_jitter are seconds, got {opts}") from None
    if channels is None and opts.get("channels"):
        channels = [c.strip() for c in opts["channels"].split(",") if c.strip()]
    return LslBand(query, channels=channels, name=f"lsl:{spec}", **kwargs).open()


__all__ = ["LslBand", "channel_meta", "open_lsl", "stamp_runs"]
