"""Motor-unit / HD-EMG simulator and DEMUSE-style files, checked against the simulator's own parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
import scipy.signal

from edgeemg.data import _mu_muap as muap
from edgeemg.data._mu_baseline import match_spikes, matched_filter_baseline
from edgeemg.data.demuse import read_demuse, write_demuse
from edgeemg.data.sim_motor_units import band_signal, simulate_motor_units, simulate_to_path
from edgeemg.errors import DataFormatError, InvalidInputError

FS = 2048.0


@pytest.fixture(scope="module")
def sim30():
    """20 s at 30 % of maximum, 3 s ramps, 20 dB, bare trapezoid (rates checkable): the workhorse of these tests."""
    return simulate_motor_units(20.0, seed=3, level=0.3, ramp_s=3.0, common_drive_cv=0.0)


# --------------------------------------------------------------------------- discharges


def test_plateau_rates_follow_rate_coding_and_isi_cv(sim30):
    pool, exc = sim30.pool, sim30.excitation
    plateau = np.flatnonzero(exc >= sim30.level - 1e-12)
    a, b = plateau[0] + int(0.5 * FS), plateau[-1]
    cvs, checked = [], 0
    for u in sim30.active_units:
        d = sim30.discharges[u]
        d = d[(d >= a) & (d < b)]
        if d.size < 40:
            continue
        isi = np.diff(d) / FS
        expected = min(pool.min_rate_pps[u] + pool.rate_gain_pps * (sim30.level - pool.recruitment_thresholds[u]),
                       pool.peak_rate_pps[u])
        assert 1.0 / isi.mean() == pytest.approx(expected, rel=0.06), f"unit {u}"
        cvs.append(isi.std() / isi.mean())
        checked += 1
    assert checked >= 30
    assert np.median(cvs) == pytest.approx(0.15, abs=0.02)
    # the parameters themselves: ~8 pps at recruitment, 30-40 pps peak, range ~30
    assert np.all((pool.min_rate_pps >= 7) & (pool.min_rate_pps <= 9))
    assert np.all((pool.peak_rate_pps >= 30) & (pool.peak_rate_pps <= 40))
    rt = pool.recruitment_thresholds
    assert rt[-1] / rt[0] == pytest.approx(30.0, rel=0.25)


def test_recruitment_order_and_thresholds(sim30):
    rt = sim30.recruitment_thresholds
    firing = [u for u in range(sim30.n_units) if sim30.discharges[u].size]
    assert set(firing) == {u for u in range(sim30.n_units) if rt[u] <= sim30.level}
    first = np.array([sim30.discharges[u][0] for u in firing])
    assert np.all(np.diff(first) >= 0), "units must be recruited in threshold order"
    # each unit starts when the ramp crosses its threshold
    crossing = np.array([np.argmax(sim30.excitation >= rt[u]) for u in firing])
    np.testing.assert_array_equal(first, crossing)


def test_common_drive_is_a_slow_shared_fluctuation_that_units_follow(sim30):
    sim = simulate_motor_units(20.0, seed=3, level=0.3, ramp_s=3.0, common_drive_cv=0.05)
    np.testing.assert_array_equal(sim.target, sim30.excitation)  # the same trapezoid underneath
    plateau = slice(int(4 * FS), int(16 * FS))
    rel = sim.excitation[plateau] / sim.target[plateau] - 1.0
    assert rel.std() == pytest.approx(0.05, rel=0.35)
    f, pxx = scipy.signal.welch(rel, fs=FS, nperseg=int(8 * FS))
    assert pxx[f > 5.0].sum() < 0.01 * pxx.sum()  # below a few Hz, as common synaptic input
    # the discharges follow it: each unit's smoothed rate correlates with the fluctuation, and not without it
    h = np.hanning(int(0.4 * FS))

    def rate_corr(s):
        rs = []
        for u in s.active_units[:20]:
            train = np.zeros(s.emg.shape[0])
            train[s.discharges[u]] = 1.0
            rate = np.convolve(train, h, mode="same")[plateau]
            rs.append(np.corrcoef(rate, sim.excitation[plateau])[0, 1])
        return float(np.median(rs))

    assert rate_corr(sim) > 0.4 and abs(rate_corr(sim30)) < 0.2
    with pytest.raises(InvalidInputError, match="common_drive_cv"):
        simulate_motor_units(1.0, common_drive_cv=-0.1)


def test_low_level_recruits_fewer_units():
    lo = simulate_motor_units(4.0, level=0.1, ramp_s=1.0, snr_db=math.inf)
    hi = simulate_motor_units(4.0, level=0.5, ramp_s=1.0, snr_db=math.inf)
    assert 25 <= len(lo.active_units) < len(hi.active_units) <= 100


# --------------------------------------------------------------------------- signal


@pytest.mark.parametrize("snr_db", [20.0, 10.0, 0.0])
def test_measured_snr_matches_request(snr_db):
    clean = simulate_motor_units(5.0, seed=1, snr_db=math.inf, ramp_s=1.0)
    noisy = simulate_motor_units(5.0, seed=1, snr_db=snr_db, ramp_s=1.0)
    noise = noisy.emg.astype(np.float64) - clean.emg
    measured = 10 * np.log10(np.mean(clean.emg.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(measured - snr_db) < 1.0
    assert np.std(noise) == pytest.approx(noisy.noise_std_uv, rel=0.01)


def test_signal_is_sum_of_templates_at_discharges():
    sim = simulate_motor_units(2.0, seed=2, snr_db=math.inf, ramp_s=0.5)
    ref = np.zeros(sim.emg.shape)
    length = sim.templates.shape[1]
    for u, d in enumerate(sim.discharges):
        for s in d:
            m = min(length, ref.shape[0] - s)
            ref[s : s + m] += sim.templates[u, :m]
    np.testing.assert_allclose(sim.emg, ref, atol=1e-3 * np.abs(ref).max())


def test_shapes_layout_and_types(sim30):
    n = int(round(20.0 * FS))
    assert sim30.emg.shape == (n, 64) and sim30.emg.dtype == np.float32
    assert sim30.layout == "hdemg-13x5-8mm"
    assert len(sim30.channel_names) == 64 and sim30.channel_names[0] == "R01C2" and "R01C1" not in sim30.channel_names
    assert sim30.electrode_positions_mm.shape == (64, 2)
    step = np.diff(np.unique(np.round(sim30.electrode_positions_mm[:, 0], 6)))
    np.testing.assert_allclose(step, 8.0)
    assert sim30.templates.shape[0] == sim30.n_units == len(sim30.discharges) == 100
    assert all(d.dtype == np.int64 for d in sim30.discharges)
    assert sim30.excitation.shape == (n,) and sim30.excitation.max() == pytest.approx(0.3)
    assert not sim30.emg.flags.writeable


def test_single_differential_is_the_difference_of_monopolar_rows():
    mono = simulate_motor_units(1.0, seed=5, snr_db=math.inf)
    sd = simulate_motor_units(1.0, seed=5, snr_db=math.inf, differential=True)
    assert sd.emg.shape[1] == 59 and sd.layout == "hdemg-13x5-8mm-sd" and sd.channel_names[0] == "R02C2-R01C2"
    np.testing.assert_allclose(sd.templates, np.einsum("ulc,cd->uld", mono.templates, muap.sd_matrix()), atol=1e-3)
    np.testing.assert_allclose(sd.emg, mono.emg @ muap.sd_matrix(), atol=1e-2)


def test_conduction_velocity_recoverable_from_template_delays():
    """Delay of the single-differential MUAP along the fibre direction gives back the unit's CV."""
    sim = simulate_motor_units(1.0, seed=0, level=0.9, differential=True, snr_db=math.inf)
    pool, pos = sim.pool, sim.electrode_positions_mm
    columns = np.unique(np.round(pos[:, 1], 6))
    energy = (sim.templates.astype(np.float64) ** 2).sum(axis=(1, 2))
    errors = []
    for u in np.argsort(energy)[::-1][:10]:
        iz = pool.innervation_zone_mm[u]
        side = 1.0 if iz < 0 else -1.0  # look along the longer stretch under the grid
        end = iz + (pool.fibre_right_mm[u] if side > 0 else -pool.fibre_left_mm[u])
        ycol = columns[np.argmin(np.abs(columns - pool.transverse_mm[u]))]
        sel = [i for i in range(pos.shape[0])
               if abs(pos[i, 1] - ycol) < 1e-6 and side * (pos[i, 0] - iz) >= 10 and side * (end - pos[i, 0]) >= 20]
        sel.sort(key=lambda i: side * pos[i, 0])
        if len(sel) < 3:
            continue
        up = 16
        tm = scipy.signal.resample(sim.templates[u][:, sel].astype(np.float64), sim.templates.shape[1] * up, axis=0)
        delays = [(np.argmax(np.correlate(tm[:, k], tm[:, 0], "full")) - (tm.shape[0] - 1)) / (up * FS)
                  for k in range(len(sel))]
        slope_s_per_mm = np.polyfit(np.abs(pos[sel, 0] - pos[sel[0], 0]), delays, 1)[0]
        errors.append(1e-3 / slope_s_per_mm / pool.conduction_velocity_m_s[u] - 1.0)
    assert len(errors) >= 5
    assert np.max(np.abs(errors)) < 0.1
    cv = pool.conduction_velocity_m_s
    assert cv.mean() == pytest.approx(4.0, abs=0.15) and cv.std() == pytest.approx(0.3, abs=0.1)


# --------------------------------------------------------------------------- subjects and sessions


def test_determinism_subjects_and_sessions():
    a = simulate_motor_units(2.0, seed=7, session=0)
    b = simulate_motor_units(2.0, seed=7, session=0)
    np.testing.assert_array_equal(a.emg, b.emg)
    for x, y in zip(a.discharges, b.discharges, strict=True):
        np.testing.assert_array_equal(x, y)

    other = simulate_motor_units(2.0, seed=8, session=0)
    assert not np.allclose(a.recruitment_thresholds, other.recruitment_thresholds)
    assert not np.allclose(a.pool.depth_mm, other.pool.depth_mm)

    again = simulate_motor_units(2.0, seed=7, session=1)
    for name in ("recruitment_thresholds", "conduction_velocity_m_s", "depth_mm", "transverse_mm",
                 "innervation_zone_mm", "n_fibres", "peak_rate_pps"):
        np.testing.assert_array_equal(getattr(a.pool, name), getattr(again.pool, name))
    assert a.grid_shift_mm != again.grid_shift_mm
    assert any(x.size and not np.array_equal(x, y) for x, y in zip(a.discharges, again.discharges, strict=True))
    # same muscle seen from a grid moved by ~1.5 mm: MUAPs alike, not identical
    big = int(np.argmax((a.templates**2).sum(axis=(1, 2))))
    r = np.corrcoef(a.templates[big].ravel(), again.templates[big].ravel())[0, 1]
    assert 0.7 < r < 0.99999


def test_invalid_parameters_are_named():
    with pytest.raises(InvalidInputError, match="level must be"):
        simulate_motor_units(1.0, level=0.0)
    with pytest.raises(InvalidInputError, match="seconds must be"):
        simulate_motor_units(-1.0)
    with pytest.raises(InvalidInputError, match="seed must be"):
        simulate_motor_units(1.0, seed=-3)
    with pytest.raises(InvalidInputError, match="n_units must be"):
        simulate_motor_units(1.0, n_units=1)


def test_band_signal_events_are_every_discharge():
    band = band_signal(2.0, seed=1, session=2)
    sim = simulate_motor_units(2.0, seed=1, session=2)
    np.testing.assert_array_equal(band.emg, sim.emg)
    assert band.layout == "hdemg-13x5-8mm" and band.n_channels == 64 and band.fs_hz == FS
    assert len(band.events) == sum(d.size for d in sim.discharges)
    times = np.array([e.time_s for e in band.events])
    assert np.all(np.diff(times) >= 0) and {e.kind for e in band.events} == {"spike"}
    u = band.events[0].value
    assert round(band.events[0].time_s * FS) in set(sim.discharges[u].tolist())


# --------------------------------------------------------------------------- realistic difficulty


def test_simple_baseline_is_above_chance_and_below_perfect(sim30):
    """A matched filter with the unit's *true* MUAP and an oracle threshold: near perfect on the
    biggest units, far from it on most of the others; the oracle CKC separates 10-25 units."""
    energy = (sim30.templates.astype(np.float64) ** 2).sum(axis=(1, 2))
    active = [u for u in sim30.active_units if sim30.discharges[u].size >= 100]
    ranked = sorted(active, key=lambda u: -energy[u])[:12]
    scores = [matched_filter_baseline(sim30.emg, sim30.templates[u], sim30.discharges[u], FS, unit=u) for u in ranked]
    f1 = np.array([s.f1 for s in scores])
    assert f1.max() > 0.9
    assert 0.2 < np.median(f1) < 0.8
    # chance: the same number of detections placed at random
    rng = np.random.default_rng(0)
    truth = sim30.discharges[ranked[-1]]
    random = np.sort(rng.choice(sim30.emg.shape[0], truth.size, replace=False))
    chance = 2 * match_spikes(random, truth, 1) / (2 * truth.size)
    assert chance < 0.05 and f1.min() > 2 * chance
    n_decomposable = len(sim30.decomposable_units())
    assert 10 <= n_decomposable <= 25


# --------------------------------------------------------------------------- DEMUSE files


def test_demuse_round_trip_is_exact(tmp_path, sim30):
    emg = sim30.emg[:4096]
    disch = [d[d < 4096] for d in sim30.discharges[:20]]
    ipts = np.random.default_rng(0).standard_normal((20, 4096))
    path = write_demuse(tmp_path / "r.mat", emg, FS, disch, ipts=ipts, meta={"ref_signal": sim30.excitation[:4096]})
    rec = read_demuse(path, n_channels=64)
    np.testing.assert_array_equal(rec.emg, emg)
    assert rec.emg.dtype == np.float32 and rec.fs_hz == FS and rec.ied_mm == 8.0 and rec.montage == "MONO"
    assert rec.channel_names == sim30.channel_names and rec.grid_shape == (13, 5) and rec.path == path
    assert len(rec.discharges) == 20
    for a, b in zip(rec.discharges, disch, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int64
    np.testing.assert_array_equal(rec.ipts, ipts)
    np.testing.assert_array_equal(rec.meta["ref_signal"], sim30.excitation[:4096])


def test_demuse_file_has_the_demuse_fields_for_scipy(tmp_path, sim30):
    disch = [sim30.discharges[u][sim30.discharges[u] < 2048] for u in (0, 1)]
    path = write_demuse(tmp_path / "f.mat", sim30.emg[:2048], FS, disch)
    mat = scipy.io.loadmat(path)
    assert mat["SIG"].shape == (13, 5) and mat["SIG"].dtype == object
    assert mat["SIG"][0, 0].size == 0
    np.testing.assert_array_equal(mat["SIG"][0, 1].ravel(), sim30.emg[:2048, 0])
    np.testing.assert_array_equal(mat["SIG"][12, 4].ravel(), sim30.emg[:2048, 63])
    assert mat["fsamp"].item() == FS and mat["IED"].item() == 8.0
    assert mat["MUPulses"].shape == (1, 2)
    np.testing.assert_array_equal(mat["MUPulses"][0, 0].ravel(), disch[0] + 1)  # 1-based on disk


def test_demuse_single_differential_round_trip(tmp_path):
    sd = simulate_motor_units(0.5, seed=2, differential=True)
    rec = read_demuse(write_demuse(tmp_path / "sd.mat", sd.emg, FS, list(sd.discharges[:3])))
    np.testing.assert_array_equal(rec.emg, sd.emg)
    assert rec.montage == "SD" and rec.grid_shape == (12, 5) and rec.emg.shape[1] == 59


def test_simulate_to_path_writes_levels_and_subjects(tmp_path):
    paths = simulate_to_path(tmp_path / "out", seconds=2.0, seed=4, subjects=2, progress=False)
    assert [p.name for p in paths] == [f"mu_s{s:03d}_k0_l{lv}.mat" for s in (4, 5) for lv in ("10", "30", "50")]
    rec = read_demuse(paths[4], n_channels=64)
    sim = simulate_motor_units(2.0, seed=5, level=0.3)
    np.testing.assert_array_equal(rec.emg, sim.emg)
    ids = np.atleast_1d(rec.meta["MUIDs"]).astype(int)
    assert list(ids) == list(sim.active_units)
    for k, u in enumerate(ids):
        np.testing.assert_array_equal(rec.discharges[k], sim.discharges[u])
        np.testing.assert_array_equal(np.flatnonzero(rec.ipts[k]), sim.discharges[u])
    one = simulate_to_path(tmp_path / "one.mat", seconds=1.0, level=0.2, progress=False)
    assert one == [tmp_path / "one.mat"] and one[0].is_file()


def _save(path, **fields):
    scipy.io.savemat(path, fields)
    return path


def _sig(rows=13, cols=5, n=100, bad_cell=None, bad_len=50):
    sig = np.empty((rows, cols), dtype=object)
    for r in range(rows):
        for c in range(cols):
            sig[r, c] = np.zeros((0, 0)) if (r, c) == (0, 0) else np.ones(bad_len if (r, c) == bad_cell else n)
    return sig


def test_demuse_read_errors_name_file_and_field(tmp_path):
    with pytest.raises(DataFormatError, match=r"nosig\.mat.*missing field 'SIG'"):
        read_demuse(_save(tmp_path / "nosig.mat", fsamp=2048.0))
    with pytest.raises(DataFormatError, match=r"nofs\.mat.*missing field 'fsamp'"):
        read_demuse(_save(tmp_path / "nofs.mat", SIG=_sig()))
    with pytest.raises(DataFormatError, match=r"SIG\{3,2\} has 50 samples"):
        read_demuse(_save(tmp_path / "len.mat", SIG=_sig(bad_cell=(2, 1)), fsamp=2048.0))
    with pytest.raises(DataFormatError, match="expected 64 channels.*found 39"):
        read_demuse(_save(tmp_path / "grid.mat", SIG=_sig(rows=8), fsamp=2048.0), n_channels=64)
    with pytest.raises(DataFormatError, match="SIG' must be a 2-D cell array"):
        read_demuse(_save(tmp_path / "num.mat", SIG=np.ones((64, 10)), fsamp=2048.0))
    pulses = np.empty((1, 1), dtype=object)
    pulses[0, 0] = np.array([[0.0, 5.0]])
    with pytest.raises(DataFormatError, match=r"MUPulses\{1\} must hold 1-based"):
        read_demuse(_save(tmp_path / "p0.mat", SIG=_sig(), fsamp=2048.0, MUPulses=pulses))
    pulses[0, 0] = np.array([[1.0, 5.0]])
    with pytest.raises(DataFormatError, match="IPTs' must be"):
        read_demuse(_save(tmp_path / "ipt.mat", SIG=_sig(), fsamp=2048.0, MUPulses=pulses, IPTs=np.zeros((1, 99))))
    with pytest.raises(DataFormatError, match="signal_length"):
        read_demuse(_save(tmp_path / "sl.mat", SIG=_sig(), fsamp=2048.0, signal_length=99.0))


def test_demuse_truncated_and_foreign_files(tmp_path, sim30):
    good = write_demuse(tmp_path / "g.mat", sim30.emg[:2048], FS, [sim30.discharges[0][:5]])
    data = good.read_bytes()
    cut = tmp_path / "cut.mat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.mat: not a readable MATLAB v5 file"):
        read_demuse(cut)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataFormatError, match=r"junk\.mat"):
        read_demuse(junk)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        read_demuse(tmp_path / "missing.mat")


def test_write_demuse_rejects_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(InvalidInputError, match=r"got shape \(10, 32\)"):
        write_demuse(tmp_path / "x.mat", np.zeros((10, 32), np.float32), FS, [])
    with pytest.raises(InvalidInputError, match=r"discharges\[0\].*\[0, 10\)"):
        write_demuse(tmp_path / "x.mat", np.zeros((10, 64), np.float32), FS, [np.array([3, 10])])
    with pytest.raises(InvalidInputError, match="ipts must have shape"):
        write_demuse(tmp_path / "x.mat", np.zeros((10, 64), np.float32), FS, [np.array([3])], ipts=np.zeros((2, 10)))
    with pytest.raises(InvalidInputError, match="meta key 'SIG'"):
        write_demuse(tmp_path / "x.mat", np.zeros((10, 64), np.float32), FS, [], meta={"SIG": 1})


def test_grid_layouts_record_the_same_muscle_through_other_electrodes():
    from edgeemg.data._mu_muap import GRIDS

    base = simulate_motor_units(2.0, seed=4, level=0.3)
    for name, rows, cols, ied, n in (("8x8-4mm", 8, 8, 4.0, 64), ("8x4-10mm", 8, 4, 10.0, 32)):
        sim = simulate_motor_units(2.0, seed=4, level=0.3, grid=name)
        assert sim.emg.shape == (base.emg.shape[0], n) and len(sim.channel_names) == n == GRIDS[name].n_channels
        assert sim.layout == GRIDS[name].name
        pos = sim.electrode_positions_mm
        for axis, count in ((0, rows), (1, cols)):
            steps = np.diff(np.unique(np.round(pos[:, axis], 6)))
            assert len(steps) == count - 1 and np.allclose(steps, ied)
        for a, b in zip(sim.discharges, base.discharges):  # the grid changes what is recorded, not the firing
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(simulate_motor_units(2.0, seed=4, level=0.3, grid="13x5-8mm").emg, base.emg)
    with pytest.raises(InvalidInputError, match="grid must be one of"):
        simulate_motor_units(1.0, grid="4x4")
