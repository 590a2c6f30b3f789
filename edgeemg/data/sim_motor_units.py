"""Simulated HD-EMG of a motor-unit pool, with every discharge and MUAP as ground truth.

The recording the motor-unit decoder (seed ``004_*``, section 3.1) is validated
on: a Fuglevand-style pool (:mod:`edgeemg.data._mu_pool`) driven by a trapezoidal
excitation with a slow fluctuation common to all units, whose MUAPs
(:mod:`edgeemg.data._mu_muap`: propagating action
potentials seen through an analytic volume conductor) are detected by a 13 x 5
grid of 64 electrodes 8 mm apart, summed, and buried in white Gaussian noise at
a requested SNR.

Seeds: ``seed`` is the subject (muscle anatomy, unit positions, MUAPs,
thresholds, rates, amplitudes); ``session`` is a new recording of that subject
(new discharge times and noise, the grid placed again ~1.5 mm off). Each purpose
draws from its own ``np.random.SeedSequence`` stream, so e.g. changing the SNR
changes the noise and nothing else.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from edgeemg.data import _mu_muap as muap
from edgeemg.data import _mu_pool as mupool
from edgeemg.data._mu_pool import MotorUnitPool
from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

DEFAULT_N_UNITS = 100
DEFAULT_LEVELS = (0.1, 0.3, 0.5)  # the seed's 10, 30 and 50 % MVC contractions
DEFAULT_SECONDS = 30.0  # seed's real contractions: 5 s up, 20 s plateau, 5 s down
MAX_RAMP_S = 5.0
COMMON_DRIVE_CV = 0.05  # SD of the shared excitation fluctuation, relative (see _mu_pool.common_drive)
GRID_SHIFT_SD_MM = 1.5  # placement error when the grid is stuck on again


@dataclass(frozen=True, eq=False)
class MotorUnitSimulation:
    """A simulated HD-EMG recording and its ground truth.

    Arrays are read-only. Units are indexed by recruitment rank (unit 0 has the
    lowest threshold) and *all* ``n_units`` of the pool are kept, including those
    the excitation never recruits (their discharge array is empty), so that a
    unit index means the same unit in every session and level of a subject.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels)
        Microvolts; 64 monopolar channels, or 59 single-differential ones.
    fs_hz : float
    channel_names : tuple of str
        ``R01C2`` (row along the fibres, column across, 1-based) or ``R02C1-R01C1``.
    layout : str
        ``"hdemg-13x5-8mm"`` (monopolar) or ``"hdemg-13x5-8mm-sd"``; the other grids likewise.
    electrode_positions_mm : ndarray of float64, shape (n_channels, 2)
        Along the fibres, across; the midpoint of the pair for differential channels.
    discharges : tuple of ndarray of int64
        Discharge sample indices of each unit (the end-plate excitation instant).
    templates : ndarray of float32, shape (n_units, L, n_channels)
        Each unit's MUAP in microvolts; sample ``k`` is ``k - template_offset``
        samples after the discharge.
    template_offset : int
    recruitment_thresholds : ndarray of float64, shape (n_units,)
        Fraction of maximum excitation.
    excitation : ndarray of float64, shape (n_samples,)
        The common drive (fraction of maximum): ``target`` times one plus a
        slow shared fluctuation (``common_drive_cv``).
    target : ndarray of float64, shape (n_samples,)
        The trapezoid the excitation follows (ramp, plateau at ``level``, ramp).
    level, snr_db : float
        Plateau excitation and the requested SNR (``inf``: no noise).
    noise_std_uv : float
        Standard deviation of the added white noise, the same on every channel.
    seed, session : int
    pool : MotorUnitPool
        The subject's anatomy and firing parameters.
    grid_shift_mm : tuple of float
        This session's grid displacement (along, across the fibres).
    """

    emg: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    layout: str
    electrode_positions_mm: NDArray[np.float64]
    discharges: tuple[NDArray[np.int64], ...]
    templates: NDArray[np.float32]
    template_offset: int
    recruitment_thresholds: NDArray[np.float64]
    excitation: NDArray[np.float64]
    target: NDArray[np.float64]
    level: float
    snr_db: float
    noise_std_uv: float
    seed: int
    session: int
    pool: MotorUnitPool
    grid_shift_mm: tuple[float, float]

    @property
    def n_units(self) -> int:
        return len(self.discharges)

    @property
    def duration_s(self) -> float:
        return self.emg.shape[0] / self.fs_hz

    @property
    def active_units(self) -> tuple[int, ...]:
        """Indices of the units that discharge at least once."""
        return tuple(i for i, d in enumerate(self.discharges) if d.size)

    def decomposable_units(self, min_f1: float = 0.9, max_seconds: float = 12.0, min_discharges: int = 30) -> tuple[int, ...]:
        """Units that a convolutive decomposition can separate from the interference.

        A unit counts when the best linear separation filter built with its
        true MUAP (what CKC converges to, see
        :func:`edgeemg.data._mu_baseline.oracle_ckc_f1`) detects its discharges
        with F1 >= ``min_f1`` on up to ``max_seconds`` of the plateau. At the
        defaults (20 dB, 100 units) this gives ~10-15 units at 10, 30 and 50 %
        of maximum excitation for every subject tried, in line with the ~17 the
        seed's CKC found on its simulation. Costs a few seconds.
        """
        from edgeemg.data._mu_baseline import oracle_ckc_f1

        plateau = np.flatnonzero(self.target >= 0.99 * self.level)
        if plateau.size == 0:
            return ()
        mid = (int(plateau[0]) + int(plateau[-1])) // 2
        half = min(int(max_seconds * self.fs_hz), plateau.size) // 2
        a, b = mid - half, mid + half
        seg = [d[(d >= a) & (d < b)] - a for d in self.discharges]
        units = [u for u in self.active_units if seg[u].size >= min_discharges]
        f1 = oracle_ckc_f1(self.emg[a:b], self.templates, seg, self.fs_hz, units)
        return tuple(u for u in units if f1[u] >= min_f1)


def _check(name: str, value: float, ok: bool, expected: str) -> None:
    if not ok:
        raise InvalidInputError(f"{name} must be {expected}, got {value!r}")


def simulate_motor_units(
    seconds: float = DEFAULT_SECONDS,
    *,
    seed: int = 0,
    session: int = 0,
    snr_db: float = 20.0,
    level: float = 0.3,
    n_units: int = DEFAULT_N_UNITS,
    ramp_s: float | None = None,
    differential: bool = False,
    fs_hz: float = 2048.0,
    common_drive_cv: float = COMMON_DRIVE_CV,
    grid: str = muap.DEFAULT_GRID,
) -> MotorUnitSimulation:
    """Simulate ``seconds`` of HD-EMG during a trapezoidal contraction.

    Parameters
    ----------
    seconds : float
        Duration; the excitation ramps up over ``ramp_s``, holds at ``level``,
        and ramps down over the last ``ramp_s``.
    seed : int
        The subject (anatomy, MUAPs, thresholds, rates). Different seeds are different people.
    session : int
        A new session of the same subject: new discharges and noise, grid re-placed.
    snr_db : float
        Ratio of the summed MUAP trains' power (over all channels and the whole
        recording) to the white noise's, in dB; ``inf`` adds no noise.
    level : float
        Plateau excitation as a fraction of maximum, in (0, 1].
    n_units : int
        Size of the pool; at ``level`` 0.3 about three quarters of it fires.
    ramp_s : float or None
        Ramp duration; None takes the seed's 5 s, shortened to ``seconds / 6``
        for recordings under 30 s so that a plateau remains.
    differential : bool
        Single-differential along the fibres (59 channels) instead of monopolar (64).
    fs_hz : float
        Sampling rate.
    common_drive_cv : float
        SD of the slow (< 2.5 Hz) fluctuation shared by all units' excitation,
        relative to the trapezoid (:func:`edgeemg.data._mu_pool.common_drive`);
        0 gives the bare trapezoid.
    grid : str
        Electrode layout, a key of :data:`edgeemg.data._mu_muap.GRIDS`: ``"13x5-8mm"``
        (64 channels, the seed's), ``"8x8-4mm"`` (64) or ``"8x4-10mm"`` (32).
        The grid changes what is recorded, not the muscle: every random
        stream is the same, so the default grid's recording is unchanged.

    Returns
    -------
    MotorUnitSimulation

    Raises
    ------
    InvalidInputError
        A parameter out of range (the message says which and what arrived).

    Notes
    -----
    Cost is linear in the number of discharges: the MUAP of each discharge is
    added at its sample by a numba kernel (:func:`edgeemg.data._mu_muap.add_trains`),
    and the MUAPs themselves are computed once per call (~0.5 s for 100 units).
    """
    _check("seconds", seconds, isinstance(seconds, (int, float)) and 0 < seconds <= 3600, "in (0, 3600] s")
    _check("level", level, isinstance(level, (int, float)) and 0 < level <= 1, "a fraction of maximum in (0, 1]")
    _check("snr_db", snr_db, isinstance(snr_db, (int, float)) and not math.isnan(snr_db), "a number of dB (inf: no noise)")
    _check("n_units", n_units, isinstance(n_units, int) and 2 <= n_units <= 1000, "an int in [2, 1000]")
    _check("seed", seed, isinstance(seed, (int, np.integer)) and seed >= 0, "an int >= 0")
    _check("session", session, isinstance(session, (int, np.integer)) and session >= 0, "an int >= 0")
    _check("fs_hz", fs_hz, isinstance(fs_hz, (int, float)) and 500 <= fs_hz <= 20000, "in [500, 20000] Hz")
    _check("common_drive_cv", common_drive_cv,
           isinstance(common_drive_cv, (int, float)) and 0 <= common_drive_cv <= 0.5, "in [0, 0.5]")
    if grid not in muap.GRIDS:
        raise InvalidInputError(f"grid must be one of {sorted(muap.GRIDS)}, got {grid!r}")
    layout = muap.GRIDS[grid]
    if ramp_s is None:
        ramp_s = min(MAX_RAMP_S, seconds / 6.0)
    _check("ramp_s", ramp_s, isinstance(ramp_s, (int, float)) and 0 <= ramp_s, ">= 0 s")

    n_samples = int(round(seconds * fs_hz))
    level_key = int(round(level * 1e6))
    pool = mupool.make_pool(int(seed), n_units)
    anatomy_rng = np.random.default_rng([int(seed), mupool.STREAM_POOL, 2])
    subject_gain = anatomy_rng.uniform(0.8, 1.25)  # skin-electrode and tissue differences
    place_rng = np.random.default_rng([int(seed), int(session), mupool.STREAM_PLACEMENT])
    shift = (float(GRID_SHIFT_SD_MM * place_rng.standard_normal()), float(GRID_SHIFT_SD_MM * place_rng.standard_normal()))
    positions = muap.electrode_positions(shift, layout)
    templates = muap.muap_templates(pool, positions, fs_hz, anatomy_rng, subject_gain)

    target = mupool.trapezoid(n_samples, fs_hz, float(level), float(ramp_s))
    drive_rng = np.random.default_rng([int(seed), int(session), mupool.STREAM_COMMON_DRIVE, level_key])
    excitation = np.clip(target * (1.0 + mupool.common_drive(n_samples, fs_hz, float(common_drive_cv), drive_rng)),
                         0.0, 1.0)
    fire_rng = np.random.default_rng([int(seed), int(session), mupool.STREAM_DISCHARGES, level_key])
    trains = mupool.discharges(pool, excitation, fs_hz, fire_rng)

    names = muap.channel_names(differential, layout)
    if differential:
        d = muap.sd_matrix(layout)
        templates = np.ascontiguousarray(np.einsum("ulc,cd->uld", templates, d), dtype=np.float32)
        upper = {rc: i for i, rc in enumerate(muap.grid_cells(layout))}
        positions = np.array([positions[upper[(r, c)]] + [layout.ied_mm / 2.0, 0.0] for r, c in muap.sd_pairs(layout)])

    emg = np.zeros((n_samples, templates.shape[2]), dtype=np.float32)
    spikes = np.concatenate([*trains, np.zeros(0, np.int64)]).astype(np.int64)
    units = np.concatenate([np.full(t.size, i, np.int64) for i, t in enumerate(trains)] + [np.zeros(0, np.int64)])
    muap.add_trains(emg, templates, spikes, units)

    noise_std = 0.0
    if math.isfinite(snr_db):
        power = float(np.mean(emg.astype(np.float64) ** 2))
        if power == 0.0:
            logger.warning("no unit fires at level %.3f over %.2f s; adding 1 uV noise instead of %s dB", level, seconds, snr_db)
            noise_std = 1.0
        else:
            noise_std = math.sqrt(power / 10.0 ** (snr_db / 10.0))
        noise_rng = np.random.default_rng([int(seed), int(session), mupool.STREAM_NOISE, level_key])
        emg += np.float32(noise_std) * noise_rng.standard_normal(emg.shape, dtype=np.float32)

    for a in (emg, templates, positions, excitation, target, *trains):
        a.flags.writeable = False
    return MotorUnitSimulation(
        emg=emg,
        fs_hz=float(fs_hz),
        channel_names=names,
        layout=layout.name + "-sd" if differential else layout.name,
        electrode_positions_mm=positions,
        discharges=trains,
        templates=templates,
        template_offset=0,
        recruitment_thresholds=pool.recruitment_thresholds,
        excitation=excitation,
        target=target,
        level=float(level),
        snr_db=float(snr_db),
        noise_std_uv=noise_std,
        seed=int(seed),
        session=int(session),
        pool=pool,
        grid_shift_mm=shift,
    )


def band_signal(seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """The continuous 64-channel stream of a simulated HD-EMG grid, one ``"spike"`` event per discharge.

    Events are ``TruthEvent(time_s, "spike", unit_index)`` in time order, at the
    discharge instant (sample index / fs). Defaults of
    :func:`simulate_motor_units` otherwise (30 % plateau, 20 dB).
    """
    sim = simulate_motor_units(seconds, seed=seed, session=session)
    pairs = sorted((int(s), u) for u, d in enumerate(sim.discharges) for s in d)
    events = tuple(TruthEvent(s / sim.fs_hz, "spike", u) for s, u in pairs)
    meta: dict[str, Any] = {
        "task": "motor-units",
        "seed": sim.seed,
        "session": sim.session,
        "level": sim.level,
        "snr_db": sim.snr_db,
        "n_units": sim.n_units,
        "ied_mm": muap.IED_MM,
    }
    return BandSignal(
        emg=sim.emg, fs_hz=sim.fs_hz, layout=sim.layout, channel_names=sim.channel_names, events=events, meta=meta
    )


def simulate_to_path(
    out: Path,
    *,
    seconds: float | None = None,
    seed: int = 0,
    session: int = 0,
    subjects: int | None = None,
    snr_db: float | None = None,
    level: float | None = None,
    grid: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write simulated recordings as DEMUSE-style ``.mat`` files and return their paths.

    One file per (subject, level): subjects are seeds ``seed .. seed + subjects - 1``
    (one subject when ``subjects`` is None); ``level`` None writes the seed's
    three contractions, 10, 30 and 50 % of maximum, which is what the
    motor-unit decoder is evaluated on. File names are
    ``mu_s{seed:03d}_k{session}_l{percent:02d}.mat``. When ``out`` ends in
    ``.mat`` and exactly one file is written, it is written there; otherwise
    the files go into the folder ``out`` (``out`` minus its ``.mat`` suffix if
    it had one), created if needed. A progress bar (tqdm, stderr) counts the
    simulate and write steps unless ``progress`` is False.

    Each file holds SIG, fsamp, IED, montage, MUPulses (1-based), IPTs (the
    true binary spike trains), ref_signal (the excitation), MUIDs (pool unit
    index of each MUPulses entry: only units that fire are written) and an
    ``edgeemg`` struct (seed, session, level, snr_db, layout, units). ``grid`` None is
    the seed's 13 x 5 grid (:func:`simulate_motor_units`).
    """
    from edgeemg.data.demuse import write_demuse  # local: demuse imports nothing of ours back

    seconds = DEFAULT_SECONDS if seconds is None else seconds
    snr_db = 20.0 if snr_db is None else snr_db
    levels = DEFAULT_LEVELS if level is None else (level,)
    _check("subjects", subjects, subjects is None or (isinstance(subjects, int) and subjects >= 1), "None or an int >= 1")
    seeds = [seed + k for k in range(subjects or 1)]
    jobs = [(s, lv) for s in seeds for lv in levels]
    out = Path(out)
    single = out.suffix.lower() == ".mat" and len(jobs) == 1
    folder = out.parent if single else (out.with_suffix("") if out.suffix.lower() == ".mat" else out)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with tqdm(total=len(jobs) * 2, desc="motor-units", unit="step", file=sys.stderr, disable=not progress) as bar:
        for s, lv in jobs:
            bar.set_postfix_str(f"seed {s} level {lv:.2f}: simulate")
            sim = simulate_motor_units(seconds, seed=s, session=session, snr_db=snr_db, level=lv,
                                       grid=grid or muap.DEFAULT_GRID)
            bar.update(1)
            path = out if single else folder / f"mu_s{s:03d}_k{session}_l{round(lv * 100):02d}.mat"
            active = sim.active_units
            ipts = np.zeros((len(active), sim.emg.shape[0]), dtype=np.float32)
            for j, u in enumerate(active):
                ipts[j, sim.discharges[u]] = 1.0
            bar.set_postfix_str(f"seed {s} level {lv:.2f}: write {path.name}")
            write_demuse(
                path,
                sim.emg,
                sim.fs_hz,
                [sim.discharges[u] for u in active],
                ied_mm=muap.GRIDS[grid or muap.DEFAULT_GRID].ied_mm,
                ipts=ipts,
                meta={
                    "seed": s,
                    "session": session,
                    "level": lv,
                    "snr_db": snr_db,
                    "layout": sim.layout,
                    "MUIDs": np.asarray(active, dtype=np.float64),
                    "ref_signal": sim.excitation,
                },
            )
            bar.update(1)
            paths.append(path)
    return paths
