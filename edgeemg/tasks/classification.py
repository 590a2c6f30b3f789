"""Classification helpers shared by the gait and muscle-health decoders (numpy only).

Three concerns that both classifiers need and that must not pull in torch or
scikit-learn, because the board-side decoders and the runtime's accuracy report
import them:

- metrics: confusion matrix, accuracy, per-class F1 and recall, macro F1 and the
  one ``classification_report`` dict that ``edgeemg eval --json`` prints;
- subject-wise splits: windows of one subject are strongly correlated (the
  neighbouring 50 %-overlap windows share half their samples), so a window-wise
  split leaks; every split here is by subject and never by window;
- an RBF support-vector machine evaluated from plain arrays, so an SVM checkpoint
  is npz + JSON (no pickle) and its decision function runs without scikit-learn.

Labels are always integer class indices ``0 .. n_classes-1``; label *names* live
in each task's ``spec.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError

# --------------------------------------------------------------------------- metrics


def _check_labels(y_true: Any, y_pred: Any, n_classes: int, context: str) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim != 1 or yp.ndim != 1 or yt.shape != yp.shape:
        raise InvalidInputError(
            f"{context}: y_true and y_pred must be 1-D of equal length, got shapes {yt.shape} and {yp.shape}"
        )
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"{context}: {name} must hold integer class indices, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise InvalidInputError(
                f"{context}: {name} must lie in 0..{n_classes - 1} (n_classes={n_classes}), "
                f"got values in {int(arr.min())}..{int(arr.max())}"
            )
    return yt.astype(np.int64), yp.astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> NDArray[np.int64]:
    """Counts ``C[i, j]`` of windows of true class ``i`` predicted as class ``j``.

    Rows are the truth, columns the prediction (scikit-learn's convention), and
    every class gets a row even when absent from ``y_true``, so matrices of
    different evaluation sets add up.
    """
    yt, yp = _check_labels(y_true, y_pred, n_classes, "confusion_matrix")
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (yt, yp), 1)
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # 0/0 -> 0, as scikit-learn's zero_division=0: a class never predicted and never present scores 0
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_recall(cm: NDArray[np.int64]) -> NDArray[np.float64]:
    """Recall (sensitivity) per class from a confusion matrix; 0 for a class with no true window."""
    cm = np.asarray(cm)
    return _safe_div(np.diag(cm).astype(np.float64), cm.sum(axis=1).astype(np.float64))


def per_class_precision(cm: NDArray[np.int64]) -> NDArray[np.float64]:
    """Precision per class from a confusion matrix; 0 for a class never predicted."""
    cm = np.asarray(cm)
    return _safe_div(np.diag(cm).astype(np.float64), cm.sum(axis=0).astype(np.float64))


def per_class_f1(cm: NDArray[np.int64]) -> NDArray[np.float64]:
    """F1 per class, ``2 TP / (2 TP + FP + FN)`` (equal to the harmonic mean of precision and recall)."""
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(np.float64)
    return _safe_div(2 * tp, cm.sum(axis=0) + cm.sum(axis=1).astype(np.float64))


def accuracy(cm: NDArray[np.int64]) -> float:
    """Fraction of windows on the diagonal; NaN for an empty matrix (nothing was scored)."""
    cm = np.asarray(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else math.nan


def macro_f1(cm: NDArray[np.int64], *, present_only: bool = False) -> float:
    """Unweighted mean of per-class F1.

    Parameters
    ----------
    cm : ndarray of int, shape (n_classes, n_classes)
    present_only : bool
        Average only over classes that occur in the truth or the prediction
        (scikit-learn's ``f1_score(average="macro")`` without ``labels=``). The
        default averages over *every* class, so a test set that lacks a class is
        not flattered by dropping it.
    """
    f1 = per_class_f1(cm)
    if present_only:
        cm = np.asarray(cm)
        present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
        return float(f1[present].mean()) if present.any() else math.nan
    return float(f1.mean())


def classification_report(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """The JSON-able metrics that ``edgeemg eval --json`` prints for a classifier.

    Keys: ``accuracy``, ``macro_f1`` (over all classes), ``per_class_f1`` and
    ``per_class_recall`` (label name -> value), ``confusion`` (list of rows,
    truth by prediction, in ``labels`` order), ``labels`` and ``n_windows``.
    """
    labels = list(labels)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    return {
        "accuracy": accuracy(cm),
        "macro_f1": macro_f1(cm),
        "per_class_f1": {name: float(v) for name, v in zip(labels, per_class_f1(cm))},
        "per_class_recall": {name: float(v) for name, v in zip(labels, per_class_recall(cm))},
        "confusion": cm.tolist(),
        "labels": labels,
        "n_windows": int(cm.sum()),
    }


def softmax(logits: Any, axis: int = -1) -> NDArray[np.float64]:
    """Numerically stable softmax (max subtracted first) in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------ subject-wise split


@dataclass(frozen=True)
class SubjectSplit:
    """Which subjects train and which are held out; no subject is on both sides."""

    train: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        both = sorted(set(self.train) & set(self.test))
        if both:
            raise InvalidInputError(f"SubjectSplit: subject(s) {both} are on both sides of the split")

    def masks(self, subject_of_window: Any) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Boolean masks (train, test) over windows given each window's subject id."""
        s = np.asarray(subject_of_window).astype(str)
        return np.isin(s, list(self.train)), np.isin(s, list(self.test))

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "test": list(self.test)}


def subject_split(
    subjects: Sequence[str],
    *,
    test_fraction: float,
    seed: int,
    strata: Sequence[Any] | None = None,
) -> SubjectSplit:
    """Split subject ids into train and test sets, by subject and never by window.

    Parameters
    ----------
    subjects : sequence of str
        Distinct subject ids.
    test_fraction : float
        Fraction of subjects held out, rounded, at least one on each side.
    seed : int
        Seeds the permutation (a private ``np.random.Generator``; no global RNG).
    strata : sequence, optional
        One label per subject (e.g. the muscle-health condition). When given, the
        split is made within each stratum so that every class appears on both
        sides; a stratum with a single subject goes to training, with a warning
        left to the caller (the test set then lacks that class).

    Raises
    ------
    InvalidInputError
        Fewer than two distinct subjects, duplicates, or a fraction outside (0, 1).
    """
    subjects = [str(s) for s in subjects]
    if len(set(subjects)) != len(subjects):
        dup = sorted({s for s in subjects if subjects.count(s) > 1})
        raise InvalidInputError(f"subject_split: subject ids must be distinct, got duplicates {dup}")
    if len(subjects) < 2:
        raise InvalidInputError(
            f"subject_split: a subject-wise split needs at least 2 subjects, got {len(subjects)} ({subjects}); "
            "simulate or load more subjects"
        )
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"subject_split: test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    groups: dict[Any, list[str]] = {}
    for i, s in enumerate(subjects):
        groups.setdefault(None if strata is None else strata[i], []).append(s)
    train: list[str] = []
    test: list[str] = []
    for key in sorted(groups, key=str):
        members = sorted(groups[key])
        order = [members[i] for i in rng.permutation(len(members))]
        if len(order) == 1:
            train.extend(order)
            continue
        n_test = min(max(1, round(test_fraction * len(order))), len(order) - 1)
        test.extend(order[:n_test])
        train.extend(order[n_test:])
    return SubjectSplit(train=tuple(sorted(train)), test=tuple(sorted(test)))


# ------------------------------------------------------------------- SVM from arrays


@dataclass(frozen=True)
class RbfSvm:
    """A fitted multi-class RBF SVM (libsvm one-vs-one) as plain arrays.

    The fields are exactly scikit-learn's ``SVC`` attributes after ``fit``, plus
    the ``StandardScaler`` fitted in front of it, so the classifier travels in a
    checkpoint as npz arrays and runs on a board without scikit-learn.

    Attributes
    ----------
    support_vectors : ndarray, shape (n_sv, n_features)
        In scaled feature space, grouped by class as ``n_support`` says.
    dual_coef : ndarray, shape (n_classes - 1, n_sv)
        libsvm's ``alpha_i y_i`` laid out per class pair (``SVC._dual_coef_``).
    intercept : ndarray, shape (n_classes * (n_classes - 1) / 2,)
        One bias per class pair (``SVC._intercept_``), pairs in (0,1), (0,2) ... order.
    n_support : ndarray of int, shape (n_classes,)
    gamma : float
        RBF width: ``K(x, y) = exp(-gamma |x - y|^2)``.
    classes : ndarray of int, shape (n_classes,)
        Class index each column of the decision function stands for.
    scaler_mean, scaler_scale : ndarray, shape (n_features,)
        Feature standardisation applied before the kernel.
    """

    support_vectors: NDArray[np.float64]
    dual_coef: NDArray[np.float64]
    intercept: NDArray[np.float64]
    n_support: NDArray[np.int64]
    gamma: float
    classes: NDArray[np.int64]
    scaler_mean: NDArray[np.float64]
    scaler_scale: NDArray[np.float64]

    ARRAY_NAMES = ("support_vectors", "dual_coef", "intercept", "n_support", "classes", "scaler_mean", "scaler_scale")

    def to_arrays(self, prefix: str = "svm.") -> dict[str, np.ndarray]:
        out = {prefix + n: np.asarray(getattr(self, n)) for n in self.ARRAY_NAMES}
        out[prefix + "gamma"] = np.asarray([self.gamma], dtype=np.float64)  # 1-d: npz writers may promote 0-d
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "svm.") -> RbfSvm:
        missing = [prefix + n for n in (*cls.ARRAY_NAMES, "gamma") if prefix + n not in arrays]
        if missing:
            raise InvalidInputError(f"RbfSvm.from_arrays: checkpoint lacks array(s) {missing}")
        kw = {n: np.asarray(arrays[prefix + n]) for n in cls.ARRAY_NAMES}
        return cls(gamma=float(np.asarray(arrays[prefix + "gamma"]).reshape(-1)[0]), **kw)

    @property
    def n_features(self) -> int:
        return int(self.support_vectors.shape[1])

    def _kernel(self, z: np.ndarray) -> np.ndarray:
        sv = self.support_vectors
        d2 = (z * z).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2.0 * z @ sv.T
        return np.exp(-self.gamma * np.maximum(d2, 0.0))

    def ovo_decision(self, x: Any) -> NDArray[np.float64]:
        """One-vs-one decision values, shape (n, n_pairs); positive favours the pair's first class."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InvalidInputError(
                f"RbfSvm: features must be (n_windows, {self.n_features}), got shape {x.shape}"
            )
        k = self._kernel((x - self.scaler_mean) / self.scaler_scale)
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        n_cls = len(self.classes)
        out = []
        p = 0
        for i in range(n_cls):
            for j in range(i + 1, n_cls):
                si = slice(starts[i], starts[i + 1])
                sj = slice(starts[j], starts[j + 1])
                # libsvm stores the pair (i, j) coefficients of class i's SVs in row j-1, class j's in row i
                d = k[:, si] @ self.dual_coef[j - 1, si] + k[:, sj] @ self.dual_coef[i, sj] + self.intercept[p]
                out.append(d)
                p += 1
        return np.stack(out, axis=1)

    def decision_function(self, x: Any) -> NDArray[np.float64]:
        """scikit-learn's ``SVC(decision_function_shape="ovr").decision_function``.

        For more than two classes: pairwise votes plus the summed pairwise
        confidences squashed into (-1/3, 1/3) so they only break ties (sklearn's
        ``_ovr_decision_function``). For two classes: the signed distance,
        positive for ``classes[1]``.
        """
        dec = self.ovo_decision(x)
        n_cls = len(self.classes)
        if n_cls == 2:
            return -dec[:, 0]
        votes = np.zeros((dec.shape[0], n_cls))
        conf = np.zeros((dec.shape[0], n_cls))
        p = 0
        for i in range(n_cls):
            for j in range(i + 1, n_cls):
                conf[:, i] += dec[:, p]
                conf[:, j] -= dec[:, p]
                votes[:, i] += dec[:, p] > 0
                votes[:, j] += dec[:, p] <= 0
                p += 1
        return votes + conf / (3.0 * (np.abs(conf) + 1.0))

    def predict(self, x: Any) -> NDArray[np.int64]:
        """Class index per row by libsvm's one-vs-one vote (what ``SVC.predict`` does).

        A tie in votes goes to the lowest class index, as in libsvm; this differs
        from the argmax of :meth:`decision_function`, which breaks ties by confidence.
        """
        dec = self.ovo_decision(x)
        n_cls = len(self.classes)
        votes = np.zeros((dec.shape[0], n_cls), np.int64)
        p = 0
        for i in range(n_cls):
            for j in range(i + 1, n_cls):
                votes[:, i] += dec[:, p] > 0
                votes[:, j] += dec[:, p] <= 0
                p += 1
        return self.classes[np.argmax(votes, axis=1)]

    def scores(self, x: Any, n_labels: int) -> NDArray[np.float64]:
        """(n, n_labels) scores the task decoders can treat as logits.

        Column ``c`` holds the ovr decision value of class ``c``; a class the SVM
        never saw in training gets -1e9 (probability 0 after a softmax).
        """
        dec = self.decision_function(x)
        if dec.ndim == 1:
            dec = np.stack([-dec, dec], axis=1)
        out = np.full((dec.shape[0], n_labels), -1e9)
        out[:, self.classes] = dec
        return out
