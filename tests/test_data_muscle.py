"""Muscle-health simulator and the emgdb-style WFDB reader (issue 3, item 4)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import wfdb

from edgeemg.data import sim_muscle
from edgeemg.data.sim_muscle import CONDITIONS, condition_of, simulate_muscle, simulate_to_path
from edgeemg.data.muscle_record import read_muscle_record
from edgeemg.data.wfdb_io import find_records, write_record
from edgeemg.errors import DataFormatError, InvalidInputError

FS = 4000.0


@pytest.fixture(scope="module")
def severe() -> dict[str, sim_muscle.MuscleSimulation]:
    """One clearly affected subject per class (severity > 0.6) for the statistics tests."""
    out: dict[str, sim_muscle.MuscleSimulation] = {}
    i = 0
    while len(out) < 3:
        cond = condition_of(i, seed=5)
        if cond not in out:
            sim = simulate_muscle(10.0, seed=5, subject=i)
            if cond == "normal" or sim.severity > 0.6:
                out[cond] = sim
        i += 1
    return out


def test_classes_balanced_and_deterministic():
    for seed in range(4):
        counts = Counter(condition_of(i, seed=seed) for i in range(12))
        assert counts == {c: 4 for c in CONDITIONS}
    a = simulate_muscle(3.0, seed=2, subject=4)
    b = simulate_muscle(3.0, seed=2, subject=4)
    np.testing.assert_array_equal(a.emg, b.emg)
    assert (a.condition, a.severity, a.subject_id) == (b.condition, b.severity, b.subject_id)
    c = simulate_muscle(3.0, seed=2, subject=4, session=1)  # same person, new recording
    assert (c.condition, c.severity, c.subject_id) == (a.condition, a.severity, a.subject_id)
    assert not np.array_equal(a.emg, c.emg)
    assert a.emg.shape == (12000, 1) and a.emg.dtype == np.float32
    assert simulate_muscle(1.0, seed=2, subject=4, condition="myopathy").condition == "myopathy"


def test_severity_spans_mild_to_severe():
    sev = [simulate_muscle(0.5, seed=s, subject=i).severity for s in range(3) for i in range(9)]
    patients = [v for v, i in zip(sev, range(27)) if v > 0]
    assert min(patients) < 0.35 and max(patients) > 0.7  # mild cases exist (they overlap normal)
    assert sum(v == 0 for v in sev) == 9


def test_muap_and_recruitment_statistics_follow_condition(severe):
    amp = {c: np.median(s.meta["muap_amplitude_uv"]) / s.meta["needle_gain"] for c, s in severe.items()}
    dur = {c: np.median(s.meta["muap_duration_ms"]) for c, s in severe.items()}
    assert amp["als"] > 1.5 * amp["normal"] > 1.5 * amp["myopathy"]
    assert dur["als"] > dur["normal"] > dur["myopathy"]
    assert 7.0 <= dur["normal"] <= 13.0
    # ALS: few units firing fast; fibrillation sources only there
    assert severe["als"].meta["n_units"] < severe["normal"].meta["n_units"]
    assert np.median(severe["als"].meta["mean_rate_hz"]) > np.median(severe["normal"].meta["mean_rate_hz"]) + 3
    assert severe["als"].meta["n_fibrillation_sources"] > 0
    assert severe["normal"].meta["n_fibrillation_sources"] == severe["myopathy"].meta["n_fibrillation_sources"] == 0
    # myopathy: early full recruitment -> more units discharging than normal in the same record length
    active = {c: sum(d.size > 0 for d in s.meta["discharges"]) / s.meta["n_units"] for c, s in severe.items()}
    assert active["myopathy"] >= active["normal"]
    # polyphasia: more extra phases in both diseases
    poly = {c: np.mean(s.meta["muap_phases_extra"]) for c, s in severe.items()}
    assert poly["als"] > poly["normal"] and poly["myopathy"] > poly["normal"]


def test_isi_variability_and_signal_spectrum(severe):
    cvs = []
    for d in severe["normal"].meta["discharges"]:
        isi = np.diff(d) / FS
        isi = isi[isi < 0.2]  # within a contraction
        if isi.size > 20:
            # local variability (CV2 of successive intervals, / 1.128 to read as a CV) so that
            # slow force changes do not count as ISI noise; the simulator's ISI CV is 0.15
            cv2 = np.mean(2 * np.abs(np.diff(isi)) / (isi[1:] + isi[:-1]))
            cvs.append(cv2 / 1.128)
    assert 0.1 < np.median(cvs) < 0.22, cvs
    # measured from the signal: myopathic short MUAPs push the spectrum up, neurogenic long ones down
    from scipy.signal import welch

    def median_freq(sim):
        f, p = welch(sim.emg[:, 0], fs=FS, nperseg=1024)
        c = np.cumsum(p)
        return f[np.searchsorted(c, c[-1] / 2)]

    assert median_freq(severe["myopathy"]) > median_freq(severe["als"])


def test_band_signal_has_class_event():
    band = sim_muscle.band_signal(2.0, seed=1)
    assert band.emg.shape == (8000, 1)
    assert band.events[0].kind == "class" and band.events[0].time_s == 0.0
    assert band.events[0].value == condition_of(0, seed=1)


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="Allowed values are"):
        simulate_muscle(1.0, condition="healthy")
    with pytest.raises(InvalidInputError, match="seconds must be"):
        simulate_muscle(-1.0)


def test_written_records_read_back(tmp_path):
    paths = simulate_to_path(tmp_path, seconds=3.0, seed=6, subjects=3, progress=False)
    assert sorted(p.name[:3] for p in paths) == ["als", "myo", "nor"]
    assert find_records(tmp_path) == sorted(paths)
    for i, path in enumerate(paths):
        sim = simulate_muscle(3.0, seed=6, subject=i)
        rec = read_muscle_record(path)
        assert (rec.condition, rec.subject_id) == (sim.condition, sim.subject_id)
        assert rec.severity == pytest.approx(sim.severity, abs=1e-3)
        hdr = wfdb.rdheader(str(path))
        assert hdr.fmt == ["16"] and hdr.units == ["mV"] and hdr.fs == FS
        half_step_uv = 0.5 * 1000.0 / hdr.adc_gain[0]
        assert np.abs(rec.emg - sim.emg).max() <= half_step_uv + 1e-3
        raw = wfdb.rdrecord(str(path))
        np.testing.assert_allclose(raw.p_signal * 1000.0, rec.emg, atol=1e-3)


def test_lower_case_mv_header_and_emgdb_names(tmp_path):
    x = np.random.default_rng(0).normal(0.0, 0.2, size=(4000, 1))  # mV
    for name, cond in (("emg_healthy", "normal"), ("emg_myopathy", "myopathy"), ("emg_neuropathy", "als")):
        write_record(tmp_path / name, x, fs_hz=FS, names=["EMG"], units=["mV"])
        hea = tmp_path / f"{name}.hea"
        hea.write_text(hea.read_text().replace("/mV", "/mv"))  # as some emgdb headers write it
        assert "/mv" in hea.read_text()
        rec = read_muscle_record(tmp_path / name)
        assert rec.condition == cond and rec.subject_id == name and rec.severity is None
        np.testing.assert_allclose(rec.emg[:, 0], x[:, 0] * 1000.0, atol=0.1)  # converted to µV


def test_error_paths(tmp_path):
    write_record(tmp_path / "two", np.zeros((100, 2)), fs_hz=FS, names=["EMG", "EMG2"], units=["mV", "mV"])
    with pytest.raises(DataFormatError, match=r"exactly 1 channel, found 2: \['EMG', 'EMG2'\]"):
        read_muscle_record(tmp_path / "two")
    write_record(tmp_path / "nu", np.zeros((100, 1)), fs_hz=FS, names=["EMG"], units=["NU"])
    with pytest.raises(DataFormatError, match="unit 'NU', expected a voltage"):
        read_muscle_record(tmp_path / "nu")
    with pytest.raises(DataFormatError, match="header not found"):
        read_muscle_record(tmp_path / "missing.hea")


def _segment_features(sim, seg: int = 2000) -> np.ndarray:
    """Per 0.5 s segment: log RMS and zero-crossing rate."""
    x = sim.emg[:, 0].astype(np.float64)
    w = x[: x.size // seg * seg].reshape(-1, seg)
    w = w - w.mean(axis=1, keepdims=True)
    return np.column_stack([np.log(np.sqrt((w**2).mean(axis=1))), (np.diff(np.sign(w), axis=1) != 0).mean(axis=1)])


def test_simple_baseline_is_above_chance_but_below_90_percent():
    """Logistic regression on segment RMS + zero crossings, split by subject."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sims = [simulate_muscle(8.0, seed=21, subject=i) for i in range(18)]
    feats = [_segment_features(s) for s in sims]
    X = np.vstack(feats)
    y = np.concatenate([np.full(len(f), CONDITIONS.index(s.condition)) for f, s in zip(feats, sims)])
    subj = np.concatenate([[s.subject_id] * len(f) for f, s in zip(feats, sims)])
    accs = []
    for k in range(len(sims) // 3):  # leave one subject of each class out (indices 3k..3k+2)
        te = np.isin(subj, [sims[i].subject_id for i in range(3 * k, 3 * k + 3)])
        assert sorted(s.condition for s in sims[3 * k : 3 * k + 3]) == sorted(CONDITIONS)
        assert not set(subj[~te]) & set(subj[te])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[~te], y[~te])
        accs.append(np.mean(clf.predict(X[te]) == y[te]))
    acc = float(np.mean(accs))
    assert 0.4 < acc < 0.85, acc  # chance is 1/3; measured 0.48
