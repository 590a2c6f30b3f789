"""open_band's source strings: without the devices extra the serial path works and the brainflow:/lsl:/XDF paths
name the extra to install; with it, `edgeemg run --source brainflow:synthetic` decodes from the command line."""

from __future__ import annotations

import json
import sys

import pytest
from _tiny_bundle import tiny_bundle

from edgeemg.errors import MissingExtraError


@pytest.mark.parametrize("source, package", [("brainflow:synthetic", "brainflow"), ("lsl:EMG", "pylsl")])
def test_missing_extra_is_named(monkeypatch, source, package):
    from edgeemg.bridge import open_band

    for name in [m for m in sys.modules if m.split(".")[0] == package] + [package]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it (or a submodule) now raises ImportError
    with pytest.raises(MissingExtraError, match=rf"needs the '{package}' package.*pip install 'edgeemg\[devices\]'"):
        open_band(source)
    with pytest.raises(Exception, match="could not open port"):  # the serial path does not need the extra
        open_band("/nonexistent/tty")


def test_a_device_library_that_does_not_load_here_says_what_to_do(monkeypatch):
    """Installed but unloadable native libraries (the case on arm64 boards: BrainFlow's PyPI wheel ships x86-64
    Linux libraries, pylsl's arm64 wheel no liblsl) are one-line device errors naming the way out."""
    from edgeemg.bridge import lsl_band
    from edgeemg.errors import DeviceError

    def no_liblsl(*_a):
        raise RuntimeError("LSL binary library file was not found. Please make sure that the\n binary file ...")

    monkeypatch.setattr(lsl_band, "require", no_liblsl)
    with pytest.raises(DeviceError, match=r"cannot load the liblsl library \(LSL binary library file was not found"
                                          r"\..*PYLSL_LIB") as exc:
        lsl_band.open_lsl("EMG")
    assert "\n" not in str(exc.value)
    shim = pytest.importorskip("brainflow.board_shim")
    from edgeemg.bridge import open_band

    def wrong_elf(cls):
        raise OSError("/x/libBoardController.so: wrong ELF class: ELFCLASS64")

    monkeypatch.setattr(shim.BoardControllerDLL, "get_instance", classmethod(wrong_elf))
    with pytest.raises(DeviceError, match=r"brainflow is installed but its library does not load on this machine "
                                          r"\(.*wrong ELF class.*build BrainFlow from source.*lsl:NAME"):
        open_band("brainflow:synthetic")


def test_read_xdf_without_pyxdf_names_the_extra(monkeypatch, tmp_path):
    from edgeemg.data import read_xdf

    monkeypatch.setitem(sys.modules, "pyxdf", None)
    with pytest.raises(MissingExtraError, match=r"'pyxdf' package.*edgeemg\[devices\]"):
        read_xdf(tmp_path / "x.xdf")


def test_bridge_import_loads_no_device_library():
    import subprocess

    probe = "import sys, edgeemg.bridge, edgeemg.runtime.daemon; print([m for m in ('brainflow', 'pylsl', 'pyxdf') " \
            "if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_run_cli_with_brainflow_synthetic_source(tmp_path, capsys):
    pytest.importorskip("brainflow")
    from edgeemg.cli import main

    bundle = tiny_bundle(tmp_path / "b", 250.0, ["Pz", "Fz"])  # chosen from the board's channels by name
    code = main(["-q", "run", str(bundle.path), "--source", "brainflow:synthetic", "--seconds", "1.5",
                 "--metrics-every", "0.5", "--skip-after-ms", "inf"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0
    events = [d for d in lines if d["type"] == "event"]
    assert events and all(d["task"] == "gait" and d["latency_ms"] >= 0 for d in events)
    assert lines[-1]["type"] == "metrics" and lines[-1]["final"] and lines[-1]["frames"] > 0
    assert lines[-1]["lost"] == 0 and lines[-1]["gaps"] == 0

    wrong = tiny_bundle(tmp_path / "w", 250.0, ["a", "b", "c"])  # no such names: all 16 channels, refused
    code = main(["-q", "run", str(wrong.path), "--source", "brainflow:synthetic", "--seconds", "0.5"])
    err = capsys.readouterr().err
    assert code == 1 and "expects 3 channels but the band has 16" in err and "Synthetic" in err


def test_a_source_that_fails_mid_stream_ends_the_run_with_exit_1(tmp_path, capsys, monkeypatch):
    pytest.importorskip("brainflow")
    from edgeemg.bridge.brainflow_band import BrainFlowBand
    from edgeemg.cli import main

    real, calls = BrainFlowBand._poll, []

    def failing(self):
        calls.append(1)
        if len(calls) > 20:
            raise RuntimeError("BOARD_NOT_READY_ERROR:7 unable to get board data")
        return real(self)

    monkeypatch.setattr(BrainFlowBand, "_poll", failing)
    bundle = tiny_bundle(tmp_path / "b", 250.0, ["Pz", "Fz"])
    code = main(["-q", "run", str(bundle.path), "--source", "brainflow:synthetic", "--seconds", "20"])
    out, err = capsys.readouterr()
    assert code == 1 and "the source failed while streaming (BOARD_NOT_READY_ERROR:7" in err
    assert json.loads(out.splitlines()[-1])["final"]  # the last metrics line was still written
