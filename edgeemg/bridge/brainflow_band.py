"""BrainFlow boards as bands: ``open_band("brainflow:BOARD[:PORT][?key=value&...]")``.

One adapter covers every board BrainFlow supports (OpenBCI Cyton/Daisy/Ganglion,
MindRove, Neurosity, g.tec Unicorn, gForce ...), plus its synthetic board
(``brainflow:synthetic``: channel *i* a sine at 5·(i+1) Hz plus noise) and its
playback board (``brainflow:playback?file=REC.csv&master_board=cyton``), which
replays a file written by ``DataFilter.write_file`` at the master board's rate.

What BrainFlow gives, and what this adapter makes of it:

* ``get_board_data()`` drains BrainFlow's ring buffer as one float64 table,
  rows = channels, columns = samples. The EMG rows (``get_emg_channels``, else
  the EXG rows) are the signal; BrainFlow already scales them to microvolts
  ("For EXG channels BrainFlow returns uV wherever possible", its Data Format
  Description), so they are only cast to float32 and transposed into the
  package's ``(n_samples, n_channels)`` layout.
* Gaps come from the package counter row (``get_package_num_channel``; 0-255
  on OpenBCI boards and the synthetic board): a counter step other than 1
  means lost samples. A counter that wraps cannot tell 3 lost samples from
  259, so the timestamp row (host UNIX time when BrainFlow parsed the sample)
  picks the multiple of the modulus; the count itself stays the counter's.
* Device time is that unwrapped sample count at the nominal rate, starting at
  the first sample's BrainFlow timestamp: a sample clock, as on the wire, that
  the band's :class:`~edgeemg.bridge.clock.ClockMapper` maps onto host time.
* Arrival (for latency) is the BrainFlow timestamp of a block's last sample on
  the monotonic clock: latency then includes BrainFlow's buffering and this
  adapter's polling, which is what a user of the board really waits.

OpenBCI Cyton: ``brainflow:cyton:/dev/ttyUSB0`` replaces the hand-written
adapter (:mod:`edgeemg.bridge.openbci`) for live use: BrainFlow also handles
the Daisy, the WiFi shield, gain settings sent with ``config_board`` and the
board's start/stop commands. The hand-written decoder stays for the tests of
the Cyton byte format and for installs without the ``devices`` extra.
"""

from __future__ import annotations

import difflib
import logging
import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.frames import DeviceInfo, Frame
from edgeemg.bridge.polled import PolledBand, onto_monotonic, pick_channels
from edgeemg.bridge.protocol import FrameType
from edgeemg.errors import DataFormatError, DeviceError, InvalidInputError, require

log = logging.getLogger(__name__)

#: BrainFlowInputParams fields a source string may set (``?serial_port=...&timeout=5``).
PARAM_FIELDS = ("serial_port", "mac_address", "ip_address", "ip_port", "ip_protocol", "other_info", "timeout",
                "serial_number", "file", "master_board")
_INT_FIELDS = ("ip_port", "ip_protocol", "timeout")
#: The playback and streaming boards take a file or address instead of a port; PORT fills this field.
_PORT_FIELD = {"PLAYBACK_FILE_BOARD": "file", "STREAMING_BOARD": "ip_address"}
#: Board name aliases (BrainFlow's enum names without the ``_BOARD`` suffix work too).
_ALIASES = {"synthetic": "SYNTHETIC_BOARD", "playback": "PLAYBACK_FILE_BOARD", "streaming": "STREAMING_BOARD"}


def _brainflow():
    with warnings.catch_warnings():
        # brainflow 5.x finds its library through pkg_resources when it first loads it, and setuptools warns
        # about that: a line on stderr that says nothing about the band. Load it here, with that one warning off.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        shim = require("brainflow.board_shim", "the brainflow: band source")
        loader = getattr(shim, "BoardControllerDLL", None)
        try:
            if loader is not None:
                loader.get_instance()
        except OSError as exc:  # the wheel's libraries are for other machines (or missing)
            raise DeviceError(
                f"brainflow is installed but its library does not load on this machine ({platform.system()} "
                f"{platform.machine()}: {str(exc).strip().splitlines()[0]}); the brainflow wheel on PyPI carries "
                "x86-64 Linux, macOS and Windows libraries: on an arm64 board build BrainFlow from source "
                "(brainflow.readthedocs.io, compilation), or read the band over LSL (lsl:NAME) from a machine "
                "where BrainFlow runs") from exc
        return shim


def board_id(name: str | int) -> int:
    """BrainFlow board id from an id or a name (``cyton``, ``CYTON_DAISY_BOARD``, ``synthetic``, ``-1``)."""
    ids = _brainflow().BoardIds
    if isinstance(name, int) or str(name).lstrip("-").isdigit():
        try:
            return int(ids(int(name)))
        except ValueError:
            raise InvalidInputError(f"brainflow: unknown board id {name}") from None
    key = _ALIASES.get(str(name).lower(), str(name).upper())
    for cand in (key, f"{key}_BOARD"):
        if cand in ids.__members__:
            return int(ids[cand])
    near = difflib.get_close_matches(f"{key}_BOARD", list(ids.__members__), n=3)
    raise InvalidInputError(f"brainflow: unknown board '{name}'" + (f"; did you mean {near}?" if near else
                            "; names are BrainFlow's BoardIds (e.g. cyton, cyton_daisy, synthetic, playback)"))


def parse_source(spec: str) -> tuple[int, dict[str, str | int], dict[str, str]]:
    """``BOARD[:PORT][?k=v&...]`` -> (board id, BrainFlowInputParams fields, options: ``channels``).

    Raises
    ------
    InvalidInputError
        Unknown board or parameter (with close matches), or a non-integer for an integer field.
    """
    head, _, query = spec.partition("?")
    board, _, port = head.partition(":")
    bid = board_id(board)
    name = _brainflow().BoardIds(bid).name
    fields: dict[str, str | int] = {}
    if port:
        fields[_PORT_FIELD.get(name, "serial_port")] = port
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key == "channels":
            options[key] = value
        elif key in PARAM_FIELDS:
            fields[key] = value
        else:
            near = difflib.get_close_matches(key, [*PARAM_FIELDS, "channels"], n=2)
            raise InvalidInputError(f"brainflow:{spec}: unknown parameter '{key}'"
                                    + (f"; did you mean {near}?" if near else f"; known: {[*PARAM_FIELDS, 'channels']}"))
    for key in _INT_FIELDS:
        if key in fields:
            try:
                fields[key] = int(fields[key])
            except ValueError:
                raise InvalidInputError(f"brainflow:{spec}: {key} must be an integer, got {fields[key]!r}") from None
    if "master_board" in fields:
        fields["master_board"] = board_id(fields["master_board"])
    return bid, fields, options


def split_runs(counter: NDArray[np.int64], stamps_s: NDArray[np.float64], fs_hz: float, modulus: int,
               prev: tuple[int, float] | None) -> NDArray[np.int64]:
    """Samples lost before each sample, from the package counter, disambiguated by timestamps.

    ``prev`` is the (counter, timestamp) of the sample before ``counter[0]``
    (None at the start: nothing can be lost before the first sample). A step
    of 0 is a full counter turn. Of the candidate counts ``step - 1 + k *
    modulus`` the one nearest the timestamps' estimate is taken.
    """
    if prev is None:
        c = np.concatenate([[counter[0] - 1], counter])
        t = np.concatenate([[stamps_s[0] - 1.0 / fs_hz], stamps_s])
    else:
        c = np.concatenate([[prev[0]], counter])
        t = np.concatenate([[prev[1]], stamps_s])
    step = np.diff(c) % modulus
    lost = np.where(step == 0, modulus, step) - 1
    est = np.round(np.diff(t) * fs_hz) - 1
    turns = np.maximum(np.round((est - lost) / modulus), 0).astype(np.int64)
    return lost + turns * modulus


class BrainFlowBand(PolledBand):
    """A BrainFlow board behind the band interface (see the module docstring).

    Parameters
    ----------
    board : str or int
        BrainFlow board name or id.
    params : dict, optional
        ``BrainFlowInputParams`` fields (``serial_port``, ``mac_address``, ``file``, ``master_board`` ...).
    channels : sequence of str or int, optional
        Which EMG channels to deliver, in this order: names (BrainFlow's
        electrode names where it has them, else ``emg1`` ...) or 0-based
        positions. Default: all of them in board order.
    counter_modulus : int
        Where the package counter wraps (256 on OpenBCI and synthetic boards).
    buffer_samples : int
        Size of BrainFlow's ring buffer (``start_stream``); at 250 Hz the default holds 3 minutes.
    """

    def __init__(self, board: str | int, params: dict | None = None, *, channels: Sequence[int | str] | None = None,
                 counter_modulus: int = 256, buffer_samples: int = 45000, name: str | None = None,
                 **kwargs) -> None:
        bs = _brainflow()
        self.board_id = board_id(board)
        super().__init__(name or f"brainflow:{bs.BoardIds(self.board_id).name.lower()}", **kwargs)
        self.params = dict(params or {})
        unknown = sorted(set(self.params) - set(PARAM_FIELDS))
        if unknown:
            raise InvalidInputError(f"{self.name}: unknown BrainFlowInputParams fields {unknown}; known: {PARAM_FIELDS}")
        self.counter_modulus = int(counter_modulus)
        self.buffer_samples = int(buffer_samples)
        self._layout_id = int(self.params.get("master_board", self.board_id))
        if self.board_id == int(bs.BoardIds.PLAYBACK_FILE_BOARD):
            self._check_playback_params()
        d = bs.BoardShim.get_board_descr(self._layout_id)
        rows = d.get("emg_channels") or d.get("eeg_channels") or d.get("ecg_channels") or []
        if not rows:
            raise DeviceError(f"{self.name}: BrainFlow lists no EMG/EXG channels for this board: {d.get('name')}")
        names = str(d.get("eeg_names", "")).split(",") if d.get("eeg_names") else []
        all_names = names if len(names) == len(rows) else [f"emg{i + 1}" for i in range(len(rows))]
        sel = pick_channels(all_names, channels, self.name)
        self._rows = [rows[i] for i in sel]
        self.channel_names = tuple(all_names[i] for i in sel)
        self.fs_hz = float(d["sampling_rate"])
        self._counter_row = d.get("package_num_channel")
        self._ts_row = d["timestamp_channel"]
        self._board_name = str(d.get("name", bs.BoardIds(self._layout_id).name))
        self._shim = None
        self._prev: tuple[int, float] | None = None  # counter, timestamp of the last sample seen
        self._count = 0  # unwrapped sample count (lost ones included) since the first sample
        self._t0_us: int | None = None
        self._file_rows: int | None = None

    def _check_playback_params(self) -> None:
        """The playback board's file and layout, checked here (BrainFlow says "unable to prepare streaming session")."""
        if "master_board" not in self.params:
            raise InvalidInputError(f"{self.name}: the playback board needs master_board=BOARD (the layout the "
                                    "file was recorded with), e.g. brainflow:playback:rec.csv?master_board=cyton")
        path = Path(str(self.params.get("file", "")))
        if not path.is_file():
            raise DataFormatError(f"{self.name}: playback file '{path}' does not exist; give the file BrainFlow's "
                                  "DataFilter.write_file wrote, e.g. brainflow:playback:rec.csv?master_board=cyton")

    def _connect(self) -> DeviceInfo:
        bs = _brainflow()
        p = bs.BrainFlowInputParams()
        for key, value in self.params.items():
            setattr(p, key, value)
        bs.BoardShim.disable_board_logger()
        shim = bs.BoardShim(self.board_id, p)
        try:
            shim.prepare_session()
            shim.start_stream(self.buffer_samples)
        except bs.BrainFlowError as exc:
            try:
                shim.release_session()
            except bs.BrainFlowError:
                pass
            raise DeviceError(f"{self.name}: BrainFlow could not open the board ({exc}); check the port or "
                              f"address ({self.params}) and that no other program "
                              "holds the board") from exc
        self._shim = shim
        if self.params.get("file") and self.board_id == int(bs.BoardIds.PLAYBACK_FILE_BOARD):
            with open(self.params["file"], "rb") as f:
                self._file_rows = sum(1 for line in f if line.strip())
        return DeviceInfo(self.fs_hz, len(self._rows), f"{self._board_name}:{','.join(self.channel_names)}",
                          f"brainflow {bs.BoardShim.get_version()}", 0, "float64", 1.0)

    def _poll(self) -> list[tuple[Frame, float]]:
        data = self._shim.get_board_data()
        n = data.shape[1]
        if n == 0:
            if self._file_rows is not None and self._count - self.lost_samples >= self._file_rows:
                self.exhausted = True
            return []
        stamps = data[self._ts_row]
        if self._counter_row is not None:
            counter = np.rint(data[self._counter_row]).astype(np.int64)
            lost = split_runs(counter, stamps, self.fs_hz, self.counter_modulus, self._prev)
            self._prev = (int(counter[-1]), float(stamps[-1]))
        else:
            lost = np.zeros(n, np.int64)
        if self._t0_us is None:
            self._t0_us = int(round(stamps[0] * 1e6))
        x = np.ascontiguousarray(data[self._rows].T, dtype=np.float32)  # µV already (BrainFlow's convention)
        index = self._count + np.cumsum(lost + 1) - 1  # unwrapped sample number of each column
        self._count = int(index[-1]) + 1
        self.lost_samples += int(lost.sum())
        arrival = onto_monotonic(stamps, time.time)
        starts = [0, *np.flatnonzero(lost[1:]) + 1]
        out = []
        for a, b in zip(starts, [*starts[1:], n]):
            ts_us = self._t0_us + int(round(index[a] * 1e6 / self.fs_hz))
            seq = int(counter[a]) if self._counter_row is not None else int(index[a])
            out.append((Frame(FrameType.DATA, seq, ts_us, x[a:b], int(lost[a])), float(arrival[b - 1])))
        return out

    def _disconnect(self) -> None:
        bs = _brainflow()
        shim, self._shim = self._shim, None
        if shim is None:
            return
        for step in (shim.stop_stream, shim.release_session):
            try:
                step()
            except bs.BrainFlowError as exc:
                log.debug("%s: %s failed on close: %s", self.name, step.__name__, exc)


def open_brainflow(spec: str, *, channels: Sequence[int | str] | None = None, **kwargs) -> BrainFlowBand:
    """Open ``BOARD[:PORT][?k=v&...]`` (the part after ``brainflow:``); ``channels=`` in the string or as keyword."""
    bid, fields, options = parse_source(spec)
    if channels is None and "channels" in options:
        channels = [c.strip() for c in options["channels"].split(",") if c.strip()]
    return BrainFlowBand(bid, fields, channels=channels, name=f"brainflow:{spec}", **kwargs).open()


__all__ = ["BrainFlowBand", "board_id", "open_brainflow", "parse_source", "split_runs"]
