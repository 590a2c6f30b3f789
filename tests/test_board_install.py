"""A board install: the project's wheel alone (no extras) in a fresh venv.

What the README promises after ``pip install edgeemg`` on a board: ``--target rpi4``,
the systemd unit and the export recipes are found inside the installed package, and
the host verbs (train, eval, export, demo) and the file readers name the extra to
install instead of failing with a raw ``ModuleNotFoundError``. The venv gets the
wheel (``--no-deps``) plus links to this environment's copies of exactly the wheel's
core dependencies and theirs (offline, seconds), so torch, wfdb and pandas are absent
there exactly as on a board.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _core_closure(requirements: list[str]) -> set[str]:
    """Distribution names a plain ``pip install`` of these requirements pulls in (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = md.distribution(req.name).metadata["Name"].lower()
        if name in seen:
            continue
        seen.add(name)
        todo += [Requirement(r) for r in md.requires(name) or []]
    return seen


def _link_distributions(names: set[str], into: Path) -> None:
    """Symlink each distribution's top-level files and folders (and its .dist-info) into ``into``."""
    into.mkdir()
    for name in names:
        dist = md.distribution(name)
        site = Path(dist.locate_file(""))
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            if not (into / top).exists():
                (into / top).symlink_to(site / top)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("board")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(root / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((root / "dist").glob("edgeemg-*.whl"))
    venv.create(root / "venv", with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root / "venv"), "platbase": str(root / "venv")}))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    core = md.Distribution.at(next(site.glob("edgeemg-*.dist-info"))).requires or []
    closure = _core_closure(core)
    _link_distributions(closure, root / "deps")
    (site / "_board_deps.pth").write_text(f"{root / 'deps'}\n")
    work = root / "work"  # no targets/ or export/ folder here: what is found comes from the install
    work.mkdir()
    return {"python": root / "venv" / "bin" / "python", "site": site, "closure": closure, "work": work}


def _run(board: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(EDGEEMG_CACHE=str(board["work"] / "cache"), NUMBA_CACHE_DIR=str(board["work"] / "numba"))
    return subprocess.run([str(board["python"]), *args], cwd=board["work"], env=env, capture_output=True, text=True,
                          timeout=300)


def test_board_dependencies_leave_out_training_readers_and_numba(board: dict) -> None:
    assert {"numpy", "onnxruntime", "scipy", "pyserial"} <= board["closure"]
    assert not {"torch", "wfdb", "pandas", "matplotlib", "h5py", "numba", "llvmlite"} & board["closure"], board["closure"]
    probe = _run(board, "-c", "import torch")
    assert probe.returncode == 1 and "No module named 'torch'" in probe.stderr


def test_profiles_unit_and_recipes_come_from_the_installed_package(board: dict) -> None:
    listing = _run(board, "-m", "edgeemg.runtime.targets")
    assert listing.returncode == 0, listing.stderr
    found = dict(line.split("\t") for line in listing.stdout.splitlines())
    assert set(found) == {p.stem for p in (ROOT / "targets").glob("*.toml")}
    assert all(Path(p).is_relative_to(board["site"]) for p in found.values()), found
    unit = _run(board, "-m", "edgeemg.runtime.targets", "--unit")
    assert Path(unit.stdout.strip()).read_text() == (ROOT / "targets" / "edgeemg.service").read_text()
    probe = _run(board, "-c", "from edgeemg.runtime.targets import load_target; from edgeemg.export.recipe import "
                 "load_recipe; print(load_target('rpi4').arch, load_recipe('motor-units').task)")
    assert probe.stdout.split() == ["aarch64", "motor-units"], probe.stderr


def test_a_profile_given_by_path_still_wins(board: dict) -> None:
    own = board["work"] / "mine.toml"
    own.write_text((ROOT / "targets" / "rpi4.toml").read_text().replace('name = "rpi4"', 'name = "mine"'))
    probe = _run(board, "-c", f"from edgeemg.runtime.targets import load_target; print(load_target({str(own)!r}).name)")
    assert probe.stdout.strip() == "mine", probe.stderr


@pytest.fixture(scope="module")
def gait_checkpoint(board: dict) -> Path:
    """A real (one-epoch, tiny) gait CNN checkpoint, trained here on the host, for the board's `eval`."""
    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.gait import workflow

    mp = pytest.MonkeyPatch()
    mp.setattr(workflow, "DEFAULT_SIMULATION", workflow.SimulationPlan(n_subjects=3, seconds=10.0, eval_subjects=1))
    try:
        ckpt = workflow.train(None, simulate=True, model="cnn", epochs=1, device="cpu", seed=0, progress=False,
                              options={})
    finally:
        mp.undo()
    return save_checkpoint(board["work"] / "gait.ckpt", ckpt)


@pytest.mark.parametrize("argv", [
    ("train", "gait", "--simulate", "-o", "gait.ckpt"),
    ("eval", "gait.ckpt", "--simulate"),
    ("export", "--int8", "gait.ckpt", "-o", "gait.int8"),
    ("demo", "--seconds", "1"),
], ids=lambda a: a[0])
def test_host_verbs_name_the_extra(board: dict, gait_checkpoint: Path, argv: tuple[str, ...]) -> None:
    out = _run(board, "-m", "edgeemg", *argv)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "needs the 'torch' package" in out.stderr and "pip install 'edgeemg[train]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_readers_name_the_formats_extra(board: dict) -> None:
    out = _run(board, "-c", "import edgeemg.data as d; d.read_wfdb('S01')")
    assert "MissingExtraError" in out.stderr and "pip install 'edgeemg[formats]'" in out.stderr, out.stderr
    (board["work"] / "x.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n")
    out = _run(board, "-c", "import edgeemg.data as d; d.read_emg2qwerty('x.hdf5')")
    assert "needs the 'h5py' package" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def gait_bundle(board: dict, gait_checkpoint: Path) -> Path:
    """The tiny gait checkpoint exported on the host (ONNX only; a lenient int8 gate: it is an untrained model)."""
    from dataclasses import replace

    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.recipe import load_recipe

    recipe = load_recipe("gait")
    recipe = replace(recipe, prune=replace(recipe.prune, method="none", ratio=0.0, finetune_epochs=0),
                     quantize=replace(recipe.quantize, calibration_windows=64),
                     tolerance=replace(recipe.tolerance, max_loss_pp=100.0, int8_rtol=0.5))
    return export_checkpoint(gait_checkpoint, board["work"] / "gait.int8", recipe=recipe, formats=("onnx",),
                             progress=False).bundle


def _events(stdout: str) -> list[dict]:
    timing = ("arrival_s", "emit_s", "latency_ms")
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [{k: v for k, v in r.items() if k not in timing} for r in rows if r.get("type") == "event"]


def test_the_board_decodes_without_numba_as_the_host_does_with_it(board: dict, gait_bundle: Path) -> None:
    """No numba on the board: scipy DSP and the simulators' numpy forms give the host's (numba) events."""
    argv = ["run", str(gait_bundle), "--simulate", "--seconds", "3", "--seed", "0", "--speed", "inf",
            "--skip-after-ms", "1e9"]
    backend = _run(board, "-c", "import importlib.util as u; from edgeemg.dsp._backend import backend_name; "
                   "print(u.find_spec('numba') is None, backend_name())")
    assert backend.stdout.split() == ["True", "scipy"], backend.stderr
    on_board = _run(board, "-m", "edgeemg", *argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEEMG_DSP_BACKEND": "numba"}
    on_host = subprocess.run([sys.executable, "-m", "edgeemg", *argv], cwd=board["work"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert on_board.returncode == 0 and on_host.returncode == 0, (on_board.stderr, on_host.stderr)
    board_events, host_events = _events(on_board.stdout), _events(on_host.stdout)
    assert host_events and len(board_events) == len(host_events)
    for b, h in zip(board_events, host_events):
        assert b.keys() == h.keys() and b["time_us"] == h["time_us"] and b["sample_index"] == h["sample_index"]
        assert [b[k] for k in b if not isinstance(b[k], float)] == [h[k] for k in h if not isinstance(h[k], float)]
        np.testing.assert_allclose([b[k] for k in b if isinstance(b[k], float)],
                                   [h[k] for k in h if isinstance(h[k], float)], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("args, package", [
    (("--source", "brainflow:synthetic"), "brainflow"),
    (("--source", "lsl:EMG"), "pylsl"),
    (("--simulate", "--sink", "lsl:edgeemg-events"), "pylsl"),
], ids=["brainflow", "lsl-in", "lsl-out"])
def test_device_sources_name_the_devices_extra(board: dict, gait_bundle: Path, args: tuple[str, ...],
                                               package: str) -> None:
    """Without the devices extra (really absent from this install), `run` says which extra brings the source."""
    out = _run(board, "-m", "edgeemg", "run", str(gait_bundle), *args, "--seconds", "1")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert f"needs the '{package}' package" in out.stderr and "pip install 'edgeemg[devices]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") <= 3, out.stderr


def test_xdf_reader_names_the_devices_extra(board: dict) -> None:
    (board["work"] / "s.xdf").write_bytes(b"XDF:")
    out = _run(board, "-c", "import edgeemg.data as d; d.read_xdf('s.xdf')")
    assert "needs the 'pyxdf' package" in out.stderr and "pip install 'edgeemg[devices]'" in out.stderr, out.stderr
