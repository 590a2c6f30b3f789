"""Character error rates from Levenshtein operations (numpy, numba where installed; board-safe).

Seed 000 reports CER with its breakdown into IER, DER and SER, as emg2qwerty's
``CharacterErrorRates`` defines them: the minimal edit script that turns the
*prediction* into the *target* (``Levenshtein.editops(prediction, target)``)
is split into insertions, deletions and substitutions, each divided by the
number of target characters, in percent. So CER = IER + DER + SER exactly, as
in the seed's table (23.622 = 4.949 + 2.118 + 16.555).

Two conventions are worth stating because they are easy to get backwards:

* **Direction.** An *insertion* inserts a target character into the prediction,
  i.e. a key the decoder **missed**; a *deletion* removes a predicted character
  that is not in the target, i.e. a **spurious** key. This is emg2qwerty's
  direction (the opposite of speech recognition's usual one), kept so that our
  figures compare with the seed's.
* **SER is the substitution error rate**, not a sentence error rate (the seed's
  caption says "Sentence" but its numbers only add up as substitutions).

Strings are compared key for key: ``⌫`` and ``⇧`` are characters like any other
(what the model emitted, not the text left on screen), as in emg2qwerty.

When several minimal edit scripts exist, the backtrace prefers a diagonal step
(match or substitution), then a deletion, then an insertion; any choice gives
the same CER, and the tests check the breakdown against a brute-force search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg._jit import njit
from edgeemg.errors import InvalidInputError


@njit(cache=True)
def _edit_counts(a: NDArray[np.int32], b: NDArray[np.int32]) -> tuple[int, int, int]:  # pragma: no cover
    """(insertions, deletions, substitutions) turning ``a`` (prediction) into ``b`` (target); int32 code points."""
    n, m = a.size, b.size
    d = np.empty((n + 1, m + 1), np.int32)
    for i in range(n + 1):
        d[i, 0] = i
    for j in range(m + 1):
        d[0, j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = d[i - 1, j - 1] + cost
            if d[i - 1, j] + 1 < best:
                best = d[i - 1, j] + 1
            if d[i, j - 1] + 1 < best:
                best = d[i, j - 1] + 1
            d[i, j] = best
    ins = dele = sub = 0
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if d[i, j] == d[i - 1, j - 1] + cost:
                sub += cost
                i -= 1
                j -= 1
                continue
        if i > 0 and d[i, j] == d[i - 1, j] + 1:
            dele += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return ins, dele, sub


def _codes(s: str, name: str) -> NDArray[np.int32]:
    if not isinstance(s, str):
        raise InvalidInputError(f"edit_counts: {name} must be a str, got {type(s).__name__}")
    return np.array([ord(c) for c in s], dtype=np.int32)


def edit_counts(prediction: str, target: str) -> tuple[int, int, int]:
    """Minimal edit script from ``prediction`` to ``target`` as (insertions, deletions, substitutions).

    Examples
    --------
    >>> edit_counts("cat", "cart")   # the prediction missed the 'r'
    (1, 0, 0)
    >>> edit_counts("caat", "cat")   # one spurious 'a'
    (0, 1, 0)
    """
    ins, dele, sub = _edit_counts(_codes(prediction, "prediction"), _codes(target, "target"))
    return int(ins), int(dele), int(sub)


@dataclass(frozen=True)
class ErrorRates:
    """Accumulated edit counts and the rates derived from them (percent of target characters).

    Attributes
    ----------
    insertions, deletions, substitutions : int
        Summed over every (prediction, target) pair (see the module docstring for the direction).
    target_chars : int
        Total target length, the denominator.
    """

    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    target_chars: int = 0

    def _rate(self, n: int) -> float:
        return 100.0 * n / self.target_chars if self.target_chars else float("nan")

    @property
    def cer(self) -> float:
        """Character error rate, percent."""
        return self._rate(self.insertions + self.deletions + self.substitutions)

    @property
    def ier(self) -> float:
        """Insertion error rate (keys missed), percent."""
        return self._rate(self.insertions)

    @property
    def der(self) -> float:
        """Deletion error rate (spurious keys), percent."""
        return self._rate(self.deletions)

    @property
    def ser(self) -> float:
        """Substitution error rate, percent."""
        return self._rate(self.substitutions)

    def __add__(self, other: ErrorRates) -> ErrorRates:
        return ErrorRates(self.insertions + other.insertions, self.deletions + other.deletions,
                          self.substitutions + other.substitutions, self.target_chars + other.target_chars)

    def to_dict(self) -> dict[str, Any]:
        """Rates and counts as JSON-able floats/ints (``cer``, ``ier``, ``der``, ``ser`` in percent)."""
        return {"cer": self.cer, "ier": self.ier, "der": self.der, "ser": self.ser, **asdict(self)}


def error_rates(predictions: Iterable[str] | str, targets: Iterable[str] | str) -> ErrorRates:
    """CER/IER/DER/SER of predictions against targets, pooled over all pairs (emg2qwerty's way).

    Parameters
    ----------
    predictions, targets : str or iterable of str
        One string each, or equally long sequences (e.g. one per prompt).

    Returns
    -------
    ErrorRates

    Examples
    --------
    >>> r = error_rates(["helo", "wrld"], ["hello", "world"])
    >>> round(r.cer, 1), r.insertions
    (20.0, 2)
    """
    preds = [predictions] if isinstance(predictions, str) else list(predictions)
    tgts = [targets] if isinstance(targets, str) else list(targets)
    if len(preds) != len(tgts):
        raise InvalidInputError(f"error_rates: {len(preds)} predictions for {len(tgts)} targets; need one each")
    total = ErrorRates()
    for p, t in zip(preds, tgts):
        i, d, s = edit_counts(p, t)
        total = total + ErrorRates(i, d, s, len(t))
    return total


def matched_pairs(prediction: str, target: str) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` with ``prediction[i] == target[j]`` on one minimal edit script (matches only).

    Pure Python (quadratic): meant for prompt-length strings, e.g. to time each
    correctly decoded key against its true press.
    """
    n, m = len(prediction), len(target)
    d = np.zeros((n + 1, m + 1), np.int64)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j - 1] + (prediction[i - 1] != target[j - 1]), d[i - 1, j] + 1, d[i, j - 1] + 1)
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        cost = int(prediction[i - 1] != target[j - 1])
        if d[i, j] == d[i - 1, j - 1] + cost:
            if not cost:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


__all__ = ["ErrorRates", "edit_counts", "error_rates", "matched_pairs"]
