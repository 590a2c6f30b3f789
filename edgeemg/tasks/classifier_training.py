"""Training loops shared by the gait and muscle-health classifiers (torch, scikit-learn).

Both tasks train a small CNN with Adam and cross-entropy on fixed-shape windows
and compare it with an RBF SVM on hand-made features, so the loops live once,
here (the muscle-health workflow imports them). The SVM comes back as an
:class:`~edgeemg.tasks.classification.RbfSvm` (plain arrays, no pickle).
"""

from __future__ import annotations

import copy
import logging
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.classification import RbfSvm, confusion_matrix, macro_f1
from edgeemg.tasks.torch_support import train_one_epoch

log = logging.getLogger(__name__)

SVM_C_GRID: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
SVM_GAMMA_GRID: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1, 1.0)
"""The SVM grid (on standardised features): 5 x 5 values (decades; the gait search picked C=100,
gamma=0.001 on a narrower 4 x 4 grid, at its edge, so it was widened by one decade each way), scored by macro F1 with a
subject-grouped K-fold, so C and gamma are never chosen on windows of a subject they
are then tested on."""


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    """Optimiser settings (seed 001: Adam 1e-3, cross-entropy, batch 64, 20 epochs)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    class_weighted: bool = True  # inverse-frequency weights: start/stop and rare classes count as much as walk


def class_weights(y: NDArray[np.int64], n_classes: int) -> NDArray[np.float32]:
    """``n / (n_classes * count)`` per class (scikit-learn's "balanced"); 0 for an absent class."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    np.divide(len(y), n_classes * counts, out=w, where=counts > 0)
    return w.astype(np.float32)


@torch.no_grad()
def predict_logits(model: nn.Module, x: NDArray[np.float32], device: torch.device, batch_size: int = 256) -> NDArray[np.float32]:
    """Logits for every row of ``x`` in eval mode, batched, as float32 numpy."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        out.append(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])).to(device)).cpu().numpy())
    if not out:
        raise InvalidInputError("predict_logits: no input rows (0 windows); check the recordings' length")
    return np.concatenate(out).astype(np.float32)


def fit_classifier(
    model: nn.Module,
    train: tuple[NDArray[np.float32], NDArray[np.int64]],
    val: tuple[NDArray[np.float32], NDArray[np.int64]],
    *,
    n_classes: int,
    config: TrainConfig,
    device: torch.device,
    generator: torch.Generator,
    progress: bool,
    desc: str = "train",
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Adam + cross-entropy; keep the epoch with the best validation macro F1.

    Returns the model (best weights loaded, on ``device``) and the per-epoch
    history ``{"epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1"}``
    that the checkpoint stores for ``--plot``. Keeping the best epoch rather
    than the last one costs nothing and removes the epoch-to-epoch wobble of a
    small model; the validation subjects are never the evaluation subjects.
    """
    x_tr, y_tr = train
    x_va, y_va = val
    if len(x_tr) == 0 or len(x_va) == 0:
        raise InvalidInputError(f"fit_classifier: need training and validation windows, got {len(x_tr)} and {len(x_va)}")
    model = model.to(device)
    weight = torch.from_numpy(class_weights(y_tr, n_classes)).to(device) if config.class_weighted else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    xt = torch.from_numpy(np.ascontiguousarray(x_tr))
    yt = torch.from_numpy(y_tr.astype(np.int64))
    history: dict[str, list[float]] = {k: [] for k in ("epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1")}
    best = (-1.0, copy.deepcopy(model.state_dict()))
    bar = tqdm(range(config.epochs), desc=desc, unit="epoch", disable=not progress, file=sys.stderr)
    for epoch in bar:
        train_loss = train_one_epoch(model, xt, yt, loss_fn, opt, batch_size=config.batch_size, generator=generator,
                                     device=device)
        logits = predict_logits(model, x_va, device)
        with torch.no_grad():
            val_loss = float(loss_fn(torch.from_numpy(logits).to(device), torch.from_numpy(y_va).to(device)))
        cm = confusion_matrix(y_va, logits.argmax(1), n_classes)
        f1 = macro_f1(cm)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(float(np.trace(cm) / cm.sum()))
        history["val_macro_f1"].append(f1)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_f1=f"{f1:.3f}")
        log.info("epoch %d: train loss %.4f, val loss %.4f, val macro F1 %.3f", epoch + 1, train_loss, val_loss, f1)
        if f1 > best[0]:
            best = (f1, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[1])
    return model, history


def fit_rbf_svm(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    groups: NDArray[Any],
    *,
    seed: int,
    n_splits: int = 3,
    max_train: int = 4000,
) -> tuple[RbfSvm, dict[str, Any]]:
    """RBF SVM with C and gamma from :data:`SVM_C_GRID` x :data:`SVM_GAMMA_GRID`.

    ``GridSearchCV`` over a ``StandardScaler -> SVC(class_weight="balanced")``
    pipeline with ``GroupKFold`` on subject ids (scaler refitted inside every
    fold), scored by macro F1. An SVM's fit grows roughly quadratically with the
    number of windows, so at most ``max_train`` windows (a seeded, stratified-by-
    subject random subset) are used; the number used is reported.

    Returns
    -------
    svm : RbfSvm
        The refitted best model as arrays.
    info : dict
        ``C``, ``gamma``, ``cv_macro_f1``, ``grid`` and ``n_train`` for the checkpoint meta.
    """
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    groups = np.asarray(groups).astype(str)
    rng = np.random.default_rng(seed)
    if len(x) > max_train:
        keep = np.sort(rng.choice(len(x), size=max_train, replace=False))
        x, y, groups = x[keep], y[keep], groups[keep]
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise InvalidInputError(f"fit_rbf_svm: a subject-grouped CV needs at least 2 subjects, got {n_groups}")
    cv = GroupKFold(n_splits=min(n_splits, n_groups))
    pipe = make_pipeline(StandardScaler(), SVC(kernel="rbf", class_weight="balanced"))
    grid = {"svc__C": list(SVM_C_GRID), "svc__gamma": list(SVM_GAMMA_GRID)}
    search = GridSearchCV(pipe, grid, scoring="f1_macro", cv=cv, n_jobs=1, refit=True)
    search.fit(x, y, groups=groups)
    scaler, svc = search.best_estimator_[0], search.best_estimator_[1]
    svm = RbfSvm(
        support_vectors=svc.support_vectors_.astype(np.float64),
        dual_coef=svc._dual_coef_.astype(np.float64),
        intercept=svc._intercept_.astype(np.float64),
        n_support=svc.n_support_.astype(np.int64),
        gamma=float(svc._gamma),
        classes=svc.classes_.astype(np.int64),
        scaler_mean=scaler.mean_.astype(np.float64),
        scaler_scale=scaler.scale_.astype(np.float64),
    )
    info = {
        "C": float(search.best_params_["svc__C"]),
        "gamma": float(search.best_params_["svc__gamma"]),
        "cv_macro_f1": float(search.best_score_),
        "grid": {"C": list(SVM_C_GRID), "gamma": list(SVM_GAMMA_GRID)},
        "cv": f"GroupKFold(n_splits={cv.n_splits}) by subject, scoring f1_macro",
        "n_train": int(len(x)),
        "n_support": int(svm.support_vectors.shape[0]),
    }
    return svm, info
