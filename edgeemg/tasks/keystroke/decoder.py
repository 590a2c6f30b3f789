"""Board-side keystroke decoder: CTC emissions -> characters, online (numpy only).

Two decoders behind one streaming interface (``reset()``, ``step(emissions,
end_index) -> events``, ``finish() -> events``, ``from_manifest(manifest)``),
the interface of every task decoder the runtime drives:

``greedy``
    Best class per frame, repeats collapsed, blanks dropped (emg2qwerty's
    ``CTCGreedyDecoder``). A character is final the frame it appears.
``beam``
    CTC prefix beam search (Hannun et al. 2014; https://distill.pub/2017/ctc/)
    with optional shallow fusion of a character n-gram LM
    (:class:`~edgeemg.tasks.keystroke.lm.CharNgramLM`): each new character adds
    ``lm_weight * log p_lm(char | context) + insertion_bonus`` to the prefix
    score. The bonus offsets the LM's per-character penalty, which would
    otherwise favour dropping characters.

**Backspace is a delete.** The decoded key sequence keeps ``⌫`` (it is what the
fingers did, and what CER is scored on, as in emg2qwerty), but the LM conditions
on the text left on screen: ``⌫`` pops the last character from the LM context
and takes that character's LM score back out of the prefix score, so
``"c z ⌫ a t"`` is scored by the LM exactly as ``"c a t"`` (emg2qwerty's
two-trie scheme). ``⏎`` restarts the LM context at the sentence start.

**When a character is final.** The beam holds several prefixes; every one of
them extends the prefixes of the previous frame, so the characters shared by
*all* live prefixes (their longest common prefix) can never change again and are
emitted at once. If the beam stays split for ``max_delay_frames`` frames, the
best prefix's older characters are committed anyway and the hypotheses that
disagree are dropped: this bounds the decoder's added latency at
``max_delay_frames`` frames (default 8 = 64 ms at 125 frames/s) at the cost of
occasionally giving up a hypothesis the LM might have revived later. Measured on
the CPU-trained TDS (user 0, sessions 10-11, LM from ``lm_corpus.txt``): 30
frames gave beam CER 59.0 % with a median character latency of 166 ms (offline,
before the bundle's chunk wait), 15 frames 63.8 % / 57 ms, 8 frames 63.3 % /
5 ms; the board's 80 ms budget takes the short delay.

Events are dicts ``{"char", "class", "action", "onset_index", "end_index"}``:
``action`` is ``"type"``, ``"delete"`` (``⌫``) or ``"enter"`` (``⏎``);
``onset_index`` is the end sample of the frame at which the character entered
its prefix, ``end_index`` that of the frame at which it became final.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import BACKSPACE, CHARSET, ENTER, Charset, apply_backspaces
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke.ctc import Node, Screen, greedy_decode, log_softmax, logaddexp
from edgeemg.tasks.keystroke.decoder_config import DECODERS, DecoderConfig
from edgeemg.tasks.keystroke.lm import BOS, CharNgramLM
from edgeemg.tasks.manifest import decoder_settings


class KeystrokeDecoder:
    """Streaming CTC decoder (see the module docstring).

    Parameters
    ----------
    config : DecoderConfig
    lm : CharNgramLM, optional
        Used by the beam decoder when ``config.lm_weight`` > 0.
    charset : Charset

    Examples
    --------
    >>> dec = KeystrokeDecoder(DecoderConfig(kind="greedy"))
    >>> e = np.full((4, 99), -20.0); e[:, 98] = 0.0; e[1, 0] = 0.0; e[1, 98] = -20.0
    >>> [ev["char"] for ev in dec.step(e, np.arange(4) * 16 + 63)]
    ['a']
    """

    def __init__(self, config: DecoderConfig | None = None, lm: CharNgramLM | None = None,
                 charset: Charset = CHARSET) -> None:
        self.config = config or DecoderConfig()
        self.lm = lm if (lm is not None and self.config.lm_weight > 0) else None
        self.charset = charset
        self.blank = charset.blank
        self.n_classes = charset.num_classes
        self._chars = charset.chars
        self._backspace = self._chars.index(BACKSPACE) if BACKSPACE in self._chars else -1
        self._enter = self._chars.index(ENTER) if ENTER in self._chars else -1
        if self.lm is not None:
            self._lm_sym = np.array([self.lm.symbol_id(c) or -1 for c in self._chars], dtype=np.int64)
            self._oov_logp = -math.log(len(self.lm.vocab) + 1)
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], *, root: str | os.PathLike[str] | None = None) -> KeystrokeDecoder:
        """Build from a bundle manifest or checkpoint meta.

        Reads ``manifest["decoder"]`` (a :class:`DecoderConfig` dict, plus an optional
        ``"lm"`` file name, resolved against ``root``, the bundle folder).
        """
        cfg = decoder_settings(manifest)
        lm_file = cfg.pop("lm", None)
        lm = None
        if lm_file:
            path = Path(lm_file)
            if not path.is_absolute() and root is not None:
                path = Path(root) / path
            lm = CharNgramLM.load(path)
        return cls(DecoderConfig.from_dict(cfg), lm)

    # ---- state -------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (a new recording, or a reconnected band)."""
        self._frame = 0
        self._prev = self.blank  # greedy
        root = Node(self.blank, None, -1, -1, None)
        self._committed = root
        self._beam: list[tuple[Node, float, float]] = [(root, 0.0, -math.inf)]  # (node, log p_blank, log p_nonblank)
        self.keys: list[int] = []  # every class emitted so far

    # ---- LM terms ----------------------------------------------------------------
    def _context(self, screen: Screen | None) -> tuple[int, ...]:
        assert self.lm is not None
        ids: list[int] = []
        s = screen
        while s is not None and len(ids) < self.lm.order - 1:
            ids.append(s.sym)
            s = s.prev
        if s is None:
            ids.append(BOS)
        return tuple(reversed(ids))[-(self.lm.order - 1):] if self.lm.order > 1 else ()

    def _lm_row(self, screen: Screen | None) -> NDArray[np.float64]:
        """LM log-probabilities of the next symbol after ``screen`` (kept on the screen entry: walking the
        context once per extension made the beam's worst 40 ms hops miss the board's 4 ms compute budget)."""
        assert self.lm is not None
        if screen is None:
            return self.lm.next_log_probs(self._context(None))
        if screen.lm_row is None:
            screen.lm_row = self.lm.next_log_probs(self._context(screen))
        return screen.lm_row

    def _extend(self, node: Node, c: int, frame: int, end_index: int) -> tuple[Node, float]:
        """New child prefix ``node + c`` and its LM term (0 without an LM)."""
        if self.lm is None:
            screen = None
            return Node(c, node, frame, end_index, screen), 0.0
        w = self.config.lm_weight
        if c == self._backspace:
            s = node.screen
            if s is None:
                return Node(c, node, frame, end_index, None), 0.0
            return Node(c, node, frame, end_index, s.prev), -w * s.lm_logp
        sym = int(self._lm_sym[c])
        if sym < 0:
            lp = self._oov_logp
            screen = node.screen
        else:
            lp = float(self._lm_row(node.screen)[sym])
            screen = None if c == self._enter else Screen(sym, lp, node.screen)
        return Node(c, node, frame, end_index, screen), w * lp + self.config.insertion_bonus

    # ---- stepping ------------------------------------------------------------------
    def _check(self, emissions: Any, end_index: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        e = np.asarray(emissions)
        if e.ndim != 2 or e.shape[1] != self.n_classes:
            raise InvalidInputError(
                f"KeystrokeDecoder.step: emissions must be (n_frames, {self.n_classes}) log-probabilities, "
                f"got shape {e.shape}")
        idx = np.asarray(end_index, dtype=np.int64).reshape(-1)
        if idx.shape[0] != e.shape[0]:
            raise InvalidInputError(f"KeystrokeDecoder.step: end_index needs one entry per frame ({e.shape[0]}), "
                                    f"got {idx.shape[0]}")
        return log_softmax(e), idx

    def _event(self, c: int, onset: int, end: int) -> dict[str, Any]:
        self.keys.append(c)
        action = "delete" if c == self._backspace else ("enter" if c == self._enter else "type")
        return {"char": self._chars[c], "class": int(c), "action": action, "onset_index": int(onset),
                "end_index": int(end)}

    def step(self, emissions: Any, end_index: Any) -> list[dict[str, Any]]:
        """Consume consecutive frames; return the characters that became final.

        Parameters
        ----------
        emissions : ndarray, shape (n_frames, 99)
            Log-probabilities (or logits: they are log-softmaxed here) per frame.
        end_index : ndarray of int, shape (n_frames,)
            Sample index of each frame's last sample.
        """
        lp, idx = self._check(emissions, end_index)
        if self.config.kind == "greedy":
            return self._step_greedy(lp, idx)
        events: list[dict[str, Any]] = []
        for row, e in zip(lp, idx):
            self._beam_frame(row, int(e))
            events += self._commit(int(e))
            self._frame += 1
        return events

    def _step_greedy(self, lp: NDArray[np.float64], idx: NDArray[np.int64]) -> list[dict[str, Any]]:
        events = []
        for c, e in zip(lp.argmax(axis=1), idx):
            c = int(c)
            if c != self.blank and c != self._prev:
                events.append(self._event(c, int(e), int(e)))
            self._prev = c
            self._frame += 1
        return events

    def _beam_frame(self, lp: NDArray[np.float64], end_index: int) -> None:
        cfg = self.config
        blank = self.blank
        order = np.argsort(-lp, kind="stable")[: cfg.max_labels_per_frame + 1]
        cands = [int(c) for c in order if c != blank and lp[c] > cfg.label_threshold][: cfg.max_labels_per_frame]
        lp_blank = float(lp[blank])
        nxt: dict[Node, list[float]] = {}
        # an extension equals an existing prefix only if that prefix is a child of the extended one
        by_parent = {(id(n.parent), n.label): n for n, _, _ in self._beam if n.parent is not None}
        # (a committed prefix has parent None; its parent is gone from the beam, so it needs no entry)
        for node, pb, pnb in self._beam:
            ptot = logaddexp(pb, pnb)
            slot = nxt.setdefault(node, [-math.inf, -math.inf])
            slot[0] = logaddexp(slot[0], ptot + lp_blank)
            if node.label != blank:  # the last class repeated: collapses (only the root holds the blank)
                slot[1] = logaddexp(slot[1], pnb + float(lp[node.label]))
            for c in cands:
                child = by_parent.get((id(node), c))
                if child is None:
                    child, term = self._extend(node, c, self._frame, end_index)
                    by_parent[(id(node), c)] = child
                    child_term = term
                else:
                    child_term = self._term_of(node, child)
                # a repeated class only starts a new character after a blank
                base = pb if c == node.label else ptot
                cs = nxt.setdefault(child, [-math.inf, -math.inf])
                cs[1] = logaddexp(cs[1], base + float(lp[c]) + child_term)
        scored = sorted(((n, s[0], s[1], logaddexp(s[0], s[1])) for n, s in nxt.items()), key=lambda r: -r[3])
        floor = scored[0][3] - cfg.score_beam
        self._beam = [(n, pb, pnb) for n, pb, pnb, tot in scored[: cfg.beam_size] if tot >= floor]

    def _term_of(self, parent: Node, child: Node) -> float:
        """LM term of an existing child prefix (recomputed: cached by the LM per context)."""
        return self._extend(parent, child.label, child.frame, child.onset_index)[1]

    def _commit(self, end_index: int) -> list[dict[str, Any]]:
        nodes = [n for n, _, _ in self._beam]
        a = nodes[0]
        for b in nodes[1:]:
            while a.depth > b.depth:
                a = a.parent  # type: ignore[assignment]
            while b.depth > a.depth:
                b = b.parent  # type: ignore[assignment]
            while a is not b:
                a, b = a.parent, b.parent  # type: ignore[assignment]
        target = a
        limit = self.config.max_delay_frames
        if limit is not None:
            best = nodes[0]
            n = best
            while n.depth > target.depth and n.frame > self._frame - limit:
                n = n.parent  # type: ignore[assignment]
            if n.depth > target.depth:  # the best prefix holds characters older than the limit
                target = n
                keep = []
                for node, pb, pnb in self._beam:
                    m = node
                    while m.depth > target.depth:
                        m = m.parent  # type: ignore[assignment]
                    if m is target:
                        keep.append((node, pb, pnb))
                self._beam = keep
        return self._emit_to(target, end_index)

    def _emit_to(self, target: Node, end_index: int) -> list[dict[str, Any]]:
        if target.depth <= self._committed.depth:
            return []
        path = []
        n = target
        while n is not self._committed and n.depth > self._committed.depth:
            path.append(n)
            n = n.parent  # type: ignore[assignment]
        events = [self._event(p.label, p.onset_index, end_index) for p in reversed(path)]
        self._committed = target
        target.parent = None  # committed history is never revisited: let it be collected
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: commit the best prefix's remaining characters."""
        if self.config.kind == "greedy" or not self._beam:
            return []
        best = self._beam[0][0]
        end = max(best.onset_index, self._committed.onset_index)
        return self._emit_to(best, end)

    # ---- offline helpers ---------------------------------------------------------
    def decode(self, emissions: Any, end_index: Any | None = None) -> str:
        """Whole-sequence decoding: reset, step, finish; returns the key string (``⌫`` kept)."""
        e = np.asarray(emissions)
        if end_index is None:
            end_index = np.arange(e.shape[0])
        self.reset()
        events = self.step(e, end_index) + self.finish()
        return "".join(ev["char"] for ev in events)

    @property
    def text(self) -> str:
        """The text on screen after the characters emitted so far (backspaces applied)."""
        return apply_backspaces("".join(self._chars[c] for c in self.keys))


__all__ = ["DECODERS", "DecoderConfig", "KeystrokeDecoder", "greedy_decode", "log_softmax"]
