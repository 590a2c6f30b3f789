"""Task labels from XDF marker streams: key presses and prompts (keystroke), discharges (motor units).

A LabRecorder file holds the amplifier's EMG stream next to whatever else was
streamed while it recorded. What the two sequence tasks need as labels, and
which marker streams carry it:

Keystroke (:func:`read_xdf_keystroke`)
    EMG: one numeric stream (name or type ``EMG``) of 32 channels at 2 kHz,
    left band (0-15) then right band (16-31), emg2qwerty's layout.

    Keys: a string stream named (else typed) ``Keyboard``, one marker per key
    event, ``"<KEY> pressed"`` or ``"<KEY> released"``. This is the payload of
    LSL's own keyboard app (labstreaminglayer/App-Input: stream ``Keyboard``,
    type ``Markers``, KEY a Windows virtual-key name such as ``A``, ``SPACE``,
    ``BACK``, ``RETURN``, ``LSHIFT``, ``COMMA``, ``US_QUOTE``), and also of
    pynput-based keyloggers that publish pynput names (``a``, ``A``, ``!``,
    ``Key.space``, ``Key.shift``), which is what emg2qwerty's keylogger
    stores. Virtual-key names name a physical key, not a character, so they
    are mapped to characters through the US layout with the shift state the
    stream itself shows (a ``SHIFT``/``LSHIFT``/``RSHIFT``/``Key.shift`` press
    held down); caps lock is not tracked. Every press marker is a key press
    (auto-repeats too, as emg2qwerty's keylogger records them); it lasts until
    the next release of the same KEY (0 s when none follows).

    Prompts (optional): a string stream named (else typed) ``Prompts``, one
    marker per prompt shown, its text as the payload; a prompt lasts until the
    next one (or the end of the EMG); an empty marker is a prompt without text
    (a pause, emg2qwerty's ``payload: null``). Without it the session is one segment.

Motor units (:func:`read_xdf_motor_units`)
    EMG: the grid as one numeric stream (name or type ``EMG``), any channel
    count; the channel labels of ``desc/channels`` name the electrodes.

    Discharges (optional): a string stream named (else typed) ``MotorUnits``,
    one marker ``"MU <id>"`` per discharge at its time. Live acquisition does
    not produce discharge truth (it comes from an offline decomposition such as
    DEMUSE, whose ``.mat`` files the motor-units task reads directly), so a
    plain LabRecorder file has none: it trains on the teacher's labels and is
    scored against the teacher, as a DEMUSE file without ``MUPulses`` is.

Timestamps are pyxdf's (clock offsets applied, jitter removed), so markers
recorded on another machine land on the EMG's time line; a discharge lands on
the EMG sample nearest its timestamp.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.emg2qwerty import CHANNELS_PER_BAND, Emg2QwertySession, Keystroke, Prompt
from edgeemg.data.xdf_io import DEFAULT_STREAM, XdfMarkers, XdfSignal, read_xdf_streams
from edgeemg.errors import DataFormatError

KEYS_STREAM = "Keyboard"
PROMPTS_STREAM = "Prompts"
UNITS_STREAM = "MotorUnits"
_PRESSED, _RELEASED = "pressed", "released"
_SHIFT_KEYS = frozenset({"SHIFT", "LSHIFT", "RSHIFT", "Key.shift", "Key.shift_l", "Key.shift_r"})
# App-Input (Windows virtual-key) names -> pynput names, US layout: (unshifted, shifted)
_VK_SPECIAL = {"SPACE": "Key.space", "BACK": "Key.backspace", "RETURN": "Key.enter", "SHIFT": "Key.shift",
               "LSHIFT": "Key.shift", "RSHIFT": "Key.shift_r", "TAB": "Key.tab", "CONTROL": "Key.ctrl",
               "LCONTROL": "Key.ctrl_l", "RCONTROL": "Key.ctrl_r", "ESCAPE": "Key.esc", "DELETE": "Key.delete"}
_VK_PUNCT = {"US_SEMICOLON": (";", ":"), "PLUS": ("=", "+"), "COMMA": (",", "<"), "MINUS": ("-", "_"),
             "PERIOD": (".", ">"), "US_SLASH": ("/", "?"), "US_TILDE": ("`", "~"),
             "US_SQUARE_BRACKET_OPEN": ("[", "{"), "US_BACKSLASH": ("\\", "|"),
             "US_SQUARE_BRACKET_CLOSE": ("]", "}"), "US_QUOTE": ("'", '"')}
_VK_DIGITS = dict(zip("1234567890", "!@#$%^&*()"))
_MU_MARKER = re.compile(r"^\s*MU\s+(\d+)\s*$", re.IGNORECASE)


def _pynput_name(key: str, shift: bool) -> str:
    """The pynput name of a key event's KEY: App-Input virtual-key names mapped (US layout), pynput names kept."""
    if key in _VK_SPECIAL:
        return _VK_SPECIAL[key]
    if key in _VK_PUNCT:
        return _VK_PUNCT[key][shift]
    if len(key) == 1 and "A" <= key <= "Z":  # App-Input letter; a pynput "A" is a shifted "a" either way
        return key if shift else key.lower()
    if key in _VK_DIGITS:
        return _VK_DIGITS[key] if shift else key
    return key


def _split_event(value: str, where: str, i: int) -> tuple[str, bool]:
    key, _, action = value.rstrip().rpartition(" ")
    if not key or action not in (_PRESSED, _RELEASED):
        raise DataFormatError(
            f"{where}: marker {i} is {value!r}, expected '<KEY> pressed' or '<KEY> released' "
            "(LSL's keyboard app, labstreaminglayer/App-Input)")
    return key, action == _PRESSED


def keystrokes_from_markers(markers: XdfMarkers, where: str = "key stream") -> tuple[Keystroke, ...]:
    """Key presses (pynput names, press and release times in LSL s) from ``"<KEY> pressed|released"`` markers.

    Every press marker is a key press, auto-repeats included (emg2qwerty's
    keylogger records them too); a release ends the earliest open press of the
    same KEY (letters compared without case, since a pynput logger may name
    the release ``a`` after pressing ``A``); a press never released lasts 0 s.
    """
    order = np.argsort(markers.stamps, kind="stable")
    shift_down: set[str] = set()
    open_presses: dict[str, list[tuple[str, float]]] = {}  # KEY identity -> [(pynput name, press time)]
    done: list[Keystroke] = []
    for i in order:
        key, pressed = _split_event(markers.values[i], where, int(i))
        ident, t = key.lower() if len(key) == 1 else key, float(markers.stamps[i])
        if pressed:
            open_presses.setdefault(ident, []).append((_pynput_name(key, bool(shift_down - {key})), t))
            if key in _SHIFT_KEYS:
                shift_down.add(key)
            continue
        shift_down.discard(key)
        if open_presses.get(ident):
            name, t0 = open_presses[ident].pop(0)
            done.append(Keystroke(name, t0, t))
    done += [Keystroke(name, t0, t0) for presses in open_presses.values() for name, t0 in presses]
    return tuple(sorted(done, key=lambda k: k.start))


def prompts_from_markers(markers: XdfMarkers | None, end_s: float) -> tuple[Prompt, ...]:
    """One prompt per marker, lasting until the next one (or ``end_s``); an empty marker is a prompt without text."""
    if markers is None:
        return ()
    order = np.argsort(markers.stamps, kind="stable")
    starts = [float(markers.stamps[i]) for i in order]
    ends = [*starts[1:], end_s]
    return tuple(Prompt(f"prompt{k}", starts[k], ends[k], {"text": markers.values[i]} if markers.values[i] else None)
                 for k, i in enumerate(order))


def _require_markers(sig: XdfSignal, key: str, what: str) -> XdfMarkers:
    m = sig.marker_stream(key)
    if m is None:
        raise DataFormatError(
            f"{sig.path}: no marker stream named or typed '{key}' ({what}); the file's marker streams: "
            f"{sig.describe_markers()}")
    return m


def _user(path: pathlib.Path) -> str:
    """The subject of a BIDS-style LabRecorder file name (``sub-P001_ses-S001_...``), else the file stem."""
    m = re.search(r"sub-([A-Za-z0-9]+)", path.stem)
    return m.group(1) if m else path.stem


def read_xdf_keystroke(path: str | pathlib.Path, *, stream: str = DEFAULT_STREAM) -> Emg2QwertySession:
    """A typing session from an XDF file: the EMG stream, key presses and prompts from marker streams.

    See the module docstring for the streams and their payloads. The result is
    what :func:`edgeemg.data.emg2qwerty.read_emg2qwerty` returns, with
    ``time`` and key times in LSL seconds instead of unix seconds (only
    differences are used).

    Raises
    ------
    DataFormatError
        No EMG stream, one without 32 channels, no ``Keyboard`` marker stream,
        or a key marker that is not ``"<KEY> pressed|released"``.
    """
    sig = read_xdf_streams(path, stream)
    want = 2 * CHANNELS_PER_BAND
    if sig.x.shape[1] != want:
        raise DataFormatError(
            f"{sig.path}: stream '{sig.name}' has {sig.x.shape[1]} channels, a typing session needs {want} "
            f"(left band 0-{CHANNELS_PER_BAND - 1}, then right band {CHANNELS_PER_BAND}-{want - 1})")
    keys = _require_markers(sig, KEYS_STREAM, "key presses as '<KEY> pressed' / '<KEY> released'")
    end_s = float(sig.stamps[-1]) if len(sig.stamps) else 0.0
    meta = {"session_name": sig.path.stem, "user": _user(sig.path), "condition": "xdf",
            "duration_mins": (end_s - float(sig.stamps[0])) / 60.0 if len(sig.stamps) else 0.0}
    return Emg2QwertySession(
        emg=sig.x, fs=sig.fs_hz, time=sig.stamps,
        keystrokes=keystrokes_from_markers(keys, f"{sig.path}: '{keys.name}'"),
        prompts=prompts_from_markers(sig.marker_stream(PROMPTS_STREAM), end_s), meta=meta, path=sig.path,
    )


@dataclass(frozen=True, eq=False)
class XdfMotorUnits:
    """An HD-EMG grid recording from XDF, with discharge truth where a ``MotorUnits`` stream carries it.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels), microvolts
    fs_hz : float
    channel_names : tuple of str
    discharges : tuple of ndarray of int64 or None
        0-based discharge samples per unit, units in ``unit_ids`` order; None without a ``MotorUnits`` stream.
    unit_ids : tuple of int
        The ``<id>`` of each unit's ``"MU <id>"`` markers, ascending.
    path : pathlib.Path
    """

    emg: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    discharges: tuple[NDArray[np.int64], ...] | None
    unit_ids: tuple[int, ...]
    path: pathlib.Path


def read_xdf_motor_units(path: str | pathlib.Path, *, stream: str = DEFAULT_STREAM) -> XdfMotorUnits:
    """An HD-EMG recording from an XDF file, discharges from a ``MotorUnits`` marker stream (``"MU <id>"``) if any.

    Raises
    ------
    DataFormatError
        No EMG stream, or a ``MotorUnits`` marker that is not ``"MU <id>"``.
    """
    sig = read_xdf_streams(path, stream)
    units = sig.marker_stream(UNITS_STREAM)
    if units is None:
        return XdfMotorUnits(sig.x, sig.fs_hz, sig.channel_names, None, (), sig.path)
    ids = []
    for i, v in enumerate(units.values):
        m = _MU_MARKER.match(v)
        if m is None:
            raise DataFormatError(f"{sig.path}: '{units.name}' marker {i} is {v!r}, expected 'MU <id>' "
                                  "(one marker per discharge of unit <id>, an integer)")
        ids.append(int(m.group(1)))
    ids_a, samples = np.asarray(ids, dtype=np.int64), sig.nearest_samples(units.stamps)
    unit_ids = tuple(int(u) for u in np.unique(ids_a))
    discharges = tuple(np.unique(samples[ids_a == u]) for u in unit_ids)
    return XdfMotorUnits(sig.x, sig.fs_hz, sig.channel_names, discharges, unit_ids, sig.path)


__all__ = ["KEYS_STREAM", "PROMPTS_STREAM", "UNITS_STREAM", "XdfMotorUnits", "keystrokes_from_markers",
           "prompts_from_markers", "read_xdf_keystroke", "read_xdf_motor_units"]
