"""One small int8 bundle per task for `make board-check`, built on the host and cached.

The board check tests that the board's arithmetic gives the host's answers, not that a
model is good: these are the demo's small models (fewer subjects and epochs), exported
with the accuracy gate opened (``max_loss_pp`` 100) so an undertrained model still
yields a bundle. Gait and muscle export ONNX and TFLite (TFLite runs through
ai-edge-litert on the board); keystroke and motor units ONNX. Needs the host's
``[train]`` extra.

    python benchmarks/board_check/bundles.py CACHE_DIR     # prints one JSON object: {task: bundle path}
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from edgeemg.demo import DemoPlan, demo_bundle

#: Small plans: seconds to minutes on two cores; subject 0 everywhere (`run --simulate --seed 0` streams it).
PLANS = {
    "gait": DemoPlan(model="cnn", subjects=4, seconds=20.0, epochs=3, max_loss_pp=100.0, finetune_epochs=1),
    "muscle": DemoPlan(model="cnn", subjects=6, seconds=8.0, epochs=3, max_loss_pp=100.0, finetune_epochs=1),
    "motor-units": DemoPlan(model="mo_dcnn", subjects=1, seconds=20.0, epochs=4, max_loss_pp=100.0,
                            finetune_epochs=0, subject=0),
}
TFLITE_TASKS = ("gait", "muscle")


def _with_tflite(task: str, bundle: Path, ckpt: Path) -> Path:
    """The same checkpoint re-exported with TFLite twins (the demo writes ONNX only)."""
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe

    out = bundle.with_name(bundle.name + "-tflite")
    if not out.is_dir():
        recipe = load_recipe(task)
        recipe = dataclasses.replace(recipe, tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=100.0))
        export_checkpoint(ckpt, out, recipe=recipe, formats=("onnx", "tflite"),
                          source=DataSource(data=(bundle.parent / "data",)), overwrite=True, progress=True)
    return out


def _keystroke(cache: Path) -> Path:
    """A tiny TDS trained one epoch on two short simulated sessions; greedy decoder (no LM).

    One epoch leaves the CTC head on blanks; its weights are scaled up (as the keystroke board
    tests do) so the decoder emits characters: the check needs decisions to compare, not good ones.
    """
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.keystroke import workflow
    from edgeemg.tasks.keystroke.protocol import SimulationPlan

    out = cache / "keystroke.int8"
    if out.is_dir():
        return out
    plan = SimulationPlan(train_sessions=2, seconds=20.0, eval_seconds=30.0)
    ckpt = workflow.train(None, simulate=True, model="tds", epochs=1, device="cpu", seed=0, progress=True,
                          options={}, preset="tiny", plan=plan)
    ckpt.arrays["head.weight"] = ckpt.arrays["head.weight"] * 20.0
    ckpt.arrays["head.bias"] = ckpt.arrays["head.bias"] * 0.0
    recipe = load_recipe("keystroke")
    recipe = dataclasses.replace(recipe, tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=1000.0))
    export_checkpoint(ckpt, out, recipe=recipe, formats=("onnx",), source=DataSource(plan=plan), overwrite=True,
                      progress=True)
    return out


def build_all(cache: Path) -> dict[str, str]:
    """``{name: bundle folder}``: one per task, plus ``<task>-tflite`` for :data:`TFLITE_TASKS`."""
    bundles: dict[str, str] = {}
    for task, plan in PLANS.items():
        bundle, ckpt, _ = demo_bundle(task, cache=cache, plan=plan, progress=True)
        bundles[task] = str(bundle)
        if task in TFLITE_TASKS:
            bundles[f"{task}-tflite"] = str(_with_tflite(task, bundle, ckpt))
    bundles["keystroke"] = str(_keystroke(cache))
    return bundles


if __name__ == "__main__":
    print(json.dumps(build_all(Path(sys.argv[1]))))
