"""Train and evaluate the keystroke decoders: emg2qwerty's TDS ConvNet and seed 000's CNN+LSTM.

Data path (identical for both models and for real and simulated sessions):
session -> log-spectrogram (n_fft 64, hop 16) -> (T, 2, 16, 33) frames ->
prompt segments with frame-indexed key labels (:mod:`.sessions`) -> CTC
(:mod:`.training`). Evaluation runs the model once over each whole session
(for a causal model that *is* the streaming output, see :mod:`.models`),
cuts the emissions at prompt boundaries and decodes every prompt greedily and,
with ``options["lm"]``, with the prefix beam search and the LM.

Which sessions train, validate (early stopping) and test is :mod:`.protocol`'s
job: separate sessions, and simulated test prompts from sentences training
never typed. ``eval --simulate --seed S`` scores a *later* session of ``S``
when the model trained on user ``S`` (personalised, as emg2qwerty's
personalised models) and session 0 of user ``S`` otherwise (generic, an unseen
person). ``eval``'s default seed (1) differs from ``train``'s (0): generic.
``train --simulate --users N`` trains a generic model on users ``seed ..
seed + N - 1`` in one shared band frame; ``train --init GENERIC.ckpt`` turns it
to one user's band and fine-tunes it (:mod:`.transfer`, :mod:`.alignment`).

Model size and schedule: ``--device auto`` resolving to CUDA trains the
published sizes (``full``) with emg2qwerty-like settings (:class:`TrainConfig`
defaults, 4 x 120 s of simulated typing). On a CPU the ``small`` preset (~231 k
parameters for TDS, :data:`CPU_PRESET`) with :func:`cpu_train_config` on
:data:`CPU_SIMULATION` (12 x 120 s, 22 epochs) is used, so a run ends in about 16 CPU minutes: short runs
of 1-4 keys (many optimiser steps), no augmentation (it only slowed learning on minutes
of data) and the key-time cross-entropy. The checkpoint records which. Every
run ends by choosing the beam + LM settings on its validation session
(:mod:`.decoder_tuning`), which ``eval``, ``export`` and the board then use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET
from edgeemg.errors import CheckpointError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.alignment import REFERENCE_KEY, oriented_to
from edgeemg.tasks.keystroke.cpu_defaults import CPU_PRESET, CPU_SIMULATION, DEFAULT_SIMULATION, cpu_train_config
from edgeemg.tasks.keystroke.decoder import DecoderConfig, KeystrokeDecoder, greedy_decode
from edgeemg.tasks.keystroke.metrics import ErrorRates, error_rates, matched_pairs
from edgeemg.tasks.keystroke.protocol import (SimulationPlan, TrainingData, calibration_sessions,
                                              personal_test_sessions, recorded_training_data,
                                              simulated_training_data, unseen_user_sessions)
from edgeemg.tasks.keystroke.sessions import PreparedSession, read_sessions
from edgeemg.tasks.workflow_support import check_model_and_epochs, check_options

log = logging.getLogger(__name__)

TASK = "keystroke"
MODELS: tuple[str, ...] = ("tds", "cnn_lstm", "cnn_bilstm")
"""The streaming decoders (``tds``, ``cnn_lstm``: causal, exported to the board) and the offline one
(``cnn_bilstm``: seed 000's bidirectional CNN+LSTM, whole prompts on the host)."""
TRAIN_OPTIONS: tuple[str, ...] = ("plot", "init", "users")
EVAL_OPTIONS: tuple[str, ...] = ("lm", "plot")


def _check_source(data: list[Path] | None, simulate: bool) -> None:
    if simulate == bool(data):
        raise InvalidInputError("keystroke: give exactly one data source, --data PATH... or --simulate")


def split_examples(data: TrainingData) -> tuple[list[PreparedSession], list, list]:
    """All sessions (training first), the training examples and the validation examples (separate sessions)."""
    from edgeemg.tasks.keystroke.training import examples_of

    train_ex, val_ex = examples_of(data.train), examples_of(data.val, len(data.train))
    if not train_ex or not val_ex:
        raise InvalidInputError(f"keystroke: {data.description}: {len(train_ex)} training and {len(val_ex)} "
                                f"validation prompts with keys; both need at least one (longer sessions?)")
    return [*data.train, *data.val], train_ex, val_ex


def _initial_model(init: Checkpoint | str | Path | None, model: str, preset: str | None, on_cpu: bool,
                   model_config: dict[str, Any] | None, sessions: list[PreparedSession]
                   ) -> tuple[Any, str, str, dict[str, Any] | None, dict[str, Any]]:
    """(module, preset, origin, init's training settings, how it was turned): a fresh model of ``preset`` (no
    settings), or ``init``'s trained weights to fine-tune (a generic model turned to the band of ``sessions``
    first, :mod:`.alignment`, its turn checked on the first session's greedy text, ``transfer.lm_check``)."""
    from edgeemg.tasks.checkpoint import load_checkpoint
    from edgeemg.tasks.keystroke.models import PRESETS, build_model
    from edgeemg.tasks.keystroke.transfer import lm_check

    if init is not None:
        ckpt = init if isinstance(init, Checkpoint) else load_checkpoint(Path(init), task=TASK)
        if ckpt.model != model:
            raise InvalidInputError(f"keystroke: --init {init} holds a '{ckpt.model}' model, --model asks for "
                                    f"'{model}'; give --model {ckpt.model} or another checkpoint")
        ckpt, shift = oriented_to(ckpt, sessions, lm_check(sessions[:1]) if REFERENCE_KEY in ckpt.meta else None)
        turned = "" if shift is None else f", band turned by {shift.tolist()} electrodes"
        return load_model(ckpt).train(), str(ckpt.meta.get("summary", {}).get("preset", "custom")), \
            f"fine-tuned from {init if not isinstance(init, Checkpoint) else 'a checkpoint'}{turned}", \
            ckpt.meta.get("train_config", {}), {k: ckpt.meta[k] for k in ("band_shift", "band_turn") if k in ckpt.meta}
    preset = preset or (CPU_PRESET if on_cpu else "full")
    if preset not in PRESETS[model]:
        raise InvalidInputError(
            f"keystroke: invalid preset '{preset}'. Allowed values are {', '.join(PRESETS[model])}.")
    return build_model(model, {**PRESETS[model][preset], **(model_config or {})}), preset, "from scratch", None, {}


# ------------------------------------------------------------------------------ train


def train(
    data: list[Path] | None,
    *,
    simulate: bool,
    model: str,
    epochs: int | None,
    device: str,
    seed: int,
    progress: bool,
    options: dict[str, Any] | None,
    preset: str | None = None,
    model_config: dict[str, Any] | None = None,
    train_config: Any = None,
    plan: SimulationPlan | None = None,
    init: Checkpoint | None = None,
    align_bands: bool = True,
) -> Checkpoint:
    """Train ``model`` ("tds" or "cnn_lstm") with CTC and return its checkpoint.

    Options: ``init`` (a checkpoint path: fine-tune its weights, emg2qwerty's
    generic-then-personal recipe), ``users`` (with ``--simulate``: train a
    generic model on that many simulated users, ``seed ..``), ``plot``.
    The keyword arguments after ``options`` are for the Python API (tests, sweeps):
    ``preset`` ("full", "small", "tiny"), ``model_config`` overrides, a
    :class:`~.training.TrainConfig`, a :class:`SimulationPlan` and ``init`` as a
    loaded :class:`Checkpoint`. Validation is a separate session (:mod:`.protocol`).
    """
    import dataclasses

    from edgeemg.tasks.keystroke.decoder_tuning import tuned_meta
    from edgeemg.tasks.keystroke.training import TrainConfig, fit_ctc
    from edgeemg.tasks.keystroke.transfer import (GENERIC_SESSIONS_PER_USER, canonical_training_data,
                                                  finetune_record, recipe)
    from edgeemg.tasks.torch_support import count_parameters, resolve_device, seed_everything, state_to_arrays

    options = check_options(TASK, options, TRAIN_OPTIONS, "train")
    check_model_and_epochs(TASK, model, MODELS, epochs)
    _check_source(data, simulate)
    dev = resolve_device(device)
    on_cpu = dev.type != "cuda"
    per_user = plan.train_sessions if plan else GENERIC_SESSIONS_PER_USER  # a generic plan's sessions per user
    plan = plan or (CPU_SIMULATION if on_cpu else DEFAULT_SIMULATION)
    if "users" in options:
        if not simulate or int(options["users"]) < 1:
            raise InvalidInputError(f"keystroke: --users N (>= 1) goes with --simulate, got users="
                                    f"{options['users']} with {'--simulate' if simulate else '--data'}")
        plan = dataclasses.replace(plan, users=int(options["users"]), train_sessions=per_user)
    gen = seed_everything(seed)
    tdata = (simulated_training_data(seed, plan, progress=progress) if simulate
             else recorded_training_data(list(data or []), progress=progress))
    reference = None
    if simulate and plan.users > 1 and align_bands:  # generic: one band frame for all users (:mod:`.transfer`)
        tdata, reference = canonical_training_data(tdata)
    init = init if init is not None else options.get("init")
    net, preset, origin, start, turned = _initial_model(init, model, preset, on_cpu, model_config, tdata.train)
    sessions, train_ex, val_ex = split_examples(tdata)
    tc = train_config or recipe(cpu_train_config() if on_cpu else TrainConfig(), generic=plan.users > 1,
                                finetune=start is not None, start=start)
    if epochs is not None:
        tc = dataclasses.replace(tc, epochs=epochs)
    log.info("keystroke %s (%s, %s): %s; %d training prompts, %d validation prompts, %d parameters", model, preset,
             origin, tdata.description, len(train_ex), len(val_ex), count_parameters(net))
    net, history = fit_ctc(net, sessions, train_ex, val_ex, config=tc, device=dev, generator=gen, progress=progress,
                           desc=f"keystroke {model}")
    net = net.cpu()
    cfg = net.config.to_dict()
    summary = {"n_params": count_parameters(net), "preset": preset, "origin": origin,
               "n_train_prompts": len(train_ex), "n_val_prompts": len(val_ex),
               "val_cer": float(min(history["val_cer"])), "best_epoch": int(np.argmin(history["val_cer"]) + 1),
               "epochs": tc.epochs, "train_cpu_s": float(history["cpu_s"][-1]),
               "algorithmic_latency_ms": net.algorithmic_latency_ms}
    state_shapes = {name: list(t.shape) for name, t in
                    zip(("conv_cache", "h", "c"), net.initial_state(1))} if cfg.get("causal", True) else {}
    meta: dict[str, Any] = {
        "labels": list(spec.LABELS), "blank": spec.BLANK, "fs_hz": spec.FS_HZ,
        "channel_names": list(spec.CHANNEL_NAMES),
        "dsp": spec.dsp_description(), "input_layout": "(T, bands=2, electrodes=16, freq=33)",
        "outputs": "log_probs", "frame_hop": spec.HOP, "n_fft": spec.N_FFT,
        "model_config": cfg, "train_config": {k: (list(v) if isinstance(v, tuple) else v)
                                              for k, v in tc.to_dict().items()},
        "history": history, "summary": summary, "decoder": DecoderConfig().to_dict(),
        "streaming_state": state_shapes, "algorithmic_latency_ms": net.algorithmic_latency_ms,
        "data": "simulated" if simulate else [str(p) for p in data or []], "data_protocol": tdata.description,
        "user_seed": seed if simulate and plan.users == 1 else None,
        "user_seeds": list(tdata.user_seeds) if simulate else None, "val_user": tdata.val_user,
        "train_sessions": plan.train_sessions if simulate else None,
        "sim_seconds": plan.seconds if simulate else None,
        "seed": seed,
    }
    if start is not None:  # a fine-tune: how its start was turned and what its recipe changed (:mod:`.transfer`)
        meta["init"] = {**turned, "recipe": finetune_record(tc) if train_config is None else "train_config given"}
    if reference is not None:  # a generic model: its band frame (its beam + LM pair is tuned below, on its val user)
        meta[REFERENCE_KEY] = reference.tolist()
    meta["decoder"], meta["offline_decoder"], meta["decoder_tuning"] = tuned_meta(net, tdata.val, meta["decoder"])
    log.info("keystroke %s: beam + LM settings chosen on the validation session: lm_weight %.2f, insertion bonus "
             "%.2f (validation CER %.1f %%, greedy %.1f %%)", model, meta["decoder"]["lm_weight"],
             meta["decoder"]["insertion_bonus"], min(r["cer"] for r in meta["decoder_tuning"]["grid"]),
             meta["decoder_tuning"]["greedy_cer"])
    if "plot" in options:
        from edgeemg.tasks.plots import plot_history

        plot_history({k: v for k, v in history.items() if k not in ("lr", "cpu_s")},
                     Path(options["plot"]) / f"keystroke_{model}_training.png", title=f"keystroke {model}")
    return Checkpoint(task=TASK, model=model, arrays=state_to_arrays(net), meta=meta)


def load_model(ckpt: Checkpoint) -> Any:
    """The trained torch module of a checkpoint, on CPU in eval mode."""
    from edgeemg.tasks.keystroke.models import build_model
    from edgeemg.tasks.torch_support import arrays_to_state

    if ckpt.task != TASK:
        raise CheckpointError(f"keystroke: checkpoint is for task '{ckpt.task}', expected '{TASK}'")
    try:
        net = build_model(ckpt.model, ckpt.meta["model_config"])
        return arrays_to_state(net, ckpt.arrays).eval()
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"keystroke {ckpt.model} checkpoint does not match its model: {exc}") from exc


# ------------------------------------------------------------------------------ decoding and scoring


@dataclass(frozen=True)
class Scored:
    """Decoded prompts with their error rates and the delay of correctly decoded keys."""

    rates: ErrorRates
    predictions: tuple[str, ...]
    targets: tuple[str, ...]
    delays_ms: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        d = {k: self.rates.to_dict()[k] for k in ("cer", "ier", "der", "ser")}
        d["median_emission_delay_ms"] = float(np.median(self.delays_ms)) if self.delays_ms.size else None
        return d


def score_sessions(emissions: list[NDArray[np.float32]], sessions: list[PreparedSession],
                   decoder: KeystrokeDecoder | None = None) -> Scored:
    """Decode every prompt segment of every session (greedy without ``decoder``) and score it.

    The emission delay of a correctly decoded key is the time from its press
    frame to the frame where its character was emitted (the decoder's onset).
    """
    preds, tgts, delays = [], [], []
    for em, ses in zip(emissions, sessions):
        for seg in ses.segments:
            e = em[seg.start:seg.end]
            frames = np.arange(seg.start, seg.end)
            if decoder is None:
                best = e.argmax(axis=1)
                keep = (best != spec.BLANK) & np.r_[True, best[1:] != best[:-1]]
                pred, at = CHARSET.labels_to_str(best[keep].tolist()), frames[keep]
            else:
                decoder.reset()
                events = decoder.step(e, frames) + decoder.finish()
                pred = "".join(ev["char"] for ev in events)
                at = np.array([ev["onset_index"] for ev in events], dtype=np.int64)
            tgt = seg.label
            for i, j in matched_pairs(pred, tgt):
                delays.append((at[i] - seg.key_frames[j]) * spec.FRAME_S * 1000.0)
            preds.append(pred)
            tgts.append(tgt)
    return Scored(error_rates(preds, tgts), tuple(preds), tuple(tgts), np.asarray(delays, dtype=np.float64))


def model_emissions(net: Any, sessions: list[PreparedSession], device: str = "cpu") -> list[NDArray[np.float32]]:
    """Whole-session emissions (T, 99) of each session."""
    from edgeemg.tasks.keystroke.training import session_emissions
    from edgeemg.tasks.torch_support import resolve_device

    dev = resolve_device(device)
    net = net.to(dev)
    return [session_emissions(net, s.x, dev) for s in sessions]


def stream_emissions(net: Any, emg: NDArray[np.float32], *, hop_samples: int = 80) -> tuple[NDArray, NDArray]:
    """What the board computes: raw EMG in ``hop_samples`` chunks -> streaming spectrogram -> streaming model.

    Returns ``(emissions (n_frames, 99), end_index (n_frames,))``; equal to the
    offline emissions of the same recording (the test of :mod:`.models`).
    """
    import torch

    from edgeemg.dsp import StreamingLogSpectrogram
    from edgeemg.tasks.keystroke.models import streaming_module

    mod = streaming_module(net).eval()
    state = mod.initial_state(1)
    dsp = StreamingLogSpectrogram(spec.N_FFT, spec.HOP, spec.N_CHANNELS)
    outs, idx = [], []
    with torch.no_grad():
        for a in range(0, emg.shape[0], hop_samples):
            frames = dsp.process(np.ascontiguousarray(emg[a:a + hop_samples], dtype=np.float32))
            if len(frames.end_index) == 0:
                continue
            x = torch.from_numpy(spec.model_input(frames.data))[None]  # (1, n, 2, 16, 33)
            out, *state = mod(x, *state)
            outs.append(out[0].numpy())
            idx.append(frames.end_index)
    return np.concatenate(outs), np.concatenate(idx)


def _eval_sessions(ckpt: Checkpoint, data: list[Path] | None, simulate: bool, seed: int,
                   progress: bool, plan: SimulationPlan) -> tuple[list[PreparedSession], str]:
    """Files as given, or a simulated later session of a training user / session 0 of an unseen one (test text)."""
    _check_source(data, simulate)
    if not simulate:
        return read_sessions(list(data or []), progress=progress), "files"
    users = ckpt.meta.get("user_seeds") or ([ckpt.meta["user_seed"]] if ckpt.meta.get("user_seed") is not None
                                            else [])
    if int(seed) in [int(u) for u in users]:
        trained = int(ckpt.meta.get("train_sessions") or plan.train_sessions)
        return personal_test_sessions(seed, trained, plan, progress), \
            f"personalised (user {seed}, session {trained + 1})"
    if ckpt.meta.get("val_user") is not None and int(ckpt.meta["val_user"]) == int(seed):
        log.warning("keystroke eval: user %d validated this model's training (early stopping); an unseen user "
                    "scores it fairly", seed)
    return unseen_user_sessions(seed, plan, progress), f"generic (user {seed}, trained on users {users})"


def evaluate(
    checkpoint: Checkpoint,
    data: list[Path] | None,
    *,
    simulate: bool,
    seed: int,
    device: str,
    progress: bool,
    options: dict[str, Any] | None,
    plan: SimulationPlan | None = None,
) -> dict[str, Any]:
    """Score a checkpoint: ``cer``, ``ier``, ``der``, ``ser`` (%), ``algorithmic_latency_ms``, ``model``, ``n_params``.

    The top-level rates are those of the beam search with the LM when
    ``options["lm"]`` names one (``decoder`` says which), else of greedy decoding;
    ``greedy`` and ``beam_lm`` hold both. ``beam_lm`` commits characters as the
    board does (``max_delay_frames`` bounds the wait); ``beam_lm_offline`` is the
    same search over each whole prompt before committing, at the checkpoint's
    ``offline_decoder`` LM settings (host decoding: the default TDS's later
    session 18.6 % as the board commits, 15.0 % over whole prompts, at a median
    character wait of seconds instead of ~50 ms). ``median_emission_delay_ms`` is the
    learned CTC delay from key press to emission (correctly decoded keys).
    """
    from edgeemg.tasks.keystroke.lm import CharNgramLM
    from edgeemg.tasks.keystroke.transfer import lm_check
    from edgeemg.tasks.torch_support import count_parameters

    options = check_options(TASK, options, EVAL_OPTIONS, "eval")
    if plan is None:  # score on sessions as long as the training ones
        secs = checkpoint.meta.get("sim_seconds")
        plan = SimulationPlan(seconds=float(secs), eval_seconds=float(secs)) if secs else DEFAULT_SIMULATION
    net = load_model(checkpoint)
    lm = CharNgramLM.load(options["lm"]) if options.get("lm") else None  # read before the expensive part
    sessions, protocol = _eval_sessions(checkpoint, data, simulate, seed, progress, plan)
    if REFERENCE_KEY in checkpoint.meta:  # a generic model: turned to this user's band from unlabeled typing
        calib = calibration_sessions(seed, plan, progress) if simulate else sessions
        checkpoint, shift = oriented_to(checkpoint, calib, lm_check(calib, lm))
        protocol += (f", band turned by {shift.tolist()} electrodes"
                     + ("" if simulate else ", the turn chosen from the scored sessions' own typing (no labels read)"))
        net = load_model(checkpoint)
    emissions = model_emissions(net, sessions, device)
    greedy = score_sessions(emissions, sessions)
    out: dict[str, Any] = {**greedy.to_dict(), "decoder": "greedy",
                           "algorithmic_latency_ms": net.algorithmic_latency_ms, "model": checkpoint.model,
                           "n_params": int(count_parameters(net)), "protocol": protocol,
                           "n_prompts": len(greedy.targets), "n_target_chars": greedy.rates.target_chars,
                           "greedy": greedy.to_dict()}
    if lm is not None:
        cfg = DecoderConfig.from_dict({**checkpoint.meta.get("decoder", {}), "kind": "beam"})
        beam = score_sessions(emissions, sessions, KeystrokeDecoder(cfg, lm))
        offline = {**checkpoint.meta.get("offline_decoder", {}), "kind": "beam", "max_delay_frames": None}
        whole = score_sessions(emissions, sessions, KeystrokeDecoder(replace(cfg, **offline), lm))
        out.update(beam.to_dict(), decoder="beam+lm", beam_lm={**beam.to_dict(), "lm": str(options["lm"]),
                                                               "lm_order": lm.order, **cfg.to_dict()},
                   beam_lm_offline={**whole.to_dict(), **replace(cfg, **offline).to_dict()})
    if "plot" in options and checkpoint.meta.get("history"):
        from edgeemg.tasks.plots import plot_history

        hist = {k: v for k, v in checkpoint.meta["history"].items() if k != "lr"}
        plot_history(hist, Path(options["plot"]) / f"keystroke_{checkpoint.model}_training.png",
                     title=f"keystroke {checkpoint.model}")
    return out


__all__ = ["CPU_PRESET", "CPU_SIMULATION", "MODELS", "SimulationPlan", "cpu_train_config", "evaluate", "greedy_decode",
           "load_model", "model_emissions", "score_sessions", "split_examples", "stream_emissions", "train"]
