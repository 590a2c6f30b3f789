"""XDF recordings through pyxdf: a file written by the test from the XDF specification (tests/_xdf_writer.py)
reads back sample-exact, markers land on the EMG sample grid, and the gait reader (what `train`/`eval --data`
use) gives the same record from an .xdf as from the WFDB record it was made of."""

from __future__ import annotations

import numpy as np
import pytest
from _xdf_writer import XdfStream, write_xdf

pytest.importorskip("pyxdf")

from edgeemg.data.gait_record import read_gait_record, write_gait_record  # noqa: E402
from edgeemg.data.wfdb_io import find_records, read_wfdb  # noqa: E402
from edgeemg.data.xdf_io import read_xdf  # noqa: E402
from edgeemg.errors import DataFormatError  # noqa: E402

FS = 500.0


def _file(tmp_path, n=1234, stamp_every=1):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((n, 3)) * 50).astype(np.float32)
    t0 = 1000.25
    stamps = t0 + np.arange(n) / FS
    marks = ["(stand", "(walk", "go, then stop"]  # commas and spaces survive
    at = np.array([0, 400, 1111])
    emg = XdfStream("MyAmp", "EMG", x, stamps, FS, labels=["TA", "GM", "VL"],
                    units=["microvolts", "millivolts", "V"], stamp_every=stamp_every)
    other = XdfStream("Accel", "ACC", x[:, :1] * 0, stamps, FS, labels=["ax"], units=["g"])
    markers = XdfStream("Task", "Markers", marks, stamps[at] + 0.3 / FS, fmt="string")  # within half a sample
    return write_xdf(tmp_path / "s.xdf", [other, emg, markers], chunk_samples=97), x, at, marks


@pytest.mark.parametrize("stamp_every", [1, 10])
def test_emg_stream_and_markers_read_back_sample_exact(tmp_path, stamp_every):
    path, x, at, marks = _file(tmp_path, stamp_every=stamp_every)
    rec = read_xdf(path, stream="EMG")
    assert rec.fs_hz == FS and rec.channel_names == ("TA", "GM", "VL")
    assert rec.units == ("uV", "uV", "uV") and rec.to_uv == (1.0, 1e3, 1e6)
    np.testing.assert_array_equal(rec.emg[:, 0], x[:, 0])  # microvolts: bit-exact
    np.testing.assert_array_equal(rec.emg[:, 1], (x[:, 1].astype(np.float64) * 1e3).astype(np.float32))
    np.testing.assert_array_equal(rec.emg[:, 2], (x[:, 2].astype(np.float64) * 1e6).astype(np.float32))
    assert rec.annotations == tuple((int(i), "+", m) for i, m in zip(at, marks))
    assert "markers: Task" in rec.comments
    assert read_xdf(path, stream="myamp").emg.shape == x.shape  # by name, case-insensitive


def test_stream_selection_errors_list_what_the_file_has(tmp_path):
    path, *_ = _file(tmp_path)
    with pytest.raises(DataFormatError, match=r"no numeric stream named or typed 'EEG'.*'MyAmp' \(type 'EMG', 3 ch"):
        read_xdf(path, stream="EEG")
    with pytest.raises(DataFormatError, match="no such XDF file"):
        read_xdf(tmp_path / "missing.xdf")
    (tmp_path / "bad.xdf").write_bytes(b"XDF:\x01\x05garbage")  # pyxdf skips what it cannot parse
    with pytest.raises(DataFormatError, match="the file has no readable stream"):
        read_xdf(tmp_path / "bad.xdf")
    (tmp_path / "not.xdf").write_bytes(b"RIFF")
    with pytest.raises(DataFormatError, match="pyxdf could not read"):
        read_xdf(tmp_path / "not.xdf")


def test_a_file_whose_only_signal_is_typed_otherwise_gives_that_signal(tmp_path):
    """The OpenBCI GUI types its LSL stream 'EEG': with the default stream the file's only signal is read;
    with two candidates the choice is refused, listing both."""
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    stamps = 5.0 + np.arange(20) / FS
    gui = XdfStream("obci_eeg1", "EEG", x, stamps, FS)
    marks = XdfStream("Task", "Markers", ["go"], stamps[:1], fmt="string")
    rec = read_xdf(write_xdf(tmp_path / "one.xdf", [gui, marks]))
    np.testing.assert_array_equal(rec.emg, x)
    assert rec.comments[0] == "xdf stream: obci_eeg1"
    aux = XdfStream("obci_aux", "AUX", x[:, :1], stamps, FS)
    with pytest.raises(DataFormatError, match=r"no numeric stream named or typed 'EMG'.*'obci_eeg1'.*'obci_aux'"):
        read_xdf(write_xdf(tmp_path / "two.xdf", [gui, aux, marks]))


def test_task_readers_name_the_xdf_file_and_what_it_lacks(tmp_path):
    from edgeemg.data.muscle_record import read_muscle_record

    stamps = 5.0 + np.arange(20) / FS
    emg = XdfStream("amp", "EMG", np.ones((20, 2), np.float32), stamps, FS, labels=["semg TA", "semg GM"],
                    units=["microvolts"] * 2)
    path = write_xdf(tmp_path / "walk.xdf", [emg])
    with pytest.raises(DataFormatError, match=r"walk.xdf: required channel 'baso LT FOOT' not found.*'semg TA'.*"
                                              r"gait states come from the two foot switches"):
        read_gait_record(path)
    with pytest.raises(DataFormatError, match=r"walk.xdf: a muscle-health record has exactly 1 channel, found 2"):
        read_muscle_record(path)


def test_gait_reader_takes_xdf_like_wfdb(tmp_path):
    from edgeemg.data.sim_gait import simulate_gait

    wf = write_gait_record(tmp_path / "g01", simulate_gait(6.0, seed=2))
    ref = read_wfdb(wf)
    n = ref.emg.shape[0]
    stamps = 50.0 + np.arange(n) / ref.fs_hz
    states = [(s, a) for s, _y, a in ref.annotations]
    xdf = write_xdf(tmp_path / "g01.xdf", [
        XdfStream("amp", "EMG", ref.emg, stamps, ref.fs_hz, labels=list(ref.channel_names),
                  units=["microvolts"] * ref.emg.shape[1]),
        XdfStream("truth", "Markers", [a for _s, a in states], stamps[[s for s, _a in states]], fmt="string"),
    ], chunk_samples=500)
    want, got = read_gait_record(wf), read_gait_record(xdf)
    np.testing.assert_array_equal(got.emg, want.emg)
    np.testing.assert_array_equal(got.states, want.states)
    np.testing.assert_array_equal(got.truth_states, want.truth_states)
    for a, b in zip(got.truth_heel_strikes, want.truth_heel_strikes):
        np.testing.assert_allclose(a, b)
    assert find_records([tmp_path]) == sorted([wf, xdf])  # a --data folder lists both kinds


def _as_xdf(wfdb_record, folder):
    """The record's every channel as an EMG stream and its annotations as a marker stream, named by subject."""
    from edgeemg.data.gait_record import read_gait_record

    rec = read_wfdb(wfdb_record)
    stamps = 10.0 + np.arange(rec.emg.shape[0]) / rec.fs_hz
    subject = read_gait_record(wfdb_record).subject_id
    return write_xdf(folder / f"{subject}.xdf", [
        XdfStream("amp", "EMG", rec.emg, stamps, rec.fs_hz, labels=list(rec.channel_names),
                  units=["microvolts"] * rec.emg.shape[1]),
        XdfStream("truth", "Markers", [a for _s, _y, a in rec.annotations],
                  stamps[[s for s, _y, _a in rec.annotations]], fmt="string"),
    ], chunk_samples=2000)


def test_cli_train_and_eval_take_xdf_like_wfdb(tmp_path, capsys):
    """`train --data` and `eval --data` on .xdf files made from WFDB records report exactly what the records do."""
    import json

    from edgeemg.cli import main

    for name, subjects, seed in (("train", "3", "0"), ("test", "2", "9")):
        assert main(["-q", "simulate", "gait", "-o", str(tmp_path / name), "--seconds", "10", "--subjects", subjects,
                     "--seed", seed]) == 0
        (tmp_path / f"{name}-xdf").mkdir()
        for rec in find_records([tmp_path / name]):
            _as_xdf(rec, tmp_path / f"{name}-xdf")
    capsys.readouterr()
    reports = {}
    for kind in ("", "-xdf"):
        ckpt = tmp_path / f"svm{kind}.ckpt"
        assert main(["-q", "train", "gait", "--data", str(tmp_path / f"train{kind}"), "--preset", "seed",
                     "--model", "svm", "-o", str(ckpt), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert main(["-q", "eval", str(ckpt), "--data", str(tmp_path / f"test{kind}"), "--json"]) == 0
        reports[kind] = (summary["val_macro_f1"], json.loads(capsys.readouterr().out))
    assert reports["-xdf"][0] == reports[""][0]
    for key in ("accuracy", "macro_f1", "confusion"):
        assert reports["-xdf"][1][key] == reports[""][1][key]
