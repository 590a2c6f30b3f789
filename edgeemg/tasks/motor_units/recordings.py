"""The motor-unit recordings: DEMUSE or XDF files, or one simulated contraction, their time split and windows.

Each recording is split in time (DESIGN.md): the first ``split`` (2/3 by
default) trains, the rest is scored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp import Pipeline
from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.tasks.motor_units import plans, spec
from edgeemg.tasks.motor_units.plans import SimulationPlan

DEFAULT_SPLIT = 2.0 / 3.0


@dataclass(frozen=True, eq=False)
class Recording:
    """One HD-EMG recording as the workflow needs it."""

    emg: NDArray[np.float32]  # (n_samples, n_channels) µV
    fs_hz: float
    channel_names: tuple[str, ...]
    discharges: tuple[NDArray[np.int64], ...] | None  # truth per unit, or None
    unit_ids: tuple[int, ...]  # identity of each truth unit (pool index / MUIDs)
    source: str


def _simulate(plan: SimulationPlan, seed: int) -> Recording:
    from edgeemg.data.sim_motor_units import simulate_motor_units

    sim = simulate_motor_units(plan.seconds, seed=seed, level=plan.level, snr_db=plan.snr_db, grid=plan.grid)
    return Recording(sim.emg, sim.fs_hz, tuple(sim.channel_names), tuple(sim.discharges), tuple(range(sim.n_units)),
                     f"simulated seed {seed} level {plan.level} snr {plan.snr_db} dB grid {plan.grid}")


def _read_file(f: Path) -> Recording:
    """A DEMUSE ``.mat`` file, or an XDF file (discharges: ``MotorUnits`` markers, :mod:`edgeemg.data.xdf_labels`)."""
    if f.suffix.lower() == ".xdf":
        from edgeemg.data.xdf_labels import read_xdf_motor_units

        x = read_xdf_motor_units(f)
        return Recording(x.emg, x.fs_hz, x.channel_names, x.discharges, x.unit_ids, str(f))
    from edgeemg.data.demuse import read_demuse

    rec = read_demuse(f)
    ids = rec.meta.get("MUIDs")
    ids_t = tuple(int(i) for i in np.atleast_1d(ids)) if ids is not None else tuple(range(rec.n_units))
    if len(ids_t) != rec.n_units:
        ids_t = tuple(range(rec.n_units))
    return Recording(rec.emg, rec.fs_hz, tuple(rec.channel_names), rec.discharges if rec.n_units else None, ids_t,
                     str(f))


def _read(paths: list[Path]) -> list[Recording]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(q for q in p.glob("*") if q.suffix.lower() in (".mat", ".xdf")))
        elif p.is_file():
            files.append(p)
        else:
            raise DataFormatError(f"motor-units: '{p}' is neither a file nor a folder")
    if not files:
        raise DataFormatError(f"motor-units: no .mat (DEMUSE) or .xdf recordings found in {[str(p) for p in paths]}")
    return [_read_file(f) for f in files]


def load_recordings(data: list[Path] | None, simulate: bool, *, seed: int,
                    plan: SimulationPlan | None = None) -> list[Recording]:
    """The recordings of ``--data`` (DEMUSE .mat or XDF files, or folders) or one simulated contraction."""
    if simulate == bool(data):
        raise InvalidInputError("motor-units: give exactly one data source, --data PATH... or --simulate")
    recs = [_simulate(plan or plans.DEFAULT_SIMULATION, seed)] if simulate else _read(list(data or []))
    fs, names = recs[0].fs_hz, recs[0].channel_names
    for r in recs:
        if abs(r.fs_hz - fs) > 1e-6 or r.channel_names != names:
            raise DataFormatError(
                f"motor-units: {r.source} has {r.emg.shape[1]} channels at {r.fs_hz} Hz, expected the grid of "
                f"{recs[0].source} ({len(names)} channels at {fs} Hz in the same order)"
            )
    return recs


def split_point(rec: Recording, split: float) -> int:
    return int(round(split * rec.emg.shape[0]))


def simulation_options(simulation: SimulationPlan, options: dict[str, Any], simulate: bool) -> SimulationPlan:
    """``--level`` and ``--grid`` override the simulated contraction's plateau and electrode grid.

    They only mean something with ``--simulate``. Checked here, before the
    simulation runs, so a typo costs nothing. The checkpoint records the
    resulting plan (``meta["simulation"]``), which is how ``eval --simulate``
    and the export chain regenerate the same contraction.
    """
    from edgeemg.data._mu_muap import GRIDS

    level, grid = options.get("level"), options.get("grid")
    if level is None and grid is None:
        return simulation
    if not simulate:
        raise InvalidInputError("motor-units: --level and --grid set the simulated contraction, which needs --simulate "
                                "(a recorded contraction has its own level and grid)")
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, float))
                              or not 0.0 < float(level) <= 1.0):
        raise InvalidInputError(f"motor-units: --level must be a fraction of maximum excitation in (0, 1], "
                                f"got {level!r}")
    if grid is not None and grid not in GRIDS:
        raise InvalidInputError(f"motor-units: --grid must be one of {sorted(GRIDS)}, got {grid!r}")
    return replace(simulation, level=float(level) if level is not None else simulation.level,
                   grid=grid or simulation.grid)


def check_split(split: Any) -> float:
    if not isinstance(split, (int, float)) or not 0.1 <= float(split) <= 0.9:
        raise InvalidInputError(f"motor-units: --split must be a fraction in [0.1, 0.9], got {split!r}")
    return float(split)



def windows_of(rec: Recording, description: list[dict[str, Any]]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The whole recording through one fresh DSP chain: windows (n, w, C) and their last-sample indices."""
    frames = Pipeline.from_description(description, rec.fs_hz, rec.emg.shape[1]).process_offline(rec.emg)
    return frames.data, frames.end_index


def max_amplitude(recs: list[Recording], split: float) -> float:
    """The grid's maximum absolute band-passed amplitude over the training parts (seed 004, 3.3.2)."""
    peak = 0.0
    for r in recs:
        filt = Pipeline.from_description(spec.filter_description(), r.fs_hz, r.emg.shape[1])
        peak = max(peak, float(np.abs(filt.process_offline(r.emg[: split_point(r, split)]).data).max()))
    if peak <= 0:
        raise DataFormatError("motor-units: the training parts are flat (maximum amplitude 0 µV)")
    return peak


__all__ = ["DEFAULT_SPLIT", "Recording", "check_split", "load_recordings", "max_amplitude", "simulation_options",
           "split_point", "windows_of"]
