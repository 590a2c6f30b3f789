"""edgeemg: surface-EMG decoders from a GPU to a wearable's edge board.

The public Python surface resolves lazily, so ``import edgeemg`` stays cheap on
a board and never loads torch::

    import edgeemg
    bundle = edgeemg.load_bundle("gait.int8/")        # verifies every file's sha256 and the manifest
    band = edgeemg.open_band("/dev/ttyACM0")          # or "brainflow:synthetic", "lsl:MyEMG", SimulatedBand(...)
    for event in edgeemg.stream(band, bundle):        # events carry .time, .latency_ms and the task's payload
        print(event)
    rec = edgeemg.data.read_emg2qwerty("session.hdf5")
"""

from __future__ import annotations

from edgeemg._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "open_band": "edgeemg.bridge",
    "SimulatedBand": "edgeemg.bridge",
    "EdgeEmgError": "edgeemg.errors",
    "load_bundle": "edgeemg.runtime.bundle",
    "Bundle": "edgeemg.runtime.bundle",
    "stream": "edgeemg.runtime",
}
_SUBMODULES = ("data", "dsp", "bridge", "runtime", "tasks", "export", "decompose")

__all__ = ["__version__", *sorted(_EXPORTS), *_SUBMODULES]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals(), _SUBMODULES)
