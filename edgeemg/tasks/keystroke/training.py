"""CTC training of the keystroke models (torch): augmentation, schedule, AMP, DDP.

What emg2qwerty does, in one loop without Lightning or Hydra:

* **Examples** are prompt segments (:mod:`.sessions`) with ``left_context``
  frames of signal before them: the causal model warms its state there and
  those frames are left out of the loss, as emg2qwerty's padded windows do.
* **Augmentation** on the log-spectra, which is exact because the spectrogram
  is per electrode and frame-aligned: band rotation (each band rolled by -1, 0
  or +1 electrodes, or turned by a random fraction of an electrode,
  :func:`fractional_roll`), left/right temporal jitter (the bands shifted against each
  other by up to 7 frames = 112 ms, emg2qwerty's 120 samples), SpecAugment
  (up to 3 time masks of <= 25 frames and 2 frequency masks of <= 4 bins per
  band). Every draw comes from one ``torch.Generator`` (no global RNG).
* **Optimiser**: AdamW, linear warm-up then cosine decay per step; CTC loss in
  float32 even under mixed precision (``autocast`` bf16 where the GPU has it,
  else fp16 with a GradScaler); gradient clipping.
* **Multi-GPU**: launched under ``torchrun`` (``WORLD_SIZE`` > 1 in the
  environment) the model is wrapped in DistributedDataParallel and each rank
  takes every ``world_size``-th example of the shared shuffled order.
* **Key-time cross-entropy** (``key_ce_weight``, not in emg2qwerty): the
  frames just after each press are also trained to name the key
  (:func:`key_ce_loss`). CTC alone, on minutes of typing, stays on the
  all-blank plateau for thousands of steps; with this term a tiny model names
  keys above chance within a few hundred (tests/test_task_keystroke_learning.py).
* Batch rows are cut from the session to the longest example's span (no zero
  padding, which SpectrogramNorm's batch statistics would count).
* The epoch with the best validation CER (greedy) is kept, ties (every
  all-blank epoch is 100 %) broken by the validation CTC loss; with
  ``patience`` the run stops once that many epochs brought no better one.
  Validation is a separate session (:mod:`.protocol`), so this is early
  stopping on how the model reads a session it never trained on.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgeemg.data.charset import CHARSET
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.anchor import StartAnchor
from edgeemg.tasks.keystroke.augmentation import augment
from edgeemg.tasks.keystroke.decoder import greedy_decode
from edgeemg.tasks.keystroke.metrics import error_rates
from edgeemg.tasks.keystroke.sessions import PreparedSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and augmentation settings (emg2qwerty's where it has one)."""

    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.1
    grad_clip: float = 5.0
    left_context: int = 64  # frames (0.5 s) of signal before an example, outside the loss (state warm-up)
    rotation_offsets: tuple[int, ...] = (-1, 0, 1)
    jitter_frames: int = 7
    time_masks: int = 3
    time_mask_frames: int = 25
    freq_masks: int = 2
    freq_mask_bins: int = 4
    segment_jitter_frames: int = 25  # random shift of the left context's start
    chunk_keys: tuple[int, int] | None = (4, 16)  # train on runs of this many keys (None: whole prompts)
    amp: bool = True
    key_ce_weight: float = 1.0  # weight of the key-time cross-entropy beside CTC (0: CTC alone)
    key_ce_frames: tuple[int, ...] = (1, 2, 3, 4)  # frames after a key's press frame that it supervises
    patience: int = 0  # stop after this many epochs without a better validation CER (0: run every epoch)
    gain_jitter_db: float = 0.0  # SD of a random per-electrode gain (dB of amplitude), drawn per example
    band_shift_sd: float = 0.0  # SD (electrodes) of a random fractional rotation of each band, drawn per example
    freeze_prefixes: tuple[str, ...] = ()  # parameters (name prefixes) held at their start for freeze_epochs
    freeze_epochs: int = 0
    l2sp: float = 0.0  # decay toward the starting weights (L2-SP, decoupled as AdamW's) in place of weight_decay

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Example:
    """Frames ``[start, end)`` of session ``session`` labelled ``classes``, pressed at ``key_frames``."""

    session: int
    start: int
    end: int
    classes: tuple[int, ...]
    key_frames: tuple[int, ...] = ()


def examples_of(sessions: list[PreparedSession], first: int = 0) -> list[Example]:
    """Every prompt segment of ``sessions`` as an example; session indices count from ``first``."""
    return [Example(first + i, s.start, s.end, s.classes, s.key_frames) for i, ses in enumerate(sessions)
            for s in ses.segments]


def chunk_examples(sessions: list[PreparedSession], prompts: list[Example], cfg: TrainConfig,
                   gen: torch.Generator) -> list[Example]:
    """Cut prompts into runs of ``cfg.chunk_keys`` keys, a new random partition every epoch.

    A run's frames end halfway between its last key press and the next one, so a
    key's burst (from ~50 ms before the press) and the emission a causal model
    makes shortly after it stay in the run that is labelled with the key; the
    frames before the run are context outside the loss. Short runs give many
    more optimiser steps per epoch than whole prompts, which is what gets a small
    CTC model off the all-blank plateau quickly.
    """
    if cfg.chunk_keys is None:
        return list(prompts)
    lo, hi = cfg.chunk_keys
    out = []
    for ex in prompts:
        seg = next(s for s in sessions[ex.session].segments if s.start == ex.start)
        kf = np.asarray(seg.key_frames)
        k = 0
        while k < len(kf):
            n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
            j = min(k + n, len(kf))
            a = ex.start if k == 0 else int((kf[k - 1] + kf[k]) // 2)
            b = ex.end if j == len(kf) else int((kf[j - 1] + kf[j]) // 2)
            out.append(Example(ex.session, a, b, tuple(seg.classes[k:j]), tuple(seg.key_frames[k:j])))
            k = j
    return out


def make_batch(sessions: list[PreparedSession], batch: list[Example], cfg: TrainConfig, gen: torch.Generator | None,
               train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded input (N, T, 2, 16, 33), targets, target lengths, loss start frame and end frame per example."""
    firsts, starts, ends = [], [], []
    for ex in batch:
        shift = 0
        if train and gen is not None and cfg.segment_jitter_frames:
            shift = int(torch.randint(-cfg.segment_jitter_frames, cfg.segment_jitter_frames + 1, (1,), generator=gen))
        a = max(min(ex.start - cfg.left_context + shift, ex.start), 0)
        firsts.append(a)
        starts.append(ex.start - a)
        ends.append(ex.end - a)
    # Every row is cut from its session to the batch's longest span: a short example
    # continues into the signal that follows it (outside its loss, and a causal model
    # cannot look ahead) rather than into zero padding, which SpectrogramNorm's batch
    # statistics would count as a third of the frames (log-power 0 is ~1.7 SD below
    # the mean), leaving training and evaluation normalised differently.
    t_max = max(ends)
    xs = []
    for ex, a in zip(batch, firsts):
        x = torch.from_numpy(sessions[ex.session].x[a:a + t_max])
        if x.shape[0] < t_max:  # the session ends: repeat its last frame
            x = torch.cat([x, x[-1:].expand(t_max - x.shape[0], *x.shape[1:])])
        if train and gen is not None:
            x = augment(x, cfg, gen)
        xs.append(x)
    xb = torch.stack(xs)  # (N, T, 2, 16, 33)
    targets = torch.tensor([c for ex in batch for c in ex.classes], dtype=torch.long)
    tlen = torch.tensor([len(ex.classes) for ex in batch], dtype=torch.long)
    return xb, targets, tlen, torch.tensor(starts), torch.tensor(ends)


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor, starts: torch.Tensor,
             ends: torch.Tensor) -> torch.Tensor:
    """Mean CTC loss over the frames ``[start, end)`` of each example (float32; blank = 98)."""
    n = log_probs.shape[0]
    lens = ends - starts
    t = int(lens.max())
    lp = log_probs.new_zeros(n, t, log_probs.shape[2]).float()
    for i in range(n):
        lp[i, : int(lens[i])] = log_probs[i, int(starts[i]):int(ends[i])].float()
    return nn.functional.ctc_loss(lp.permute(1, 0, 2), targets, lens, target_lengths, blank=spec.BLANK,
                                  reduction="mean", zero_infinity=True)


def key_ce_loss(log_probs: torch.Tensor, batch: list[Example], starts: torch.Tensor, ends: torch.Tensor,
                frames: tuple[int, ...]) -> torch.Tensor:
    """Mean cross-entropy of each key's class at ``frames`` after its press frame (inside the loss span).

    Why it is there: CTC alone has to discover *where* each key is before it can
    learn *which* key it is, and on a few minutes of typing, where one frame of
    log-spectra says little about the key (a linear probe on frames near presses
    gets ~40 %), a small model sits on the all-blank plateau for thousands of
    steps (``TrainConfig`` docs). The press times are in every emg2qwerty label,
    so this term points the model at the frames that carry the key from the first
    step; CTC still decides the blanks and the collapse. ``frames`` a few frames
    after the press also pin the emission delay of a causal model (8 ms a frame).
    """
    rows, cols, cls = [], [], []
    for i, ex in enumerate(batch):
        a = ex.start - int(starts[i])  # session frame of padded-input row 0
        for f, c in zip(ex.key_frames, ex.classes):
            for d in frames:
                t = f + d - a
                if int(starts[i]) <= t < int(ends[i]):
                    rows.append(i)
                    cols.append(t)
                    cls.append(c)
    if not rows:
        return log_probs.new_zeros(())
    lp = log_probs[torch.tensor(rows), torch.tensor(cols)].float()  # (n_targets, 99)
    return nn.functional.nll_loss(lp, torch.tensor(cls, device=lp.device))


@torch.no_grad()
def session_emissions(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Offline emissions of a whole session (T, 2, 16, 33) -> (T, 99) float32 log-probabilities."""
    model.eval()
    out = model(torch.from_numpy(x)[None].to(device))[0]
    return out.float().cpu().numpy()


def validate(model: nn.Module, sessions: list[PreparedSession], examples: list[Example],
             device: torch.device) -> tuple[float, float]:
    """Validation CER (greedy, %) and mean CTC loss over ``examples`` (emissions computed per session once).

    The loss is there to rank epochs whose CER ties: early in a CTC run every
    epoch decodes to nothing (CER 100 %), and ranking by CER alone would keep
    the first of them.
    """
    cache: dict[int, np.ndarray] = {}
    preds, tgts, losses = [], [], []
    for ex in examples:
        if ex.session not in cache:
            cache[ex.session] = session_emissions(model, sessions[ex.session].x, device)
        e = cache[ex.session][ex.start:ex.end]
        preds.append(greedy_decode(e))
        tgts.append(CHARSET.labels_to_str(ex.classes))
        lp = torch.from_numpy(e)[:, None]  # (T, N=1, 99)
        losses.append(float(nn.functional.ctc_loss(lp, torch.tensor([ex.classes]), [e.shape[0]], [len(ex.classes)],
                                                   blank=spec.BLANK, reduction="mean", zero_infinity=True)))
    return error_rates(preds, tgts).cer, float(np.mean(losses))


def greedy_cer(model: nn.Module, sessions: list[PreparedSession], examples: list[Example],
               device: torch.device) -> float:
    """Validation CER (greedy, %) over ``examples``."""
    return validate(model, sessions, examples, device)[0]


def distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def fit_ctc(model: nn.Module, sessions: list[PreparedSession], train_ex: list[Example], val_ex: list[Example], *,
            config: TrainConfig, device: torch.device, generator: torch.Generator, progress: bool,
            desc: str = "train") -> tuple[nn.Module, dict[str, list[float]]]:
    """Train with CTC; return the model with the best validation CER loaded, and the per-epoch history."""
    if not train_ex or not val_ex:
        raise InvalidInputError(
            f"fit_ctc: need training and validation segments, got {len(train_ex)} and {len(val_ex)}")
    rank, local_rank, world = distributed_env()
    ddp = world > 1
    if ddp:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
    model = model.to(device)
    net: nn.Module = model
    if ddp:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    anchor = StartAnchor(model, config)  # a fine-tune's frozen layers and L2-SP (inert from scratch)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0 if config.l2sp else config.weight_decay)
    n_per_epoch = len(chunk_examples(sessions, train_ex, config, torch.Generator().manual_seed(0)))
    steps_per_epoch = math.ceil(n_per_epoch / (config.batch_size * world))
    total = max(1, steps_per_epoch * config.epochs)
    warm = max(1, int(config.warmup_fraction * total))

    def lr_factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "val_cer": [], "val_loss": [], "lr": [],
                                       "cpu_s": []}
    cpu0 = time.process_time()
    best = ((math.inf, math.inf), copy.deepcopy(model.state_dict()))
    best_epoch = 0
    bar = tqdm(range(config.epochs), desc=desc, unit="epoch", disable=not progress or rank != 0, file=sys.stderr)
    for epoch in bar:
        net.train()
        anchor.start_epoch(epoch)
        epoch_ex = chunk_examples(sessions, train_ex, config, generator)
        order = torch.randperm(len(epoch_ex), generator=generator).tolist()
        mine = order[rank::world]
        tot_loss, n_batches = 0.0, 0
        for i in range(0, len(mine), config.batch_size):
            batch = [epoch_ex[j] for j in mine[i:i + config.batch_size]]
            xb, tg, tl, st, en = make_batch(sessions, batch, config, generator, train=True)
            xb = xb.to(device)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                out = net(xb)
            loss = ctc_loss(out, tg.to(device), tl.to(device), st, en)
            if config.key_ce_weight > 0:
                loss = loss + config.key_ce_weight * key_ce_loss(out, batch, st, en, config.key_ce_frames)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(opt)
            scaler.update()
            anchor.after_step(opt.param_groups[0]["lr"])
            sched.step()
            tot_loss += float(loss.detach())
            n_batches += 1
        cer, val_loss = validate(model, sessions, val_ex, device)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(tot_loss / max(n_batches, 1))
        history["val_cer"].append(cer)
        history["val_loss"].append(val_loss)
        history["lr"].append(float(sched.get_last_lr()[0]))
        history["cpu_s"].append(time.process_time() - cpu0)  # this process's CPU seconds so far (all threads)
        bar.set_postfix(loss=f"{tot_loss / max(n_batches, 1):.3f}", val_cer=f"{cer:.1f}")
        log.info("epoch %d: training loss %.4f, validation CER %.2f %%, CTC loss %.4f", epoch + 1,
                 tot_loss / max(n_batches, 1), cer, val_loss)
        if (cer, val_loss) < best[0]:  # CER first, the validation loss breaks ties (all-blank epochs)
            best = ((cer, val_loss), copy.deepcopy(model.state_dict()))
            best_epoch = epoch
        elif config.patience and epoch - best_epoch >= config.patience:
            log.info("early stop after epoch %d: no better validation CER for %d epochs", epoch + 1, config.patience)
            break
    model.load_state_dict(best[1])
    anchor.release()
    if ddp:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return model, history


__all__ = ["Example", "TrainConfig", "augment", "ctc_loss", "distributed_env", "examples_of", "fit_ctc",
           "greedy_cer", "key_ce_loss", "make_batch", "session_emissions", "validate"]
