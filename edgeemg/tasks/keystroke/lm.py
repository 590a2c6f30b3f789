"""Character n-gram language model for keystroke decoding (numpy only, no pickle).

emg2qwerty fuses its CTC beam search with a 6-gram character KenLM. KenLM is a
C++ build we do not want on a board, and its ARPA text is slow to load, so this
module builds the same kind of model itself: **interpolated Kneser-Ney** with one
absolute discount per order (``D = n1 / (n1 + 2 n2)``, Chen & Goodman), lower
orders on continuation counts. It is stored in backoff form (ARPA's: one
log-probability per seen n-gram, one backoff weight per seen context), which
for interpolated KN is exact and lets a lookup stop at the longest seen n-gram.

What it models is *keys*, the way a typist's fingers produce them: corpus text
goes through the charset (typographic quotes -> ASCII, ``\\n`` -> ``⏎``), every
capital or shifted symbol is preceded by ``⇧`` (the simulator and emg2qwerty
record shift as its own key), and each line ends with ``⏎``. Backspace is not in
the vocabulary: the decoder applies it by popping the LM context (a deleted
character no longer conditions the next one), as emg2qwerty's beam search does.
After ``⏎`` the context restarts at the sentence-start symbol.

Binary file layout (little endian)::

    8 bytes   magic b"EEMGCLM1"
    uint32    header length H
    H bytes   UTF-8 JSON header: format, version, order, vocab (list of chars,
              id = position + 1; id 0 is the sentence start <s>), discounts,
              ngram_counts [n_1..n_N], context_counts [m_1..m_{N-1}]
    for k = 1..N:    int16 (n_k, k) n-gram ids, float32 (n_k,) natural-log probabilities
    for k = 1..N-1:  int16 (m_k, k) context ids, float32 (m_k,) natural-log backoff weights
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import BACKSPACE, CHARSET, ENTER, SHIFT
from edgeemg.errors import DataFormatError, InvalidInputError

MAGIC = b"EEMGCLM1"
FORMAT = "edgeemg-char-ngram"
VERSION = 1
BOS = 0
"""Id of the sentence-start symbol: a context, never predicted."""

SHIFTED_CHARS = frozenset('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ')
"""Characters typed with shift held on a US layout (the simulator's and emg2qwerty's keyboards)."""

#: The LM's symbols: every label character except backspace (applied by the decoder, never scored).
DEFAULT_VOCAB: tuple[str, ...] = tuple(c for c in CHARSET.chars if c != BACKSPACE)


def text_to_keys(text: str) -> list[str]:
    """Corpus text -> one key sequence per non-empty line: ``⇧`` before shifted characters, ``⏎`` at the end."""
    out = []
    for line in text.splitlines():
        label = CHARSET.clean_str(line.strip())
        if not label:
            continue
        keys: list[str] = []
        for c in label:
            if c in SHIFTED_CHARS:
                keys.append(SHIFT)
            keys.append(c)
        if keys[-1] != ENTER:
            keys.append(ENTER)
        out.append(keys)
    return ["".join(k) for k in out]


@dataclass(frozen=True)
class CharNgramLM:
    """A backoff character n-gram model (build with :func:`build_lm`, read with :meth:`load`).

    Attributes
    ----------
    order : int
        n of the n-gram (context of ``order - 1`` symbols).
    vocab : tuple of str
        Predictable symbols; symbol id = index + 1 (0 is ``<s>``).
    logp : dict
        n-gram (tuple of ids) -> natural-log probability of its last symbol given the others.
    backoff : dict
        Context (tuple of ids) -> natural-log backoff weight.
    discounts : tuple of float
        Kneser-Ney discount per order (kept for the record).
    """

    order: int
    vocab: tuple[str, ...]
    logp: dict[tuple[int, ...], float]
    backoff: dict[tuple[int, ...], float]
    discounts: tuple[float, ...] = ()
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)
    _cache: dict[tuple[int, ...], NDArray[np.float64]] = field(init=False, repr=False, compare=False)
    _next: dict[tuple[int, ...], tuple[NDArray[np.int64], NDArray[np.float64]]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {c: i + 1 for i, c in enumerate(self.vocab)})
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_next", self._successors())

    def _successors(self) -> dict[tuple[int, ...], tuple[NDArray[np.int64], NDArray[np.float64]]]:
        """Context -> (ids, log-probs) of the symbols seen after it: a cache miss in :meth:`next_log_probs`
        is then one numpy step per backoff order instead of a dict lookup per symbol and order (issue 15:
        the beam's misses made the board decoder's p99 per 40 ms hop 4.2 ms, over the hop's 4 ms budget)."""
        v = len(self.vocab) + 1
        grouped: dict[tuple[int, ...], tuple[list[int], list[float]]] = {}
        for g, lp in self.logp.items():
            if 0 < g[-1] < v:
                ids, lps = grouped.setdefault(g[:-1], ([], []))
                ids.append(g[-1])
                lps.append(lp)
        return {h: (np.array(i, dtype=np.int64), np.array(p, dtype=np.float64)) for h, (i, p) in grouped.items()}

    # ---- lookups --------------------------------------------------------------------
    def symbol_id(self, char: str) -> int | None:
        """Id of a label character, or None if the LM does not model it (e.g. ``⌫``)."""
        return self._ids.get(char)

    def context_ids(self, history: str) -> tuple[int, ...]:
        """The conditioning context of ``history`` (on-screen keys since the last ``⏎``; ``<s>`` first)."""
        ids = [BOS] + [self._ids[c] for c in history if c in self._ids]
        return tuple(ids[-(self.order - 1):]) if self.order > 1 else ()

    def next_log_probs(self, context: tuple[int, ...]) -> NDArray[np.float64]:
        """Natural-log probability of every symbol after ``context``: shape (len(vocab) + 1,), index = id.

        Index 0 (``<s>``) is ``-inf``. Results are cached per context (bounded), since a
        beam search asks for the same few contexts frame after frame.
        """
        context = tuple(context[-(self.order - 1):]) if self.order > 1 else ()
        hit = self._cache.get(context)
        if hit is not None:
            return hit
        v = len(self.vocab) + 1
        out = np.full(v, -np.inf)
        acc = 0.0
        done = np.zeros(v, bool)
        done[BOS] = True
        for k in range(len(context), -1, -1):
            h = context[len(context) - k:]
            seen = self._next.get(h)
            if seen is not None:
                new = ~done[seen[0]]
                out[seen[0][new]] = acc + seen[1][new]
                done[seen[0][new]] = True
            if done.all():
                break
            acc += self.backoff.get(h, 0.0)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[context] = out
        return out

    def log_prob(self, char: str, history: str = "") -> float:
        """Natural-log probability of ``char`` after the on-screen ``history`` (``-inf`` if out of vocabulary)."""
        w = self._ids.get(char)
        if w is None:
            return -math.inf
        return float(self.next_log_probs(self.context_ids(history))[w])

    def score(self, keys: str) -> float:
        """Total natural-log probability of a key string (each ``⏎`` restarts the context)."""
        total, hist = 0.0, ""
        for c in keys:
            total += self.log_prob(c, hist)
            hist = "" if c == ENTER else hist + c
        return total

    # ---- file ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the binary format of the module docstring (atomically: temp file then rename)."""
        path = Path(path)
        by_k: dict[int, list[tuple[tuple[int, ...], float]]] = defaultdict(list)
        for g, lp in self.logp.items():
            by_k[len(g)].append((g, lp))
        ctx_k: dict[int, list[tuple[tuple[int, ...], float]]] = defaultdict(list)
        for h, b in self.backoff.items():
            if h:
                ctx_k[len(h)].append((h, b))
        header = {
            "format": FORMAT, "version": VERSION, "order": self.order, "vocab": list(self.vocab),
            "discounts": list(self.discounts),
            "ngram_counts": [len(by_k[k]) for k in range(1, self.order + 1)],
            "context_counts": [len(ctx_k[k]) for k in range(1, self.order)],
            "empty_context_backoff": float(self.backoff.get((), 0.0)),
        }
        blob = json.dumps(header).encode("utf-8")
        parts = [MAGIC, struct.pack("<I", len(blob)), blob]
        for table, ks in ((by_k, range(1, self.order + 1)), (ctx_k, range(1, self.order))):
            for k in ks:
                items = sorted(table[k])
                ids = np.array([g for g, _ in items], dtype="<i2").reshape(len(items), k)
                vals = np.array([x for _, x in items], dtype="<f4")
                parts += [ids.tobytes(), vals.tobytes()]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(b"".join(parts))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharNgramLM:
        """Read a file written by :meth:`save`; errors name the file and the byte offset."""
        path = Path(path)
        if not path.is_file():
            raise DataFormatError(f"{path}: no such LM file")
        data = path.read_bytes()
        if data[:8] != MAGIC:
            raise DataFormatError(f"{path}: not an edgeemg character LM (magic {data[:8]!r} at offset 0, "
                                  f"expected {MAGIC!r}); build one with `edgeemg lm build`")
        if len(data) < 12:
            raise DataFormatError(f"{path}: truncated at offset 8 (no header length)")
        (hlen,) = struct.unpack_from("<I", data, 8)
        try:
            header = json.loads(data[12:12 + hlen].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(f"{path}: header at offset 12 ({hlen} bytes) is not valid JSON: {exc}") from None
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise DataFormatError(f"{path}: header says format {header.get('format')!r} version "
                                  f"{header.get('version')!r}, expected {FORMAT!r} version {VERSION}")
        order = int(header["order"])
        off = 12 + hlen

        def take(k: int, n: int) -> list[tuple[tuple[int, ...], float]]:
            nonlocal off
            need = n * k * 2 + n * 4
            if off + need > len(data):
                raise DataFormatError(f"{path}: truncated: a table of {n} {k}-grams needs {need} bytes at offset "
                                      f"{off}, the file has {len(data) - off} left")
            ids = np.frombuffer(data, dtype="<i2", count=n * k, offset=off).reshape(n, k)
            vals = np.frombuffer(data, dtype="<f4", count=n, offset=off + n * k * 2)
            off += need
            return [(tuple(int(x) for x in row), float(v)) for row, v in zip(ids, vals)]

        logp: dict[tuple[int, ...], float] = {}
        for k, n in zip(range(1, order + 1), header["ngram_counts"]):
            logp.update(take(k, int(n)))
        backoff: dict[tuple[int, ...], float] = {(): float(header.get("empty_context_backoff", 0.0))}
        for k, n in zip(range(1, order), header["context_counts"]):
            backoff.update(take(k, int(n)))
        if off != len(data):
            raise DataFormatError(f"{path}: {len(data) - off} unexpected trailing bytes at offset {off}")
        return cls(order=order, vocab=tuple(header["vocab"]), logp=logp, backoff=backoff,
                   discounts=tuple(header.get("discounts", ())))

    def to_dict(self) -> dict[str, Any]:
        """Summary for logs and manifests."""
        return {"order": self.order, "vocab_size": len(self.vocab), "n_ngrams": len(self.logp)}


def build_lm(corpus_text: str, order: int = 6, *, vocab: tuple[str, ...] = DEFAULT_VOCAB) -> CharNgramLM:
    """Build an interpolated Kneser-Ney character LM from raw text (one sentence per line).

    Parameters
    ----------
    corpus_text : str
        Raw text; see the module docstring for how it becomes keys.
    order : int
        n-gram order (emg2qwerty uses 6); at least 1.
    vocab : tuple of str
        Predictable symbols; corpus keys outside it are dropped.

    Returns
    -------
    CharNgramLM

    Raises
    ------
    InvalidInputError
        ``order`` < 1 or a corpus with no usable characters.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise InvalidInputError(f"build_lm: order must be an integer >= 1, got {order!r}")
    ids = {c: i + 1 for i, c in enumerate(vocab)}
    seqs = [[BOS] * (order - 1) + [ids[c] for c in line if c in ids] for line in text_to_keys(corpus_text)]
    seqs = [s for s in seqs if len(s) > order - 1]
    if not seqs:
        raise InvalidInputError("build_lm: the corpus has no characters of the vocabulary")
    v = len(vocab)
    # raw counts of every n-gram of every order ending at a real symbol
    raw: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    for s in seqs:
        for i in range(order - 1, len(s)):
            for k in range(1, order + 1):
                g = tuple(s[i - k + 1:i + 1])
                if k > 1 and g[0] == BOS and g[1] == BOS:
                    continue  # padding duplicates; the shortest <s>-initial n-gram stands for them
                raw[k][g] += 1
    # KN counts: the highest order and <s>-initial n-grams keep raw counts; others use continuation counts
    kn: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    kn[order] = raw[order]
    for k in range(1, order):
        cont: Counter[tuple[int, ...]] = Counter()
        for g in raw[k + 1]:
            cont[g[1:]] += 1
        for g, c in raw[k].items():
            kn[k][g] = c if g[0] == BOS else cont.get(g, c)
    discounts = []
    for k in range(1, order + 1):
        n1 = sum(1 for c in kn[k].values() if c == 1)
        n2 = sum(1 for c in kn[k].values() if c == 2)
        discounts.append(min(max(n1 / (n1 + 2 * n2), 0.1), 0.9) if n1 + 2 * n2 else 0.5)
    # per-context totals and type counts
    logp: dict[tuple[int, ...], float] = {}
    backoff: dict[tuple[int, ...], float] = {}
    prob: dict[tuple[int, ...], float] = {}
    for k in range(1, order + 1):
        d = discounts[k - 1]
        tot: Counter[tuple[int, ...]] = Counter()
        types: Counter[tuple[int, ...]] = Counter()
        for g, c in kn[k].items():
            tot[g[:-1]] += c
            types[g[:-1]] += 1
        lam = {h: d * types[h] / tot[h] for h in tot}
        if k == 1:
            for w in range(1, v + 1):  # every symbol gets a unigram: interpolation with uniform
                c = kn[1].get((w,), 0)
                p = max(c - d, 0) / tot[()] + lam[()] / v
                prob[(w,)] = p
                logp[(w,)] = math.log(p)
            backoff[()] = 0.0
            continue
        for g, c in kn[k].items():
            h = g[:-1]
            p_low = _interp(prob, backoff, g[1:])
            p = max(c - d, 0) / tot[h] + lam[h] * p_low
            prob[g] = p
            logp[g] = math.log(p)
        for h, l in lam.items():
            backoff[h] = math.log(l) if l > 0 else -math.inf
    return CharNgramLM(order=order, vocab=tuple(vocab), logp=logp, backoff=backoff, discounts=tuple(discounts))


def _interp(prob: dict[tuple[int, ...], float], backoff: dict[tuple[int, ...], float], g: tuple[int, ...]) -> float:
    """p(g[-1] | g[:-1]) from the lower-order tables built so far (backoff form)."""
    acc = 1.0
    for k in range(len(g), 0, -1):
        sub = g[len(g) - k:]
        if sub in prob:
            return acc * prob[sub]
        acc *= math.exp(backoff.get(sub[:-1], 0.0))
    raise AssertionError("unreachable: every unigram has a probability")  # pragma: no cover


BUILTIN_CORPUS = "lm_corpus.txt"
"""The LM corpus shipped in :mod:`edgeemg.data` (``edgeemg lm build --builtin``)."""


def builtin_corpus_text() -> str:
    """The shipped LM corpus, one sentence per line, without its ``#`` header.

    Its sentences are disjoint from ``corpus.txt``, the prompts the typing
    simulator draws from (a test checks this), so an LM built from it does not
    know the simulated sentences in advance: beam+LM figures on simulated typing
    are then honest about what the LM adds.
    """
    from importlib import resources

    text = resources.files("edgeemg.data").joinpath(BUILTIN_CORPUS).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("#")) + "\n"


def load_lm(path: str | os.PathLike[str]) -> CharNgramLM:
    """Shorthand for :meth:`CharNgramLM.load`."""
    return CharNgramLM.load(path)


__all__ = ["BOS", "BUILTIN_CORPUS", "DEFAULT_VOCAB", "CharNgramLM", "build_lm", "builtin_corpus_text", "load_lm",
           "text_to_keys"]
