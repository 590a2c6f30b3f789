"""The end-to-end demo behind ``make demo`` / ``edgeemg demo``: no hardware, no download.

1. The first time, a small model of the task is trained on simulated data and
   exported to an int8 bundle through the real export chain (the task's recipe,
   ONNX only, with a looser accuracy tolerance because a one-minute model is
   noisy). Data, checkpoint and bundle are cached (``$EDGEEMG_CACHE``, else
   ``$XDG_CACHE_HOME/edgeemg``, else ``~/.cache/edgeemg``), so later runs start
   at once.
2. A simulated band of the task streams over a pseudo-terminal, frame by frame
   through the serial codec, as a real band does over USB.
3. The engine reads it through the same serial reader, DSP chain, int8 model
   and task decoder as ``edgeemg run``, and the decoded events are printed live.
4. It ends with the latency table of ``edgeemg bench`` on the same bundle
   (per stage, end to end, from the true event, int8 vs PyTorch eager).

Pointing it at a real band: see :data:`REAL_BAND_HOWTO` (also in the README).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from edgeemg.errors import InvalidInputError, require

log = logging.getLogger(__name__)

REAL_BAND_HOWTO = """\
To decode a real band instead of the simulated one, export a bundle for it and run the daemon on its port:

    edgeemg train gait --data RECORDINGS... -o gait.ckpt        # or keep the demo's model (its path is printed)
    edgeemg export --int8 gait.ckpt --target rpi4 -o gait.int8
    edgeemg run gait.int8 --port /dev/ttyACM0 --target rpi4     # JSON lines on stdout; --sink unix:PATH for a socket

The band must speak the edgeemg frame protocol (firmware_bridge/PROTOCOL.md; a C99 encoder is in
firmware_bridge/) and sample at the bundle's rate with its channel count and order: the runtime refuses a
mismatch before decoding. On a board, targets/edgeemg.service runs the daemon under systemd.
"""


@dataclass(frozen=True)
class DemoPlan:
    """How the demo's small model is made: simulated data, model, epochs, export tolerance."""

    model: str
    subjects: int
    seconds: float  # per simulated subject
    epochs: int
    max_loss_pp: float = 5.0  # int8 vs fp32; the shipped recipes say 1 pp for full-size models
    finetune_epochs: int | None = None  # after pruning; None: the task recipe's
    subject: int | None = None  # per-person decoders (motor units): the simulated subject trained and streamed
    revision: int | None = None  # raised when the task's training changes, so bundles cached by an older one rebuild
    train_options: dict[str, Any] | None = None  # the task workflow's train ``options`` (None: its defaults)

    def key(self) -> str:
        # fields left at None stay out of the key, so adding one does not invalidate existing caches
        fields = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


#: Tasks whose bundle the demo can build today (keystroke joins when its export hooks do).
#: Motor units: one subject's 30 s contraction at 30 % (a motor-unit model decodes the units of the person and
#: grid it was trained on, so the demo trains on the subject its band streams; ``subject`` is set from the band's
#: seed by :func:`run_demo`); the model is a narrow MO-DCNN (:func:`motor_units_demo_training`).
#: Gait: the causal decoder without the per-channel lag augmentation (``lag_sd_s`` 0): its 20 ms sharpens the
#: events of the 10 x 600-s report model, but this small model then decoded the short "stop" late or not at all
#: (bench bands of seeds 101-108, 20 s each: 40 of 42 transitions at 0.75 false per minute with it, 42 of 42
#: at 0.00 without it; heel strikes / toe-offs 29 / 30 ms mean absolute error with it, 25 / 28 ms without).
DEMO_PLANS: dict[str, DemoPlan] = {
    "gait": DemoPlan(model="cnn", subjects=10, seconds=360.0, epochs=16, finetune_epochs=3, revision=5,  # causal
                     train_options={"train_config": {"lag_sd_s": 0.0}}),
    "muscle": DemoPlan(model="cnn", subjects=9, seconds=10.0, epochs=6, finetune_epochs=3),
    "motor-units": DemoPlan(model="mo_dcnn", subjects=1, seconds=30.0, epochs=8, finetune_epochs=0),
}
PER_SUBJECT_TASKS = ("motor-units",)


def motor_units_demo_training() -> Any:
    """The demo's MO-DCNN plan: a quarter of the seed's widths, at most 8 heads, labels from the simulator's truth.

    Truth labels rather than the teacher's keep the first run to about a minute on two cores (the
    decomposition is the slow part); ``edgeemg train motor-units`` uses the teacher by default.
    """
    from edgeemg.tasks.motor_units.workflow import TrainingPlan

    return TrainingPlan(epochs=8, trunk_filters=32, c3_filters=32, c4_filters=16, hidden=64, max_units=8,
                        min_spikes=30)


def cache_root() -> Path:
    """Where demo models live: ``$EDGEEMG_CACHE``, ``$XDG_CACHE_HOME/edgeemg`` or ``~/.cache/edgeemg``."""
    if os.environ.get("EDGEEMG_CACHE"):
        return Path(os.environ["EDGEEMG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeemg"


def _say(msg: str, progress: bool) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def demo_bundle(task: str, *, cache: Path | None = None, plan: DemoPlan | None = None, rebuild: bool = False,
                progress: bool = True) -> tuple[Path, Path, bool]:
    """The demo bundle for ``task``, trained and exported the first time; ``(bundle, checkpoint, built_now)``.

    Raises
    ------
    InvalidInputError
        No bundle can be built for ``task`` yet (the message lists the tasks that can).
    """
    from edgeemg import __version__
    from edgeemg.errors import BundleError
    from edgeemg.runtime.bundle import load_bundle

    plan = plan or DEMO_PLANS.get(task)
    if plan is not None and task in PER_SUBJECT_TASKS and plan.subject is None:
        plan = dataclasses.replace(plan, subject=0)
    if plan is None:
        raise InvalidInputError(
            f"the demo cannot build a bundle for task '{task}' yet; it can for {', '.join(sorted(DEMO_PLANS))}. "
            f"With a bundle of your own, run `edgeemg run BUNDLE --simulate` instead")
    folder = (cache or cache_root()) / f"demo-{task}-{__version__}-{plan.key()}"
    bundle, ckpt_path = folder / f"{task}.int8", folder / f"{task}.ckpt"
    if not rebuild and bundle.is_dir() and ckpt_path.is_file():
        try:
            load_bundle(bundle)
            return bundle, ckpt_path, False
        except BundleError as exc:
            _say(f"cached demo bundle is unusable ({exc}); rebuilding it", progress)
    _build(task, plan, folder, bundle, ckpt_path, progress)
    return bundle, ckpt_path, True


def _build(task: str, plan: DemoPlan, folder: Path, bundle: Path, ckpt_path: Path, progress: bool) -> None:
    require("torch", "building the demo's model (its first run trains and exports one)")
    from edgeemg.data.simulate import simulate_to_path
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.registry import parse_task

    folder.mkdir(parents=True, exist_ok=True)
    if task in PER_SUBJECT_TASKS:
        _build_per_subject(task, plan, bundle, ckpt_path, progress)
        return
    data = folder / "data"
    _say(f"[demo] first run: simulating {plan.subjects} subjects x {plan.seconds:g} s of '{task}' into {data}",
         progress)
    if not data.exists():
        simulate_to_path(task, data, seconds=plan.seconds, subjects=plan.subjects, seed=0, progress=False)
    workflow = importlib.import_module(parse_task(task).package + ".workflow")
    _say(f"[demo] training a small {plan.model} for {plan.epochs} epochs (CPU)", progress)
    ckpt = workflow.train([data], simulate=False, model=plan.model, epochs=plan.epochs, device="cpu", seed=0,
                          progress=progress, options=dict(plan.train_options or {}))
    save_checkpoint(ckpt_path, ckpt)
    recipe = load_recipe(task)
    recipe = dataclasses.replace(recipe, tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=plan.max_loss_pp))
    if plan.finetune_epochs is not None:
        recipe = dataclasses.replace(recipe,
                                     prune=dataclasses.replace(recipe.prune, finetune_epochs=plan.finetune_epochs))
    _say(f"[demo] exporting int8 ({task} recipe: static QDQ int8, ONNX)", progress)
    res = export_checkpoint(ckpt, bundle, recipe=recipe, formats=("onnx",), source=DataSource(data=(data,)),
                            overwrite=True, progress=progress)
    _say(f"[demo] cached: {bundle} ({pruning_summary(res.manifest['pruning'])}; checkpoint {ckpt_path})", progress)


def _build_per_subject(task: str, plan: DemoPlan, bundle: Path, ckpt_path: Path, progress: bool) -> None:
    """Motor units: train on the band's subject (simulated in memory from its seed), export from the same."""
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.checkpoint import save_checkpoint
    from edgeemg.tasks.motor_units import workflow as mu_wf

    subject = int(plan.subject or 0)
    training = dataclasses.replace(motor_units_demo_training(), epochs=plan.epochs)
    _say(f"[demo] first run: training a small MO-DCNN on simulated subject {subject} ({plan.seconds:g} s at 30 %, "
         f"first two thirds; {plan.epochs} epochs, CPU)", progress)
    ckpt = mu_wf.train(None, simulate=True, model=plan.model, epochs=plan.epochs, device="cpu", seed=subject,
                       progress=progress, options={"labels": "truth"}, plan=training,
                       simulation=mu_wf.SimulationPlan(seconds=plan.seconds, level=0.3))
    save_checkpoint(ckpt_path, ckpt)
    recipe = load_recipe(task)
    recipe = dataclasses.replace(recipe, tolerance=dataclasses.replace(recipe.tolerance, max_loss_pp=plan.max_loss_pp))
    _say(f"[demo] exporting int8 ({task} recipe: static QDQ int8, ONNX)", progress)
    res = export_checkpoint(ckpt, bundle, recipe=recipe, formats=("onnx",), overwrite=True, progress=progress)
    _say(f"[demo] cached: {bundle} ({pruning_summary(res.manifest['pruning'])}; checkpoint {ckpt_path})", progress)


def pruning_summary(pruning: dict[str, Any]) -> str:
    """What the export's prune stage did (the manifest's ``pruning``), not what the recipe asked for.

    A model with no prunable layers (the causal gait decoder, a stateful model) is exported unpruned
    whatever the recipe's ratio, so the line says so instead of quoting the ratio.
    """
    if not pruning.get("layers"):
        return "not pruned"
    return (f"pruned {pruning['method']} {pruning['ratio']:g}: params {pruning['before']['params']} -> "
            f"{pruning['after']['params']}")


def describe_event(ev: Any) -> str:
    """One human line per event: device time, latency, then the payload's scalar fields (lists shortened)."""
    parts = []
    for k, v in ev.payload.items():
        if k in ("end_index", "onset_index", "spike_index") or isinstance(v, dict):
            continue
        if isinstance(v, float):
            v = f"{v:.2f}"
        elif isinstance(v, (list, tuple)):
            v = ",".join(map(str, v[:8])) + ("..." if len(v) > 8 else "")
        parts.append(f"{k}={v}")
    return f"{ev.time:9.3f} s  latency {ev.latency_ms:6.2f} ms  {ev.task}: " + " ".join(parts)


#: Truth kinds that hold until the next one (a state), and the payload key an event states it under.
STATE_TRUTH = {"gait_state": "state", "class": "class"}


def truth_beside(truth: Sequence[Any], ev: Any) -> tuple[str, bool | None]:
    """What the simulator knows at the event's device time, as a suffix for its line, and whether they agree.

    For a state (gait phase, diagnosis) the truth is the state in force at the
    event's newest sample, and an event that states one agrees or not; for an
    instantaneous truth (a key press, a spike) it is the last one before, with
    how long before (None: nothing to agree on).
    """
    before = [t for t in truth if t.device_time_us <= ev.time_us]
    if not before:
        return "  | truth: none yet", None
    last = before[-1]
    key = STATE_TRUTH.get(last.event.kind)
    if key is None:
        return (f"  | last true {last.event.kind}: {last.event.value!r} "
                f"{(ev.time_us - last.device_time_us) * 1e-6:.2f} s before"), None
    if key not in ev.payload:
        return f"  | true {key}: {last.event.value}", None
    ok = ev.payload[key] == last.event.value
    return f"  | true {key}: {last.event.value} ({'agrees' if ok else 'DIFFERS'})", ok


def summary(agree: list[bool], bench: Any) -> dict[str, Any]:
    """The demo's last line: live agreement with the truth, true-event latency, the budget verdict and its reason."""
    parts = []
    acc = sum(agree) / len(agree) if agree else None
    if acc is not None:
        parts.append(f"live accuracy {100 * acc:.0f} % ({sum(agree)}/{len(agree)} events agree with the true state)")
    lat = bench.true_event
    if lat is not None:
        parts.append(f"true event -> report p50 {lat.p50:.0f} ms ({bench.true_events_matched}/{bench.true_events} "
                     "reported, bench band)")
    terms = [("algorithmic", bench.algorithmic_ms), ("decoder", bench.decoder_added_ms), ("frame", bench.frame_ms),
             ("compute p99", bench.stages["total"].p99)]
    reason = " + ".join(f"{name} {v:.1f}" for name, v in terms if v) + f" = {bench.total_ms:.1f} ms"
    verdict = "within" if bench.within_budget else "OVER"
    parts.append(f"budget {verdict}: {reason} {'<=' if bench.within_budget else '>'} {bench.budget_ms:.0f} ms")
    return {"accuracy": acc, "events_judged": len(agree),
            "true_event_p50_ms": None if lat is None else lat.p50, "within_budget": bench.within_budget,
            "budget_reason": reason, "line": "[demo] summary: " + "; ".join(parts)}


@dataclass(frozen=True)
class DemoReport:
    """What the demo did: the bundle, the live stream's figures, the bench report and the one-line summary."""

    task: str
    bundle: str
    checkpoint: str
    built: bool
    seconds: float
    events: int
    live: dict[str, Any]
    bench: dict[str, Any]
    table: str
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("table")
        return d


def run_demo(task: str = "gait", *, seconds: float = 20.0, seed: int = 1, speed: float = 1.0,
             cache: Path | None = None, plan: DemoPlan | None = None, rebuild: bool = False,
             bench_seconds: float = 20.0, progress: bool = True, out: TextIO | None = None) -> DemoReport:
    """Build (first time) or reuse the task's demo bundle, decode a simulated band over a pty live, then bench.

    Events are printed to ``out`` (stdout by default) as they are decoded, each
    with the simulator's truth beside it (:func:`truth_beside`).
    """
    from edgeemg.bridge import SimulatedBand
    from edgeemg.cli.bench import torch_eager_ms
    from edgeemg.runtime.bench import bench_bundle, format_report
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.runtime.streaming import stream

    out = out if out is not None else sys.stdout
    if task in PER_SUBJECT_TASKS:  # the model decodes the units of the subject it learnt: stream that subject
        plan = dataclasses.replace(plan or DEMO_PLANS[task], subject=seed)
    bundle_path, ckpt_path, built = demo_bundle(task, cache=cache, plan=plan, rebuild=rebuild, progress=progress)
    bundle = load_bundle(bundle_path)
    with SimulatedBand(task, seed=seed, seconds=seconds, speed=speed, pty=True) as band:
        _say(f"[demo] simulated '{task}' band on {band.port_path} ({band.info.n_channels} ch @ {band.info.fs_hz:g} Hz, "
             f"{seconds:g} s at {speed:g}x real time); decoding with {bundle_path.name}", progress)
        st = stream(band, bundle, skip_after_ms=None if speed <= 1.0 else float("inf"), idle_timeout_s=5.0)
        n, agree = 0, []
        for ev in st:
            note, ok = truth_beside(band.truth_events, ev)
            print(describe_event(ev) + note, file=out, flush=True)
            n += 1
            agree += [] if ok is None else [ok]
        live = st.metrics(final=True).to_dict()
    _say(f"[demo] live: {live['frames']} frames, {live['lost']} lost, {live['skipped']} skipped, {live['items']} hops, "
         f"latency p50 {_ms(live['latency_ms_p50'])} / p99 {_ms(live['latency_ms_p99'])} after arrival", progress)
    _say(f"[demo] bench: {bench_seconds:g} s of simulated band as fast as the engine goes", progress)
    bench_seed = seed if task in PER_SUBJECT_TASKS else seed + 100  # a motor-unit model knows one subject's units
    report, x = bench_bundle(bundle, seconds=bench_seconds, seed=bench_seed)
    try:
        eager = torch_eager_ms(ckpt_path, x, reps=200, threads=1)
        report = dataclasses.replace(report, model_ms={**report.model_ms, "torch-eager": eager})
    except ImportError:
        report = dataclasses.replace(report, notes=(*report.notes, "torch not installed: no PyTorch eager figure"))
    table = format_report(report)
    return DemoReport(task, str(bundle_path), str(ckpt_path), built, seconds, n, live, report.to_dict(), table,
                      summary(agree, report))


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} ms"


__all__ = ["DEMO_PLANS", "PER_SUBJECT_TASKS", "DemoPlan", "DemoReport", "REAL_BAND_HOWTO", "cache_root", "demo_bundle",
           "describe_event", "motor_units_demo_training", "pruning_summary", "run_demo", "summary", "truth_beside"]
