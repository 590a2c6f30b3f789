"""Board profiles (`targets/*.toml`): what an integrator edits to fit a board.

A profile names the backend and its execution providers, the thread count,
the CPU cores to pin to and the latency budget. It is data, validated here:
an unknown key or a wrong type is refused with the file and key named, so a
typo in a profile never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.shipped import read_toml, shipped_dir

#: Where ``--target NAME`` looks, in order: the current folder's targets/, then the profiles that
#: ship with edgeemg (the wheel's copy, or the source checkout's folder).
SEARCH_DIRS: tuple[Path, ...] = (Path("targets"), shipped_dir("targets"))
#: The systemd unit that runs the daemon (``python -m edgeemg.runtime.targets --unit`` prints its path).
SERVICE_UNIT = shipped_dir("targets") / "edgeemg.service"
BACKENDS = ("onnxruntime", "tflite")


@dataclass(frozen=True)
class TargetProfile(DictConfig):
    """One board's settings; units in the field names."""

    name: str
    description: str
    arch: str
    backend: str
    providers: tuple[str, ...]
    intra_op_threads: int
    cpu_affinity: tuple[int, ...]
    latency_budget_ms: float
    formats: tuple[str, ...]

    LIST_FIELDS = ("providers", "cpu_affinity", "formats")

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "<dict>") -> TargetProfile:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidInputError(f"{source}: unknown key(s) {unknown}; allowed keys are {sorted(known)}")
        missing = sorted(set(known) - set(data))
        if missing:
            raise InvalidInputError(f"{source}: missing key(s) {missing}")
        if data["backend"] not in BACKENDS:
            raise InvalidInputError(f"{source}: backend must be one of {BACKENDS}, got '{data['backend']}'")
        if not isinstance(data["intra_op_threads"], int) or data["intra_op_threads"] < 1:
            raise InvalidInputError(f"{source}: intra_op_threads must be an integer >= 1, got {data['intra_op_threads']!r}")
        if not float(data["latency_budget_ms"]) > 0:
            raise InvalidInputError(f"{source}: latency_budget_ms must be > 0, got {data['latency_budget_ms']!r}")
        return cls(
            name=str(data["name"]),
            description=str(data["description"]),
            arch=str(data["arch"]),
            backend=data["backend"],
            providers=tuple(data["providers"]),
            intra_op_threads=int(data["intra_op_threads"]),
            cpu_affinity=tuple(int(c) for c in data["cpu_affinity"]),
            latency_budget_ms=float(data["latency_budget_ms"]),
            formats=tuple(data["formats"]),
        )


def available_targets() -> list[str]:
    names = {p.stem for d in SEARCH_DIRS if d.is_dir() for p in d.glob("*.toml")}
    return sorted(names)


def _find(name: str) -> Path:
    """The first ``NAME.toml`` along :data:`SEARCH_DIRS`."""
    found = next((p for d in SEARCH_DIRS if (p := d / f"{name}.toml").is_file()), None)
    if found is None:
        raise InvalidInputError(f"unknown target '{name}'; available: {', '.join(available_targets()) or 'none'}")
    return found


def load_target(name_or_path: str | Path) -> TargetProfile:
    """Load a profile by name (``rpi4``) or by path to a ``.toml`` file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _find(str(name_or_path))
    return TargetProfile.from_dict(read_toml(path, "target profile"), source=str(path))


def main(argv: list[str] | None = None) -> int:
    """``python -m edgeemg.runtime.targets [--unit]``: what ``--target NAME`` finds, and the systemd unit."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m edgeemg.runtime.targets",
        description="List the board profiles that --target NAME finds (name, file), or print the systemd unit's path "
        "(install it with: sudo install -D -m 0644 \"$(python -m edgeemg.runtime.targets --unit)\" "
        "/etc/systemd/system/edgeemg.service).",
    )
    parser.add_argument("--unit", action="store_true", help="print only the path of edgeemg.service")
    args = parser.parse_args(argv)
    if args.unit:
        print(SERVICE_UNIT)
        return 0
    for name in available_targets():
        print(f"{name}\t{_find(name).resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
