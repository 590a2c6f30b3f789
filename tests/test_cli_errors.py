"""One error scheme on the command line: `edgeemg VERB: <label>: message`, the label once, and the exit
codes the README documents (0 ok, 1 failure, 2 usage), for every error class and for real failures."""

from __future__ import annotations

import re
import shutil

import pytest
from _hand_bundle import hand_bundle

import edgeemg.cli.inspect as inspect_verb
from edgeemg import errors
from edgeemg.cli import main

# the README's table, written out independently of the classes' own attributes
EXPECTED = {
    errors.EdgeEmgError: (1, "generic error"),
    errors.InvalidInputError: (2, "usage error"),
    errors.DataFormatError: (1, "data format error"),
    errors.ProtocolError: (1, "protocol error"),
    errors.DeviceError: (1, "device error"),
    errors.BundleError: (1, "bundle error"),
    errors.ExportError: (1, "export error"),
    errors.CheckpointError: (1, "checkpoint error"),
    errors.MissingExtraError: (1, "missing extra error"),
}
CODE_PREFIX = re.compile(r"[A-Z_]+:\d")  # the old "DEVICE:5" form


def test_every_error_class_is_in_the_table():
    def all_subclasses(cls):
        return {cls} | {s for c in cls.__subclasses__() for s in all_subclasses(c)}

    assert all_subclasses(errors.EdgeEmgError) == set(EXPECTED)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_error_class_prints_one_line_and_its_exit_code(cls, monkeypatch, capsys, tmp_path):
    inner = cls("the inner reason")

    def failing(args):  # wrapping one error's text in another's must not double the label
        raise cls(f"what failed: {inner}; what to do")

    monkeypatch.setattr(inspect_verb, "run", failing)
    code, label = EXPECTED[cls]
    assert main(["inspect", str(tmp_path)]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"edgeemg inspect: {label}: what failed: the inner reason; what to do\n"
    assert not CODE_PREFIX.search(err)


def test_os_errors_are_failures_with_one_line(monkeypatch, capsys, tmp_path):
    def failing(args):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "x"))

    monkeypatch.setattr(inspect_verb, "run", failing)
    assert main(["inspect", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("edgeemg inspect: error: [Errno 2] No such file")


# -- real failures, end to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return hand_bundle(tmp_path_factory.mktemp("err") / "b")


def _one_line(capsys):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err
    assert not CODE_PREFIX.search(lines[0])
    return lines[0]


def test_usage_errors_exit_2(bundle, capsys, tmp_path):
    assert main(["run", str(bundle), "--simulate", "--sink", "tcp:1234"]) == 2
    assert _one_line(capsys) == ("edgeemg run: usage error: --sink must be 'stdout', 'unix:PATH' or "
                                "'lsl:NAME', got 'tcp:1234'")
    assert main(["simulate", "gait", "-o", str(tmp_path / "g"), "--level", "0.3"]) == 2
    assert "usage error: option(s) --level do not apply to task 'gait'" in _one_line(capsys)
    with pytest.raises(SystemExit) as exc:  # argparse's own usage errors
        main(["run", str(bundle)])
    assert exc.value.code == 2


def test_a_missing_port_is_a_device_error_with_its_hint(bundle, capsys, tmp_path):
    assert main(["run", str(bundle), "--port", str(tmp_path / "ttyACM7")]) == 1
    line = _one_line(capsys)
    assert line.startswith(f"edgeemg run: device error: could not open port '{tmp_path / 'ttyACM7'}'")
    assert line.count("error:") == 1 and "no such device: is the band plugged in" in line and "dialout" not in line


def test_a_tampered_bundle_is_a_bundle_error(bundle, capsys, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    model = copy / "model.int8.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    assert main(["inspect", str(copy)]) == 1
    line = _one_line(capsys)
    assert line.startswith("edgeemg inspect: bundle error: ") and "model.int8.onnx" in line
    assert line.count("bundle error") == 1


def test_a_band_that_does_not_fit_the_bundle_is_one_bundle_error(bundle, capsys):
    """The engine wraps the bundle's own refusal: the label must still appear once."""
    from edgeemg.bridge import DeviceInfo
    from edgeemg.errors import BundleError
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.runtime.engine import Engine

    with pytest.raises(BundleError) as exc:
        Engine(load_bundle(bundle), warmup=False).check_band(DeviceInfo(4000.0, 8, "x", "y"))
    assert str(exc.value).startswith(f"bundle {bundle} expects 2000 Hz but the band samples at 4000 Hz")
    assert not CODE_PREFIX.search(str(exc.value))
