"""Muscle-health records (emgdb's layout): one needle-EMG channel and its class.

The class (``"als"``, ``"myopathy"``, ``"normal"``) comes from a ``condition:``
header comment or the record name; see :func:`edgeemg.data.wfdb_io.read_wfdb`.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.wfdb_io import read_record, write_record
from edgeemg.errors import DataFormatError

if TYPE_CHECKING:
    from edgeemg.data.sim_muscle import MuscleSimulation


@dataclass(frozen=True)
class MuscleRecording:
    """A single-channel (needle) EMG record for muscle-health classification.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, 1), microvolts
    fs_hz : float
    condition : str or None
        ``"als"``, ``"myopathy"`` or ``"normal"`` from the ``condition:`` comment
        or the record name (emgdb: ``emg_healthy``, ``emg_myopathy``,
        ``emg_neuropathy`` -> als); None if neither says.
    subject_id : str
    severity : float or None
    path : pathlib.Path
    comments : tuple of str
    """

    emg: NDArray[np.float32]
    fs_hz: float
    condition: str | None
    subject_id: str
    severity: float | None
    path: pathlib.Path
    comments: tuple[str, ...] = field(default_factory=tuple)


def read_muscle_record(path: str | pathlib.Path) -> MuscleRecording:
    """Read an emgdb-style record: one channel (typically 4 kHz), units mV/mv/uV -> microvolts.

    Raises
    ------
    DataFormatError
        Missing or truncated files, a channel count other than 1, or a
        non-voltage unit.
    """
    rec = read_record(path)
    if rec.emg.shape[1] != 1:
        raise DataFormatError(
            f"{rec.source}: a muscle-health record has exactly 1 channel, found {rec.emg.shape[1]}: "
            f"{list(rec.channel_names)}"
        )
    if math.isnan(rec.to_uv[0]):
        raise DataFormatError(
            f"{rec.source}: channel '{rec.channel_names[0]}' has unit '{rec.units[0]}', expected a voltage "
            f"(V, mV, uV; any case)"
        )
    fields = rec.comment_fields()
    sev = fields.get("severity")
    try:
        severity = float(sev) if sev is not None else None
    except ValueError:
        severity = None
    return MuscleRecording(
        emg=rec.emg, fs_hz=rec.fs_hz, condition=rec.condition, subject_id=fields.get("subject", rec.path.name),
        severity=severity, path=rec.path, comments=rec.comments,
    )


def write_muscle_record(path: pathlib.Path, sim: MuscleSimulation) -> pathlib.Path:
    """Write a muscle-health simulation like an emgdb record: 1 channel ``EMG``, mV, class in comments."""
    comments = [
        f"condition: {sim.condition}",
        f"subject: {sim.subject_id}",
        f"severity: {sim.severity:.3f}",
        f"seed: {sim.meta.get('seed')}",
        f"session: {sim.meta.get('session')}",
    ]
    return write_record(path, sim.emg.astype(np.float64) / 1000.0, fs_hz=sim.fs_hz, names=["EMG"], units=["mV"],
                        comments=comments)
