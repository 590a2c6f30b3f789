"""The shared ground: errors, task names, checkpoints, the board-side torch boundary, the CLI shell."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeemg.cli import main
from edgeemg.errors import CheckpointError, ErrorCode, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgeemg.tasks.registry import Task, parse_task

REPO = Path(__file__).resolve().parents[1]


def test_error_carries_code_and_is_a_value_error():
    err = InvalidInputError("chunk must have 32 channels, got 16")
    assert isinstance(err, ValueError)
    assert err.code is ErrorCode.INVALID_INPUT
    assert str(err) == "chunk must have 32 channels, got 16"  # the message alone: wrapping never doubles a prefix
    assert (err.exit_code, err.label) == (2, "usage error")


def _config_classes() -> list[tuple[type, dict]]:
    """Every board-side config that stores itself as a JSON object, with constructor arguments to try."""
    from edgeemg.decompose.config import DecompositionConfig
    from edgeemg.tasks.gait.causal_decoder import CausalConfig
    from edgeemg.tasks.gait.decoder import SmootherConfig
    from edgeemg.tasks.keystroke.decoder_config import DecoderConfig as KeystrokeDecoderConfig
    from edgeemg.tasks.motor_units.decoder import DecoderConfig as MotorUnitDecoderConfig
    from edgeemg.tasks.motor_units.filter_decoder import FilterDecoderConfig
    from edgeemg.tasks.motor_units.spec import WindowSpec
    from edgeemg.tasks.muscle_health.decoder import DecisionConfig

    return [(DecisionConfig, {}), (SmootherConfig, {}), (CausalConfig, {}), (KeystrokeDecoderConfig, {}),
            (MotorUnitDecoderConfig, {}), (WindowSpec, {}), (FilterDecoderConfig, {"threshold": (0.5, 0.75)}),
            (DecompositionConfig, {"band_hz": (15.0, 450.0)})]


def test_configs_round_trip_through_json_and_refuse_unknown_keys():
    import dataclasses

    for cls, kwargs in _config_classes():
        cfg = cls(**kwargs)
        d = cfg.to_dict()
        fields = [f.name for f in dataclasses.fields(cls)]
        assert list(d) == fields, cls  # every field, in order
        assert not any(isinstance(v, tuple) for v in d.values()), cls  # JSON's form: lists, never tuples
        assert cls.from_dict(json.loads(json.dumps(d))) == cfg, cls
        with pytest.raises(InvalidInputError) as err:
            cls.from_dict({**d, "bogus": 1})
        assert str(err.value) == f"{cls.__name__}: unknown key(s) ['bogus']; allowed {sorted(fields)}"


@pytest.mark.parametrize(
    ("name", "task"),
    [("keystroke", Task.KEYSTROKE), ("motor_units", Task.MOTOR_UNITS), ("Muscle-Health", Task.MUSCLE)],
)
def test_parse_task_accepts_spellings(name, task):
    assert parse_task(name) is task


def test_parse_task_suggests_close_match():
    with pytest.raises(InvalidInputError, match="Did you mean 'gait'"):
        parse_task("giat")


def test_checkpoint_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"conv.weight": rng.standard_normal((4, 2, 3)).astype(np.float32), "svm.classes": np.arange(4)}
    path = save_checkpoint(tmp_path / "m.ckpt", Checkpoint("gait", "cnn", arrays, {"labels": ["a", "b"]}))
    loaded = load_checkpoint(path, task="gait")
    assert loaded.model == "cnn" and loaded.meta["labels"] == ["a", "b"]
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], value)
    # the archive holds no pickled object: every member is a plain .npy that numpy reads with allow_pickle=False
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(["__meta__.npy", "conv.weight.npy", "svm.classes.npy"])


def test_checkpoint_refuses_other_task_and_truncation(tmp_path):
    path = save_checkpoint(tmp_path / "m.ckpt", Checkpoint("gait", "svm", {"w": np.ones(3)}))
    with pytest.raises(CheckpointError, match="is for task 'gait', expected 'muscle'"):
        load_checkpoint(path, task="muscle")
    data = path.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.ckpt.*unreadable"):
        load_checkpoint(tmp_path / "cut.ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_board_side_packages_import_without_torch():
    """A board has no torch: dsp, bridge, runtime, data and every task's spec/decoder/metrics import with torch blocked."""
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked on the board")
        sys.meta_path.insert(0, BlockTorch())
        import edgeemg
        for pkg in ("dsp", "bridge", "runtime", "data"):
            mod = importlib.import_module(f"edgeemg.{pkg}")
            for info in pkgutil.walk_packages(mod.__path__, prefix=f"edgeemg.{pkg}."):
                importlib.import_module(info.name)
        # each task's board half: what the runtime imports to decode on the board
        board_half = {"spec", "decoder", "metrics", "lm"}
        tasks = importlib.import_module("edgeemg.tasks")
        for info in pkgutil.walk_packages(tasks.__path__, prefix="edgeemg.tasks."):
            if info.name.rsplit(".", 1)[-1] in board_half:
                importlib.import_module(info.name)
        importlib.import_module("edgeemg.tasks.classification")
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "nonsense", "-o", "x"])
    assert exc.value.code == 2
    assert "Invalid task 'nonsense'" in capsys.readouterr().err


def test_cli_help_lists_verbs(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "simulate" in capsys.readouterr().out


def test_cli_simulate_refuses_option_the_task_does_not_take(capsys, tmp_path):
    rc = main(["simulate", "gait", "-o", str(tmp_path / "g"), "--level", "0.3"])
    assert rc == 2
    assert "--level do not apply to task 'gait'" in capsys.readouterr().err


@pytest.mark.parametrize("package", ["edgeemg", "edgeemg.runtime", "edgeemg.data", "edgeemg.export"])
def test_lazy_packages_resolve_every_public_name_and_refuse_others(package):
    """The packages' public names load on first use (edgeemg._lazy), are cached, and a typo is an AttributeError."""
    mod = importlib.import_module(package)
    for name in mod.__all__:
        value = getattr(mod, name)
        assert vars(mod)[name] is value  # cached: the next look-up does not import again
    with pytest.raises(AttributeError, match=rf"module '{re.escape(package)}' has no attribute 'load_bundel'"):
        getattr(mod, "load_bundel")
