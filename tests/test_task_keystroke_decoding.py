"""Keystroke task, board side: metrics, character LM, CTC decoders (numpy only, fast)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeemg.data.charset import BACKSPACE, CHARSET, Charset
from edgeemg.errors import DataFormatError, InvalidInputError
from edgeemg.tasks.keystroke.decoder import DecoderConfig, KeystrokeDecoder, greedy_decode
from edgeemg.tasks.keystroke.lm import CharNgramLM, build_lm, text_to_keys
from edgeemg.tasks.keystroke.metrics import edit_counts, error_rates, matched_pairs

# ------------------------------------------------------------------------------ metrics


def _all_scripts(a: str, b: str) -> set[tuple[int, int, int, int]]:
    """Brute force: (total, ins, del, sub) of every edit script turning a into b (recursion, no DP)."""
    if not a:
        return {(len(b), len(b), 0, 0)}
    if not b:
        return {(len(a), 0, len(a), 0)}
    out = set()
    for t, i, d, s in _all_scripts(a[1:], b[1:]):
        c = int(a[0] != b[0])
        out.add((t + c, i, d, s + c))
    for t, i, d, s in _all_scripts(a[1:], b):
        out.add((t + 1, i, d + 1, s))
    for t, i, d, s in _all_scripts(a, b[1:]):
        out.add((t + 1, i + 1, d, s))
    return out


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab⌫", max_size=6), st.text(alphabet="ab⌫", max_size=6))
def test_edit_counts_is_one_of_the_minimal_scripts(pred: str, target: str) -> None:
    scripts = _all_scripts(pred, target)
    best = min(t for t, *_ in scripts)
    i, d, s = edit_counts(pred, target)
    assert i + d + s == best
    assert (best, i, d, s) in scripts


def test_error_rates_direction_and_pooling() -> None:
    # emg2qwerty's direction: a key the prediction misses is an insertion, a spurious one a deletion
    assert edit_counts("hllo", "hello") == (1, 0, 0)
    assert edit_counts("heello", "hello") == (0, 1, 0)
    r = error_rates(["hxllo", "wrld"], ["hello", "world"])
    assert (r.insertions, r.deletions, r.substitutions, r.target_chars) == (1, 0, 1, 10)
    assert r.cer == pytest.approx(20.0)
    assert r.cer == pytest.approx(r.ier + r.der + r.ser)
    with pytest.raises(InvalidInputError, match="2 predictions for 1 targets"):
        error_rates(["a", "b"], ["a"])


def test_matched_pairs_are_equal_characters_in_order() -> None:
    pairs = matched_pairs("hxllo", "hello")
    assert pairs == [(0, 0), (2, 2), (3, 3), (4, 4)]


# ------------------------------------------------------------------------------ LM

CORPUS = "the cat sat on the mat.\nThe dog ate the cat's food!\nzoo animals eat at noon.\n" * 3


def test_lm_is_normalised_and_round_trips(tmp_path) -> None:
    lm = build_lm(CORPUS, order=4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ctx = tuple(int(c) for c in rng.integers(0, len(lm.vocab) + 1, size=int(rng.integers(0, 4))))
        assert np.exp(lm.next_log_probs(ctx)).sum() == pytest.approx(1.0, abs=1e-9)
    assert lm.log_prob("a", "the c") > lm.log_prob("q", "the c")
    path = lm.save(tmp_path / "lm.bin")
    back = CharNgramLM.load(path)
    assert back.order == 4 and back.vocab == lm.vocab and back.logp.keys() == lm.logp.keys()
    for text in ("the cat", "zoo", "Qwerty!"):
        assert back.score(text) == pytest.approx(lm.score(text), abs=1e-4)


def test_lm_next_log_probs_follow_the_backoff_recursion() -> None:
    """Each symbol's log p is the backoff definition, one symbol at a time: the n-gram's own log p if
    seen, else the context's backoff weight plus log p under the context without its oldest symbol."""
    lm = build_lm(CORPUS, order=4)

    def reference(ctx: tuple[int, ...], w: int) -> float:
        if ctx + (w,) in lm.logp:
            return lm.logp[ctx + (w,)]
        if not ctx:
            return -math.inf
        return lm.backoff.get(ctx, 0.0) + reference(ctx[1:], w)

    rng = np.random.default_rng(1)
    seen = [g[:-1] for g in lm.logp if len(g) > 1]
    contexts = [seen[int(i)][-3:] for i in rng.integers(0, len(seen), 15)]
    contexts += [tuple(int(c) for c in rng.integers(1, len(lm.vocab) + 1, size=k)) for k in (0, 1, 2, 3)]
    for ctx in contexts:
        got = lm.next_log_probs(ctx)
        want = [reference(ctx, w) for w in range(1, len(lm.vocab) + 1)]
        np.testing.assert_allclose(got[1:], want, rtol=0, atol=1e-12)


def test_lm_keys_insert_shift_and_enter() -> None:
    assert text_to_keys("Hi!\n\nok") == ["\u21e7Hi\u21e7!\u23ce", "ok\u23ce"]


def test_lm_file_errors(tmp_path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOTANLM!" + b"\0" * 8)
    with pytest.raises(DataFormatError, match="magic"):
        CharNgramLM.load(bad)
    good = build_lm(CORPUS, order=3).save(tmp_path / "lm.bin")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(DataFormatError, match="truncated"):
        CharNgramLM.load(cut)
    with pytest.raises(InvalidInputError, match="order"):
        build_lm(CORPUS, order=0)


# ------------------------------------------------------------------------------ decoders

AB = Charset(keys=("a", "b"))  # classes a=0, b=1, blank=2


def _collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    out, prev = [], None
    for c in path:
        if c != blank and c != prev:
            out.append(c)
        prev = c
    return tuple(out)


def _exhaustive_best(logp: np.ndarray, blank: int) -> tuple[tuple[int, ...], float, float]:
    """Most probable labelling by summing every alignment path; also the runner-up's probability."""
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(logp.shape[1]), repeat=logp.shape[0]):
        p = math.exp(sum(logp[t, c] for t, c in enumerate(path)))
        key = _collapse(path, blank)
        totals[key] = totals.get(key, 0.0) + p
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[1][1]


@pytest.mark.parametrize("seed", range(12))
def test_prefix_beam_search_finds_the_most_probable_labelling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(6, 3))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    best, p1, p2 = _exhaustive_best(logp, AB.blank)
    cfg = DecoderConfig(kind="beam", beam_size=200, max_labels_per_frame=2, label_threshold=-math.inf,
                        score_beam=math.inf,
                        lm_weight=0.0, max_delay_frames=None)
    dec = KeystrokeDecoder(cfg, charset=AB)
    got = dec.decode(logp)
    if p1 > p2 * (1 + 1e-9):  # a unique best labelling
        assert got == AB.labels_to_str(best)


def test_greedy_collapses_repeats_and_blanks() -> None:
    lab = [0, 0, 2, 0, 1, 1, 2, 2, 1]
    e = np.full((len(lab), 3), -9.0)
    e[np.arange(len(lab)), lab] = 0.0
    assert greedy_decode(e, AB) == "aabb"
    dec = KeystrokeDecoder(DecoderConfig(kind="greedy"), charset=AB)
    assert dec.decode(e) == "aabb"


def _emissions(keys: str, frames_per_key: int = 4, soft: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    """Log-probs spelling ``keys`` (one peaked frame each, blanks between); ``soft[i]`` overrides key i's frame."""
    rows = []
    for i, k in enumerate(keys):
        row = np.full(CHARSET.num_classes, 1e-6)
        if soft and i in soft:
            for c, p in soft[i].items():
                row[CHARSET.str_to_labels(c)[0]] = p
        else:
            row[CHARSET.str_to_labels(k)[0]] = 1.0
        rows.append(row)
        for _ in range(frames_per_key - 1):
            b = np.full(CHARSET.num_classes, 1e-6)
            b[CHARSET.blank] = 1.0
            rows.append(b)
    e = np.array(rows)
    return np.log(e / e.sum(axis=1, keepdims=True))


def test_beam_with_lm_treats_backspace_as_a_delete() -> None:
    # after "c z ⌫" the LM must condition on "c" (cat), not on "z" (zoo)
    lm = build_lm("cat\nzoo\n" * 20, order=3)
    e = _emissions("cz\u232bat", soft={3: {"a": 0.45, "o": 0.55}})
    plain = KeystrokeDecoder(DecoderConfig(lm_weight=0.0))
    assert plain.decode(e) == "cz\u232bot"
    fused = KeystrokeDecoder(DecoderConfig(lm_weight=1.0, insertion_bonus=0.0), lm)
    assert fused.decode(e) == "cz\u232bat"
    assert fused.text == "cat"
    # and the LM score of the prefix is that of "cat": the deleted z's score was taken back out
    assert lm.score("cat") == pytest.approx(lm.log_prob("c") + lm.log_prob("a", "c") + lm.log_prob("t", "ca"))


def test_online_beam_emits_characters_as_they_become_final() -> None:
    keys = "hello world\u23ce"
    e = _emissions(keys, frames_per_key=5)
    idx = np.arange(len(e)) * 16 + 63
    dec = KeystrokeDecoder(DecoderConfig(beam_size=8))
    events = []
    first_at = None
    for a in range(0, len(e), 3):  # 3-frame chunks, as hops arrive
        new = dec.step(e[a:a + 3], idx[a:a + 3])
        if new and first_at is None:
            first_at = a
        events += new
    events += dec.finish()
    assert "".join(ev["char"] for ev in events) == keys
    assert first_at is not None and first_at < len(e) // 2  # characters came out long before the end
    assert all(ev["end_index"] >= ev["onset_index"] for ev in events)
    assert [ev["action"] for ev in events][-1] == "enter"
    # bounded delay: nothing waits more than max_delay_frames after entering the best prefix
    assert max(ev["end_index"] - ev["onset_index"] for ev in events) <= 30 * 16


def test_decoder_validates_input_and_manifest(tmp_path) -> None:
    dec = KeystrokeDecoder()
    with pytest.raises(InvalidInputError, match=r"\(n_frames, 99\)"):
        dec.step(np.zeros((3, 98)), np.arange(3))
    with pytest.raises(InvalidInputError, match="one entry per frame"):
        dec.step(np.zeros((3, 99)), np.arange(2))
    with pytest.raises(InvalidInputError, match="unknown key"):
        KeystrokeDecoder.from_manifest({"decoder": {"beams": 3}})
    build_lm(CORPUS, order=3).save(tmp_path / "lm.bin")
    dec = KeystrokeDecoder.from_manifest({"decoder": {"kind": "beam", "lm": "lm.bin"}}, root=tmp_path)
    assert dec.lm is not None and dec.lm.order == 3
    assert BACKSPACE not in dec.lm.vocab
