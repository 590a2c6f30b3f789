"""Training-side helpers shared by every task's workflow (imports torch).

Kept out of the board half: nothing under ``edgeemg.runtime`` or a task's
``decoder.py`` may import this module.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import numpy as np
import torch

from edgeemg.errors import InvalidInputError

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error, not a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda was asked for but torch sees no CUDA device; use --device auto or cpu")
    if device not in ("cpu", "cuda"):
        raise InvalidInputError(f"Invalid device '{device}'. Allowed values are auto, cpu, cuda.")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch (and Python's ``random`` for DataLoader workers); return a generator for shuffling."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def state_to_arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's state dict as float/int numpy arrays, the checkpoint's payload."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def arrays_to_state(module: torch.nn.Module, arrays: dict[str, np.ndarray]) -> torch.nn.Module:
    """Load checkpoint arrays into ``module`` strictly (missing or extra keys are errors)."""
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
    module.load_state_dict(state, strict=True)
    return module


def count_parameters(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def train_one_epoch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer, *,
                    batch_size: int, generator: torch.Generator, device: torch.device) -> float:
    """One pass over (x, y) in a seeded random order; returns the mean training loss per item.

    Shared by the classifier and MO-DCNN loops (the keystroke trainer has its own: CTC, AMP, DDP).
    """
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        xb, yb = x[idx].to(device), y[idx].to(device)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / max(1, len(x))
