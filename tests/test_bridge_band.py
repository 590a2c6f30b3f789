"""Band layer: clock mapping, gaps, bounded queue, simulated band, Cyton adapter, serial over pty."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from _cyton_pty import CytonOnPty
from _tiny_bundle import tiny_bundle

from edgeemg.bridge import (
    Block,
    BoundedQueue,
    ClockMapper,
    CytonDecoder,
    Gap,
    GapKind,
    SimulatedBand,
    encode_cyton_packet,
    open_band,
)
from edgeemg.bridge.openbci import cyton_scale_uv
from edgeemg.errors import DeviceError, InvalidInputError

INF = float("inf")


# -- clock --------------------------------------------------------------------------
def test_clock_mapping_follows_drift_where_a_fixed_offset_drifts():
    rng = np.random.default_rng(7)
    skew, offset, min_delay = 80e-6, 5000.0, 0.0015
    dev_us = np.arange(0, 600_000_000, 4000, dtype=np.int64)  # 10 min of 4 ms frames
    true_host = offset + dev_us * 1e-6 * (1 + skew)
    arrival = true_host + min_delay + rng.exponential(0.003, dev_us.size)
    m = ClockMapper()
    for d, h in zip(dev_us.tolist(), arrival.tolist()):
        m.update(d, h)
    err = np.array([m.to_host(d) for d in dev_us[-500:].tolist()]) - (true_host[-500:] + min_delay)
    naive = (arrival[0] - dev_us[0] * 1e-6) + dev_us[-500:] * 1e-6 - (true_host[-500:] + min_delay)
    assert abs(m.skew_ppm - 80) < 2
    assert np.abs(err).max() < 2e-4  # < 0.2 ms after 10 minutes
    assert np.abs(naive).max() > 0.04  # a fixed offset is off by 48 ms (80 ppm x 600 s)


def test_clock_mapper_errors():
    with pytest.raises(InvalidInputError, match="before any update"):
        ClockMapper().to_host(0)
    with pytest.raises(InvalidInputError, match=r"window_s >= 2 \* bucket_s"):
        ClockMapper(window_s=1.0, bucket_s=1.0)


# -- bounded queue ------------------------------------------------------------------
def _block(k, n=4):
    return Block(np.zeros((n, 2), np.float32), 1000 * k, 0.0, k, 0.0)


def test_bounded_queue_drops_oldest_and_reports_one_gap():
    q = BoundedQueue(8)
    for k in range(10_000):
        q.put(_block(k))
        assert len(q) <= 8
    g = q.get(0)
    assert isinstance(g, Gap) and g.kind is GapKind.DROPPED
    assert (g.frames, g.samples, g.from_us, g.to_us) == (10_000 - 8, 4 * (10_000 - 8), 0, 1000 * (10_000 - 8))
    assert [q.get(0).seq for _ in range(8)] == list(range(10_000 - 8, 10_000))
    assert q.get(0.01) is None and q.dropped_frames == 10_000 - 8


# -- simulated band in-process ------------------------------------------------------
def test_simulated_band_in_process_delivers_the_signal_exactly_once():
    with SimulatedBand("synthetic", seed=3, seconds=2.0, speed=INF) as band:
        info = band.info
        items = list(band)
    assert (info.fs_hz, info.n_channels, info.layout) == (2000.0, 8, "synthetic-8")
    assert all(isinstance(i, Block) for i in items)
    x = np.concatenate([b.samples for b in items])
    assert x.shape == band.signal.emg.shape
    assert np.abs(x - band.signal.emg).max() <= info.scale_uv / 2 + 1e-4
    ts = np.array([b.timestamp_us for b in items])
    np.testing.assert_allclose(np.diff(ts), info.samples_per_frame * 1e6 / info.fs_hz, atol=1)
    assert band.stats.frames == len(items) and band.stats.lost_frames == 0


def test_simulated_band_lifecycle_errors():
    band = SimulatedBand("synthetic", seconds=0.1, speed=INF)
    with pytest.raises(DeviceError, match="before start"):
        band.read()
    with pytest.raises(DeviceError, match="pty=True"):
        band.port_path
    with pytest.raises(InvalidInputError, match="speed must be > 0"):
        SimulatedBand("synthetic", speed=0)
    with pytest.raises(InvalidInputError, match="Invalid band task 'nope'"):
        SimulatedBand("nope")


# -- OpenBCI Cyton ------------------------------------------------------------------
def test_cyton_packets_against_hand_computed_values():
    counts = [1, -1, 8388607, -8388608, 0x123456, -0x123456, 1000, -1000]
    pkt = encode_cyton_packet(5, counts, aux=(1, -2, 3), footer=0xC0)
    assert len(pkt) == 33 and pkt[0] == 0xA0 and pkt[32] == 0xC0
    assert pkt[2:5] == b"\x00\x00\x01" and pkt[5:8] == b"\xff\xff\xff" and pkt[8:11] == b"\x7f\xff\xff"
    assert pkt[11:14] == b"\x80\x00\x00" and pkt[26:28] == b"\x00\x01" and pkt[28:30] == b"\xff\xfe"
    scale = 4.5 / 24 / (2**23 - 1) * 1e6  # 0.02235 uV per count
    assert cyton_scale_uv(24) == pytest.approx(0.022351744455307063, rel=1e-12) == pytest.approx(scale)
    d = CytonDecoder(gain=24)
    # garbage before, a gap (sample 6 lost), a wrap 255 -> 0, a bad footer
    stream = b"\x01\xa0\x02" + pkt + encode_cyton_packet(7, counts, footer=0xC4)
    stream += encode_cyton_packet(255, [0] * 8) + encode_cyton_packet(0, [2] * 8)
    bad = bytearray(encode_cyton_packet(1, [3] * 8))
    bad[32] = 0x00
    stream += bytes(bad) + encode_cyton_packet(2, [4] * 8)
    out = []
    for i in range(0, len(stream), 5):
        out += d.feed(stream[i : i + 5])
    assert [f.seq for f in out] == [5, 7, 255, 0, 2]
    np.testing.assert_allclose(out[0].samples[0], np.float32(np.array(counts) * scale), rtol=1e-6)
    assert out[0].samples[0, 2] == pytest.approx(187500.0, rel=1e-6)  # full scale = 4.5 V / 24
    assert [f.lost_before for f in out] == [0, 1, 247, 0, 1]
    assert [f.timestamp_us for f in out] == [20000, 28000, 1020000, 1024000, 1032000]  # unwrapped counter x 4 ms
    assert d.stats.lost_frames == 249 and d.stats.bytes_discarded == 3 + 33


# -- serial over a pty ---------------------------------------------------------------
pytestmark_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")


@pytestmark_pty
def test_pty_band_end_to_end_matches_in_process():
    ref = SimulatedBand("synthetic", seed=1, seconds=1.0, speed=INF)
    with ref:
        want = [i.samples for i in ref]
    with SimulatedBand("synthetic", seed=1, seconds=1.0, speed=INF, pty=True) as band:
        assert os.path.islink(band.port_path)
        got = []
        deadline = time.monotonic() + 30
        while not band.done and time.monotonic() < deadline:
            item = band.read(0.2)
            if item is not None:
                got.append(item)
    assert all(isinstance(i, Block) for i in got)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.samples, w)
    assert band.stats.crc_errors == band.stats.lost_frames == 0


@pytest.mark.parametrize("pty", [False, pytest.param(True, marks=pytestmark_pty)], ids=["in-process", "pty"])
def test_sample_times_follow_the_device_clock_and_no_block_is_read_before_its_samples_exist(pty):
    """sample_time_s is the device's pacing clock (index / fs from its start); causality: a block is read after
    its last sample existed. No wall-clock bound is asserted, only the order."""
    band = SimulatedBand("synthetic", seed=1, seconds=0.3, speed=1.0, pty=pty)
    assert band.sample_time_s(0) is None  # no clock before streaming
    with band:
        blocks = [b for b in _collect(band, lambda out: band.done) if isinstance(b, Block)]
        fs = band.info.fs_hz
        ends = np.cumsum([len(b.samples) for b in blocks]) - 1
        times = np.array([band.sample_time_s(int(e)) for e in ends])
        assert np.all(np.array([b.host_time_s for b in blocks]) >= times)
        # the times are monotonic-clock seconds (the machine's uptime, ~3e4 s after 9 h): each difference carries
        # one rounding of that size, which a relative bound on a 4 ms step would turn into a test of the uptime
        np.testing.assert_allclose(np.diff(times), np.diff(ends) / fs, rtol=0, atol=2 * np.spacing(times.max()))
    assert SimulatedBand("synthetic", seconds=0.1, speed=INF).sample_time_s(5) is None


def _collect(band, stop_when, timeout_s=30.0):
    out = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop_when(out):
        item = band.read(0.1)
        if item is not None:
            out.append(item)
    return out


@pytestmark_pty
def test_unplug_replug_reports_a_reconnect_gap_and_resumes():
    sim = SimulatedBand("synthetic", seconds=60.0, speed=4.0, pty=True, info_interval_s=0.25)
    sim.open()
    try:
        with open_band(sim.port_path, reconnect_interval_s=0.02, info_timeout_s=10) as band:
            before = _collect(band, lambda o: len(o) >= 50)
            sim.unplug()
            time.sleep(0.3)  # 1.2 s of device time passes while unplugged
            sim.replug()
            def resumed(o):
                k = next((i for i, it in enumerate(o) if isinstance(it, Gap)), None)
                return k is not None and sum(isinstance(it, Block) for it in o[k:]) >= 50

            after = _collect(band, resumed)
            stats = band.stats
    finally:
        sim.close()
    assert all(isinstance(i, Block) for i in before)
    gaps = [i for i in after if isinstance(i, Gap)]
    assert [g.kind for g in gaps] == [GapKind.RECONNECT], gaps
    g = gaps[0]
    k = after.index(g)
    last_before = [i for i in before + after[:k] if isinstance(i, Block)][-1]
    nxt = after[k + 1]
    assert isinstance(nxt, Block)
    # the gap spans exactly from the end of the last block to the first block after the replug
    assert g.from_us == last_before.timestamp_us + 8 * 500
    assert g.to_us == nxt.timestamp_us
    assert g.samples == (g.to_us - g.from_us) // 500 and g.samples > 0.5 * 2000  # > 0.5 s of samples missing
    assert g.frames > 0
    assert stats.disconnects >= 1 and stats.reconnects >= 1


@pytestmark_pty
def test_slow_consumer_bounded_queue_counts_drops():
    with SimulatedBand("synthetic", seconds=2.0, speed=INF, pty=True, queue_frames=16) as band:
        deadline = time.monotonic() + 30
        while band.stats.dropped_frames < 100 and time.monotonic() < deadline:
            time.sleep(0.02)  # the consumer does nothing: the band keeps running
            assert band.stats.queue_len <= 16
        items = _collect(band, lambda o: band.done, timeout_s=30)
        stats = band.stats
    drop_frames = sum(i.frames for i in items if isinstance(i, Gap) and i.kind is GapKind.DROPPED)
    blocks = [i for i in items if isinstance(i, Block)]
    assert drop_frames == stats.dropped_frames >= 100
    assert len(blocks) + stats.dropped_frames == stats.frames == 2.0 * 2000 / 8  # every frame delivered or counted
    assert stats.queue_len == 0


def test_open_band_errors_name_the_port():
    with pytest.raises(DeviceError, match="could not open port '/nonexistent/tty'"):
        open_band("/nonexistent/tty")
    with pytest.raises(DeviceError, match="no device-info frame from 'loop://' within 0.2 s"):
        open_band("loop://", info_timeout_s=0.2)


@pytestmark_pty
def test_cyton_source_without_brainflow_reads_the_same_bytes(tmp_path, capsys):
    """`--source cyton:PORT` (pyserial only, for installs where BrainFlow does not run) gives the µV and the gap
    the Cyton decoder gives for the same packets, and decodes from the command line."""
    from edgeemg.cli import main

    rng = np.random.default_rng(8)
    numbers = [i for i in range(500) if not 200 <= i < 205]
    counts = rng.integers(-(1 << 20), 1 << 20, size=(500, 8))
    packets = [encode_cyton_packet(i % 256, counts[i]) for i in numbers]
    want = CytonDecoder(gain=8).feed(b"".join(packets))
    cyton = CytonOnPty(packets)
    band = open_band(f"cyton:{cyton.port}?gain=8", buffer_before_start=True)  # 'b' goes out at open: keep it all
    try:
        band.start()
        items = []
        while sum(len(b.samples) for b in items if isinstance(b, Block)) < len(numbers):
            item = band.read(5.0)
            assert item is not None, f"no Cyton sample within 5 s ({band.stats})"
            items.append(item)
    finally:
        band.close()
        cyton.close()
    got = np.concatenate([b.samples for b in items if isinstance(b, Block)])
    np.testing.assert_array_equal(got, np.concatenate([f.samples for f in want]))
    assert [g.samples for g in items if isinstance(g, Gap)] == [5]
    with pytest.raises(InvalidInputError, match=r"Invalid Cyton gain 3"):
        open_band("cyton:/dev/x?gain=3")
    with pytest.raises(InvalidInputError, match=r"unknown parameter\(s\) \['baud'\]"):
        open_band("cyton:/dev/x?baud=9600")
    cyton = CytonOnPty(packets, burst_every_s=0.1)  # real time: the run starts while the board streams
    try:
        bundle = tiny_bundle(tmp_path / "b", 250.0, [f"e{i}" for i in range(8)])
        code = main(["-q", "run", str(bundle.path), "--source", f"cyton:{cyton.port}", "--seconds", "1.5",
                     "--skip-after-ms", "inf"])
    finally:
        cyton.close()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and any(d["type"] == "event" for d in lines) and lines[-1]["frames"] > 0, lines

