"""Keystroke and motor-unit labels from XDF marker streams (edgeemg.data.xdf_labels).

References: the same sessions read from their native files (emg2qwerty HDF5 through h5py, DEMUSE .mat through
scipy.io); the XDF files are written by tests/_xdf_writer.py from the XDF specification. The key-name mapping is
checked against LSL's keyboard app's documented names (labstreaminglayer/App-Input README) and the US layout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _xdf_writer import XdfStream, write_xdf

pytest.importorskip("pyxdf")

from edgeemg.data.charset import CHARSET  # noqa: E402
from edgeemg.data.emg2qwerty import read_emg2qwerty  # noqa: E402
from edgeemg.data.xdf_io import XdfMarkers  # noqa: E402
from edgeemg.data.xdf_labels import keystrokes_from_markers, read_xdf_keystroke, read_xdf_motor_units  # noqa: E402
from edgeemg.errors import DataFormatError, InvalidInputError  # noqa: E402
from edgeemg.tasks.checkpoint import load_checkpoint  # noqa: E402

T0 = 100.0  # LSL time of the first EMG sample


def _markers(events: list[tuple[float, str]]) -> XdfMarkers:
    return XdfMarkers("Keyboard", "Markers", np.array([t for t, _ in events]), tuple(v for _, v in events))


def test_app_input_key_names_map_to_pynput_names_with_the_shift_the_stream_shows():
    seq = ["LSHIFT pressed", "H pressed", "H released", "LSHIFT released", "I pressed", "I released",
           "SPACE pressed", "SPACE released", "RSHIFT pressed", "1 pressed", "1 released", "US_QUOTE pressed",
           "US_QUOTE released", "RSHIFT released", "US_QUOTE pressed", "US_QUOTE released", "COMMA pressed",
           "COMMA released", "BACK pressed", "BACK released", "RETURN pressed", "RETURN released", "F5 pressed"]
    ks = keystrokes_from_markers(_markers([(float(i), v) for i, v in enumerate(seq)]))
    assert [k.key for k in ks] == ["Key.shift", "H", "i", "Key.space", "Key.shift_r", "!", '"', "'", ",",
                                   "Key.backspace", "Key.enter", "F5"]
    assert [(k.start, k.end) for k in ks[:3]] == [(0.0, 3.0), (1.0, 2.0), (4.0, 5.0)]
    assert ks[-1].start == ks[-1].end == 22.0  # never released: 0 s long
    in_vocab = [CHARSET.key_to_char(k.key) for k in ks if CHARSET.normalize_key(k.key) in CHARSET]
    assert "".join(in_vocab) == "\u21e7Hi !\"',\u232b\u23ce"  # F5 and the right shift are out of vocabulary


def test_pynput_names_pass_through_and_a_release_may_change_case():
    seq = [(0.0, "Key.shift pressed"), (0.1, "A pressed"), (0.2, "a released"), (0.3, "Key.shift released"),
           (0.4, "a pressed"), (0.45, "a pressed"), (0.5, "a released"), (0.6, "a released")]  # auto-repeat
    ks = keystrokes_from_markers(_markers(seq))
    assert [(k.key, k.start, k.end) for k in ks] == [("Key.shift", 0.0, 0.3), ("A", 0.1, 0.2), ("a", 0.4, 0.5),
                                                     ("a", 0.45, 0.6)]
    with pytest.raises(DataFormatError, match=r"marker 1 is 'A down', expected '<KEY> pressed' or '<KEY> released'"):
        keystrokes_from_markers(_markers([(0.0, "A pressed"), (1.0, "A down")]))


def _session_as_xdf(session, path, chunk_samples=1000):
    """The session's EMG, its keystrokes as pynput-name key markers, and its prompts as prompt markers."""
    shift = T0 - session.time[0]
    keys = sorted([(k.start, f"{k.key} pressed") for k in session.keystrokes]
                  + [(k.end, f"{k.key} released") for k in session.keystrokes])
    emg = XdfStream("band", "EMG", session.emg, session.time + shift, session.fs, labels=[f"e{i}" for i in range(32)],
                    units=["microvolts"] * 32)
    kb = XdfStream("Keyboard", "Markers", [v for _t, v in keys], np.array([t for t, _v in keys]) + shift, fmt="string")
    pr = XdfStream("Prompts", "Markers", [p.text or "" for p in session.prompts],
                   np.array([p.start for p in session.prompts]) + shift, fmt="string")
    return write_xdf(path, [emg, kb, pr], chunk_samples=chunk_samples)


@pytest.fixture(scope="module")
def typing_files(tmp_path_factory):
    from edgeemg.data.sim_keystroke import simulate_to_path

    root = tmp_path_factory.mktemp("typing")
    for name, seed in (("train", 0), ("test", 7)):
        hdf = simulate_to_path(root / name, seconds=6.0, seed=seed, subjects=2 if name == "train" else 1,
                               progress=False)
        (root / f"{name}-xdf").mkdir()
        for k, f in enumerate(sorted(hdf)):  # LabRecorder's BIDS-style names
            _session_as_xdf(read_emg2qwerty(f), root / f"{name}-xdf" / f"sub-P{k:03d}_ses-S001_task-typing.xdf")
    return root


def test_typing_session_reads_back_like_its_hdf5_file(typing_files):
    from edgeemg.tasks.keystroke.sessions import prepare_session, read_session_file

    hdf = sorted((typing_files / "train").glob("*.hdf5"))[0]
    ref = read_emg2qwerty(hdf)
    got = read_session_file(typing_files / "train-xdf" / "sub-P000_ses-S001_task-typing.xdf")
    np.testing.assert_array_equal(got.emg, ref.emg)  # float32 microvolts, bit-exact
    assert got.fs == pytest.approx(ref.fs, abs=1e-3) and got.meta["user"] == "P000"
    np.testing.assert_allclose(got.time - T0, ref.time - ref.time[0], atol=1e-6)
    assert [k.key for k in got.keystrokes] == [k.key for k in ref.keystrokes] and len(got.keystrokes) > 5
    shift = T0 - ref.time[0]
    np.testing.assert_allclose([(k.start, k.end) for k in got.keystrokes],
                               [(k.start + shift, k.end + shift) for k in ref.keystrokes], atol=1e-9)
    assert [p.text for p in got.prompts] == [p.text for p in ref.prompts]
    a, b = (prepare_session(s.emg, s.time, s.keystrokes, s.prompts, fs_hz=2000.0, name="s", user="u")
            for s in (ref, got))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.key_frames, b.key_frames)
    np.testing.assert_array_equal(a.key_classes, b.key_classes)
    assert a.segments == b.segments and a.prompt_texts == b.prompt_texts


def test_typing_session_refusals_name_expected_and_found(tmp_path):
    stamps = T0 + np.arange(50) / 2000.0
    narrow = XdfStream("band", "EMG", np.zeros((50, 16), np.float32), stamps, 2000.0)
    kb = XdfStream("Keyboard", "Markers", ["A pressed"], stamps[:1], fmt="string")
    with pytest.raises(DataFormatError, match="stream 'band' has 16 channels, a typing session needs 32"):
        read_xdf_keystroke(write_xdf(tmp_path / "n.xdf", [narrow, kb]))
    wide = XdfStream("band", "EMG", np.zeros((50, 32), np.float32), stamps, 2000.0)
    other = XdfStream("Task", "Markers", ["go"], stamps[:1], fmt="string")
    with pytest.raises(DataFormatError, match=r"no marker stream named or typed 'Keyboard'.*'Task' \(type 'Markers', "
                                              r"1 markers\)"):
        read_xdf_keystroke(write_xdf(tmp_path / "k.xdf", [wide, other]))
    from edgeemg.tasks.keystroke.sessions import read_sessions

    slow = XdfStream("band", "EMG", np.zeros((50, 32), np.float32), T0 + np.arange(50) / 1000.0, 1000.0)
    path = write_xdf(tmp_path / "slow.xdf", [slow, kb])
    with pytest.raises(DataFormatError, match=r"slow.xdf: the session samples at 1000 Hz; the keystroke models need "
                                              r"2000 Hz"):
        read_sessions([path])


def test_cli_keystroke_train_and_eval_take_xdf_like_hdf5(typing_files, capsys, monkeypatch):
    """`train keystroke --data` and `eval --data` on .xdf files made from .hdf5 sessions report what the files do."""
    from edgeemg.cli import main
    from edgeemg.tasks.keystroke import workflow as wf

    monkeypatch.setattr(wf, "CPU_PRESET", "tiny")

    reports = {}
    for kind in ("", "-xdf"):
        ckpt = typing_files / f"ks{kind}.ckpt"
        assert main(["-q", "train", "keystroke", "--data", str(typing_files / f"train{kind}"), "--model", "cnn_lstm",
                     "--epochs", "1", "--device", "cpu", "-o", str(ckpt), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert main(["-q", "eval", str(ckpt), "--data", str(typing_files / f"test{kind}"), "--json"]) == 0
        reports[kind] = (summary, json.loads(capsys.readouterr().out))
    (s_h5, r_h5), (s_x, r_x) = reports[""], reports["-xdf"]
    for key in ("n_train_prompts", "n_val_prompts", "val_cer", "n_params"):
        assert s_x[key] == s_h5[key]
    for key in ("cer", "n_prompts", "n_target_chars"):
        assert r_x[key] == r_h5[key]
    # one epoch on the same windows and labels from the same seed: the same weights
    w_h5, w_x = (load_checkpoint(typing_files / f"ks{kind}.ckpt").arrays for kind in ("", "-xdf"))
    assert w_h5.keys() == w_x.keys()
    for name in w_h5:
        np.testing.assert_allclose(w_x[name], w_h5[name], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.fixture(scope="module")
def grid_files(tmp_path_factory):
    """Two simulated contractions as DEMUSE .mat files and as XDF files (discharges as 'MU <id>' markers)."""
    from edgeemg.data.demuse import read_demuse
    from edgeemg.data.sim_motor_units import simulate_to_path

    root = tmp_path_factory.mktemp("grid")
    mats = simulate_to_path(root / "mat", seconds=5.0, seed=1, level=0.3, progress=False)
    (root / "xdf").mkdir()
    for f in mats:
        rec = read_demuse(f)
        ids = np.atleast_1d(rec.meta["MUIDs"]).astype(int)
        stamps = T0 + np.arange(rec.emg.shape[0]) / rec.fs_hz
        marks = sorted((int(s), int(u)) for u, d in zip(ids, rec.discharges) for s in d)
        jitter = np.resize([0.0, 0.3, -0.3], len(marks)) / rec.fs_hz  # within half a sample
        write_xdf(root / "xdf" / f"{f.stem}.xdf", [
            XdfStream("grid", "EMG", rec.emg, stamps, rec.fs_hz, labels=list(rec.channel_names),
                      units=["microvolts"] * rec.emg.shape[1]),
            XdfStream("MotorUnits", "Markers", [f"MU {u}" for _s, u in marks],
                      stamps[[s for s, _u in marks]] + jitter, fmt="string"),
        ], chunk_samples=2048)
    return root, mats


def test_grid_recording_and_discharges_read_back_sample_exact(grid_files, tmp_path):
    from edgeemg.data.demuse import read_demuse

    root, mats = grid_files
    ref = read_demuse(mats[0])
    got = read_xdf_motor_units(root / "xdf" / f"{mats[0].stem}.xdf")
    np.testing.assert_array_equal(got.emg, ref.emg)
    assert got.channel_names == tuple(ref.channel_names) and got.fs_hz == ref.fs_hz
    ids = np.atleast_1d(ref.meta["MUIDs"]).astype(int)
    order = np.argsort(ids)
    assert got.unit_ids == tuple(int(i) for i in ids[order])
    for d_got, k in zip(got.discharges, order):
        np.testing.assert_array_equal(d_got, ref.discharges[k])
    stamps = T0 + np.arange(100) / 2048.0
    plain = write_xdf(tmp_path / "plain.xdf", [XdfStream("grid", "EMG", np.ones((100, 4), np.float32), stamps, 2048.0)])
    assert read_xdf_motor_units(plain).discharges is None  # LabRecorder alone records no discharge truth
    bad = write_xdf(tmp_path / "bad.xdf", [XdfStream("grid", "EMG", np.ones((100, 4), np.float32), stamps, 2048.0),
                                           XdfStream("MotorUnits", "Markers", ["MU 1", "unit 2"], stamps[:2],
                                                     fmt="string")])
    with pytest.raises(DataFormatError, match=r"'MotorUnits' marker 1 is 'unit 2', expected 'MU <id>'"):
        read_xdf_motor_units(bad)
    from edgeemg.tasks.motor_units import workflow as wf

    with pytest.raises(InvalidInputError, match=r"needs discharge truth.*'MotorUnits' marker stream"):
        wf.train([plain, plain], simulate=False, model="mo_dcnn", epochs=1, device="cpu", seed=0, progress=False,
                 options={"labels": "truth"})


def test_cli_motor_units_train_and_eval_take_xdf_like_demuse(grid_files, capsys, monkeypatch):
    """`train motor-units --labels truth` and `eval` on XDF files (discharges as markers) match their DEMUSE files."""
    from edgeemg.cli import main
    from edgeemg.tasks.motor_units import plans

    tiny = plans.TrainingPlan(trunk_filters=8, c3_filters=8, c4_filters=8, hidden=16, max_units=3, min_spikes=10)
    monkeypatch.setattr(plans, "CPU_TRAINING", tiny)
    root, _ = grid_files
    reports = {}
    for kind in ("mat", "xdf"):
        ckpt = root / f"mu-{kind}.npz"
        assert main(["-q", "train", "motor-units", "--data", str(root / kind), "--labels", "truth", "--epochs", "1",
                     "--window", "60", "--device", "cpu", "-o", str(ckpt), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert main(["-q", "eval", str(ckpt), "--data", str(root / kind), "--json"]) == 0
        reports[kind] = (summary, json.loads(capsys.readouterr().out))
    (s_mat, r_mat), (s_xdf, r_xdf) = reports["mat"], reports["xdf"]
    assert s_mat["label_source"] == "truth" and s_mat["n_units"] >= 1 and r_mat["reference"] == "truth"
    for drop in ("checkpoint", "recordings"):
        for d in (s_mat, r_mat, s_xdf, r_xdf):
            d.pop(drop, None)
    assert s_xdf == s_mat and r_xdf == r_mat  # same windows, labels, heads and truth matches
