"""Pieces shared by the window-classifier task hooks (gait, muscle health): metric, fine-tune, SVM refusal.

Both tasks train with :func:`edgeemg.tasks.classifier_training.fit_classifier` on
fixed-shape items and score with :func:`edgeemg.tasks.classification.classification_report`,
so the export side shares them too; each task's ``export_hooks`` only knows how
to load its data and which layers may be pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import ExportError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.classification import classification_report


def refuse_non_torch(ckpt: Checkpoint, torch_models: Sequence[str]) -> None:
    """An SVM checkpoint is not a network: there is nothing to prune, quantize or convert to ONNX/TFLite here."""
    if ckpt.model not in torch_models:
        raise ExportError(
            f"{ckpt.task} '{ckpt.model}' checkpoints cannot be exported: the int8 ONNX/TFLite chain applies to "
            f"the neural models ({', '.join(torch_models)}). An RBF SVM runs on the board from its checkpoint "
            "arrays (edgeemg.tasks.classification.RbfSvm, numpy only); train a CNN to get an int8 bundle"
        )


def classification_metric(labels: Sequence[str]) -> Callable[[NDArray[np.int64], NDArray[np.float32]], dict[str, float]]:
    """``metric(y_true, scores) -> {"accuracy", "macro_f1"}`` with argmax decisions (the decoders' raw decision)."""
    labels = list(labels)

    def metric(y_true: NDArray[np.int64], scores: NDArray[np.float32]) -> dict[str, float]:
        rep = classification_report(np.asarray(y_true), np.asarray(scores).argmax(1).astype(np.int64), labels)
        return {"accuracy": float(rep["accuracy"]), "macro_f1": float(rep["macro_f1"])}

    return metric


def classifier_finetune(train: tuple[NDArray[np.float32], NDArray[np.int64]],
                        val: tuple[NDArray[np.float32], NDArray[np.int64]], *, n_classes: int, seed: int,
                        train_config: dict[str, Any]) -> Callable[[Any, int, bool], Any]:
    """A fine-tune callback: the task's own loop (Adam, class-weighted CE, best epoch by val macro F1).

    ``train_config`` is the checkpoint's, so the pruned model is tuned with the
    batch size it was trained with; the learning rate is lowered 10x (the
    weights are already near a minimum; a full-rate step would undo training).
    """

    def finetune(module: Any, epochs: int, progress: bool) -> Any:
        from edgeemg.tasks.classifier_training import TrainConfig, fit_classifier
        from edgeemg.tasks.torch_support import seed_everything

        if epochs < 1:
            return module
        gen = seed_everything(seed)
        trained = TrainConfig.from_dict(train_config)
        tc = replace(trained, epochs=epochs, lr=trained.lr / 10.0)
        import torch

        module, _ = fit_classifier(module, train, val, n_classes=n_classes, config=tc, device=torch.device("cpu"),
                                   generator=gen, progress=progress, desc="fine-tune")
        return module.eval()

    return finetune


__all__ = ["classification_metric", "classifier_finetune", "refuse_non_torch"]
