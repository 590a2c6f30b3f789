"""Packaging that pyproject.toml cannot say: the data folders the wheel ships.

Board profiles (``targets/``) and export recipes (``export/``) are top-level folders
an integrator edits in a checkout. A wheel carries a copy inside the package, as
``edgeemg/_data/targets`` and ``edgeemg/_data/export``, so that ``pip install
edgeemg`` on a board has ``--target rpi4``, the systemd unit and the recipes too
(:mod:`edgeemg.shipped` finds whichever copy exists). Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

DATA_FOLDERS = {"edgeemg._data.targets": "targets", "edgeemg._data.export": "export"}

setup(
    packages=find_packages(include=["edgeemg*"]) + list(DATA_FOLDERS),
    package_dir=DATA_FOLDERS,
)
