"""`--json` prints exactly one JSON object on stdout, for every verb that has `--json`.

Each verb runs through `edgeemg.cli.main` with file-descriptor capture (capfd), so chatter that
libraries write from C straight to descriptor 1 (torch.onnx's dynamo exporter, the TFLite converter)
would land in the captured stdout too. The verbs are taken from the parser itself: a new verb with
`--json` fails `test_every_json_verb_is_checked` until it is added here. A tiny muscle model
(one channel, 1 epoch) keeps the verbs that need a checkpoint or a bundle fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

from edgeemg.cli import build_parser, main  # noqa: E402
from edgeemg.tasks.muscle_health import workflow as muscle_wf  # noqa: E402

TINY = muscle_wf.SimulationPlan(n_subjects=6, seconds=5.0, eval_subjects=3)
RECIPE = """task = "muscle"
[prune]
method = "none"
ratio = 0.0
finetune_epochs = 0
[quantize]
calibration_windows = 32
[convert]
formats = ["onnx", "tflite"]
[tolerance]
metric = "accuracy"
max_loss_pp = 100.0
int8_rtol = 100.0
"""
CHECKED = ("bench", "calibrate", "demo", "eval", "explain", "export", "inspect", "lm build", "simulate", "train")
# calibrate: tests/test_task_gait_calibration.py::test_cli_calibrate_writes_the_user_checkpoint_and_one_json_object


def _json_verbs() -> set[str]:
    """Every (sub)command whose parser has a --json option."""
    def walk(parser, prefix):
        for action in parser._actions:
            if "--json" in getattr(action, "option_strings", ()):
                yield prefix
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{prefix} {name}".strip())

    return set(walk(build_parser(), ""))


def test_every_json_verb_is_checked():
    assert _json_verbs() == set(CHECKED)


def _one_object(capfd, argv):
    capfd.readouterr()
    assert main(["-q", *map(str, argv), "--json"]) == 0
    out, _err = capfd.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1, out[:2000]
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny muscle checkpoint, its bundle (ONNX and TFLite) and a demo cache holding them."""
    from edgeemg import __version__
    from edgeemg.demo import DEMO_PLANS, DemoPlan

    mp = pytest.MonkeyPatch()
    mp.setattr(muscle_wf, "DEFAULT_SIMULATION", TINY)
    plan = DemoPlan(model="cnn", subjects=6, seconds=5.0, epochs=1, max_loss_pp=100.0, finetune_epochs=0)
    mp.setitem(DEMO_PLANS, "muscle", plan)
    tmp = tmp_path_factory.mktemp("json")
    cached = tmp / "cache" / f"demo-muscle-{__version__}-{plan.key()}"
    cached.mkdir(parents=True)
    (tmp / "recipe.toml").write_text(RECIPE)
    yield {"tmp": tmp, "ckpt": cached / "muscle.ckpt", "bundle": cached / "muscle.int8", "cache": tmp / "cache"}
    mp.undo()


def test_train_eval_export_inspect_bench_explain_demo_print_one_object(work, capfd):
    """In order: each verb consumes what the one before it wrote."""
    w = work
    doc = _one_object(capfd, ["train", "muscle", "--simulate", "--model", "cnn", "--epochs", "1", "--device", "cpu",
                              "-o", w["ckpt"]])
    assert doc["task"] == "muscle"
    assert "accuracy" in _one_object(capfd, ["eval", w["ckpt"], "--simulate"])
    doc = _one_object(capfd, ["export", "--int8", w["ckpt"], "--recipe", w["tmp"] / "recipe.toml", "-o", w["bundle"]])
    assert doc["bundle"] == str(w["bundle"]) and "onnx-int8" in doc["artifacts"]
    # the export explains itself: the int8 loss with its interval, and whether the fp32 model is any use
    loss = doc["artifacts"]["onnx-int8"]["loss"]
    assert loss["ci_low_pp"] <= loss["loss_pp"] <= loss["ci_high_pp"] and loss["status"] == "within tolerance"
    assert set(doc["metrics"]["fp32_usefulness"]) >= {"useful", "fp32", "input_ignoring_baseline"}
    assert _one_object(capfd, ["inspect", w["bundle"]])["verified"] is True
    assert main(["-q", "inspect", str(w["bundle"])]) == 0  # the human table shows the interval too
    table = capfd.readouterr().out
    assert "loss pp (95 % interval)" in table and re.search(r"onnx-int8 .* -?\d+\.\d\d \(-?\d+\.\d\d to ", table)
    doc = _one_object(capfd, ["bench", w["bundle"], "--seconds", "3", "--reps", "5"])
    assert doc["hops"] > 0 and doc["model_ms"]["torch-eager"] > 0  # the checkpoint the manifest records
    files = _one_object(capfd, ["explain", w["ckpt"], "--simulate", "--per-class", "1", "-o", w["tmp"] / "sal"])
    assert files["files"] and all(os.path.isfile(f) for f in files["files"])
    doc = _one_object(capfd, ["demo", "--task", "muscle", "--cache", w["cache"], "--seconds", "2", "--speed", "8"])
    assert doc["task"] == "muscle" and not doc["built"]


def test_simulate_and_lm_build_print_one_object(tmp_path, capfd):
    doc = _one_object(capfd, ["simulate", "gait", "-o", tmp_path / "g", "--subjects", "1", "--seconds", "4"])
    assert doc["task"] == "gait" and doc["files"]
    doc = _one_object(capfd, ["lm", "build", "--builtin", "--order", "3", "-o", tmp_path / "lm.bin"])
    assert doc["order"] == 3


def test_the_dynamo_exporters_chatter_stays_off_stdout():
    """torch.onnx's dynamo exporter prints its steps to stdout; a real descriptor 1 must not get them."""
    code = textwrap.dedent("""
        import tempfile, pathlib, torch
        from edgeemg.export.hooks import StateTensor
        from edgeemg.export.onnx_export import export_stateful

        class Step(torch.nn.Module):
            def forward(self, x, h):
                h2 = torch.tanh(x.sum(1) + h)
                return h2 * 2.0, h2

        out = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
        export_stateful(Step(), (3, 4), [StateTensor("h_in", "h_out", (1, 4))], out)
        print("ok" if out.is_file() else "missing")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == "ok\n"  # nothing else reached descriptor 1
    assert "[torch.onnx]" in res.stderr  # the chatter went to stderr, not nowhere


def test_stdout_to_stderr_catches_python_and_descriptor_writes():
    code = textwrap.dedent("""
        import os, sys
        from edgeemg.stdio import stdout_to_stderr
        with stdout_to_stderr() as out:
            print("python chatter")
            os.write(1, b"fd chatter\\n")
            print("data", file=out)
        print("after")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "data\nafter\n"
    assert "python chatter" in res.stderr and "fd chatter" in res.stderr
