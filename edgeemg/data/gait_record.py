"""Walking records (the PhysioNet sEMG walking dataset's layout): sEMG, foot switches, gait states.

The states come from the foot switches by a fixed rule
(:func:`gait_states_from_footswitch`), so any amplifier gain or offset works;
the simulator's own states travel in a ``.gait`` annotation file and are
read back as ``truth_states``.
"""

from __future__ import annotations

import math
import pathlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.gait_states import GAIT_STATES
from edgeemg.data.wfdb_io import GAIT_ANNOTATION_EXT, WfdbRecording, read_record, write_record
from edgeemg.errors import DataFormatError, InvalidInputError, require

if TYPE_CHECKING:
    from edgeemg.data.sim_gait import GaitSimulation

# walking-bout rule constants (seconds): see gait_states_from_footswitch
_MIN_SWING_S, _MIN_STANCE_S, _BOUT_GAP_S, _ONSET_LEAD_S, _SETTLE_S = 0.2, 0.1, 2.0, 0.45, 0.4


def _norm_name(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


@dataclass(frozen=True)
class GaitRecording:
    """A walking record: sEMG, foot switches, and gait states derived from the foot switches.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_emg)
        The ``semg ...`` channels in microvolts, in file order.
    channel_names : tuple of str
    footswitch : ndarray of float32, shape (n_samples, 2)
        Left and right basographic signals in the header's units.
    fs_hz : float
    states : ndarray of int8, shape (n_samples,)
        Derived by :func:`gait_states_from_footswitch` (0 stand, 1 start, 2 walk, 3 stop).
    heel_strikes, toe_offs : tuple of two ndarrays of float64
        Derived event times (s), left then right foot.
    truth_states : ndarray of int8 or None
        The simulator's states from the ``.gait`` annotations, when present.
    truth_heel_strikes : tuple of two ndarrays or None
    subject_id : str
        From the ``subject:`` comment, else the record name.
    path : pathlib.Path
    comments : tuple of str
    """

    emg: NDArray[np.float32]
    channel_names: tuple[str, ...]
    footswitch: NDArray[np.float32]
    fs_hz: float
    states: NDArray[np.int8]
    heel_strikes: tuple[NDArray[np.float64], NDArray[np.float64]]
    toe_offs: tuple[NDArray[np.float64], NDArray[np.float64]]
    truth_states: NDArray[np.int8] | None
    truth_heel_strikes: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    subject_id: str
    path: pathlib.Path
    comments: tuple[str, ...] = field(default_factory=tuple)


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int, bool]]:
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [mask.size]])
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(starts, ends)]


def _contact(x: NDArray, fs_hz: float) -> NDArray[np.bool_]:
    """Foot contact from one basographic channel: above 25 % of its own 1-99 % range, debounced."""
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = np.percentile(x, [1.0, 99.0])
    contact = x > lo + 0.25 * (hi - lo)
    # debounce: swing shorter than _MIN_SWING_S is noise (a real swing lasts ~0.4 s),
    # then stance shorter than _MIN_STANCE_S
    for value, min_s in ((False, _MIN_SWING_S), (True, _MIN_STANCE_S)):
        for a, b, v in _runs(contact):
            if v == value and (b - a) < min_s * fs_hz and a > 0 and b < contact.size:
                contact[a:b] = not value
    # a record whose swing phases are all debounced away was never walking
    return contact


def gait_states_from_footswitch(
    footswitch: NDArray, fs_hz: float
) -> tuple[NDArray[np.int8], tuple[NDArray[np.float64], NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Derive per-sample gait states and heel-strike / toe-off times from two foot switches.

    The rule (no absolute voltages, so any amplifier gain or offset works):

    1. Contact per foot: the signal exceeds its own 1st percentile plus 25 % of
       its 1st-99th percentile range; swing phases shorter than 0.2 s and then
       stance phases shorter than 0.1 s are debounced away. Heel strike = swing
       to contact, toe-off = contact to swing.
    2. Bouts: heel strikes of both feet, sorted, are split where two
       consecutive ones are more than 2 s apart.
    3. A bout runs from its first toe-off minus 0.45 s (the typical
       anticipatory postural adjustment) to its last heel strike plus 0.4 s.
       *start* is from the bout onset to its 4th heel strike (the first two
       strides), *stop* from its 4th-last heel strike to the bout end (the last
       two strides), *walk* in between; bouts with fewer than 8 heel strikes are
       split in half between start and stop. Outside bouts is *stand*.

    These match the simulator's definitions (:mod:`edgeemg.data.sim_gait`).

    Returns
    -------
    states : ndarray of int8, shape (n_samples,)
    heel_strikes, toe_offs : tuple of two ndarrays of float64 (s), left then right
    """
    fsw = np.asarray(footswitch, dtype=np.float64)
    if fsw.ndim != 2 or fsw.shape[1] != 2:
        raise InvalidInputError(f"footswitch must be shaped (n_samples, 2), got {fsw.shape}")
    n = fsw.shape[0]
    hs_s, to_s = [], []
    for foot in range(2):
        c = _contact(fsw[:, foot], fs_hz).astype(np.int8)
        d = np.diff(c)
        hs_s.append((np.flatnonzero(d == 1) + 1) / fs_hz)
        to_s.append((np.flatnonzero(d == -1) + 1) / fs_hz)
    states = np.zeros(n, dtype=np.int8)
    all_hs = np.sort(np.concatenate(hs_s))
    all_to = np.sort(np.concatenate(to_s))
    if all_hs.size == 0:
        return states, (hs_s[0], hs_s[1]), (to_s[0], to_s[1])
    cuts = np.flatnonzero(np.diff(all_hs) > _BOUT_GAP_S) + 1
    for bout in np.split(all_hs, cuts):
        prev_to = all_to[all_to < bout[0]]
        first_to = prev_to[-1] if prev_to.size and bout[0] - prev_to[-1] < _BOUT_GAP_S else bout[0] - 0.45
        onset, end = first_to - _ONSET_LEAD_S, bout[-1] + _SETTLE_S
        if bout.size >= 8:
            a, b = bout[3], bout[-4]
        else:
            a = b = bout[bout.size // 2]

        def put(t0: float, t1: float, v: int) -> None:
            states[max(0, int(round(t0 * fs_hz))) : max(0, min(n, int(round(t1 * fs_hz))))] = v

        put(onset, a, 1)
        put(a, b, 2)
        put(b, end, 3)
    return states, (hs_s[0], hs_s[1]), (to_s[0], to_s[1])


def _truth_from_annotations(
    ann: tuple[tuple[int, str, str], ...], n: int, fs_hz: float
) -> tuple[NDArray[np.int8], tuple[NDArray[np.float64], NDArray[np.float64]]]:
    states = np.zeros(n, dtype=np.int8)
    changes = [(s, a[1:]) for s, y, a in ann if y == "+" and a.startswith("(") and a[1:] in GAIT_STATES]
    for (s, name), nxt in zip(changes, [*changes[1:], (n, "")]):
        states[s : nxt[0]] = GAIT_STATES.index(name)
    hs = tuple(np.array([s / fs_hz for s, y, a in ann if a == f"HS {side}"]) for side in ("LT", "RT"))
    return states, hs  # type: ignore[return-value]


def _find_channel(rec: WfdbRecording, name: str) -> int:
    want = _norm_name(name)
    for i, ch in enumerate(rec.channel_names):
        if _norm_name(ch) == want:
            return i
    raise DataFormatError(
        f"{rec.source}: required channel '{name}' not found (matched ignoring spaces and case); "
        f"channels found: {list(rec.channel_names)}; the gait states come from the two foot switches "
        "('baso LT FOOT', 'baso RT FOOT'), as in the sEMG walking dataset"
    )


def read_gait_record(path: str | pathlib.Path) -> GaitRecording:
    """Read a walking-dataset record: sEMG channels, foot switches, derived gait states.

    Requires ``baso LT FOOT`` and ``baso RT FOOT`` and at least one ``semg ...``
    channel (names compared without whitespace or case).

    Raises
    ------
    DataFormatError
        Missing or truncated files, or a required channel absent (the message
        lists the channels found).
    """
    rec = read_record(path)
    feet = [_find_channel(rec, n) for n in ("baso LT FOOT", "baso RT FOOT")]
    emg_idx = [i for i, ch in enumerate(rec.channel_names) if _norm_name(ch).startswith("semg")]
    if not emg_idx:
        raise DataFormatError(
            f"{rec.source}: no sEMG channel (names starting with 'semg'); channels found: {list(rec.channel_names)}"
        )
    fs_raw = np.stack([rec.emg[:, i] / (rec.to_uv[i] if not math.isnan(rec.to_uv[i]) else 1.0) for i in feet], axis=1)
    states, hs, to = gait_states_from_footswitch(fs_raw, rec.fs_hz)
    truth_states = truth_hs = None
    if rec.annotations is not None:
        truth_states, truth_hs = _truth_from_annotations(rec.annotations, rec.emg.shape[0], rec.fs_hz)
    fields = rec.comment_fields()
    return GaitRecording(
        emg=np.ascontiguousarray(rec.emg[:, emg_idx]),
        channel_names=tuple(rec.channel_names[i] for i in emg_idx),
        footswitch=fs_raw.astype(np.float32),
        fs_hz=rec.fs_hz,
        states=states,
        heel_strikes=hs,
        toe_offs=to,
        truth_states=truth_states,
        truth_heel_strikes=truth_hs,
        subject_id=fields.get("subject", rec.path.name),
        path=rec.path,
        comments=rec.comments,
    )


def write_gait_record(path: pathlib.Path, sim: GaitSimulation) -> pathlib.Path:
    """Write a gait simulation as the walking dataset does, plus ``.gait`` truth annotations.

    Channels: the sEMG (mV) then ``baso LT FOOT``, ``baso RT FOOT`` (mV).
    Annotations (``wfdb.rdann(path, "gait")``): symbol ``+`` (rhythm/state
    change) with aux ``(stand``/``(start``/``(walk``/``(stop`` at sample 0 and at
    each state change; symbol ``"`` (comment) with aux ``HS LT``, ``TO RT``...
    at each heel strike and toe-off.
    """
    wfdb = require("wfdb", "writing WFDB records")

    from edgeemg.data.sim_gait import FOOTSWITCH_NAMES

    path = pathlib.Path(path)
    x = np.hstack([sim.emg.astype(np.float64) / 1000.0, sim.footswitch.astype(np.float64)])
    names = [*sim.channel_names, *FOOTSWITCH_NAMES]
    comments = [
        f"subject: {sim.subject_id}",
        f"seed: {sim.meta.get('seed')}",
        f"session: {sim.meta.get('session')}",
        f"snr_db: {sim.meta.get('snr_db', float('nan')):.2f}",
        "truth: gait states and heel strikes / toe-offs in annotation file ." + GAIT_ANNOTATION_EXT,
        "states: stand=0 start=1 walk=2 stop=3",
    ]
    write_record(path, x, fs_hz=sim.fs_hz, names=names, units=["mV"] * len(names), comments=comments)
    ev: list[tuple[int, int, str, str]] = []  # (sample, order, symbol, aux)
    st = sim.states
    if st.size:
        ev.append((0, 0, "+", "(" + GAIT_STATES[int(st[0])]))
        for i in np.flatnonzero(np.diff(st)) + 1:
            ev.append((int(i), 0, "+", "(" + GAIT_STATES[int(st[i])]))
    n = st.shape[0]
    for foot, side in enumerate(("LT", "RT")):
        for kind, times in (("HS", sim.heel_strikes[foot]), ("TO", sim.toe_offs[foot])):
            for t in times:
                s = int(round(float(t) * sim.fs_hz))
                if 0 <= s < n:
                    ev.append((s, 1, '"', f"{kind} {side}"))
    ev.sort()
    if ev:
        wfdb.wrann(
            path.name, GAIT_ANNOTATION_EXT, sample=np.array([e[0] for e in ev]), symbol=[e[2] for e in ev],
            aux_note=[e[3] for e in ev], fs=sim.fs_hz, write_dir=str(path.parent),
        )
    return path
