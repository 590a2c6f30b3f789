"""Where the data folders that ship with edgeemg are: board profiles and export recipes.

In a source checkout they are the top-level ``targets/`` and ``export/`` folders an
integrator edits. A wheel carries a copy inside the package (``edgeemg/_data/``, mapped
by setup.py), so a board that did ``pip install edgeemg`` has them too. A path given on
the command line always wins over both; this module only answers "the default".
"""

from __future__ import annotations

from pathlib import Path

FOLDERS = ("targets", "export")
_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The installed copy of ``targets`` or ``export`` if there is one, else the checkout's folder."""
    if name not in FOLDERS:
        raise ValueError(f"shipped_dir: unknown folder '{name}'; the package ships {', '.join(FOLDERS)}")
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name
