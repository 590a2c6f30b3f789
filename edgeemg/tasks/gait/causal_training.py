"""Training of the causal gait model on whole sequences (torch; training host only).

Why sequences rather than windows: a 1.3 s window every 20 ms would copy each
sample 65 times (a 600 s record becomes 4.6 GB of windows); the convnet run
over a crop of a recording computes every frame of the crop at once, sharing
the work of overlapping windows, so an epoch costs about one pass over the
signal. Loss: class-weighted cross-entropy on the state plus binary
cross-entropy on each foot's contact, the best epoch kept by validation macro
F1 of the state (as the window classifiers are).
"""

from __future__ import annotations

import copy
import logging
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.classification import confusion_matrix, macro_f1
from edgeemg.tasks.classifier_training import class_weights
from edgeemg.tasks.gait.causal_models import CausalGaitNet, frames_in

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceSet:
    """Recordings ready for the causal model: z-scored signal and per-frame targets on the hop grid.

    ``states[r][j]`` / ``contact[r][j]`` are the targets of frame ``j`` of
    recording ``r``, whose newest sample is ``rf - 1 + hop * j``.
    """

    z: list[NDArray[np.float32]]  # (n_samples, n_channels) each
    states: list[NDArray[np.int64]]  # (n_frames,)
    contact: list[NDArray[np.float32]]  # (n_frames, n_feet)


STEP_BUDGET = 1600
"""Optimiser steps of a default training: epochs follow from the data (one epoch = one pass), so an hour of
recordings trains in about the time of ten minutes (at most :data:`MAX_EPOCHS`, at least :data:`MIN_EPOCHS`)."""
MIN_EPOCHS, MAX_EPOCHS = 4, 40


def default_epochs(data: SequenceSet, crop_frames: int, batch_size: int) -> int:
    """Epochs that make about :data:`STEP_BUDGET` steps on ``data``."""
    steps = max(1, sum(len(s) // crop_frames for s in data.states) // batch_size)
    return int(np.clip(round(STEP_BUDGET / steps), MIN_EPOCHS, MAX_EPOCHS))


@dataclass(frozen=True)
class CausalTrainConfig:
    """Optimiser settings: Adam, crops of ``crop_frames`` frames, ``batch_size`` crops per step.

    ``epochs`` None: :func:`default_epochs`. ``contact_weight`` scales the contact loss against the
    state loss: 3 rather than 1 took heel strikes on held-out subjects from 92.8 % detected / 28 ms
    mean absolute error to 97.2 % / 21 ms and toe-offs from 91.1 % / 25 ms to 95.1 % / 24 ms, for
    a smoothed macro F1 of 0.783 instead of 0.804 (10 x 600 s simulated, one training each).

    ``gain_sd``: each crop's channels are scaled by ``exp(N(0, gain_sd))`` (0: off). People differ in
    electrode placement and tissue, so a channel's amplitude says little about the state across people;
    only amplitudes relative to the same channel's recent bursts carry over. The scaling removes the
    absolute cue, so the network must learn the relative one. 0.35 (the simulator's spread of a muscle's
    amplitude between people, log-sd) rather than 0, on the demo's data (10 x 360 s, 16 epochs), took
    the held-out frame macro F1 from 0.776 to 0.818 and false transitions from 1.83 to 0.75 per minute
    (4 x 180 s), and the int8 demo band from a missed walk -> stop and 3 false transitions per minute to
    all four transitions and none.

    ``lag_sd_s``: each crop's channels are shifted in time by ``N(0, lag_sd_s)`` seconds (rounded to samples;
    0: off) against the labels and foot contacts. People differ in when each muscle fires relative to foot
    contact (the per-person heel-strike / toe-off offsets that ``edgeemg calibrate`` fits span about
    -30 to +20 ms), so one muscle's burst times an event only up to that person's offset, while
    offsets of different muscles partly cancel. The shift makes every single channel's timing
    unreliable by that much, so the network must combine them rather than trust one. 20 ms rather than 0
    (``benchmarks/report_gait.py``, 10 x 600 s, held-out S1001-S1004, 50 ms contact look-back, one training
    each): heel strikes 97.8 % / 21.4 ms -> 98.9 % / 14.2 ms mean absolute error, toe-offs 97.5 % / 21.8 ms
    -> 98.3 % / 20.7 ms, raw frame macro F1 0.859 -> 0.875 (the HMM-smoothed 0.807 -> 0.760: validation
    chose a heavier smoothing, 0 false transitions per minute held out instead of 0.75). The demo's
    smaller model (10 x 360 s, 16 epochs) trains with 0 instead (``edgeemg.demo.DEMO_PLANS``): there the
    shift cost the state head its short "stop" on two of eight bench bands (see the README's demo section).
    """

    epochs: int | None = None
    batch_size: int = 16
    crop_frames: int = 128
    lr: float = 2e-3
    contact_weight: float = 3.0
    gain_sd: float = 0.35
    lag_sd_s: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _crops(data: SequenceSet, crop_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """(recording, first frame) of crops covering every recording about once, at random offsets."""
    out = []
    for r, s in enumerate(data.states):
        n = len(s)
        if n < crop_frames:
            continue
        starts = np.arange(int(rng.integers(0, crop_frames)) % max(1, n - crop_frames + 1), n - crop_frames + 1,
                           crop_frames)
        out += [(r, int(j)) for j in starts]
    rng.shuffle(out)
    return out


def _batch(data: SequenceSet, crops: list[tuple[int, int]], rf: int, hop: int, frames: int,
           gain: NDArray[np.float32] | None = None,
           lag: NDArray[np.int64] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Signal, state and contact targets of ``crops``.

    ``gain`` (crops, channels) scales each crop's channels; ``lag`` (crops, channels) delays each crop's
    channels by that many samples (negative: advances them), clipped so the shifted crop stays inside
    its recording.
    """
    length = rf + (frames - 1) * hop
    if lag is None:
        x = np.stack([data.z[r][j * hop : j * hop + length] for r, j in crops])
    else:
        x = np.stack([_lagged(data.z[r], j * hop, length, lg) for (r, j), lg in zip(crops, lag)])
    if gain is not None:
        x = x * gain[:, None, :]
    y = np.stack([data.states[r][j : j + frames] for r, j in crops])
    c = np.stack([data.contact[r][j : j + frames] for r, j in crops])
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(c)


def _lagged(z: NDArray[np.float32], start: int, length: int, lag: NDArray[np.int64]) -> NDArray[np.float32]:
    """Samples ``start .. start + length - 1`` of ``z`` with channel ``c`` delayed by ``lag[c]`` samples."""
    lag = np.clip(lag, start + length - z.shape[0], start)
    return np.stack([z[start - int(d) : start - int(d) + length, c] for c, d in enumerate(lag)], axis=1)


@torch.no_grad()
def predict_sequence(net: CausalGaitNet, z: NDArray[np.float32], chunk_frames: int = 2048) -> NDArray[np.float32]:
    """(n_frames, n_outputs) outputs over a whole recording, chunked (chunks overlap by the receptive field)."""
    net.eval()
    rf, hop = net.receptive_field, net.hop
    n = frames_in(z.shape[0], rf, hop)
    out = []
    for j in range(0, n, chunk_frames):
        m = min(chunk_frames, n - j)
        seg = torch.from_numpy(np.ascontiguousarray(z[j * hop : j * hop + rf + (m - 1) * hop]))[None]
        out.append(net.forward_sequence(seg)[0].T.numpy())
    return np.concatenate(out) if out else np.empty((0, net.n_outputs), np.float32)


def _val_f1(net: CausalGaitNet, val: SequenceSet, n_states: int) -> float:
    pred = np.concatenate([predict_sequence(net, z)[:, :n_states].argmax(1) for z in val.z])
    return macro_f1(confusion_matrix(np.concatenate(val.states), pred, n_states))


def fit_causal(net: CausalGaitNet, train: SequenceSet, val: SequenceSet, *, n_states: int, config: CausalTrainConfig,
               seed: int, progress: bool, fs_hz: float) -> tuple[CausalGaitNet, dict[str, list[float]]]:
    """Train ``net`` (CPU threads as torch has them); return it with the best validation epoch's weights."""
    if not train.z or not val.z:
        raise InvalidInputError(f"fit_causal: need training and validation recordings, got {len(train.z)} and "
                                f"{len(val.z)}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    epochs = config.epochs or default_epochs(train, config.crop_frames, config.batch_size)
    weight = torch.from_numpy(class_weights(np.concatenate(train.states), n_states))
    ce, bce = nn.CrossEntropyLoss(weight=weight), nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "val_macro_f1": []}
    best = (-1.0, copy.deepcopy(net.state_dict()))
    bar = tqdm(range(epochs), desc="gait causal cnn", unit="epoch", disable=not progress, file=sys.stderr)
    for epoch in bar:
        net.train()
        crops = _crops(train, config.crop_frames, rng)
        if not crops:
            raise InvalidInputError(f"fit_causal: every training recording is shorter than one crop of "
                                    f"{config.crop_frames} frames; give longer recordings")
        total = 0.0
        for i in range(0, len(crops), config.batch_size):
            batch = crops[i : i + config.batch_size]
            shape = (len(batch), train.z[0].shape[1])
            gain = np.exp(rng.normal(0.0, config.gain_sd, shape)).astype(np.float32) if config.gain_sd > 0 else None
            lag = (np.round(rng.normal(0.0, config.lag_sd_s * fs_hz, shape)).astype(np.int64)
                   if config.lag_sd_s > 0 else None)
            x, y, c = _batch(train, batch, net.receptive_field, net.hop, config.crop_frames, gain, lag)
            out = net.forward_sequence(x)
            loss = ce(out[:, :n_states], y) + config.contact_weight * bce(out[:, n_states:], c.permute(0, 2, 1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
        sched.step()
        f1 = _val_f1(net, val, n_states)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(total / len(crops))
        history["val_macro_f1"].append(f1)
        bar.set_postfix(loss=f"{total / len(crops):.3f}", val_f1=f"{f1:.3f}")
        log.info("causal epoch %d: train loss %.4f, val macro F1 %.3f", epoch + 1, total / len(crops), f1)
        if f1 > best[0]:
            best = (f1, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[1])
    return net.eval(), history


__all__ = ["CausalTrainConfig", "STEP_BUDGET", "SequenceSet", "default_epochs", "fit_causal", "predict_sequence"]
