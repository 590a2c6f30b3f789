"""One decorator for the package's loop kernels: numba's ``njit`` when numba is installed, else plain Python.

Why: numba and llvmlite are 211 MB of the 502 MB a board installed with them
(``make board-check`` measures it), more than the board's goal of 350 MB for
the whole install. So numba is the ``jit`` extra (``pip install
'edgeemg[jit]'``; ``make test`` installs it), and a board without it still runs
everything: the streaming DSP through scipy and numpy
(:mod:`edgeemg.dsp._kernels_scipy`), and the simulators' and metrics' loop
kernels decorated here as the same Python functions, uncompiled. Those give
the same numbers, only slower; the ones too slow as plain Python have a numpy
form that their module picks when :data:`HAVE_NUMBA` is False.
"""

from __future__ import annotations

from typing import Any

try:
    import numba
except ImportError:  # a board install without the `jit` extra
    numba = None

#: True when numba imported: the decorated kernels are compiled.
HAVE_NUMBA = numba is not None


def njit(*args: Any, **kwargs: Any) -> Any:
    """``numba.njit(*args, **kwargs)`` when numba is installed; else return the function unchanged.

    Used bare (``@njit``) or with options (``@njit(cache=True)``), like numba's.
    """
    if numba is not None:
        return numba.njit(*args, **kwargs)
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda func: func


__all__ = ["HAVE_NUMBA", "njit"]
