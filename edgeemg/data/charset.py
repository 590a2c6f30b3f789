"""emg2qwerty's character set: 98 keys plus the CTC blank, torch-free.

The keystroke decoder runs on the board without the training stack, so the
key <-> class mapping lives here, next to the data readers, and imports only
the standard library (emg2qwerty's own charset pulled torch in through its
``data`` module).

Three spellings of the same key are in use:

* **pynput names**, as the emg2qwerty keylogger stores keystrokes on disk:
  ``"a"``, ``"A"``, ``"!"``, ``"Key.space"``, ``"Key.backspace"``,
  ``"Key.enter"``, ``"Key.shift"``.
* **label characters**, one Unicode character per key, so that a label
  sequence is a plain ``str`` with a 1:1 map to key presses:
  ``"⌫"`` (U+232B) for backspace, ``"⏎"`` (U+23CE) for enter, ``" "`` for
  space, ``"⇧"`` (U+21E7) for shift, and the character itself otherwise.
* **class indices**, 0..97 in emg2qwerty's order (ASCII letters lower then
  upper, digits, ``string.punctuation``, then backspace, enter, space, shift),
  and 98 for the CTC blank: 99 outputs in all.

The order matters: a model trained on emg2qwerty's labels must see exactly
the same indices, so it is reproduced here key for key.

``CHARSET`` is a module-level constant built at import time rather than a lazy
global singleton (emg2qwerty's ``charset()``): it is immutable, costs
microseconds to build, and a constant has no first-call side effect to race on.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeemg.errors import InvalidInputError

#: Label character of each modifier key (pynput name -> character).
MODIFIER_CHARS: Mapping[str, str] = {
    "Key.backspace": "\u232b",  # ⌫
    "Key.enter": "\u23ce",  # ⏎
    "Key.space": " ",
    "Key.shift": "\u21e7",  # ⇧
}
BACKSPACE = MODIFIER_CHARS["Key.backspace"]
ENTER = MODIFIER_CHARS["Key.enter"]
SHIFT = MODIFIER_CHARS["Key.shift"]

#: The 98 keys in class order (pynput names).
KEYS: tuple[str, ...] = (
    *string.ascii_letters,
    *string.digits,
    *string.punctuation,
    *MODIFIER_CHARS,
)

#: Raw characters replaced before labelling, as emg2qwerty does: line ends and
#: ``\\b`` become keys, typographic quotes and dashes become their ASCII keys.
CHAR_SUBSTITUTIONS: Mapping[str, str] = {
    "\n": ENTER,
    "\r": ENTER,
    "\b": BACKSPACE,
    "\u2019": "'",  # ’
    "\u2018": "'",  # ‘ (not in emg2qwerty's table; its unidecode pass maps it the same way)
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u2014": "-",  # —
    "\u2013": "-",  # – (unidecode pass in emg2qwerty)
}

#: Single characters that name a pynput key other than themselves. The
#: variants (``Key.tab``, ``Key.shift_l``...) are kept so that they are
#: recognised, then dropped as out of vocabulary, exactly as emg2qwerty does.
UNICHAR_TO_KEY: Mapping[str, str] = {
    " ": "Key.space",
    "\r": "Key.enter",
    "\u21e5": "Key.tab",  # ⇥
    "\u21e7": "Key.shift",  # ⇧
    "\u2303": "Key.ctrl",  # ⌃
    "\u2318": "Key.cmd",  # ⌘
    "\u232b": "Key.backspace",  # ⌫
    "\u23ce": "Key.enter",  # ⏎
    "\u2191": "Key.shift_l",  # ↑
    "\u21e1": "Key.shift_r",  # ⇡
}


@dataclass(frozen=True)
class Charset:
    """The key vocabulary with its class indices and label characters.

    Parameters
    ----------
    keys : tuple of str
        pynput key names in class order; defaults to emg2qwerty's 98 keys.

    Notes
    -----
    Lookups are dictionaries built once in ``__post_init__`` (emg2qwerty uses
    ``tuple.index``, linear per key), because the board-side decoder converts
    every emitted class.
    """

    keys: tuple[str, ...] = KEYS
    _key_to_class: dict[str, int] = field(init=False, repr=False, compare=False)
    _key_to_char: dict[str, str] = field(init=False, repr=False, compare=False)
    _char_to_key: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.keys)) != len(self.keys):
            raise InvalidInputError(f"Charset keys must be unique, got {len(self.keys)} keys with duplicates")
        k2c = {k: (MODIFIER_CHARS[k] if k in MODIFIER_CHARS else k) for k in self.keys}
        object.__setattr__(self, "_key_to_class", {k: i for i, k in enumerate(self.keys)})
        object.__setattr__(self, "_key_to_char", k2c)
        object.__setattr__(self, "_char_to_key", {c: k for k, c in k2c.items()})

    # ---- sizes -----------------------------------------------------------------
    @property
    def num_keys(self) -> int:
        """Number of key classes (98 for emg2qwerty), blank excluded."""
        return len(self.keys)

    @property
    def blank(self) -> int:
        """Class index of the CTC blank: one past the last key (98)."""
        return len(self.keys)

    @property
    def num_classes(self) -> int:
        """Model output size: keys plus the blank (99)."""
        return len(self.keys) + 1

    @property
    def chars(self) -> tuple[str, ...]:
        """Label characters in class order."""
        return tuple(self._key_to_char[k] for k in self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._key_to_class

    # ---- single conversions -----------------------------------------------------
    def key_to_class(self, key: str) -> int:
        """Class index of a pynput key name; raises for keys outside the set."""
        try:
            return self._key_to_class[key]
        except KeyError:
            raise InvalidInputError(f"key {key!r} is not one of the {self.num_keys} charset keys") from None

    def class_to_key(self, label: int) -> str:
        """pynput key name of a class index (the blank has none)."""
        if not 0 <= int(label) < self.num_keys:
            raise InvalidInputError(
                f"class index must be in [0, {self.num_keys}) (blank={self.blank} has no key), got {label}"
            )
        return self.keys[int(label)]

    def key_to_char(self, key: str) -> str:
        """Label character of a pynput key name (``"Key.enter"`` -> ``"⏎"``)."""
        try:
            return self._key_to_char[key]
        except KeyError:
            raise InvalidInputError(f"key {key!r} is not one of the {self.num_keys} charset keys") from None

    def char_to_key(self, char: str) -> str:
        """pynput key name of a label character (``"⌫"`` -> ``"Key.backspace"``)."""
        try:
            return self._char_to_key[char]
        except KeyError:
            raise InvalidInputError(f"character {char!r} is not a label character of the charset") from None

    def normalize_key(self, key: str) -> str:
        """Map a raw keylogger key or character onto a charset key where one exists.

        Keys already in the set pass through; a single raw character goes through
        :data:`CHAR_SUBSTITUTIONS`, accent stripping and :data:`UNICHAR_TO_KEY`;
        anything else (``"Key.tab"``, ``"Key.shift_r"``) is returned unchanged and
        is out of vocabulary, as in emg2qwerty.
        """
        if key in self._key_to_class:
            return key
        if len(key) == 1:
            char = self._normalize_char(key)
            return self._char_to_key.get(char, UNICHAR_TO_KEY.get(char, char))
        return key

    def _normalize_char(self, char: str) -> str:
        char = CHAR_SUBSTITUTIONS.get(char, char)
        if char in self._char_to_key or char in UNICHAR_TO_KEY:
            return char
        # emg2qwerty uses unidecode here; NFKD + dropping combining marks covers
        # accented Latin letters (é -> e) without another dependency.
        ascii_ = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        return ascii_ if len(ascii_) == 1 and ascii_ in self._char_to_key else char

    # ---- sequences ----------------------------------------------------------------
    def clean_str(self, text: str) -> str:
        """Normalise raw text to a label string, dropping characters with no key."""
        out = []
        for c in text:
            key = self.normalize_key(c)
            if key in self._key_to_char:
                out.append(self._key_to_char[key])
        return "".join(out)

    def str_to_keys(self, text: str) -> list[str]:
        """Raw or label text -> pynput key names (out-of-vocabulary characters dropped)."""
        return [self._char_to_key[c] for c in self.clean_str(text)]

    def keys_to_str(self, keys: Iterable[str]) -> str:
        """pynput key names -> label string (keys are normalised; unknown keys dropped)."""
        return "".join(
            self._key_to_char[k] for k in (self.normalize_key(k) for k in keys) if k in self._key_to_char
        )

    def str_to_labels(self, text: str) -> list[int]:
        """Raw or label text -> class indices."""
        return [self._key_to_class[self._char_to_key[c]] for c in self.clean_str(text)]

    def labels_to_str(self, labels: Iterable[int]) -> str:
        """Class indices -> label string; blanks are skipped (they carry no key)."""
        return "".join(self._key_to_char[self.keys[int(i)]] for i in labels if int(i) != self.blank)


#: The emg2qwerty charset (98 keys + blank at 98).
CHARSET = Charset()


def keystrokes_to_label(
    keystrokes: Sequence[Any],
    *,
    start_t: float = float("-inf"),
    end_t: float = float("inf"),
    charset: Charset = CHARSET,
) -> tuple[str, list[float]]:
    """Label string and press times of the keystrokes pressed in ``[start_t, end_t]``.

    This is emg2qwerty's ``LabelData.from_keystrokes``: shift and backspace stay
    as their own label characters (the model must emit them; the decoder applies
    them), out-of-vocabulary keys are dropped.

    Parameters
    ----------
    keystrokes : sequence of dict or Keystroke
        Items with ``key`` (pynput name), ``start`` and ``end`` (unix seconds),
        as mappings or objects with those attributes, sorted by ``start``.
    start_t, end_t : float
        Window in the keystrokes' time base; a key belongs to it by its press time.
    charset : Charset

    Returns
    -------
    label : str
        One label character per kept keystroke.
    times : list of float
        Press time of each label character.
    """
    chars: list[str] = []
    times: list[float] = []
    for ks in keystrokes:
        key, start = (ks["key"], ks["start"]) if isinstance(ks, Mapping) else (ks.key, ks.start)
        if start > end_t:
            break
        if start < start_t:
            continue
        key = charset.normalize_key(key)
        if key in charset:
            chars.append(charset.key_to_char(key))
            times.append(float(start))
    return "".join(chars), times


def keystrokes_to_classes(keystrokes: Sequence[Any], *, charset: Charset = CHARSET, **window: float) -> list[int]:
    """Class indices of the keystrokes (see :func:`keystrokes_to_label` for ``start_t``/``end_t``)."""
    label, _ = keystrokes_to_label(keystrokes, charset=charset, **window)
    return charset.str_to_labels(label)


def prompt_to_label(text: str | None, *, enforce_newline: bool = True, charset: Charset = CHARSET) -> str:
    """Label string of a prompt's text, ending in ``⏎`` as emg2qwerty's ``from_prompt`` does."""
    if text is None:
        return ""
    label = charset.clean_str(text)
    if enforce_newline and (not label or label[-1] != ENTER):
        label += ENTER
    return label


def apply_backspaces(label: str, *, keep_modifiers: bool = False) -> str:
    """The text a label string leaves on screen: each ``⌫`` deletes the previous character.

    Shift (``⇧``) changes the next character rather than adding one, so it is
    dropped first unless ``keep_modifiers``; a backspace at the start deletes nothing.
    """
    out: list[str] = []
    for c in label:
        if c == BACKSPACE:
            if out:
                out.pop()
        elif c == SHIFT and not keep_modifiers:
            continue
        else:
            out.append(c)
    return "".join(out)
