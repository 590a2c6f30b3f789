"""Gait simulator: lower-limb sEMG and foot switches through stand, start, walk and stop.

The simulated record has the shape of PhysioNet's "surface electromyographic
signals collected during long-lasting ground walking" dataset (seed 001,
section 4.1): sEMG of tibialis anterior (TA), gastrocnemius lateralis (GL) and
vastus lateralis (VL) of both legs at 2 kHz, plus one basographic foot-switch
channel per foot, with PhysioNet channel names (``semg LT TIB.A``,
``baso RT FOOT``, ...).

Model
-----
A session is a sequence of walking *bouts* separated by standing. A bout starts
with an anticipatory postural adjustment (bilateral TA burst), then the leading
foot toes off and the feet alternate heel strikes with a stride of 1.0-1.2 s
(subject-specific), slower over the first and last two strides, drifting in
speed in between (the dataset's eight-shaped path has curves, accelerations and
decelerations). Each muscle's activation envelope is a sum of Gaussian bursts
placed relative to that foot's heel strikes and toe-offs: TA around heel
strike (foot lowering) and in early swing (toe clearance), GL in late stance
(push-off, 35-45 % of the stride), VL at loading response. The envelope
modulates band-limited Gaussian noise (the interference pattern of many motor
units), then crosstalk mixes muscles of the same leg, and amplifier noise,
50 Hz hum and small heel-strike motion artefacts are added at the requested SNR.

Ground truth and its definitions
--------------------------------
``states`` labels every sample: 0 stand, 1 start, 2 walk, 3 stop.

* *start* runs from the bout onset (onset of the anticipatory TA burst, before
  the first toe-off) to the bout's 4th heel strike, i.e. the initiation step
  and the first two strides (four steps).
* *stop* runs from the bout's 4th-last heel strike to the bout end: the last
  heel strike (feet together) plus a 0.4 s settling time, i.e. the last two
  strides (three step intervals) and the settling.
* *walk* is everything in a bout between start and stop; *stand* is outside bouts.

Start and stop are deliberately confusable with walk: they differ in cadence,
in the relative GL / TA amplitudes (acceleration push-off, braking
co-contraction) and by the anticipatory burst, by amounts that vary between
subjects and bouts, so that a per-window RMS classifier is well below a model
that sees the burst pattern inside a 200 ms window.

Randomness: ``seed`` and ``subject`` fix the person (cadence, amplitudes,
electrode placement, crosstalk, noise, foot-switch gains); ``session`` gives a
new walk of the same person. No global RNG is used.
"""

from __future__ import annotations

import logging
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data._gait_plan import SETTLE_S, STEPS_PER_TRANSITION
from edgeemg.data._gait_signals import synthesize
from edgeemg.data.gait_states import GAIT_STATES, STAND, START, STOP, WALK
from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

SIDES: tuple[str, ...] = ("LT", "RT")
MUSCLES: tuple[str, ...] = ("TIB.A", "LAT.G", "VAS.L")
CHANNEL_NAMES: tuple[str, ...] = tuple(f"semg {s} {m}" for s in SIDES for m in MUSCLES)
FOOTSWITCH_NAMES: tuple[str, ...] = ("baso LT FOOT", "baso RT FOOT")


@dataclass(frozen=True)
class GaitSimulation:
    """A simulated walking record with its ground truth.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, 6)
        sEMG in microvolts, channels as in ``channel_names``.
    footswitch : ndarray of float32, shape (n_samples, 2)
        Basographic signal of the left and right foot, in millivolts as a
        foot-switch amplifier would write it (swing low, stance plateaus high).
    fs_hz : float
        Sampling rate (Hz).
    channel_names : tuple of str
        PhysioNet-style names of the ``emg`` columns.
    states : ndarray of int8, shape (n_samples,)
        0 stand, 1 start, 2 walk, 3 stop (definitions in the module docstring).
    heel_strikes, toe_offs : tuple of two ndarrays of float64
        Event times in seconds, ``[0]`` left foot, ``[1]`` right foot.
    subject_id : str
        Identity of the simulated person, stable across sessions.
    meta : dict
        Subject parameters (stride, SNR, amplitudes...) for reports.
    """

    emg: NDArray[np.float32]
    footswitch: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    states: NDArray[np.int8]
    heel_strikes: tuple[NDArray[np.float64], NDArray[np.float64]]
    toe_offs: tuple[NDArray[np.float64], NDArray[np.float64]]
    subject_id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.emg.shape[0] / self.fs_hz


def _check(seconds: float, fs_hz: float, snr_db: float | None) -> None:
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"seconds must be a finite number > 0, got {seconds!r}")
    if not np.isfinite(fs_hz) or fs_hz < 1000.0:
        raise InvalidInputError(f"fs_hz must be >= 1000 Hz so the 20-450 Hz sEMG band fits, got {fs_hz!r}")
    if snr_db is not None and not np.isfinite(snr_db):
        raise InvalidInputError(f"snr_db must be finite or None, got {snr_db!r}")


def subject_id(seed: int, subject: int) -> str:
    """Stable identity of simulated gait subject ``subject`` under ``seed``."""
    return f"gait-seed{seed}-S{subject + 1:02d}"


def simulate_gait(
    seconds: float = 120.0,
    *,
    seed: int = 0,
    session: int = 0,
    subject: int = 0,
    snr_db: float | None = None,
    fs_hz: float = 2000.0,
) -> GaitSimulation:
    """Simulate a walking record: 6 sEMG channels, two foot switches, states and gait events.

    Parameters
    ----------
    seconds : float
        Record duration.
    seed : int
        Fixes the population of simulated people; with ``subject`` it fixes one
        person's cadence, amplitudes, electrode placement, crosstalk and noise.
    session : int
        A new walk of the same person (new bout layout, electrodes re-applied).
    subject : int
        Index of the person within the seed's population.
    snr_db : float or None
        Muscle-signal to noise power ratio per channel over the whole record;
        None draws a subject-specific value in 8-20 dB (real recordings differ).
    fs_hz : float
        Sampling rate; the dataset's is 2 kHz.

    Returns
    -------
    GaitSimulation
        Signals and ground truth (see the module docstring for the state definitions).

    Raises
    ------
    InvalidInputError
        If ``seconds``, ``fs_hz`` or ``snr_db`` is out of range.
    """
    _check(seconds, fs_hz, snr_db)
    p = synthesize(seconds, seed, session, subject, snr_db, fs_hz)
    hs = tuple(np.sort(np.concatenate([b.hs_s[b.feet == f] for b in p.bouts] or [np.empty(0)])) for f in (0, 1))
    to = tuple(np.sort(np.concatenate([b.to_s[b.feet == f] for b in p.bouts] or [np.empty(0)])) for f in (0, 1))
    hs = tuple(h[h < seconds] for h in hs)
    to = tuple(x[x < seconds] for x in to)
    s = p.subj
    meta = {
        "seed": seed,
        "session": session,
        "subject": subject,
        "stride_s": s.stride_s,
        "snr_db": s.snr_db,
        "amplitude_uv": s.amp_uv.round(1).tolist(),
        "n_bouts": len(p.bouts),
        "state_names": GAIT_STATES,
        "start_definition": "bout onset (anticipatory TA burst) to the bout's 4th heel strike",
        "stop_definition": f"bout's 4th-last heel strike to last heel strike + {SETTLE_S} s",
    }
    return GaitSimulation(
        emg=(p.clean_uv + p.noise_uv).astype(np.float32),
        footswitch=p.footswitch.astype(np.float32),
        fs_hz=float(fs_hz),
        channel_names=CHANNEL_NAMES,
        states=p.states,
        heel_strikes=hs,  # type: ignore[arg-type]
        toe_offs=to,  # type: ignore[arg-type]
        subject_id=subject_id(seed, subject),
        meta=meta,
    )


def band_signal(seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """What a leg band streams: the 6 sEMG channels, with a TruthEvent at each state change.

    ``meta`` also holds the foot-switch events (``heel_strikes`` / ``toe_offs``: seconds, left then
    right foot), so a bench can time decoded transitions and gait events against the foot.
    """
    sim = simulate_gait(seconds, seed=seed, session=session)
    change = np.flatnonzero(np.diff(sim.states)) + 1
    events = tuple(TruthEvent(float(i / sim.fs_hz), "gait_state", GAIT_STATES[sim.states[i]]) for i in change)
    return BandSignal(
        emg=sim.emg,
        fs_hz=sim.fs_hz,
        layout="lowerlimb-2x3",
        channel_names=sim.channel_names,
        events=events,
        meta={"initial_state": GAIT_STATES[int(sim.states[0])] if sim.states.size else "stand", **sim.meta,
              "heel_strikes": [h.tolist() for h in sim.heel_strikes], "toe_offs": [t.tolist() for t in sim.toe_offs]},
    )


def simulate_to_path(
    out: pathlib.Path,
    *,
    seconds: float | None = None,
    seed: int = 0,
    session: int = 0,
    subjects: int | None = None,
    snr_db: float | None = None,
    progress: bool = True,
) -> list[pathlib.Path]:
    """Write one WFDB record per subject (``S01``, ``S02``...) plus its ``.gait`` annotations.

    Defaults: 120 s per record and 10 subjects (enough for an 8:2 subject-wise
    split). See :func:`edgeemg.data.gait_record.write_gait_record` for the format.
    Returns the record paths (without extension).
    """
    from tqdm import tqdm

    from edgeemg.data.gait_record import write_gait_record

    n_sub = 10 if subjects is None else int(subjects)
    if n_sub < 1:
        raise InvalidInputError(f"subjects must be >= 1, got {subjects!r}")
    secs = 120.0 if seconds is None else float(seconds)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(n_sub), desc="gait subjects", unit="subject", disable=not progress):
        sim = simulate_gait(secs, seed=seed, session=session, subject=i, snr_db=snr_db)
        paths.append(write_gait_record(out / f"S{i + 1:02d}", sim))
    logger.info("wrote %d gait records to %s", len(paths), out)
    return paths


__all__ = ["CHANNEL_NAMES", "FOOTSWITCH_NAMES", "GAIT_STATES", "MUSCLES", "SETTLE_S", "SIDES", "STAND", "START",
           "STEPS_PER_TRANSITION", "STOP", "WALK", "GaitSimulation", "band_signal", "simulate_gait",
           "simulate_to_path", "subject_id"]
