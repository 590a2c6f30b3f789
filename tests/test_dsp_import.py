"""Importing edgeemg.dsp compiles nothing and imports no torch (board-side budget)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
import edgeemg.dsp
from edgeemg.dsp import _kernels
print(json.dumps({
    "signatures": {k.py_func.__name__: len(k.signatures) for k in _kernels.ALL_KERNELS},
    "torch": "torch" in sys.modules,
}))
"""


def test_import_compiles_no_kernel_and_loads_no_torch() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["signatures"] and all(n == 0 for n in report["signatures"].values()), report
    assert report["torch"] is False


def test_every_kernel_is_cached_and_unsigned() -> None:
    """cache=True gives a FunctionCache (NullCache otherwise); no signature means lazy compile."""
    from edgeemg.dsp import _kernels

    for k in _kernels.ALL_KERNELS:
        assert k._cache.__class__.__name__ == "FunctionCache", k.py_func.__name__


def test_docstring_examples_run() -> None:
    """The numpydoc Examples are doctests (STYLE.md rule 7); run them so they cannot drift."""
    import doctest
    import importlib

    for name in ("features", "filters", "normalize", "pipeline", "spectral", "windowing"):
        module = importlib.import_module(f"edgeemg.dsp.{name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, f"edgeemg.dsp.{name}: {result.failed} doctest(s) failed"
