"""Lab Streaming Layer in and out, on this machine only: an outlet started by the test plays a simulated gait
recording in real time; `edgeemg run --source lsl:NAME` decodes it to the events the same samples give offline
(tests/_tiny_bundle.py's reference), a pause in the outlet is a gap, a stream that does not fit the bundle is
refused naming both, and `--sink lsl:NAME` events arrive at an inlet stamped with the samples' own LSL times."""

from __future__ import annotations

import json
import threading
import uuid

import numpy as np
import pytest
from _band_recorder import same_payloads
from _tiny_bundle import offline_events, tiny_bundle

pylsl = pytest.importorskip("pylsl")

try:  # resolve on this machine only (before liblsl initialises; later calls are ignored)
    pylsl.set_config_content("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")
except (NotImplementedError, AttributeError):
    pass

from edgeemg.bridge import open_band  # noqa: E402
from edgeemg.bridge.lsl_publish import LslPlayer  # noqa: E402
from edgeemg.cli import main  # noqa: E402
from edgeemg.data.bands import band_signal  # noqa: E402
from edgeemg.errors import DeviceError  # noqa: E402

SECONDS = 2.0


@pytest.fixture(scope="module")
def sig():
    return band_signal("gait", SECONDS, seed=4)  # 2 kHz, 6 named sEMG channels


@pytest.fixture(scope="module")
def bundle(sig, tmp_path_factory):
    # the amplifier's order reversed: the band picks the bundle's channels by label
    return tiny_bundle(tmp_path_factory.mktemp("lsl") / "b", sig.fs_hz, list(sig.channel_names[::-1]), window=200,
                       hop=200)


def _name(tag):
    return f"edgeemg-test-{tag}-{uuid.uuid4().hex[:8]}"


def test_run_decodes_an_lsl_stream_like_offline_and_reports_the_pause(sig, bundle, capsys):
    at, n = 1500, 400
    snd = LslPlayer(_name("amp"), sig.emg, sig.fs_hz, sig.channel_names, drop=(at, n))
    snd.start()
    code = main(["-q", "run", str(bundle.path), "--source", f"lsl:{snd.stream_name}",
                 "--seconds", str(SECONDS + 4), "--skip-after-ms", "inf", "--metrics-every", "1"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0
    events = [d for d in lines if d["type"] == "event"]
    x = sig.emg[:, ::-1]  # the bundle's channel order
    want = offline_events(bundle, x[:at]) + offline_events(bundle, x[at + n:])
    assert len(want) >= 3
    same_payloads([{k: e[k] for k in w} for e, w in zip(events, want)], want)
    assert len(events) == len(want)
    final = lines[-1]
    assert final["final"] and final["gaps"] == 1 and final["lost"] == n and final["frames"] > 0
    # device time is the sender's stamp of the event's newest sample (gap samples counted in sample_index)
    _on_sender_stamps([e["time_us"] * 1e-6 for e in events], [e["sample_index"] for e in events], snd)


def _on_sender_stamps(times_s, sample_index, snd):
    """Times equal the sender's stamps of those samples, sample-exact relative to each other, and to within
    LSL's clock-sync estimate in absolute terms (the inlet adds its estimated sender-to-here offset: tens of
    µs on one machine, more under load)."""
    off = np.asarray(times_s) - (snd.t0 + np.asarray(sample_index) / snd.fs_hz)
    assert abs(np.median(off)) < 1e-3
    assert np.abs(off - np.median(off)).max() < 0.25 / snd.fs_hz


def test_sink_lsl_publishes_events_at_their_samples_lsl_time(sig, bundle):
    sink = _name("events")
    go = threading.Event()
    snd = LslPlayer(_name("amp"), sig.emg, sig.fs_hz, sig.channel_names, go=go)
    got: dict = {}

    def listen():
        ev = pylsl.StreamInlet(pylsl.resolve_byprop("name", sink, 1, 20)[0])
        me = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{sink}-metrics", 1, 20)[0])
        ev.open_stream(10)
        me.open_stream(10)
        go.set()  # subscribed before the first sample is sent: nothing is missed
        snd.join(30)
        got["ev"], got["me"] = [], []
        for inlet, key in ((ev, "ev"), (me, "me")):
            while True:
                s, t = inlet.pull_sample(timeout=1.0)
                if s is None:
                    break
                got[key].append((json.loads(s[0]), t))

    snd.start()
    th = threading.Thread(target=listen, daemon=True)
    th.start()
    code = main(["-q", "run", str(bundle.path), "--source", f"lsl:{snd.stream_name}",
                 "--sink", f"lsl:{sink}", "--seconds", str(SECONDS + 4), "--skip-after-ms", "inf",
                 "--metrics-every", "0.5"])
    th.join(40)
    assert code == 0 and not th.is_alive()
    want = offline_events(bundle, sig.emg[:, ::-1])
    events = [d for d, _t in got["ev"]]
    assert len(want) >= 3 and len(events) == len(want)
    same_payloads([{k: e[k] for k in w} for e, w in zip(events, want)], want)
    for d, t in got["ev"]:
        assert d["type"] == "event" and t == pytest.approx(d["time_us"] * 1e-6, abs=2e-6)
    _on_sender_stamps([t for _d, t in got["ev"]], [d["sample_index"] for d, _t in got["ev"]], snd)
    assert got["me"] and all(d["type"] in ("metrics", "health") for d, _t in got["me"])
    # the sender stops SECONDS in and the daemon runs 4 s longer: that silence is a health stretch
    assert [d["kind"] for d, _t in got["me"] if d["type"] == "health"][:1] == ["no_valid_frames"]


def test_a_stream_that_does_not_fit_the_bundle_is_refused_naming_both(sig, bundle, tmp_path, capsys):
    snd = LslPlayer(_name("wrong"), sig.emg, sig.fs_hz, [f"x{i}" for i in range(6)])  # no labels the bundle knows
    name = snd.stream_name
    three = tiny_bundle(tmp_path / "three", sig.fs_hz, ["a", "b", "c"], window=200, hop=200)
    code = main(["-q", "run", str(three.path), "--source", f"lsl:{name}", "--seconds", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "expects 3 channels but the band has 6" in err and f"lsl stream '{name}'" in err
    slow = tiny_bundle(tmp_path / "slow", 250.0, list(sig.channel_names), window=25, hop=25)
    code = main(["-q", "run", str(slow.path), "--source", f"lsl:{name}", "--seconds", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "expects 250 Hz but the band samples at 2000 Hz" in err
    with pytest.raises(DeviceError, match=r"no LSL stream named or typed 'nope-\w+' within 0.3 s"):
        open_band(f"lsl:nope-{uuid.uuid4().hex[:6]}?timeout=0.3")


def test_units_and_channel_choice_from_the_stream_description(sig):
    """A sender in millivolts arrives in microvolts; ?channels= picks and orders by label."""
    snd = LslPlayer(_name("mv"), sig.emg[:400] / 1000, sig.fs_hz, sig.channel_names, unit="millivolts", chunk=50)
    pick = [sig.channel_names[4], sig.channel_names[1]]
    band = open_band(f"lsl:{snd.stream_name}?channels={','.join(pick)}&timeout=5")
    try:
        assert band.channel_names == tuple(pick)
        band.start()
        snd.start()
        blocks = []
        while sum(len(b.samples) for b in blocks) < 400:
            item = band.read(5.0)
            assert item is not None, "no samples from the LSL stream within 5 s"
            blocks.append(item)
    finally:
        band.close()
    got = np.concatenate([b.samples for b in blocks])
    want = (sig.emg[:400, [4, 1]] / 1000).astype(np.float32).astype(np.float64) * 1000
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sink_lsl_maps_a_brainflow_bands_device_time_onto_the_lsl_clock(tmp_path):
    """From a non-LSL band the stamps come through the band's clock mapping: they keep the device-time spacing of
    the events (but where the mapping learns a faster transport path) and lie before their arrival at the inlet."""
    pytest.importorskip("brainflow")
    sink = _name("bf-events")
    got: list = []

    def listen():
        inlet = pylsl.StreamInlet(pylsl.resolve_byprop("name", sink, 1, 20)[0])
        while True:
            s, t = inlet.pull_sample(timeout=1.5)
            if s is None:
                return
            got.append((json.loads(s[0]), t, pylsl.local_clock()))

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    b = tiny_bundle(tmp_path / "b", 250.0, ["Pz", "Fz"])
    assert main(["-q", "run", str(b.path), "--source", "brainflow:synthetic", "--sink", f"lsl:{sink}",
                 "--seconds", "3", "--skip-after-ms", "inf"]) == 0
    th.join(10)
    assert len(got) >= 3
    dev = np.array([d["time_us"] * 1e-6 for d, _t, _r in got])
    stamp = np.array([t for _d, t, _r in got])
    # the mapping follows the sample clock; it moves only when it learns a faster path (a lower envelope point)
    assert np.median(np.abs(np.diff(stamp) - np.diff(dev))) < 1e-3
    assert all(t <= r for _d, t, r in got)  # a lower bound on arrival: never after the event was received


def test_device_time_follows_a_drifting_jittery_sender_and_finds_only_real_gaps():
    """A sender whose crystal runs 50 ppm fast and which stamps each chunk at push time (liblsl back-dates the
    rest of the chunk at the nominal rate), 0-3 ms late, dropping 200 samples once: one gap of 200 samples (to
    the stamps' jitter), no false gap from the jitter, and device time within half a millisecond of the stamps'
    mean after a minute."""
    from edgeemg.bridge import DeviceInfo, Gap
    from edgeemg.bridge.routing import FrameRouter
    from edgeemg.bridge.lsl_band import LslBand

    fs, n, chunk = 2000.0, 120_000, 40
    rng = np.random.default_rng(3)
    true = 100.0 + np.arange(n) / (fs * (1 + 50e-6))
    keep = np.ones(n, bool)
    keep[30_000:30_200] = False
    band = LslBand("fake")
    band.fs_hz = fs
    items: list = []
    router = FrameRouter(items.append, DeviceInfo(fs, 1, "fake", "test"))
    router.delivering = True
    err = []
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(lo + chunk, n))
        idx = idx[keep[idx]]
        if not idx.size:
            continue
        stamps = true[idx[-1]] + rng.uniform(0, 3e-3) - (idx[-1] - idx) / fs
        for frame, host in band._frames(np.zeros((idx.size, 1), np.float32), stamps, stamps):
            router.handle([frame], host)
            err.append(frame.timestamp_us * 1e-6 - (true[idx[0]] + 1.5e-3))  # the stamps' mean lateness is 1.5 ms
    gaps = [g for g in items if isinstance(g, Gap)]
    assert [g.kind.value for g in gaps] == ["lost_frames"] and band.lost_samples == gaps[0].samples == gaps[0].frames
    assert abs(gaps[0].samples - 200) <= 3e-3 * fs  # sized from stamps: exact up to their jitter (3 ms = 6 samples)
    assert np.abs(err[len(err) // 2:]).max() < 0.5e-3


def test_band_sim_publishes_the_simulated_band_on_lsl():
    """`edgeemg band-sim synthetic --lsl NAME` is an amplifier on LSL: the band reads back the simulator's samples."""
    import subprocess
    import sys
    from pathlib import Path

    from edgeemg.data.bands import synthetic_signal

    name = _name("sim")
    proc = subprocess.Popen([sys.executable, "-m", "edgeemg", "-q", "band-sim", "synthetic", "--lsl", name,
                             "--seconds", "1", "--speed", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout.readline().strip() == name
        want = synthetic_signal(1.0, seed=0).emg
        with open_band(f"lsl:{name}?timeout=20") as band:
            assert band.info.fs_hz == 2000.0 and band.channel_names == tuple(f"ch{i}" for i in range(8))
            got = []
            while sum(len(b.samples) for b in got) < len(want):
                item = band.read(10.0)
                assert item is not None, proc.stderr.read() if proc.poll() is not None else "no samples in 10 s"
                got.append(item)
        np.testing.assert_array_equal(np.concatenate([b.samples for b in got]), want)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
