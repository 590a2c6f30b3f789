"""Typing sessions as the keystroke workflow needs them: spectra, key frames, prompt spans (numpy only).

Real emg2qwerty files and simulated sessions go through one path: both carry
``emg`` (n_samples, 32), ``time`` (unix s), ``keystrokes`` and ``prompts`` in
emg2qwerty's form; :func:`prepare_session` turns either into model input and
frame-indexed labels once, so training crops and evaluation never touch raw EMG
again.

Segments are *prompts*: a prompt spans from its start to the next prompt's
start, so every keystroke of a session belongs to exactly one segment and the
pauses while the typist reads are where segments meet (a key's muscle burst and
the model's emission a few frames later stay inside its segment). A session
without prompts is one segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET
from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.tasks.keystroke import spec

if TYPE_CHECKING:
    from edgeemg.data.emg2qwerty import Emg2QwertySession

SESSION_SUFFIXES = (".hdf5", ".h5", ".xdf")


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` of a session and the keys pressed in them (class indices)."""

    start: int
    end: int
    classes: tuple[int, ...]
    key_frames: tuple[int, ...]

    @property
    def label(self) -> str:
        return CHARSET.labels_to_str(self.classes)


@dataclass(frozen=True)
class PreparedSession:
    """One session ready for the model.

    Attributes
    ----------
    x : ndarray of float32, shape (n_frames, 2, 16, 33)
        Model input (log-spectra, :func:`spec.model_input`).
    key_frames : ndarray of int64, shape (n_keys,)
        Frame at which each in-vocabulary key press completes a frame.
    key_classes : ndarray of int64, shape (n_keys,)
    segments : tuple of Segment
    name, user : str
    bursts_end_s : ndarray of float64 or None
        Simulated sessions: end of each key's press burst (s from start), same order as keys.
    prompt_texts : tuple of str
        The text of every prompt shown (what a test split must keep apart from training).
    """

    x: NDArray[np.float32]
    key_frames: NDArray[np.int64]
    key_classes: NDArray[np.int64]
    segments: tuple[Segment, ...]
    name: str
    user: str
    bursts_end_s: NDArray[np.float64] | None = None
    prompt_texts: tuple[str, ...] = ()


def prepare_session(emg: NDArray[np.float32], time: NDArray[np.float64], keystrokes: Any, prompts: Any, *,
                    fs_hz: float, name: str, user: str, bursts: Any = None) -> PreparedSession:
    """Features, key frames and prompt segments of one session (see the module docstring)."""
    x = spec.model_input(spec.features(emg, fs_hz=fs_hz))  # (T, 2, 16, 33)
    t0 = float(time[0])
    classes, press_s = [], []
    for ks in keystrokes:
        key = CHARSET.normalize_key(ks.key)
        if key in CHARSET:
            classes.append(CHARSET.key_to_class(key))
            press_s.append(ks.start - t0)
    key_frames = spec.time_to_frame(np.asarray(press_s, dtype=np.float64)).astype(np.int64)
    key_classes = np.asarray(classes, dtype=np.int64)
    n = x.shape[0]
    starts = sorted({int(spec.time_to_frame(p.start - t0)) for p in prompts}) or [0]
    starts[0] = 0
    bounds = [*starts, n]
    segments = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        m = (key_frames >= a) & (key_frames < b)
        if m.any() and b > a:
            segments.append(Segment(a, min(b, n), tuple(int(c) for c in key_classes[m]),
                                    tuple(int(f) for f in key_frames[m])))
    ends = None
    if bursts:
        ends = np.asarray([b.end_s for b in sorted(bursts, key=lambda b: b.press_s)
                           if CHARSET.normalize_key(b.key) in CHARSET], dtype=np.float64)
        if ends.shape[0] != key_classes.shape[0]:
            ends = None
    texts = tuple(p.text for p in prompts if p.text)
    return PreparedSession(x, key_frames, key_classes, tuple(segments), name, user, ends, texts)


def simulated_sessions(user_seed: int, sessions: range | list[int], seconds: float, *, text: str,
                       snr_db: float | None = None, progress: bool = False) -> list[PreparedSession]:
    """Sessions ``sessions`` of simulated user ``user_seed``, prepared, typing prompts of corpus split ``text``.

    ``text`` has no default: which sentences a session types decides whether a
    score leaks (:mod:`.protocol` says which split each role uses).
    """
    from tqdm import tqdm

    from edgeemg.data.sim_keystroke import simulate_keystroke

    out = []
    for s in tqdm(list(sessions), desc=f"simulate typing (user {user_seed})", unit="session", disable=not progress):
        sim = simulate_keystroke(seconds, seed=user_seed, session=int(s), snr_db=snr_db, text=text)
        out.append(prepare_session(sim.emg, sim.time, sim.keystrokes, sim.prompts, fs_hz=sim.fs_hz,
                                   name=sim.meta["session_name"], user=sim.meta["user"], bursts=sim.bursts))
    return out


def find_session_files(paths: list[Path]) -> list[Path]:
    """Session files (emg2qwerty ``.hdf5``/``.h5``, LabRecorder ``.xdf``), given or found (sorted) in folders."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in SESSION_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise DataFormatError(f"{p}: no such file or folder")
    if not files:
        raise InvalidInputError(f"keystroke: no session files ({', '.join(SESSION_SUFFIXES)}) under "
                                f"{[str(p) for p in paths]}")
    return files


def read_session_file(path: Path) -> Emg2QwertySession:
    """An emg2qwerty session file, or an XDF file with its key and prompt marker streams
    (:mod:`edgeemg.data.xdf_labels` says which streams and payloads)."""
    if Path(path).suffix.lower() == ".xdf":
        from edgeemg.data.xdf_labels import read_xdf_keystroke

        return read_xdf_keystroke(path)
    from edgeemg.data.emg2qwerty import read_emg2qwerty

    return read_emg2qwerty(path)


def read_sessions(paths: list[Path], *, progress: bool = False) -> list[PreparedSession]:
    """Session files (or folders of them), prepared through the same path as simulated ones."""
    from tqdm import tqdm

    out = []
    for f in tqdm(find_session_files(paths), desc="read sessions", unit="file", disable=not progress):
        s = read_session_file(f)
        if abs(s.fs - spec.FS_HZ) > 1.0:  # named here: the features' own check cannot say which file
            raise DataFormatError(f"{f}: the session samples at {s.fs:g} Hz; the keystroke models need "
                                  f"{spec.FS_HZ:g} Hz (emg2qwerty's rate): resample it or record at that rate")
        out.append(prepare_session(s.emg, s.time, s.keystrokes, s.prompts, fs_hz=s.fs,
                                   name=str(s.meta.get("session_name", f.stem)), user=str(s.meta.get("user", ""))))
    return out


__all__ = ["SESSION_SUFFIXES", "PreparedSession", "Segment", "find_session_files", "prepare_session",
           "read_session_file", "read_sessions", "simulated_sessions"]
