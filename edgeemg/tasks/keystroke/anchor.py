"""What ties a fine-tune to its start (training side, torch): layers frozen for the first epochs, and L2-SP.

:func:`~.training.fit_ctc` holds one :class:`StartAnchor` per run; from
scratch (``TrainConfig.l2sp`` 0, nothing frozen) it does nothing. Which of its
settings ``train --init`` turns on, and the measurements behind that, is
:mod:`.transfer`'s (``FINETUNE``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class StartAnchor:
    """What ties a fine-tune to its start: layers frozen for the first epochs, and L2-SP.

    Why: fine-tuned with nothing holding it, the 20-user generic model overfit
    the user's 24 minutes (validation CER 30.5 % at epoch 6, 36.5 % at 14)
    and ended no better than from scratch. Freezing the input layers while the
    rest adapts keeps their many-user features through the first, largest
    steps; L2-SP (Li et al. 2018, "Explicit inductive bias for transfer learning
    with convolutional networks") decays each weight toward its *starting*
    value rather than toward zero, decoupled from Adam's step as AdamW's weight
    decay is: ``w -= lr * l2sp * (w - w_start)`` after every step. From
    scratch (``l2sp`` 0, nothing frozen) it does nothing.
    """

    def __init__(self, model: nn.Module, config: Any) -> None:
        self._model, self._config = model, config
        self._start = ({n: p.detach().clone() for n, p in model.named_parameters()} if config.l2sp else {})

    def _frozen(self, name: str, epoch: int) -> bool:
        return epoch < self._config.freeze_epochs and name.startswith(tuple(self._config.freeze_prefixes))

    def start_epoch(self, epoch: int) -> None:
        """Freeze (no gradient, so no update and no decay) or release the configured layers for ``epoch``."""
        for name, p in self._model.named_parameters():
            p.requires_grad_(not self._frozen(name, epoch))

    def release(self) -> None:
        """Every layer trainable again (the model is handed back as it came)."""
        for p in self._model.parameters():
            p.requires_grad_(True)

    def after_step(self, lr: float) -> None:
        """Pull every trained weight toward its start by ``lr * l2sp`` of the distance (L2-SP)."""
        if not self._start:
            return
        with torch.no_grad():
            for name, p in self._model.named_parameters():
                if p.requires_grad:
                    p.sub_(lr * self._config.l2sp * (p - self._start[name]))


__all__ = ["StartAnchor"]
