"""What the export chain needs from the keystroke task: a *stateful* streaming model (torch; export host only).

The board runs the keystroke decoder in 40 ms hops: the bundle's DSP chain is the
log-spectrogram (n_fft 64, hop 16 -> 125 Hz frames) plus a ``stack`` of 5 frames
every 5 frames, so each model call gets one chunk ``(1, 5, 33, 32)`` of new frames
and the carried state (TDS: the causal conv caches; CNN+LSTM: conv caches plus
the LSTM's ``h`` and ``c``). The exported graph is :class:`BoardStreamingTDS` /
:class:`BoardStreamingCnnLstm`: the spectrogram layout -> model layout reshuffle
(:func:`~edgeemg.tasks.keystroke.spec.model_input`) is inside the graph, with
positive-dim ``permute`` only, so the engine needs no task code before the model.

Why the chunk length is fixed at 5 frames: the dynamo export of the streaming
TDS is exact at any chunk length (its frame axis is exported dynamic, so an
offline one-shot pass over a whole recording runs through the same int8 file),
but the CNN+LSTM's variable-length graph fails in onnxruntime, so it is exported
at the traced length, the runtime's hop.

Data: the checkpoint's own simulated user (re-simulated with its seed) or its
recordings. Calibration: chunks of the first training session, each with the
state the float model carried into it (a state input quantized from zeros would
clip on the board). Held out: a later session of the same user (personalised,
the model's use case), run chunk by chunk from zero state as the board does and
decoded greedily; the tolerance metric is CER in percent (lower is better).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.export.hooks import DataSource, HeldOut, SequenceCalibrationReader, StateTensor, TaskExport
from edgeemg.export.hooks import resolve_recordings_source
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke import workflow as wf
from edgeemg.tasks.keystroke.decoder import DecoderConfig

log = logging.getLogger(__name__)

INPUT_NAME = "x"
OUTPUT_NAME = "logits"
DECODER_CLASS = "edgeemg.tasks.keystroke.decoder:KeystrokeDecoder"
CHUNK_FRAMES = 5
"""Spectrogram frames per model call: 5 x 8 ms = the 40 ms hop."""
LM_FILE = "lm.bin"
TRUTH_WINDOW_MS = (-200.0, 500.0)
"""Where a key's character may be emitted, from the end of its muscle burst (``edgeemg bench``). Early: a causal
model can name a key once its burst has begun (onset 50 ms before the press, end ~40 ms after it in the simulator).
Late: the beam commits a character at most ``max_delay_frames`` (64 ms by default) after it entered the best prefix, plus
one 40 ms hop. A wider window only adds chance pairings of a poor model's characters with other keys."""
HELD_OUT_SECONDS = 60.0
"""Default held-out length when the checkpoint was trained on simulated typing (a later session)."""
HELD_OUT_PIECE_S = 10.0
"""The held-out session is scored in pieces this long (at least two), each streamed from zero state: the chain
judges the int8 CER loss with a bootstrap over held-out items (``edgeemg.export.significance``), which needs
several; one whole session was one item. A piece starts cold, as the board does after it starts."""


def _torch_wrappers() -> tuple[type, type, type]:
    import torch
    from torch import nn

    def to_model_layout(x: torch.Tensor) -> torch.Tensor:
        # (N, T, 33, 32) spectrogram frames -> (N, T, 2, 16, 33), as spec.model_input does in numpy
        n, t = x.shape[0], x.shape[1]
        return x.reshape(n, t, spec.N_FREQ, spec.N_BANDS, spec.N_ELECTRODES).permute(0, 1, 3, 4, 2)

    class BoardStreamingTDS(nn.Module):
        """``forward(x (1, T, 33, 32), conv_cache) -> (log-probs (1, T, 99), conv_cache')``."""

        def __init__(self, stream: nn.Module) -> None:
            super().__init__()
            self.stream = stream

        def forward(self, x: torch.Tensor, conv_cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.stream(to_model_layout(x), conv_cache)

    class BoardStreamingCnnLstm(nn.Module):
        """``forward(x (1, 5, 33, 32), conv_cache, h, c) -> (log-probs (1, 5, 99), conv_cache', h', c')``."""

        def __init__(self, stream: nn.Module) -> None:
            super().__init__()
            self.stream = stream

        def forward(self, x: torch.Tensor, conv_cache: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.stream(to_model_layout(x), conv_cache, h, c)

    class EagerStreaming(nn.Module):
        """The board's per-hop computation in PyTorch eager: ``forward(x chunk) -> log-probs``, state kept inside.

        What ``edgeemg bench --checkpoint`` times against the int8 engine: one
        40 ms hop with the state carried, as the board does, rather than a
        stateless pass the board never runs.
        """

        def __init__(self, board: nn.Module, state: tuple[torch.Tensor, ...]) -> None:
            super().__init__()
            self.board = board
            self.state = state

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, *st = self.board(x, *self.state)
            self.state = tuple(st)
            return out

    return BoardStreamingTDS, BoardStreamingCnnLstm, EagerStreaming


def board_module(ckpt: Checkpoint) -> tuple[Any, list[StateTensor]]:
    """The exported form of a checkpoint and its state tensors (batch 1, zeros at start).

    Raises
    ------
    InvalidInputError
        An offline model (``cnn_bilstm``, a centred TDS): it needs future frames and cannot stream.
        A generic model (:mod:`.alignment`): it reads no user's band until fine-tuned.
    """
    from edgeemg.tasks.keystroke.alignment import REFERENCE_KEY
    from edgeemg.tasks.keystroke.models import streaming_module

    if REFERENCE_KEY in ckpt.meta:  # its weights read a shared band frame, not any one user's band
        raise InvalidInputError("keystroke export: expected a model for one user's band, received a generic "
                                "(many-user) model; fine-tune it first: edgeemg train keystroke --init CKPT "
                                "--data YOUR_SESSIONS, and export that")
    net = wf.load_model(ckpt)
    if not getattr(net.config, "causal", True):
        what = ("the offline bidirectional CNN+LSTM reads whole prompts, so it cannot stream on the board; "
                "train --model cnn_lstm or tds for the board" if ckpt.model == "cnn_bilstm" else
                "centred convolutions have look-ahead; train with causal=True")
        raise InvalidInputError(f"keystroke export: expected a causal (streaming) model, received "
                                f"'{ckpt.model}' with causal=False: {what}")
    stream = streaming_module(net).eval()
    tds, lstm, _ = _torch_wrappers()
    board = (tds if ckpt.model == "tds" else lstm)(stream).eval()
    state = [StateTensor(name, f"{name}_next", tuple(int(d) for d in t.shape))
             for name, t in zip(stream.state_names, stream.initial_state(1))]
    return board, state


def build_module(ckpt: Checkpoint) -> Any:
    """PyTorch eager reference for ``edgeemg bench``: one chunk in, log-probs out, state carried inside."""
    import torch

    board, state = board_module(ckpt)
    _, _, eager = _torch_wrappers()
    return eager(board, tuple(torch.zeros(*s.shape) for s in state)).eval()


def dsp_frames(x_model: NDArray[np.float32]) -> NDArray[np.float32]:
    """Model-layout frames (T, 2, 16, 33) back to the DSP's (T, 33, 32) (inverse of :func:`spec.model_input`)."""
    t = x_model.shape[0]
    return np.ascontiguousarray(x_model.transpose(0, 3, 1, 2).reshape(t, spec.N_FREQ, spec.N_CHANNELS),
                                dtype=np.float32)


def chunks(frames: NDArray[np.float32], n: int = CHUNK_FRAMES) -> NDArray[np.float32]:
    """(T, 33, 32) -> (T // n, n, 33, 32): what the ``stack`` stage hands the model (a ragged tail is dropped)."""
    k = frames.shape[0] // n
    return frames[: k * n].reshape(k, n, *frames.shape[1:])


def calibration_feeds(board: Any, state: list[StateTensor], sequences: list[NDArray[np.float32]],
                      max_chunks: int) -> list[dict[str, NDArray[np.float32]]]:
    """Run the float board module over each sequence chunk by chunk; one feed (chunk + state in) per chunk."""
    import torch

    feeds = []
    with torch.no_grad():
        for seq in sequences:
            st = [torch.zeros(*s.shape) for s in state]
            for chunk in seq[:max_chunks]:
                x = np.ascontiguousarray(chunk[None], dtype=np.float32)
                feeds.append({INPUT_NAME: x, **{s.input: t.numpy().copy() for s, t in zip(state, st)}})
                _, *st = board(torch.from_numpy(x), *st)
    return feeds


def _cut_segments(segments: tuple[Any, ...], n_frames: int) -> tuple[Any, ...]:
    """Prompt segments cut at ``n_frames`` (the held-out chunks drop a ragged tail; a short session may end
    mid-prompt): a cut prompt keeps the keys pressed before the cut, so every scored key had its frames."""
    out = []
    for g in segments:
        if g.start >= n_frames:
            continue
        if g.end <= n_frames:
            out.append(g)
            continue
        keep = [i for i, f in enumerate(g.key_frames) if f < n_frames - 1]
        if keep:
            out.append(dataclasses.replace(g, end=n_frames, classes=tuple(g.classes[i] for i in keep),
                                           key_frames=tuple(g.key_frames[i] for i in keep)))
    return tuple(out)


def held_out_pieces(sessions: list[Any]) -> list[Any]:
    """Each session cut into equal pieces of :data:`HELD_OUT_PIECE_S` (or half the session, if shorter).

    A piece keeps the keys pressed inside it (a prompt cut by a piece boundary
    keeps its keys on each side), frames counted from the piece's start; pieces
    without a key are left out (their CER is undefined).
    """
    out = []
    for ses in sessions:
        n = ses.x.shape[0]
        length = int(min(HELD_OUT_PIECE_S / spec.FRAME_S, n // 2)) // CHUNK_FRAMES * CHUNK_FRAMES
        for a in range(0, n - length + 1, length) if length >= CHUNK_FRAMES else ():
            b = a + length
            segs = []
            for g in ses.segments:
                keep = [i for i, f in enumerate(g.key_frames) if a <= f < b - 1]
                if keep:
                    segs.append(dataclasses.replace(g, start=max(g.start, a) - a, end=min(g.end, b) - a,
                                                    classes=tuple(g.classes[i] for i in keep),
                                                    key_frames=tuple(g.key_frames[i] - a for i in keep)))
            if segs:
                out.append(dataclasses.replace(ses, x=ses.x[a:b], segments=tuple(segs),
                                               name=f"{ses.name} frames {a}-{b}"))
    return out


def cer_metric(sessions: list[Any]):
    """``metric(seq_index, scores (n_seq, n_chunks, 5, 99)) -> {"cer", "ier", "der", "ser"}`` in percent, greedy.

    Greedy decoding, as the bundle's default decoder: it isolates what int8
    does to the emissions from what a beam and LM would repair.
    """

    def metric(y: NDArray[np.int64], scores: NDArray[np.float32]) -> dict[str, float]:
        s = np.asarray(scores)
        if s.ndim != 4 or s.shape[-1] != spec.N_CLASSES or len(y) != s.shape[0]:
            raise DataFormatError(f"keystroke metric: expected scores (n_seq={len(y)}, n_chunks, frames, "
                                  f"{spec.N_CLASSES}), received {s.shape}")
        ems, used = [], []
        for i in np.asarray(y, dtype=np.int64):
            em = s[i].reshape(-1, spec.N_CLASSES)
            ses = sessions[int(i)]
            used.append(dataclasses.replace(ses, segments=_cut_segments(ses.segments, len(em))))
            ems.append(em)
        d = wf.score_sessions(ems, used).to_dict()
        return {k: float(d[k]) for k in ("cer", "ier", "der", "ser")}

    return metric


def _sessions(ckpt: Checkpoint, source: DataSource) -> tuple[list[Any], list[Any], str]:
    from edgeemg.tasks.keystroke.protocol import personal_test_sessions, unseen_user_sessions
    from edgeemg.tasks.keystroke.sessions import read_sessions, simulated_sessions

    data, simulate = resolve_recordings_source(ckpt, source)
    if simulate:
        plan = source.plan or wf.SimulationPlan(seconds=30.0, eval_seconds=HELD_OUT_SECONDS)
        user = int(ckpt.meta.get("user_seed") if ckpt.meta.get("user_seed") is not None else ckpt.meta.get("seed", 0))
        trained = int(ckpt.meta.get("train_sessions") or plan.train_sessions)
        cal = simulated_sessions(user, [0], plan.seconds, text="train", snr_db=plan.snr_db)
        if source.held_out_seed is not None and int(source.held_out_seed) != user:
            held = unseen_user_sessions(int(source.held_out_seed), plan)
            text = f"generic: simulated user {source.held_out_seed}, session 0 ({plan.eval_seconds:g} s)"
        else:
            held = personal_test_sessions(user, trained, plan)
            text = f"personalised: simulated user {user}, later session {trained + 1} ({plan.eval_seconds:g} s)"
        return cal, held, text
    sessions = read_sessions(list(data or []))
    if len(sessions) < 2:
        raise DataFormatError(f"keystroke export: expected at least 2 sessions (calibration + held out), received "
                              f"{len(sessions)} from {[str(p) for p in data or []]}")
    return sessions[:-1], sessions[-1:], f"last session of {len(sessions)} ({sessions[-1].name})"


def prepare(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """The keystroke :class:`~edgeemg.export.hooks.TaskExport` (streaming TDS or CNN+LSTM with explicit state)."""
    del progress
    meta = ckpt.meta
    board, state = board_module(ckpt)
    seed = int(meta.get("seed", 0))
    cal_sessions, held_sessions, held_text = _sessions(ckpt, source)
    cal_seqs = [chunks(dsp_frames(s.x)) for s in cal_sessions]
    feeds = calibration_feeds(board, state, cal_seqs, max_chunks=max(4 * calibration_items, 256))
    held_sessions = held_out_pieces(held_sessions)
    held = [chunks(dsp_frames(s.x)) for s in held_sessions]
    n = min((len(h) for h in held), default=0)
    if len(held) < 2 or n < 2:
        raise DataFormatError(f"keystroke export: the held-out session gives {len(held)} pieces of {n} chunks of "
                              f"{CHUNK_FRAMES} frames; expected a few seconds at least")
    x_held = np.stack([h[:n] for h in held])
    net = board.stream.model
    dcfg = DecoderConfig.from_dict({**meta.get("decoder", {}), "kind": "greedy"}).to_dict()
    extra: dict[str, Path] = {}
    if source.lm is not None:
        lm_path = Path(source.lm)
        if not lm_path.is_file():
            raise InvalidInputError(f"--lm {lm_path}: expected an LM file from `edgeemg lm build`, not found")
        from edgeemg.tasks.keystroke.lm import CharNgramLM

        CharNgramLM.load(lm_path)  # refuse a file the board decoder could not read, before exporting
        dcfg = {**dcfg, "kind": "beam", "lm": LM_FILE}
        extra[LM_FILE] = lm_path
    chunk_wait_ms = 1000.0 * spec.FRAME_S * (CHUNK_FRAMES - 1)
    added = 0.0 if dcfg["kind"] == "greedy" else 1000.0 * spec.FRAME_S * float(dcfg.get("max_delay_frames") or 0)
    dynamic = {0: "frames"} if ckpt.model == "tds" else {}
    manifest = {
        "task": wf.TASK,
        "model": ckpt.model,
        "fs_hz": float(spec.FS_HZ),
        "channel_names": list(spec.CHANNEL_NAMES),
        "n_channels": spec.N_CHANNELS,
        "dsp": [*spec.dsp_description(), {"stage": "stack", "length": CHUNK_FRAMES, "hop": CHUNK_FRAMES}],
        "window": spec.N_FFT + (CHUNK_FRAMES - 1) * spec.HOP,
        "hop": CHUNK_FRAMES * spec.HOP,
        "labels": list(spec.LABELS),
        "blank": int(spec.BLANK),
        "decoder": dcfg,
        "decoder_class": DECODER_CLASS,
        # model (one frame, no look-ahead) + waiting for the chunk's other 4 frames
        "algorithmic_latency_ms": float(net.algorithmic_latency_ms) + chunk_wait_ms,
        "algorithmic_latency_parts_ms": {"model": float(net.algorithmic_latency_ms), "chunking": chunk_wait_ms},
        "decoder_added_latency_ms": added,
        "chunk_frames": CHUNK_FRAMES,
        # `edgeemg bench` character latency: from the end of each key's muscle burst (the simulator's truth time)
        # to the hop that emitted its character, keys and characters aligned in order as CER pairs them
        "truth_events": {"match": "sequence", "window_ms": list(TRUTH_WINDOW_MS)},
        "model_config": meta.get("model_config", {}),
        "outputs": [{"name": OUTPUT_NAME, "shape": [1, None if dynamic else CHUNK_FRAMES, spec.N_CLASSES],
                     "dtype": "float32", "kind": "log_probs"}],
    }
    notes = [f"{len(feeds)} chunks of {len(cal_sessions)} calibration session(s) ({CHUNK_FRAMES} frames each, with "
             "the float model's carried state)"]
    if ckpt.model == "tds":
        notes.append("frame axis exported dynamic: the same file runs 5-frame hops and one-shot offline passes")
    else:
        notes.append("exported at the fixed 5-frame hop: the variable-length CNN+LSTM graph fails in onnxruntime")
    return TaskExport(
        module=board,
        input_shape=(CHUNK_FRAMES, spec.N_FREQ, spec.N_CHANNELS),
        prune_groups=[],
        calibration=SequenceCalibrationReader(feeds, calibration_items, input_name=INPUT_NAME, seed=seed),
        held_out=HeldOut(x_held, np.arange(len(held), dtype=np.int64), held_text),
        metric=cer_metric(held_sessions),
        finetune=lambda module, epochs, progress: module,
        manifest=manifest,
        notes=notes,
        state=state,
        output_name=OUTPUT_NAME,
        dynamic_axes=dynamic,
        metric_lower_is_better=True,
        metric_in_percent=True,
        extra_files=extra,
    )


__all__ = ["CHUNK_FRAMES", "DECODER_CLASS", "board_module", "build_module", "calibration_feeds", "cer_metric",
           "chunks", "dsp_frames", "held_out_pieces", "prepare"]
