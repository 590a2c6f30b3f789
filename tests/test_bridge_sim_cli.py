"""band_sim_main over a real pty in a child process: path on stdout, frames readable, SIGTERM exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgeemg.bridge import Block, band_sim_main, open_band
from edgeemg.data.bands import band_signal

CHILD = (
    "import sys; from edgeemg.bridge.band_sim import band_sim_main; "
    "sys.exit(band_sim_main('synthetic', pty=True, port=None, seconds={s}, seed=4, speed=4.0))"
)


def _start(seconds):
    p = subprocess.Popen([sys.executable, "-c", CHILD.format(s=seconds)], stdout=subprocess.PIPE, text=True)
    path = p.stdout.readline().strip()
    return p, path


def test_band_sim_pty_streams_the_task_signal_and_exits_on_sigterm():
    p, path = _start(None)
    try:
        assert path.endswith("/band")
        with open_band(path, info_timeout_s=20, buffer_before_start=True) as band:
            assert (band.info.fs_hz, band.info.n_channels) == (2000.0, 8)
            blocks, deadline = [], time.monotonic() + 30
            while len(blocks) < 40 and time.monotonic() < deadline:
                item = band.read(0.2)
                if isinstance(item, Block):
                    blocks.append(item)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
    ref = band_signal("synthetic", 30.0, seed=4, session=0).emg
    x = np.concatenate([b.samples for b in blocks])
    assert np.abs(x - ref[: len(x)]).max() < 0.01  # the first frames of the stream, quantised


def test_band_sim_finite_stream_ends_by_itself():
    p, path = _start(0.5)
    try:
        # frames sent while the device info is awaited would otherwise be ignored (start() not called yet)
        with open_band(path, info_timeout_s=20, reconnect=False, buffer_before_start=True) as band:
            n, deadline = 0, time.monotonic() + 30
            while n < 125 and time.monotonic() < deadline:
                n += isinstance(band.read(0.2), Block)
        assert n == 125  # 0.5 s x 2000 Hz / 8 samples per frame
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)


def test_band_sim_usage_and_port_errors(capsys, tmp_path):
    from edgeemg.cli import main
    from edgeemg.errors import DeviceError, InvalidInputError

    with pytest.raises(InvalidInputError, match="exactly one of --pty or --port"):
        band_sim_main("synthetic", pty=False, port=None, seconds=1.0, seed=0, speed=1.0)
    with pytest.raises(DeviceError, match="could not open port .*no such device"):
        band_sim_main("synthetic", pty=False, port=str(tmp_path / "ttyUSB9"), seconds=1.0, seed=0, speed=1.0,
                      progress=False)
    assert main(["-q", "band-sim", "synthetic", "--port", str(tmp_path / "ttyUSB9"), "--seconds", "1"]) == 1
    assert capsys.readouterr().err.startswith("edgeemg band-sim: device error: could not open port")


def test_bridge_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None; import edgeemg.bridge, edgeemg.bridge.simulated; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_band_sim_fault_option_makes_the_band_misbehave(capsys):
    """`band-sim --fault drop@0.2:0.1`: the frames of that tenth of a second never arrive; a bad spec is usage."""
    from edgeemg.bridge.faults import BandFault, FaultKind, parse_fault
    from edgeemg.cli import main

    assert parse_fault("drop@0.2:0.1") == BandFault(FaultKind.DROP, 0.2, 0.1)
    assert parse_fault("reboot@30:2").kind is FaultKind.REBOOT
    with pytest.raises(SystemExit) as exc:
        main(["band-sim", "synthetic", "--pty", "--fault", "melt@1:2"])
    assert exc.value.code == 2 and "KIND@AT:DURATION" in capsys.readouterr().err
    child = CHILD.replace("speed=4.0", "speed=4.0, faults=(__import__('edgeemg.bridge.faults').bridge.faults"
                          ".parse_fault('drop@0.2:0.1'),)")
    p = subprocess.Popen([sys.executable, "-c", child.format(s=0.5)], stdout=subprocess.PIPE, text=True)
    try:
        path = p.stdout.readline().strip()
        with open_band(path, info_timeout_s=20, reconnect=False, buffer_before_start=True) as band:
            items, deadline = [], time.monotonic() + 30
            while sum(isinstance(i, Block) for i in items) < 100 and time.monotonic() < deadline:
                item = band.read(0.2)
                if item is not None:
                    items.append(item)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
    gaps = [i for i in items if not isinstance(i, Block)]
    assert [(g.kind.value, g.samples, g.frames) for g in gaps] == [("lost_frames", 200, 25)]
    assert sum(isinstance(i, Block) for i in items) == 100  # 125 frames in 0.5 s, 25 dropped
