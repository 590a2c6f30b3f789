"""A misbehaving band, one scenario per test (garbage, drop, unplug, reboot, flood, garbage-only), through the
runtime's stream: the metrics counters and the health lines each one produces.

References, independent of the host side: the simulated band's own frame source with the same fault plan
says which frames it garbled or dropped and what bytes it sent (frames and bytes lost, sync patterns in the
garbage = CRC candidates the decoder must reject); the device clock it stamped says where each gap is.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from _band_recorder import Recorder
from _hand_bundle import hand_bundle

from edgeemg.bridge import Block, SimulatedBand, open_band
from edgeemg.bridge.faults import BandFault, FaultPlan
from edgeemg.bridge.sim_source import DEVICE_T0_US, FrameSource
from edgeemg.errors import DeviceError
from edgeemg.runtime.bundle import load_bundle
from edgeemg.runtime.health import HealthMonitor
from edgeemg.runtime.streaming import Stream

INF = float("inf")
FS = 2000.0
SPF = 8  # the synthetic band's samples per frame (4 ms)
pty_only = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_bundle(hand_bundle(tmp_path_factory.mktemp("health") / "b"))


def _stream(band, bundle, *, stall_after_s=30.0, **kw):
    """Decode ``band`` to the end; return (health lines, final metrics line, events, the recorded items).

    The band is started by the stream, once the engine is built: a pty band streams in real time from its
    start, and its frames must not pile up in the queue while the engine warms up.
    """
    lines, metrics = [], []
    rec = Recorder(band)
    try:
        s = Stream(rec, bundle, skip_after_ms=INF, on_health=lines.append, stall_after_s=stall_after_s,
                   on_metrics=lambda m: metrics.append(m.to_dict()), idle_timeout_s=3.0, **kw)
        events = list(s)
    finally:
        band.close()
    return lines, metrics[-1], events, rec.items


def _expected(seconds, fault):
    """What the band sends under ``fault``: (frames hit, bytes garbled, sync pairs in the garbage)."""
    src = FrameSource("synthetic", 0, 0, seconds, None, "int16", 1.0, faults=(fault,))
    plan = FaultPlan((fault,), FS)
    hit, garbage = 0, bytearray()
    while True:
        first = src.sample_index
        item = src.next_frame()
        if item is None:
            return hit, bytes(garbage)
        if plan.kind_at(first) is not None:
            hit += 1
            garbage += item[0]


def _of(lines, state, kind=None):
    return [d for d in lines if d["state"] == state and (kind is None or d["kind"] == kind)]


def _paired(lines):
    """Every stretch that begins ends, in order, and nothing ends that did not begin."""
    open_ = set()
    for d in lines:
        if d["state"] == "begin":
            assert d["kind"] not in open_, lines
            open_.add(d["kind"])
        elif d["state"] == "end":
            assert d["kind"] in open_, lines
            open_.remove(d["kind"])
    assert not open_, lines


# -- garbage: 2 s of random bytes instead of frames, mid-stream --------------------------------------------
@pty_only
def test_garbage_mid_stream_is_counted_and_framed_by_health_lines(bundle):
    fault = BandFault("garbage", at_s=2.0, duration_s=2.0)
    hit, garbage = _expected(6.0, fault)
    band = SimulatedBand("synthetic", seconds=6.0, speed=4.0, pty=True, faults=(fault,))
    lines, m, _events, _items = _stream(band, bundle, stall_after_s=0.2)
    _paired(lines)
    gaps = _of(lines, "gap")
    assert len(gaps) == 1 and gaps[0]["kind"] == "lost_frames"
    g = gaps[0]
    assert (g["from_us"], g["to_us"]) == (DEVICE_T0_US + 2_000_000, DEVICE_T0_US + 4_000_000)
    assert g["samples"] == 4000 and g["duration_s"] == 2.0 and g["frames"] == hit
    # the decoder threw away exactly the garbage, rejected each sync pattern in it, and says so in the metrics
    assert m["lost"] == hit and m["bytes_discarded"] == len(garbage)
    assert m["crc_errors"] == garbage.count(b"\xa5\x5a") and m["resyncs"] >= 1 and m["restarts"] == 0
    # the 0.5 s (wall) of garbage is a stretch without valid frames while bytes kept arriving
    ends = [d for d in _of(lines, "end", "no_valid_frames") if d["bytes_read"] > 0]
    assert ends and sum(d["bytes_discarded"] for d in ends) > 0 and m["stalls"] >= 1
    assert max(d["duration_s"] for d in ends) >= 0.2


# -- drop: 0.5 s of frames never sent (seq numbers used up) --------------------------------------------------
def test_dropped_frames_are_one_lost_frames_gap_with_exact_counts(bundle):
    fault = BandFault("drop", at_s=1.0, duration_s=0.5)
    hit, _ = _expected(3.0, fault)
    lines, m, _events, items = _stream(SimulatedBand("synthetic", seconds=3.0, speed=INF, faults=(fault,)), bundle)
    assert lines == [{"type": "health", "state": "gap", "kind": "lost_frames", "frames": hit, "samples": 1000,
                      "from_us": DEVICE_T0_US + 1_000_000, "to_us": DEVICE_T0_US + 1_500_000, "duration_s": 0.5,
                      "host_s": lines[0]["host_s"]}]
    assert hit == 0.5 * FS / SPF + 1  # 125 data frames and the device-info frame due in that half second
    assert (m["lost"], m["crc_errors"], m["bytes_discarded"], m["resyncs"], m["gaps"]) == (hit, 0, 0, 0, 1)
    assert m["frames"] == sum(isinstance(i, Block) for i in items) == (3.0 - 0.5) * FS / SPF


# -- unplug: the port vanishes for 0.4 s -----------------------------------------------------------------------
@pty_only
def test_unplug_is_a_disconnect_stretch_and_a_reconnect_gap(bundle):
    band = SimulatedBand("synthetic", seconds=8.0, speed=4.0, pty=True)
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(r=_stream(band, bundle, stall_after_s=0.2)), daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while band.stats.frames < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    unplugged_s = time.monotonic()
    band.unplug()
    time.sleep(0.4)
    replugged_s = time.monotonic()
    band.replug()
    worker.join(timeout=60)
    lines, m, _events, _items = out["r"]
    _paired(lines)
    begin, end = _of(lines, "begin", "disconnected"), _of(lines, "end", "disconnected")
    assert len(begin) == len(end) == 1
    # the stretch runs from the reader seeing the port go to it reopening the port (no speed assumed)
    assert unplugged_s <= begin[0]["host_s"] <= end[0]["host_s"] and end[0]["host_s"] >= replugged_s
    assert end[0]["duration_s"] == pytest.approx(end[0]["host_s"] - begin[0]["host_s"], abs=2e-3)
    gaps = _of(lines, "gap")
    assert [g["kind"] for g in gaps] == ["reconnect"]
    g = gaps[0]
    # the hole spans the device time the band kept running while unplugged (4x real time: ~1.6 s of signal)
    assert g["samples"] == (g["to_us"] - g["from_us"]) * FS / 1e6 > 0.5 * FS and g["frames"] > 0
    assert lines.index(begin[0]) < lines.index(end[0]) < lines.index(g)
    assert (m["disconnects"], m["reconnects"], m["restarts"]) == (1, 1, 0) and m["lost"] == g["frames"]


# -- reboot: the band goes off for 1 s, then starts again at seq 0, clock 0 --------------------------------
def test_reboot_is_a_restart_not_a_loss_and_the_clock_reanchors(bundle):
    fault = BandFault("reboot", at_s=1.0, duration_s=1.0)
    lines, m, _events, items = _stream(SimulatedBand("synthetic", seconds=3.0, speed=INF, faults=(fault,)), bundle)
    gaps = _of(lines, "gap")
    assert [(g["kind"], g["frames"], g["samples"], g["from_us"], g["to_us"]) for g in gaps] == [
        ("restart", 0, -1, DEVICE_T0_US + 1_000_000, 0)]
    assert (m["restarts"], m["lost"], m["gaps"]) == (1, 0, 1)  # the seq jump (~65 280 frames) is no loss
    k = next(i for i, it in enumerate(items) if not isinstance(it, Block))
    after = items[k + 1]
    assert after.timestamp_us == 0 and after.seq == 1  # seq 0 was the device-info frame of the boot
    # re-anchored: the new clock maps to when its samples arrived, not 1 s (the old clock's offset) away
    assert abs(after.device_host_s - after.host_time_s) < 0.05


@pty_only
def test_reboot_over_a_port_shows_the_silence_then_the_restart(bundle):
    fault = BandFault("reboot", at_s=2.0, duration_s=2.0)
    band = SimulatedBand("synthetic", seconds=6.0, speed=4.0, pty=True, faults=(fault,))
    lines, m, _events, _items = _stream(band, bundle, stall_after_s=0.2)
    _paired(lines)
    silent = [d for d in _of(lines, "end", "no_valid_frames") if d["duration_s"] >= 0.3]
    assert silent and all(d["crc_errors"] == 0 for d in silent)  # an off band sends nothing, not garbage
    gaps = _of(lines, "gap")
    assert [g["kind"] for g in gaps] == ["restart"] and gaps[0]["duration_s"] >= 0.3  # 2 s off at 4x
    assert lines.index(silent[0]) < lines.index(gaps[0])
    assert (m["restarts"], m["lost"]) == (1, 0)


# -- flood: a band that sends as fast as the port goes, into a slow consumer ---------------------------------
class _SlowConsumer(Recorder):
    def read(self, timeout=None):
        time.sleep(0.005)
        return super().read(timeout)


@pty_only
def test_flood_into_a_slow_consumer_is_dropped_gaps_that_add_up(bundle):
    band = SimulatedBand("synthetic", seconds=4.0, speed=INF, pty=True, queue_frames=16)
    lines, m, _events, _items = _stream(_SlowConsumer(band), bundle)
    gaps = _of(lines, "gap")
    assert gaps and {g["kind"] for g in gaps} == {"dropped"}
    assert m["dropped"] == sum(g["frames"] for g in gaps) > 100
    assert sum(g["samples"] for g in gaps) == m["dropped"] * SPF
    assert m["lost"] == 0 and m["crc_errors"] == 0


# -- garbage only: the port speaks, but never a frame --------------------------------------------------------
@pty_only
def test_garbage_only_port_is_refused_with_the_evidence_and_no_unrelated_hint(bundle, capsys):
    from edgeemg.cli import main

    sim = SimulatedBand("synthetic", seconds=60.0, speed=1.0, pty=True,
                        faults=(BandFault("garbage", at_s=0.0, duration_s=60.0),)).open()  # the device side only
    try:
        with pytest.raises(DeviceError) as exc:
            open_band(sim.port_path, info_timeout_s=1.0)
        msg = str(exc.value)
        assert "0 valid frames" in msg and "none forms an edgeemg frame" in msg and "baud" in msg
        assert "dialout" not in msg and "plugged" not in msg
        rc = main(["run", str(bundle.path), "--port", sim.port_path])
    finally:
        sim.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith("edgeemg run: device error: no device-info frame") and err[0].count("error:") == 1
    assert "dialout" not in err[0]


@pty_only
def test_silent_port_and_missing_port_get_their_own_hints(tmp_path):
    master, slave = os.openpty()
    try:
        with pytest.raises(DeviceError, match="sent nothing: is the band powered on"):
            open_band(os.ttyname(slave), info_timeout_s=0.3)
    finally:
        os.close(slave)
        os.close(master)
    with pytest.raises(DeviceError, match=r"no such device: is the band plugged in") as exc:
        open_band(str(tmp_path / "ttyACM9"))
    assert "dialout" not in str(exc.value)


# -- the monitor alone, on a fake clock ----------------------------------------------------------------------
class _Stats:
    def __init__(self, **kw):
        self.bytes_read = self.crc_errors = self.bytes_discarded = self.resyncs = self.disconnects = 0
        self.__dict__.update(kw)


def test_health_monitor_begins_and_ends_stretches_on_the_host_clock():
    from edgeemg.bridge import Gap, GapKind

    blk = Block(__import__("numpy").zeros((8, 1), "float32"), 0, 0.0, 0, 0.0)
    h = HealthMonitor(FS, stall_after_s=1.0)
    h.start(10.0)
    assert h.poll(_Stats(), 10.9) == []
    began = h.poll(_Stats(bytes_read=100), 11.0)
    assert began == [{"type": "health", "state": "begin", "kind": "no_valid_frames", "host_s": 10.0}]
    assert h.poll(_Stats(bytes_read=500), 12.0) == []  # still the same stretch
    ended = h.item(blk, _Stats(bytes_read=900, crc_errors=3, bytes_discarded=700, resyncs=1), 13.5)
    assert ended == [{"type": "health", "state": "end", "kind": "no_valid_frames", "host_s": 13.5,
                      "duration_s": 3.5, "bytes_read": 900, "crc_errors": 3, "bytes_discarded": 700, "resyncs": 1}]
    # a disconnect is its own stretch (no stall is begun while the port is gone), ended by the reconnect
    assert [d["kind"] for d in h.poll(_Stats(disconnects=1), 14.0, connected=False)] == ["disconnected"]
    assert h.poll(_Stats(disconnects=1), 20.0, connected=False) == []
    end = h.poll(_Stats(disconnects=1), 21.0, connected=True)
    assert [(d["state"], d["kind"], d["duration_s"]) for d in end] == [("end", "disconnected", 7.0)]
    gap = h.item(Gap(GapKind.RECONNECT, 1750, 14000, 5_000_000, 12_000_000, 21.1), _Stats(disconnects=1), 21.1)
    assert gap[0]["kind"] == "reconnect" and gap[0]["duration_s"] == 7.0 and h.stalls == 1
    # a gap notice ends a stall (it arrives with the first valid frame after the hole) and restarts the clock:
    # the poll right after it must not open the same stretch again
    h.poll(_Stats(disconnects=1), 23.0)
    gap_then = h.item(Gap(GapKind.LOST_FRAMES, 5, 40, 0, 5000, 23.5), _Stats(disconnects=1), 23.5)
    assert [d["state"] for d in gap_then] == ["end", "gap"] and h.poll(_Stats(disconnects=1), 23.6) == []
    # what is still open when the stream stops is closed, and says so
    h.poll(_Stats(disconnects=1), 30.0)
    assert h.finish(_Stats(disconnects=1), 31.0)[0]["open_at_stop"] is True


def test_a_disconnect_noticed_late_is_reported_when_the_reader_saw_it():
    """A decoder busy through the whole unplug polls once, after the reconnect: the stretch keeps the band's stamps."""
    h = HealthMonitor(FS, stall_after_s=1.0)
    h.start(10.0)
    queued = Block(__import__("numpy").zeros((8, 1), "float32"), 0, 0.0, 0, 0.0)
    gone = _Stats(disconnects=1, disconnected_at_s=10.2, reconnected_at_s=None)
    assert h.item(queued, gone, 10.3) == [{"type": "health", "state": "begin", "kind": "disconnected", "host_s": 10.2}]
    assert h.item(queued, gone, 10.35) == []  # a frame queued before the unplug does not end it
    back = _Stats(disconnects=1, disconnected_at_s=10.2, reconnected_at_s=10.6)
    end = h.poll(back, 11.0, connected=True)
    assert [(d["state"], d["host_s"], d["duration_s"]) for d in end] == [("end", 10.6, 0.4)]
    # both edges between two polls: begun and ended at the stamps, in one poll
    both = h.poll(_Stats(disconnects=2, disconnected_at_s=12.0, reconnected_at_s=12.5), 13.0, connected=True)
    assert [(d["state"], d["host_s"]) for d in both] == [("begin", 12.0), ("end", 12.5)]
    assert both[1]["duration_s"] == 0.5


def test_a_restart_lasts_from_the_last_frame_read_to_the_first_after_not_from_when_they_were_decoded():
    from edgeemg.bridge import Gap, GapKind

    h = HealthMonitor(FS, stall_after_s=5.0)
    h.start(19.0)
    h.item(Block(__import__("numpy").zeros((8, 1), "float32"), 0, 20.0, 7, 20.0), _Stats(), 20.5)  # read 20.0
    line = h.item(Gap(GapKind.RESTART, 0, -1, 1_000_000, 0, 21.0), _Stats(), 21.2)
    assert line == [{"type": "health", "state": "gap", "kind": "restart", "frames": 0, "samples": -1,
                     "from_us": 1_000_000, "to_us": 0, "duration_s": 1.0, "host_s": 21.0}]
