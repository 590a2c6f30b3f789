"""The gait task's recordings and windows: simulated or WFDB records, their consistency, z-score and windowing.

Shared by the causal decoder and seed 001's models (:mod:`edgeemg.tasks.gait.workflow`)
and by the export hooks, so that every model is fed identical arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import Pipeline, ZScore, td_features
from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.tasks.gait import spec


@dataclass(frozen=True)
class SimulationPlan:
    """How much data ``--simulate`` generates (seed 001 had 31 subjects; a few minutes of CPU here).

    ``eval_subject_offset`` numbers the evaluation people after the training
    ones, so even ``eval --seed`` equal to the training seed scores new people.
    """

    n_subjects: int = 8
    seconds: float = 120.0
    snr_db: float | None = None
    eval_subjects: int = 4
    eval_subject_offset: int = 1000


@dataclass(frozen=True)
class Recording:
    """One subject's record as the workflow needs it (simulated or read from WFDB)."""

    emg: NDArray[np.float32]  # (n_samples, n_channels) µV
    states: NDArray[np.int8]  # (n_samples,)
    fs_hz: float
    channel_names: tuple[str, ...]
    subject_id: str
    source: str
    heel_strikes: tuple[NDArray[np.float64], ...] = ()  # (left, right) seconds, from the foot switches
    toe_offs: tuple[NDArray[np.float64], ...] = ()


@dataclass(frozen=True)
class WindowSet:
    """Windows of many recordings, each with its label, subject and position.

    Both models are trained from one ``WindowSet``: ``x`` for the CNN and
    ``features()`` of the very same ``x`` for the SVM.
    """

    x: NDArray[np.float32]  # (n_windows, window, n_channels), z-scored
    y: NDArray[np.int64]  # (n_windows,)
    subject: NDArray[np.str_]  # (n_windows,)
    record: NDArray[np.int64]  # (n_windows,) index of the recording
    end_index: NDArray[np.int64]  # (n_windows,) last sample of each window in its recording

    def select(self, mask: NDArray[np.bool_]) -> WindowSet:
        return WindowSet(self.x[mask], self.y[mask], self.subject[mask], self.record[mask], self.end_index[mask])

    def features(self) -> NDArray[np.float64]:
        """Seed 001's TD features of every window, flattened to (n_windows, n_features * n_channels)."""
        f = td_features(self.x, spec.TD_FEATURES, wamp_threshold=spec.WAMP_THRESHOLD_Z)
        return f.reshape(len(f), -1).astype(np.float64)


def simulate_recordings(n_subjects: int, *, seed: int, seconds: float, snr_db: float | None, first_subject: int = 0,
                        progress: bool = False, session: int = 0) -> list[Recording]:
    """``n_subjects`` simulated people (seed-controlled), one record (of ``session``) each."""
    from tqdm import tqdm

    from edgeemg.data.sim_gait import simulate_gait

    out = []
    for i in tqdm(range(first_subject, first_subject + n_subjects), desc="simulate gait", unit="subject",
                  disable=not progress):
        sim = simulate_gait(seconds, seed=seed, subject=i, snr_db=snr_db, session=session)
        out.append(Recording(sim.emg, sim.states, sim.fs_hz, tuple(sim.channel_names), sim.subject_id, "simulated",
                             sim.heel_strikes, sim.toe_offs))
    return out


def read_recordings(paths: list[Path], *, progress: bool = False) -> list[Recording]:
    """WFDB walking records (files or folders). Labels: the simulator's ``.gait`` truth when
    present, else the states the reader derives from the foot switches (as for PhysioNet data)."""
    from tqdm import tqdm

    from edgeemg.data.gait_record import read_gait_record
    from edgeemg.data.wfdb_io import find_records

    out = []
    for path in tqdm(find_records(paths), desc="read gait records", unit="record", disable=not progress):
        rec = read_gait_record(path)
        truth = rec.truth_states is not None
        states = rec.truth_states if truth else rec.states
        out.append(Recording(rec.emg, np.asarray(states), rec.fs_hz, tuple(rec.channel_names), rec.subject_id,
                             f"{path} ({'annotated truth' if truth else 'foot-switch states'})",
                             rec.heel_strikes, rec.toe_offs))
    return out


def check_consistent(recs: list[Recording], *, fs_hz: float | None = None,
                     channel_names: tuple[str, ...] | None = None) -> tuple[float, tuple[str, ...]]:
    """All records share one sample rate and channel order (and match the checkpoint's, if given)."""
    if not recs:
        raise InvalidInputError("gait: no recordings to use")
    fs = fs_hz if fs_hz is not None else recs[0].fs_hz
    names = channel_names if channel_names is not None else recs[0].channel_names
    for r in recs:
        if abs(r.fs_hz - fs) > 1e-6:
            raise DataFormatError(f"gait: record {r.source} is sampled at {r.fs_hz} Hz, expected {fs} Hz")
        if tuple(r.channel_names) != tuple(names):
            raise DataFormatError(
                f"gait: record {r.source} has channels {list(r.channel_names)}, expected {list(names)} in that order"
            )
    return fs, tuple(names)


def fit_zscore(recs: list[Recording], fs_hz: float) -> ZScore:
    """Per-channel statistics of the band-passed training records (each filtered from rest, as on the board)."""
    n_ch = recs[0].emg.shape[1]
    filt = Pipeline.from_description(spec.filter_description(), fs_hz, n_ch)
    return ZScore.fit(np.concatenate([filt.process_offline(r.emg).data for r in recs]))


def make_windows(recs: list[Recording], description: list[dict[str, Any]], fs_hz: float) -> WindowSet:
    """Run every record through the description (one fresh chain each) and label its windows."""
    stages = [s for s in description if s["stage"] != "td_features"]
    window = next(s["window"] for s in stages if s["stage"] == "window")
    xs, ys, subj, rec_idx, ends = [], [], [], [], []
    for i, r in enumerate(recs):
        frames = Pipeline.from_description(stages, fs_hz, r.emg.shape[1]).process_offline(r.emg)
        xs.append(frames.data)
        ys.append(spec.window_labels(r.states, frames.end_index, window))
        subj.append(np.full(len(frames), r.subject_id))
        rec_idx.append(np.full(len(frames), i, np.int64))
        ends.append(frames.end_index)
    return WindowSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(subj).astype(str),
                     np.concatenate(rec_idx), np.concatenate(ends))


__all__ = ["Recording", "SimulationPlan", "WindowSet", "check_consistent", "fit_zscore", "make_windows",
           "read_recordings", "simulate_recordings"]
