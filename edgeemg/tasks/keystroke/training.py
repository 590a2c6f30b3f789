"""CTC training of the keystroke models (torch): augmentation, schedule, AMP, DDP.

What emg2qwerty does, in one loop without Lightning or Hydra:

* **Examples** are prompt segments (:mod:`.sessions`) with ``left_context``
  frames of signal before them: the causal model warms its state there and
  those frames are left out of the loss, as emg2qwerty's padded windows do.
* **Augmentation** on the log-spectra, which is exact because the spectrogram
  is per electrode and frame-aligned: band rotation (each band rolled by -1, 0
  or +1 electrodes), left/right temporal jitter (the bands shifted against each
  other by up to 7 frames = 112 ms, emg2qwerty's 120 samples), SpecAugment
  (up to 3 time masks of <= 25 frames and 2 frequency masks of <= 4 bins per
  band). Every draw comes from one ``torch.Generator`` (no global RNG).
* **Optimiser**: AdamW, linear warm-up then cosine decay per step; CTC loss in
  float32 even under mixed precision (``autocast`` bf16 where the GPU has it,
  else fp16 with a GradScaler); gradient clipping.
* **Multi-GPU**: launched under ``torchrun`` (``WORLD_SIZE`` > 1 in the
  environment) the model is wrapped in DistributedDataParallel and each rank
  takes every ``world_size``-th example of the shared shuffled order.
* The epoch with the best validation CER (greedy) is kept.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgeemg.data.charset import CHARSET
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke import spec
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Example:
    session: int
    start: int
    end: int
    classes: tuple[int, ...]


def examples_of(sessions: list[PreparedSession]) -> list[Example]:
    return [Example(i, s.start, s.end, s.classes) for i, ses in enumerate(sessions) for s in ses.segments]


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
            out.append(Example(ex.session, a, b, tuple(seg.classes[k:j])))
            k = j
    return out


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """One example (T, 2, 16, 33) -> augmented copy (see the module docstring)."""
    x = x.clone()
    t = x.shape[0]
    offs = cfg.rotation_offsets
    for b in range(spec.N_BANDS):
        if offs:
            o = offs[int(torch.randint(len(offs), (1,), generator=gen))]
            x[:, b] = x[:, b].roll(o, dims=1)  # (T, electrodes, freq): rotate the band
    if cfg.jitter_frames:
        j = int(torch.randint(-cfg.jitter_frames, cfg.jitter_frames + 1, (1,), generator=gen))
        if j:
            x[:, 0] = x[:, 0].roll(j, dims=0)  # left band moved against the right one (edges wrap: few frames)
    for b in range(spec.N_BANDS):
        for _ in range(int(torch.randint(cfg.time_masks + 1, (1,), generator=gen))):
            w = int(torch.randint(cfg.time_mask_frames + 1, (1,), generator=gen))
            a = int(torch.randint(max(t - w, 1), (1,), generator=gen))
            x[a:a + w, b] = 0.0
        for _ in range(int(torch.randint(cfg.freq_masks + 1, (1,), generator=gen))):
            w = int(torch.randint(cfg.freq_mask_bins + 1, (1,), generator=gen))
            a = int(torch.randint(max(spec.N_FREQ - w, 1), (1,), generator=gen))
            x[:, b, :, a:a + w] = 0.0
    return x


def make_batch(sessions: list[PreparedSession], batch: list[Example], cfg: TrainConfig, gen: torch.Generator | None,
               train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded input (N, T, 2, 16, 33), targets, target lengths, loss start frame and end frame per example."""
    xs, starts, ends = [], [], []
    for ex in batch:
        ses = sessions[ex.session]
        shift = 0
        if train and gen is not None and cfg.segment_jitter_frames:
            shift = int(torch.randint(-cfg.segment_jitter_frames, cfg.segment_jitter_frames + 1, (1,), generator=gen))
        a = max(min(ex.start - cfg.left_context + shift, ex.start), 0)
        x = torch.from_numpy(ses.x[a:ex.end])
        if train and gen is not None:
            x = augment(x, cfg, gen)
        xs.append(x)
        starts.append(ex.start - a)
        ends.append(ex.end - a)
    t_max = max(x.shape[0] for x in xs)
    xb = torch.zeros(len(xs), t_max, *xs[0].shape[1:])
    for i, x in enumerate(xs):
        xb[i, : x.shape[0]] = x
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


@torch.no_grad()
def session_emissions(model: nn.Module, x: np.ndarray, device: torch.device) -> np.ndarray:
    """Offline emissions of a whole session (T, 2, 16, 33) -> (T, 99) float32 log-probabilities."""
    model.eval()
    out = model(torch.from_numpy(x)[None].to(device))[0]
    return out.float().cpu().numpy()


def greedy_cer(model: nn.Module, sessions: list[PreparedSession], examples: list[Example],
               device: torch.device) -> float:
    """Validation CER (greedy) over ``examples`` (emissions computed per session once)."""
    cache: dict[int, np.ndarray] = {}
    preds, tgts = [], []
    for ex in examples:
        if ex.session not in cache:
            cache[ex.session] = session_emissions(model, sessions[ex.session].x, device)
        preds.append(greedy_decode(cache[ex.session][ex.start:ex.end]))
        tgts.append(CHARSET.labels_to_str(ex.classes))
    return error_rates(preds, tgts).cer


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
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_per_epoch = len(chunk_examples(sessions, train_ex, config, torch.Generator().manual_seed(0)))
    steps_per_epoch = math.ceil(n_per_epoch / (config.batch_size * world))
    total = max(1, steps_per_epoch * config.epochs)
    warm = max(1, int(config.warmup_fraction * total))

    def lr_factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "val_cer": [], "lr": []}
    best = (math.inf, copy.deepcopy(model.state_dict()))
    bar = tqdm(range(config.epochs), desc=desc, unit="epoch", disable=not progress or rank != 0, file=sys.stderr)
    for epoch in bar:
        net.train()
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
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            tot_loss += float(loss.detach())
            n_batches += 1
        cer = greedy_cer(model, sessions, val_ex, device)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(tot_loss / max(n_batches, 1))
        history["val_cer"].append(cer)
        history["lr"].append(float(sched.get_last_lr()[0]))
        bar.set_postfix(loss=f"{tot_loss / max(n_batches, 1):.3f}", val_cer=f"{cer:.1f}")
        log.info("epoch %d: CTC loss %.4f, validation CER %.2f %%", epoch + 1, tot_loss / max(n_batches, 1), cer)
        if cer < best[0]:
            best = (cer, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[1])
    if ddp:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return model, history


__all__ = ["Example", "TrainConfig", "augment", "ctc_loss", "distributed_env", "examples_of", "fit_ctc",
           "greedy_cer", "make_batch", "session_emissions"]
