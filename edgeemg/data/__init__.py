"""Readers for the public formats and the simulators with ground truth (no torch).

Names resolve lazily, so importing ``edgeemg.data`` (as the board-side runtime
does) loads neither h5py nor wfdb until a reader is used::

    rec = edgeemg.data.read_emg2qwerty("session.hdf5")   # .emg (T, 32), .fs, .time, .keystrokes, .prompts
    rec = edgeemg.data.read_wfdb("S01")                   # PhysioNet records through the wfdb package
    rec = edgeemg.data.read_xdf("session.xdf", stream="EMG")  # LabRecorder files through pyxdf
    ses = edgeemg.data.read_xdf_keystroke("typing.xdf")   # + key presses from a "Keyboard" marker stream
"""

from __future__ import annotations

from edgeemg._lazy import lazy_getattr

_EXPORTS = {
    # shared containers
    "BandSignal": "edgeemg.data.recording",
    "TruthEvent": "edgeemg.data.recording",
    "band_signal": "edgeemg.data.bands",
    "simulate_to_path": "edgeemg.data.simulate",
    # public formats
    "read_emg2qwerty": "edgeemg.data.emg2qwerty",
    "write_emg2qwerty": "edgeemg.data.emg2qwerty",
    "read_wfdb": "edgeemg.data.wfdb_io",
    "read_gait_record": "edgeemg.data.gait_record",
    "read_muscle_record": "edgeemg.data.muscle_record",
    "find_records": "edgeemg.data.wfdb_io",
    "read_xdf": "edgeemg.data.xdf_io",
    "read_xdf_keystroke": "edgeemg.data.xdf_labels",
    "read_xdf_motor_units": "edgeemg.data.xdf_labels",
    "read_demuse": "edgeemg.data.demuse",
    "write_demuse": "edgeemg.data.demuse",
    "CHARSET": "edgeemg.data.charset",
    # simulators
    "simulate_keystroke": "edgeemg.data.sim_keystroke",
    "simulate_gait": "edgeemg.data.sim_gait",
    "simulate_muscle": "edgeemg.data.sim_muscle",
    "simulate_motor_units": "edgeemg.data.sim_motor_units",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
