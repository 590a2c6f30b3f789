"""Which kernels the dsp objects run: numba's (the ``jit`` extra) or scipy's and numpy's (any install).

Both modules have the same functions with the same arguments, dtypes and
state layouts (:mod:`edgeemg.dsp._kernels`, :mod:`edgeemg.dsp._kernels_scipy`),
and ``tests/test_dsp_backends.py`` checks they give the same numbers. numba is
the default where it is installed (its calls cost microseconds less on
small streaming chunks); ``EDGEEMG_DSP_BACKEND=scipy`` or ``numba`` chooses.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from edgeemg._jit import HAVE_NUMBA
from edgeemg.errors import InvalidInputError

BACKENDS = ("numba", "scipy")
_MODULES = {"numba": "edgeemg.dsp._kernels", "scipy": "edgeemg.dsp._kernels_scipy"}


def backend_name() -> str:
    """The backend in use: ``$EDGEEMG_DSP_BACKEND`` if set, else numba where it is installed, else scipy."""
    name = os.environ.get("EDGEEMG_DSP_BACKEND", "").strip().lower()
    if not name:
        return "numba" if HAVE_NUMBA else "scipy"
    if name not in BACKENDS:
        raise InvalidInputError(f"EDGEEMG_DSP_BACKEND={name!r}: allowed values are {list(BACKENDS)}")
    if name == "numba" and not HAVE_NUMBA:
        raise InvalidInputError("EDGEEMG_DSP_BACKEND=numba but numba is not installed: "
                                "pip install 'edgeemg[jit]', or unset it to use scipy")
    return name


def kernels() -> ModuleType:
    """The kernel module of :func:`backend_name`, imported on first use.

    Each dsp object calls it once, when built, and keeps its kernel: changing
    ``$EDGEEMG_DSP_BACKEND`` later affects only objects built after the change.
    """
    return importlib.import_module(_MODULES[backend_name()])


__all__ = ["BACKENDS", "backend_name", "kernels"]
