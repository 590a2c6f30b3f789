"""Lazy public names for edgeemg's packages (PEP 562): a name's module is imported on first use.

``import edgeemg``, ``edgeemg.runtime``, ``edgeemg.data`` and ``edgeemg.export`` must stay cheap
(a board verifying a bundle loads the standard library only; h5py, wfdb and torch load when a
reader or the export chain is used). Each package lists its public names with the module that
defines each and installs the ``__getattr__`` this module builds, so all four resolve, cache and
refuse names the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any],
                 submodules: tuple[str, ...] = ()) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a public name to its defining module.

    The first look-up of an exported name imports its module and stores the value in ``namespace``
    (the package's ``globals()``), so later look-ups never reach the hook. A name in ``submodules``
    imports ``package.name``. Any other name is an AttributeError, as for a plain module.
    """

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module '{package}' has no attribute '{name}'")

    return __getattr__
