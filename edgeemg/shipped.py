"""Where the data folders that ship with edgeemg are (board profiles and export recipes), and how their files are read.

In a source checkout they are the top-level ``targets/`` and ``export/`` folders an
integrator edits. A wheel carries a copy inside the package (``edgeemg/_data/``, mapped
by setup.py), so a board that did ``pip install edgeemg`` has them too. A path given on
the command line always wins over both; this module only answers "the default".
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from edgeemg.errors import InvalidInputError

FOLDERS = ("targets", "export")
_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The installed copy of ``targets`` or ``export`` if there is one, else the checkout's folder."""
    if name not in FOLDERS:
        raise ValueError(f"shipped_dir: unknown folder '{name}'; the package ships {', '.join(FOLDERS)}")
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse one profile or recipe file; a missing or malformed one is refused naming ``what`` and the path.

    Only the parsing: the caller validates the keys and values (and names ``path`` in those errors).
    """
    if not path.is_file():
        raise InvalidInputError(f"{what} '{path}' does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{what} '{path}' is not valid TOML: {exc}") from exc
