"""edgeemg.runtime: the on-device side (no torch). Bundle loading, the streaming engine, backends, daemon, bench.

Names resolve lazily, so ``import edgeemg.runtime`` costs nothing until one is
used (a board verifying a bundle loads only the standard library)::

    from edgeemg.runtime import load_bundle, stream
    for event in stream(band, load_bundle("gait.int8")):
        print(event.to_dict())
"""

from __future__ import annotations

from edgeemg._lazy import lazy_getattr

_EXPORTS = {
    "Bundle": "edgeemg.runtime.bundle",
    "load_bundle": "edgeemg.runtime.bundle",
    "Engine": "edgeemg.runtime.engine",
    "Event": "edgeemg.runtime.events",
    "EngineStats": "edgeemg.runtime.events",
    "Stream": "edgeemg.runtime.streaming",
    "Metrics": "edgeemg.runtime.streaming",
    "stream": "edgeemg.runtime.streaming",
    "open_backend": "edgeemg.runtime.backends",
    "run_daemon": "edgeemg.runtime.daemon",
    "bench_bundle": "edgeemg.runtime.bench",
    "TargetProfile": "edgeemg.runtime.targets",
    "load_target": "edgeemg.runtime.targets",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
