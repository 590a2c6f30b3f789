"""PhysioNet WFDB records in and out, through the ``wfdb`` package.

Readers convert to the package layout at the file edge: ``(n_samples,
n_channels)`` float32 microvolts. Voltage units are recognised case-insensitively
(emgdb headers write ``mv`` in lower case in some records); channels are
matched by name after stripping whitespace and case (the walking dataset
writes ``semg LT TIB.A``, ``baso LT FOOT``).

Writers produce what :func:`read_wfdb` and ``wfdb.rdrecord`` both read:
format ``16`` (16-bit two's complement), baseline 0, and per channel an
``adc_gain`` (ADC units per mV) rounded *down* to three significant digits so
that the largest sample uses most of the 16-bit range and the gain prints
exactly in the header; the round-trip error is at most half an ADC step,
``0.5 / adc_gain`` mV. Ground truth travels as a WFDB annotation file
(``.gait``) and as ``key: value`` header comments.
"""

from __future__ import annotations

import logging
import math
import pathlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.recording import uv_per_unit
from edgeemg.errors import DataFormatError, InvalidInputError, require

if TYPE_CHECKING:
    from edgeemg.data.sim_gait import GaitSimulation
    from edgeemg.data.sim_muscle import MuscleSimulation

logger = logging.getLogger(__name__)

GAIT_STATES: tuple[str, ...] = ("stand", "start", "walk", "stop")
MUSCLE_CLASSES: tuple[str, ...] = ("als", "myopathy", "normal")
GAIT_ANNOTATION_EXT = "gait"
# bytes per sample of the WFDB storage formats, for the truncation check
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
                     "212": 1.5, "310": 4.0 / 3.0, "311": 4.0 / 3.0}
_FULL_SCALE_ADU = 32000  # of 32767: headroom so rounding never overflows fmt 16
# walking-bout rule constants (seconds): see gait_states_from_footswitch
_MIN_SWING_S, _MIN_STANCE_S, _BOUT_GAP_S, _ONSET_LEAD_S, _SETTLE_S = 0.2, 0.1, 2.0, 0.45, 0.4


def _norm_name(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class WfdbRecording:
    """One WFDB record, converted to the package layout.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels)
        Every channel; voltage channels in microvolts, others (unknown units)
        as stored. ``units`` says which.
    fs_hz : float
    channel_names, units : tuple of str
        Names as written; units after conversion (``"uV"`` for voltages).
    comments : tuple of str
        Header comment lines (without ``#``).
    path : pathlib.Path
        Record path without extension.
    to_uv : tuple of float
        Factor applied to each channel (NaN where the unit was not a voltage).
    annotations : tuple of (sample, symbol, aux_note), or None
        The ``.gait`` annotation file when present (simulator ground truth).
    condition : str or None
        Muscle-health class from the comments or the record name, when present.
    """

    emg: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    units: tuple[str, ...]
    comments: tuple[str, ...]
    path: pathlib.Path
    to_uv: tuple[float, ...]
    annotations: tuple[tuple[int, str, str], ...] | None = None
    condition: str | None = None

    @property
    def fs(self) -> float:
        return self.fs_hz

    def comment_fields(self) -> dict[str, str]:
        """``key: value`` header comments as a dict (keys lower-cased)."""
        out = {}
        for c in self.comments:
            if ":" in c:
                k, v = c.split(":", 1)
                out[k.strip().lower()] = v.strip()
        return out


def _record_path(record_path: str | pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(record_path)
    if p.suffix in (".hea", ".dat"):
        p = p.with_suffix("")
    return p


def _check_files(path: pathlib.Path) -> Any:
    wfdb = require("wfdb", "reading WFDB records")

    hea = path.parent / (path.name + ".hea")
    if not hea.is_file():
        raise DataFormatError(f"WFDB header not found: expected {hea}, which does not exist")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers
        raise DataFormatError(f"{hea}: unreadable WFDB header ({type(exc).__name__}: {exc})") from exc
    files = list(header.file_name or [])
    for fname in dict.fromkeys(files):
        dat = path.parent / fname
        if not dat.is_file():
            raise DataFormatError(f"{hea}: signal file {dat} named in the header does not exist")
        chans = [i for i, f in enumerate(files) if f == fname]
        bps = [_BYTES_PER_SAMPLE.get(str(header.fmt[i])) for i in chans]
        if None in bps or header.sig_len is None:
            continue
        offset = max(int(header.byte_offset[i] or 0) for i in chans) if header.byte_offset else 0
        need = offset + math.ceil(header.sig_len * sum(bps))  # type: ignore[arg-type]
        have = dat.stat().st_size
        if have < need:
            raise DataFormatError(
                f"{dat}: truncated signal file: the header promises {header.sig_len} samples x {len(chans)} "
                f"channels in fmt {header.fmt[chans[0]]} ({need} bytes), found {have} bytes"
            )
    return header


def _condition(name: str, fields: dict[str, str]) -> str | None:
    text = fields.get("condition") or fields.get("class") or fields.get("diagnosis") or name
    t = text.lower()
    if any(k in t for k in ("neuropath", "neurogenic", "als")):
        return "als"
    if "myo" in t:
        return "myopathy"
    if any(k in t for k in ("healthy", "normal")) or re.match(r"^nor\d", t):
        return "normal"
    return None


def read_wfdb(record_path: str | pathlib.Path) -> WfdbRecording:
    """Read a WFDB record (``.hea`` + ``.dat``) into float32 microvolts.

    Parameters
    ----------
    record_path : str or path
        Record path with or without the ``.hea``/``.dat`` extension.

    Returns
    -------
    WfdbRecording

    Raises
    ------
    DataFormatError
        The header or a signal file is missing, unreadable or truncated.

    Examples
    --------
    >>> rec = read_wfdb("S01")  # doctest: +SKIP
    >>> rec.emg.shape, rec.fs_hz  # doctest: +SKIP
    ((240000, 8), 2000.0)
    """
    wfdb = require("wfdb", "reading WFDB records")

    path = _record_path(record_path)
    _check_files(path)
    try:
        rec = wfdb.rdrecord(str(path), physical=True)
    except Exception as exc:
        raise DataFormatError(f"{path}: wfdb could not read the record ({type(exc).__name__}: {exc})") from exc
    sig = rec.p_signal if rec.p_signal is not None else np.zeros((0, rec.n_sig))
    names = tuple(str(n) for n in (rec.sig_name or []))
    raw_units = list(rec.units or [""] * len(names))
    factors, units = [], []
    for u in raw_units:
        f = uv_per_unit(str(u))
        factors.append(float("nan") if f is None else f)
        units.append(str(u) if f is None else "uV")
    scale = np.array([1.0 if math.isnan(f) else f for f in factors])
    emg = (np.asarray(sig, dtype=np.float64) * scale[None, :]).astype(np.float32)
    comments = tuple(str(c).strip() for c in (rec.comments or []))
    annotations = None
    ann_file = path.parent / f"{path.name}.{GAIT_ANNOTATION_EXT}"
    if ann_file.is_file():
        try:
            ann = wfdb.rdann(str(path), GAIT_ANNOTATION_EXT)
        except Exception as exc:
            raise DataFormatError(f"{ann_file}: unreadable annotation file ({type(exc).__name__}: {exc})") from exc
        aux = ann.aux_note or [""] * len(ann.sample)
        annotations = tuple((int(s), str(y), str(a).strip("\x00 ")) for s, y, a in zip(ann.sample, ann.symbol, aux))
    out = WfdbRecording(
        emg=emg, fs_hz=float(rec.fs), channel_names=names, units=tuple(units), comments=comments,
        path=path, to_uv=tuple(factors), annotations=annotations,
    )
    return WfdbRecording(**{**out.__dict__, "condition": _condition(path.name, out.comment_fields())})


def read_record(path: str | pathlib.Path) -> WfdbRecording:
    """A WFDB record, or the ``EMG`` stream of an XDF file (``.xdf`` suffix) with its markers as annotations."""
    if pathlib.Path(path).suffix.lower() == ".xdf":
        from edgeemg.data.xdf_io import read_xdf

        return read_xdf(path)
    return read_wfdb(path)


def find_records(paths: str | pathlib.Path | Iterable[str | pathlib.Path]) -> list[pathlib.Path]:
    """Expand files and folders into WFDB record paths (without extension) and XDF files, sorted per folder.

    A folder contributes every ``*.hea`` and ``*.xdf`` below it; a file may be
    given with or without ``.hea``/``.dat``, or as an ``.xdf`` file (read by
    :func:`read_record`). This is what the CLI's ``--data`` accepts.

    Raises
    ------
    DataFormatError
        A path does not exist, or a folder holds no ``.hea`` file.
    """
    if isinstance(paths, (str, pathlib.Path)):
        paths = [paths]
    out: list[pathlib.Path] = []
    for raw in paths:
        p = pathlib.Path(raw)
        if p.is_dir():
            found = sorted([h.with_suffix("") for h in p.rglob("*.hea")] + list(p.rglob("*.xdf")))
            if not found:
                raise DataFormatError(f"{p}: folder holds no WFDB record or XDF file (no *.hea or *.xdf below it)")
            out.extend(found)
            continue
        if p.suffix.lower() == ".xdf":
            if not p.is_file():
                raise DataFormatError(f"{p}: no such XDF file")
            out.append(p)
            continue
        rp = _record_path(p)
        if not (rp.parent / (rp.name + ".hea")).is_file():
            raise DataFormatError(f"{p}: no such WFDB record (expected {rp}.hea)")
        out.append(rp)
    return list(dict.fromkeys(out))


def subject_split(
    subject_ids: Sequence[str], *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split items by subject so that no subject is on both sides.

    Returns the indices (into ``subject_ids``) of the train and test items; at
    least one subject goes to each side when there are two or more subjects.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    ids = np.asarray(list(subject_ids), dtype=object)
    uniq = sorted(set(ids.tolist()))
    if len(uniq) < 2:
        raise InvalidInputError(f"a subject-wise split needs >= 2 subjects, got {len(uniq)}: {uniq}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    n_test = min(len(uniq) - 1, max(1, int(round(test_fraction * len(uniq)))))
    test_subj = {uniq[i] for i in order[:n_test]}
    is_test = np.array([s in test_subj for s in ids.tolist()], dtype=bool)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


# --------------------------------------------------------------------------- writing


def _adc_gain(x_phys: NDArray[np.float64]) -> list[float]:
    """ADC units per physical unit, rounded down to 3 significant digits (exact in the header)."""
    gains = []
    for col in x_phys.T:
        peak = float(np.nanmax(np.abs(col))) if col.size else 0.0
        g = _FULL_SCALE_ADU / peak if peak > 0 else 1000.0
        e = math.floor(math.log10(g)) - 2
        gains.append(math.floor(g / 10.0**e) * 10.0**e)
    return [float(f"{g:.3g}") for g in gains]


def write_record(
    path: pathlib.Path, x_phys: NDArray, *, fs_hz: float, names: Sequence[str], units: Sequence[str],
    comments: Sequence[str] = (),
) -> pathlib.Path:
    """Write ``x_phys`` (n_samples, n_channels, in ``units``) as WFDB fmt 16, baseline 0."""
    wfdb = require("wfdb", "writing WFDB records")

    path = pathlib.Path(path)
    x = np.asarray(x_phys, dtype=np.float64)
    gains = _adc_gain(x)
    d = np.round(x * np.array(gains)[None, :]).astype(np.int64)
    wfdb.wrsamp(
        path.name, fs=float(fs_hz), units=list(units), sig_name=list(names), d_signal=d.astype(np.int16),
        fmt=["16"] * x.shape[1], adc_gain=gains, baseline=[0] * x.shape[1], comments=list(comments),
        write_dir=str(path.parent),
    )
    return path


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


# --------------------------------------------------------------------------- gait


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
        f"{rec.path}.hea: required channel '{name}' not found (matched ignoring spaces and case); "
        f"channels found: {list(rec.channel_names)}"
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
            f"{rec.path}.hea: no sEMG channel (names starting with 'semg'); channels found: {list(rec.channel_names)}"
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


# --------------------------------------------------------------------------- muscle health


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
            f"{rec.path}.hea: a muscle-health record has exactly 1 channel, found {rec.emg.shape[1]}: "
            f"{list(rec.channel_names)}"
        )
    if math.isnan(rec.to_uv[0]):
        raise DataFormatError(
            f"{rec.path}.hea: channel '{rec.channel_names[0]}' has unit '{rec.units[0]}', expected a voltage "
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
