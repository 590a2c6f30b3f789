"""Typing side of the keystroke simulator: the keyboard's touch-typing map, the prompt corpus and its splits,
and the typist's schedule of presses (numpy only; :mod:`edgeemg.data.sim_keystroke` turns presses into EMG).

The schedule: sentences from ``corpus.txt`` become prompts; a simulated typist
touch-types them, each key with a hand, a finger and a reach (row and column
from that finger's home key); inter-key intervals are log-normal around the
subject's mean, slower for same-finger bigrams and faster across hands;
capitals and shifted symbols hold ``Key.shift`` with the other hand's little
finger; typos hit a neighbouring key and are corrected with backspace.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from edgeemg.data.charset import CHARSET, prompt_to_label
from edgeemg.errors import InvalidInputError

# ---- keyboard and touch-typing map ------------------------------------------------
_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_SHIFTED = ("~!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?")
# (hand, finger) per column; hand 0 = left, 1 = right; finger 0 thumb .. 4 little
_COL_FINGER = {-1: (0, 4), 0: (0, 4), 1: (0, 3), 2: (0, 2), 3: (0, 1), 4: (0, 1),
               5: (1, 1), 6: (1, 1), 7: (1, 2), 8: (1, 3)}  # fmt: skip
_HOME_COL = {(0, 4): 0, (0, 3): 1, (0, 2): 2, (0, 1): 3, (1, 1): 6, (1, 2): 7, (1, 3): 8, (1, 4): 9}


@dataclass(frozen=True)
class _PhysKey:
    name: str  # physical key id: the unshifted character, or a pynput name
    hand: int
    finger: int
    drow: int  # -2 number row, -1 top, 0 home, +1 bottom
    dcol: int  # columns from the finger's home key


def _build_keyboard() -> tuple[dict[str, _PhysKey], dict[str, tuple[str, bool]]]:
    """Physical keys, and for every typeable pynput key: (physical key, needs shift)."""
    phys: dict[str, _PhysKey] = {}
    typed: dict[str, tuple[str, bool]] = {}
    for r, (row, srow) in enumerate(zip(_ROWS, _SHIFTED, strict=True)):
        for i, (c, s) in enumerate(zip(row, srow, strict=True)):
            col = i - 1 if r == 0 else i
            hand, finger = _COL_FINGER.get(col, (1, 4))
            phys[c] = _PhysKey(c, hand, finger, r - 2, col - _HOME_COL[(hand, finger)])
            typed[c] = (c, False)
            typed[s] = (c, True)
    phys["Key.space"] = _PhysKey("Key.space", 1, 0, 0, 0)
    phys["Key.enter"] = _PhysKey("Key.enter", 1, 4, 0, 2)
    phys["Key.backspace"] = _PhysKey("Key.backspace", 1, 4, -2, 3)
    phys["shift_l"] = _PhysKey("shift_l", 0, 4, 1, -1)
    phys["shift_r"] = _PhysKey("shift_r", 1, 4, 1, 1)
    for k in ("Key.space", "Key.enter", "Key.backspace"):
        typed[k] = (k, False)
    return phys, typed


_PHYS, _TYPED = _build_keyboard()
_PHYS_NAMES: tuple[str, ...] = tuple(_PHYS)
_PHYS_INDEX = {n: i for i, n in enumerate(_PHYS_NAMES)}


def key_anatomy(key: str) -> tuple[int, int, int, int] | None:
    """``(hand, finger, row reach, column reach)`` of the touch typist's press of pynput key ``key``.

    hand 0 left / 1 right; finger 0 thumb .. 4 little; row reach -2 (number row)
    .. +1 (bottom row) from the home row; column reach from the finger's home key.
    None for a key no single finger presses (``Key.shift``: either little finger).
    """
    typed = _TYPED.get(key)
    if typed is None:
        return None
    pk = _PHYS[typed[0]]
    return pk.hand, pk.finger, pk.drow, pk.dcol


# ---- corpus ------------------------------------------------------------------------
TEXT_SPLITS: tuple[str, ...] = ("all", "train", "val", "test")
"""Which prompts a session types. ``train``/``val``/``test`` are disjoint (about 80/10/10 % of the corpus):
a decoder scored on a ``test`` session has never seen its sentences, as emg2qwerty's splits keep test text
apart; ``all`` is the whole corpus (demos, streams)."""


@cache
def corpus_sentences(split: str = "all") -> tuple[str, ...]:
    """The built-in corpus, one sentence per non-empty line, or one of its disjoint :data:`TEXT_SPLITS`.

    A sentence's split is fixed by a CRC-32 of its text (mod 10: 0 test, 1 val,
    else train), so adding or reordering sentences never moves the others.
    """
    if split not in TEXT_SPLITS:
        raise InvalidInputError(f"text split must be one of {', '.join(TEXT_SPLITS)}, got {split!r}")
    text = resources.files("edgeemg.data").joinpath("corpus.txt").read_text(encoding="utf-8")
    lines = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if split == "all":
        return lines
    want = {"test": (0,), "val": (1,), "train": tuple(range(2, 10))}[split]
    return tuple(s for s in lines if zlib.crc32(s.encode("utf-8")) % 10 in want)


# ---- typing plan ------------------------------------------------------------------------
@dataclass
class _Press:
    key: str  # pynput name as recorded
    phys: int  # physical key index
    press: float
    release: float
    onset: float
    sustain: float = 0.0  # drive level held until release (shift)


def _neighbour(c: str, rng: np.random.Generator) -> str:
    for row in _ROWS[1:]:
        i = row.find(c)
        if i >= 0:
            js = [j for j in (i - 1, i + 1) if 0 <= j < len(row) and row[j].isalpha()]
            return row[js[int(rng.integers(len(js)))]] if js else c
    return c


def _prompt_order(n: int, rng: np.random.Generator):
    """Sentence indices: a random permutation, and a new one each time it runs out (long sessions, small splits)."""
    while True:
        yield from rng.permutation(n)


def _plan(
    subj: Any, cfg: Any, rng: np.random.Generator, seconds: float, sentences: tuple[str, ...]
) -> tuple[list[_Press], list[tuple[str, float, float]]]:
    """Typing schedule: presses (seconds from start) and prompts (text, start, end) drawn from ``sentences``."""
    order = _prompt_order(len(sentences), rng)
    presses: list[_Press] = []
    prompts: list[tuple[str, float, float]] = []
    t = 0.3
    prev: _PhysKey | None = None
    limit = seconds - 0.25

    def press(key: str, shifted: bool, gap: float) -> bool:
        nonlocal t, prev
        phys_name, _ = _TYPED[key]
        pk = _PHYS[phys_name]
        factor = subj.key_speed[_PHYS_INDEX[phys_name]]
        if prev is not None:
            if prev.hand != pk.hand:
                factor *= 0.85
            elif prev.finger == pk.finger and prev.name != pk.name:
                factor *= 1.3
        iki = subj.iki_mean_s * factor * gap * rng.lognormal(0, cfg.iki_sigma)
        t_press = t + max(iki, 0.07)
        if shifted:
            t_press += 0.06
        hold = subj.hold_s * rng.lognormal(0, 0.2)
        if t_press + hold + 0.08 > limit:
            return False
        if shifted:  # the other hand's little finger holds shift from ~90 ms before to after the release
            side = "shift_r" if pk.hand == 0 else "shift_l"
            s_press = t_press - rng.uniform(0.07, 0.11)
            presses.append(_Press("Key.shift", _PHYS_INDEX[side], s_press, t_press + hold + rng.uniform(0.02, 0.05),
                                  s_press - _emd(), sustain=0.35))  # fmt: skip
        presses.append(_Press(key, _PHYS_INDEX[phys_name], t_press, t_press + hold, t_press - _emd()))
        t, prev = t_press, pk
        return True

    def _emd() -> float:
        return max(0.015, cfg.emd_s + rng.normal(0, cfg.emd_jitter_s)) if cfg.emd_jitter_s > 0 else cfg.emd_s

    for idx in order:
        text = sentences[int(idx)]
        label = prompt_to_label(text)
        p_start = t + 0.1
        t = p_start + rng.uniform(0.5, 1.0)  # reading the prompt
        prev = None
        ok = True
        i = 0
        while i < len(label) and ok:
            key = CHARSET.char_to_key(label[i])
            if key not in _TYPED:  # shift never appears in prompt text
                i += 1
                continue
            shifted = _TYPED[key][1]
            gap = 1.15 if key == "Key.space" or (i and label[i - 1] == " ") else 1.0
            if key.islower() and len(key) == 1 and rng.random() < subj.typo_rate:
                # hit a neighbour, maybe type on a little, notice, erase, retype
                ok = press(_neighbour(key, rng), False, gap)
                extra = 0
                while ok and extra < int(rng.integers(0, 3)) and i + 1 + extra < len(label):
                    nxt = CHARSET.char_to_key(label[i + 1 + extra])
                    if not (len(nxt) == 1 and nxt.islower()):
                        break
                    ok = press(nxt, False, 1.0)
                    extra += 1
                t += rng.uniform(0.15, 0.4)
                for _ in range(1 + extra):
                    ok = ok and press("Key.backspace", False, 0.8)
                t += rng.uniform(0.05, 0.15)
                if not ok:
                    break
            ok = press(key, shifted, gap)
            i += 1
        p_end = min(t + subj.hold_s + 0.2, seconds)
        prompts.append((text, p_start, p_end))
        t = p_end
        if not ok or t > limit - 1.0:
            break
    presses.sort(key=lambda p: p.press)
    return presses, prompts
