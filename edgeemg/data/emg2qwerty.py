"""emg2qwerty HDF5 sessions: read, write, and cut into labelled segments.

Layout (what the public dataset ships and :func:`write_emg2qwerty` writes)::

    /emg2qwerty                      group
        timeseries                   compound dataset, shape (T,), fields in this order:
            emg_right  <f4 (16,)     right wrist band, microvolts
            time       <f8           unix seconds, increasing
            emg_left   <f4 (16,)     left wrist band, microvolts
        attrs: session_name, user, condition, duration_mins,
               keystrokes (JSON list of {"key", "start", "end"}; pynput key names),
               prompts    (JSON list of {"name", "start", "end", "payload": {"text": ...} | null})

The reader converts to the package layout at this edge: ``emg`` is (T, 32)
float32, left band then right band. Unlike emg2qwerty's ``EMGSessionData``,
which keeps the timeseries on disk for DataLoader workers, the whole session is
loaded: a session is minutes long (a few tens of MB) and the board-side and
CPU training paths want plain arrays. Validation happens here, with errors that
name the file and what is wrong, instead of emg2qwerty's bare asserts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET, Charset, keystrokes_to_label
from edgeemg.errors import DataFormatError, InvalidInputError, require

logger = logging.getLogger(__name__)

GROUP = "emg2qwerty"
TIMESERIES = "timeseries"
CHANNELS_PER_BAND = 16
#: The on-disk compound dtype, field order as in the public dataset.
TIMESERIES_DTYPE = np.dtype(
    [("emg_right", "<f4", (CHANNELS_PER_BAND,)), ("time", "<f8"), ("emg_left", "<f4", (CHANNELS_PER_BAND,))]
)
META_ATTRS = ("session_name", "user", "condition", "duration_mins")
#: Channel names of the (T, 32) layout: left band first.
CHANNEL_NAMES: tuple[str, ...] = tuple(f"left{i:02d}" for i in range(16)) + tuple(f"right{i:02d}" for i in range(16))


@dataclass(frozen=True)
class Keystroke:
    """One key press as the emg2qwerty keylogger records it.

    ``key`` is a pynput name (``"a"``, ``"A"``, ``"Key.space"``), ``start`` the
    press and ``end`` the release, in the session's time base (unix seconds).
    """

    key: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Keystroke:
        return cls(key=str(d["key"]), start=float(d["start"]), end=float(d["end"]))


@dataclass(frozen=True)
class Prompt:
    """One prompt shown to the typist; ``payload`` is ``{"text": ...}`` or None."""

    name: str
    start: float
    end: float
    payload: Mapping[str, Any] | None

    @property
    def text(self) -> str | None:
        return None if self.payload is None else self.payload.get("text")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "payload": None if self.payload is None else dict(self.payload),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prompt:
        return cls(name=str(d["name"]), start=float(d["start"]), end=float(d["end"]), payload=d.get("payload"))


@dataclass(frozen=True)
class Emg2QwertySession:
    """A whole emg2qwerty session in memory.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, 32)
        Microvolts; channels 0-15 the left band, 16-31 the right band.
    fs : float
        Sampling rate in Hz, estimated from ``time`` (2000 Hz in the dataset).
    time : ndarray of float64, shape (n_samples,)
        Unix seconds of each sample, increasing.
    keystrokes : tuple of Keystroke
    prompts : tuple of Prompt
    meta : dict
        ``session_name``, ``user``, ``condition``, ``duration_mins``.
    path : Path or None
        The file it was read from.
    """

    emg: NDArray[np.float32]
    fs: float
    time: NDArray[np.float64]
    keystrokes: tuple[Keystroke, ...]
    prompts: tuple[Prompt, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def channel_names(self) -> tuple[str, ...]:
        return CHANNEL_NAMES

    def label(self, start_t: float = float("-inf"), end_t: float = float("inf")) -> str:
        """Keystroke label string (see :func:`~edgeemg.data.charset.keystrokes_to_label`) in a time window."""
        return keystrokes_to_label(self.keystrokes, start_t=start_t, end_t=end_t)[0]


@dataclass(frozen=True)
class LabelledSegment:
    """A piece of a session with its CTC target.

    ``emg`` is (n_samples, 32) float32; ``label`` the keystroke label string of
    the keys pressed inside ``[start, end)`` (unix seconds); ``key_times`` their
    press times; ``classes`` the class indices for CTC.
    """

    emg: NDArray[np.float32]
    label: str
    key_times: tuple[float, ...]
    start: float
    end: float
    classes: tuple[int, ...]


def _fail(path: Path | str, what: str) -> DataFormatError:
    return DataFormatError(f"{path}: {what}")


def _load_json_attr(path: Path, attrs: Any, name: str) -> list[dict[str, Any]]:
    if name not in attrs:
        raise _fail(path, f"group '{GROUP}' has no attribute '{name}' (expected a JSON string)")
    raw = attrs[name]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"attribute '{name}' is not valid JSON ({exc})") from None
    if not isinstance(value, list):
        raise _fail(path, f"attribute '{name}' must be a JSON list, got {type(value).__name__}")
    return value


def read_emg2qwerty(path: str | Path) -> Emg2QwertySession:
    """Read an emg2qwerty session file into memory.

    Parameters
    ----------
    path : str or Path
        An ``.hdf5`` session file in the layout of the module docstring.

    Returns
    -------
    Emg2QwertySession

    Raises
    ------
    DataFormatError
        The file is missing, truncated or not HDF5, lacks the group, the dataset, a
        field or an attribute, has a field of the wrong shape or dtype (a band
        without 16 channels), non-increasing time, or malformed keystrokes/prompts.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    h5py = require("h5py", "reading emg2qwerty HDF5 sessions")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _fail(path, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    with f:
        if GROUP not in f:
            raise _fail(path, f"missing group '{GROUP}' (found {sorted(f.keys())})")
        group = f[GROUP]
        if TIMESERIES not in group:
            raise _fail(path, f"missing dataset '{GROUP}/{TIMESERIES}' (found {sorted(group.keys())})")
        ds = group[TIMESERIES]
        fields = ds.dtype.fields or {}
        for name, (want_dtype, _) in TIMESERIES_DTYPE.fields.items():
            if name not in fields:
                raise _fail(path, f"'{GROUP}/{TIMESERIES}' has no field '{name}' (fields: {list(fields)})")
            got = fields[name][0]
            if got.shape != want_dtype.shape:
                raise _fail(
                    path,
                    f"field '{name}' has shape {got.shape}, expected {want_dtype.shape} "
                    f"({CHANNELS_PER_BAND} channels per band)",
                )
            if got.base.kind != "f":
                raise _fail(path, f"field '{name}' has dtype {got.base}, expected a float type")
        try:
            data = ds[()]
        except OSError as exc:
            raise _fail(path, f"cannot read '{GROUP}/{TIMESERIES}' (truncated file?): {exc}") from None
        attrs = dict(group.attrs)

    time = np.asarray(data["time"], dtype=np.float64)
    if time.size < 2:
        raise _fail(path, f"'{TIMESERIES}' holds {time.size} samples, expected at least 2")
    dt = np.diff(time)
    bad = np.flatnonzero(~(dt > 0))
    if bad.size:
        i = int(bad[0])
        raise _fail(path, f"field 'time' is not increasing: time[{i}]={time[i]!r} then time[{i + 1}]={time[i + 1]!r}")
    emg = np.concatenate([data["emg_left"], data["emg_right"]], axis=1).astype(np.float32, copy=False)
    # mean rate over the session: unix seconds in float64 resolve only ~0.2 us, so
    # a single sample interval (or their median) is quantised to ~0.01 % near 2 kHz
    fs = float(round((time.size - 1) / (time[-1] - time[0]), 6))

    meta: dict[str, Any] = {}
    for name in META_ATTRS:
        if name not in attrs:
            raise _fail(path, f"group '{GROUP}' has no attribute '{name}'")
        v = attrs[name]
        meta[name] = v.decode("utf-8") if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)
    try:
        keystrokes = tuple(Keystroke.from_dict(d) for d in _load_json_attr(path, attrs, "keystrokes"))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"attribute 'keystrokes': each item needs key/start/end ({exc!r})") from None
    try:
        prompts = tuple(Prompt.from_dict(d) for d in _load_json_attr(path, attrs, "prompts"))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"attribute 'prompts': each item needs name/start/end/payload ({exc!r})") from None
    logger.debug("read %s: %d samples at %.1f Hz, %d keystrokes", path, time.size, fs, len(keystrokes))
    return Emg2QwertySession(
        emg=emg, fs=fs, time=time, keystrokes=keystrokes, prompts=prompts, meta=meta, path=path
    )


def write_emg2qwerty(
    path: str | Path,
    emg: NDArray[np.floating],
    time: NDArray[np.floating],
    keystrokes: Sequence[Keystroke | Mapping[str, Any]],
    prompts: Sequence[Prompt | Mapping[str, Any]],
    meta: Mapping[str, Any],
) -> Path:
    """Write a session in emg2qwerty's layout (see the module docstring).

    Parameters
    ----------
    path : str or Path
        Output ``.hdf5`` file; its folder must exist. Overwritten if present.
    emg : ndarray, shape (n_samples, 32)
        Microvolts, left band (0-15) then right band (16-31); stored as float32.
    time : ndarray, shape (n_samples,)
        Unix seconds, strictly increasing.
    keystrokes, prompts : sequences of Keystroke/Prompt or their dict forms
    meta : mapping
        Must hold ``session_name``, ``user``, ``condition``, ``duration_mins``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        Wrong shapes, non-increasing time, or missing metadata; checked before
        anything is written.
    """
    path = Path(path)
    emg = np.asarray(emg)
    time = np.asarray(time, dtype=np.float64)
    if emg.ndim != 2 or emg.shape[1] != 2 * CHANNELS_PER_BAND:
        raise InvalidInputError(f"emg must be shaped (n_samples, 32) (left then right band), got {emg.shape}")
    if time.shape != (emg.shape[0],):
        raise InvalidInputError(f"time must be shaped ({emg.shape[0]},) to match emg, got {time.shape}")
    if time.size > 1 and not np.all(np.diff(time) > 0):
        raise InvalidInputError("time must be strictly increasing (unix seconds)")
    missing = [k for k in META_ATTRS if k not in meta]
    if missing:
        raise InvalidInputError(f"meta lacks {missing}; it needs {list(META_ATTRS)}")
    ks = [k.to_dict() if isinstance(k, Keystroke) else Keystroke.from_dict(k).to_dict() for k in keystrokes]
    ps = [p.to_dict() if isinstance(p, Prompt) else Prompt.from_dict(p).to_dict() for p in prompts]

    data = np.empty(emg.shape[0], dtype=TIMESERIES_DTYPE)
    data["emg_left"] = emg[:, :CHANNELS_PER_BAND]
    data["emg_right"] = emg[:, CHANNELS_PER_BAND:]
    data["time"] = time
    h5py = require("h5py", "writing emg2qwerty HDF5 sessions")
    with h5py.File(path, "w") as f:
        group = f.create_group(GROUP)
        group.create_dataset(TIMESERIES, data=data)
        for name in META_ATTRS:
            group.attrs[name] = meta[name]
        group.attrs["keystrokes"] = json.dumps(ks)
        group.attrs["prompts"] = json.dumps(ps)
    return path


def session_segments(
    session: Emg2QwertySession,
    window_s: float | None = None,
    *,
    hop_s: float | None = None,
    min_keys: int = 1,
    charset: Charset = CHARSET,
) -> list[LabelledSegment]:
    """Cut a session into (emg slice, keystroke label) pairs for CTC training.

    Parameters
    ----------
    session : Emg2QwertySession
    window_s : float or None
        Fixed window length in seconds; ``None`` cuts one segment per prompt
        (from the prompt's start to its end), the natural unit for sentence-level
        metrics such as SER.
    hop_s : float, optional
        Step between fixed windows; defaults to ``window_s`` (no overlap).
    min_keys : int
        Segments with fewer labelled keys are skipped (CTC needs a target).
    charset : Charset

    Returns
    -------
    list of LabelledSegment

    Notes
    -----
    Labels always come from the keystrokes, not the prompt text, as emg2qwerty
    does for ``on_keyboard`` sessions: they include typos, backspaces and shift,
    and they are what the muscles actually did. A key belongs to the window that
    holds its press time; its muscle burst starts tens of ms earlier, so with
    fixed windows a key at a window's edge may be split; windows with a hop
    shorter than the window limit that loss.
    """
    if window_s is not None and window_s <= 0:
        raise InvalidInputError(f"window_s must be > 0 or None (per prompt), got {window_s}")
    if hop_s is not None and hop_s <= 0:
        raise InvalidInputError(f"hop_s must be > 0, got {hop_s}")
    t = session.time
    if window_s is None:
        spans = [(p.start, p.end) for p in session.prompts]
    else:
        hop = window_s if hop_s is None else hop_s
        starts = np.arange(t[0], t[-1] - window_s + 1e-9, hop)
        spans = [(float(s), float(s + window_s)) for s in starts]
    out: list[LabelledSegment] = []
    for start, end in spans:
        label, times = keystrokes_to_label(session.keystrokes, start_t=start, end_t=end, charset=charset)
        # keystrokes_to_label includes end_t; windows here are half-open
        while times and times[-1] >= end and window_s is not None:
            times.pop()
            label = label[:-1]
        if len(label) < min_keys:
            continue
        i0, i1 = np.searchsorted(t, [start, end])
        out.append(
            LabelledSegment(
                emg=session.emg[i0:i1],
                label=label,
                key_times=tuple(times),
                start=start,
                end=end,
                classes=tuple(charset.str_to_labels(label)),
            )
        )
    return out
