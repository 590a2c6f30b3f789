"""Beam + LM settings chosen on the validation session after training (no test data).

Why: the shallow-fusion weight and the insertion bonus that decode best
depend on how sure the model's emissions are, so one fixed pair fits no model
well. The CPU default TDS (user 0, frames 6-9, 22 epochs) decoded with the
fixed 0.8 / +1.0 inserted characters (test IER 1.7 %, DER 6.8 %: extra
characters) and gained only 1.7 pp over greedy (23.5 -> 21.8 % CER on the later
test session); chosen on its validation session from :data:`PERSONAL_GRID`
(validation 11.4 % at 0.5 / -0.5, against 13.4 % at 0.8 / +1.0) the same
emissions decode to 18.6 % on the test session, a 4.9 pp gain over greedy.
:func:`tune_beam` runs after every ``train`` (:mod:`.workflow`) with the
built-in order-6 LM, so ``eval``, ``export`` and the board decode with the
chosen pair; ``max_delay_frames`` (the board's latency bound) is left alone.
A second pair is chosen for the same search over whole prompts (host
decoding, ``eval``'s ``beam_lm_offline``): there the LM can revise a
character until the prompt ends, and a surer LM pays (default TDS: 0.8 / 0.0,
validation 9.2 %, test 15.0 %, against 15.5 % at the board's pair).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.tasks.keystroke.decoder_config import DecoderConfig

PERSONAL_GRID: dict[str, tuple[float, ...]] = {"lm_weight": (0.3, 0.5, 0.8, 1.2),
                                               "insertion_bonus": (-1.0, -0.5, 0.0, 0.5, 1.0)}
"""Settings :func:`tune_beam` tries after training. Negative bonuses are in because a sure model's emissions
already name every key: the LM's job is then to pick between them, not to add characters."""
TUNING_LM_ORDER = 6
"""Order of the built-in LM the tune decodes with (``edgeemg lm build --builtin``'s default)."""


@functools.lru_cache(maxsize=1)
def builtin_lm() -> Any:
    """The character LM of the shipped corpus at :data:`TUNING_LM_ORDER` (built once per process)."""
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text

    return build_lm(builtin_corpus_text(), order=TUNING_LM_ORDER)


def tune_beam(emissions: list[NDArray[np.float32]], sessions: list[Any], lm: Any, base: DecoderConfig,
              grid: dict[str, tuple[float, ...]] | None = None) -> tuple[DecoderConfig, list[dict[str, float]]]:
    """The beam + LM setting of ``grid`` that decodes ``sessions`` (their ``emissions``) best, and every row.

    ``base`` gives the other fields (beam size, latency bound); the first
    setting with the lowest CER wins. Rows hold ``lm_weight``,
    ``insertion_bonus``, ``cer``, ``ier``, ``der`` and ``ser`` (%).
    """
    from edgeemg.tasks.keystroke.decoder import KeystrokeDecoder
    from edgeemg.tasks.keystroke.workflow import score_sessions

    grid = grid or PERSONAL_GRID
    base = dataclasses.replace(base, kind="beam")
    rows = []
    for w in grid["lm_weight"]:
        for bonus in grid["insertion_bonus"]:
            cfg = dataclasses.replace(base, lm_weight=w, insertion_bonus=bonus)
            rates = score_sessions(emissions, sessions, KeystrokeDecoder(cfg, lm)).rates.to_dict()
            rows.append({"lm_weight": w, "insertion_bonus": bonus,
                         **{k: rates[k] for k in ("cer", "ier", "der", "ser")}})
    best = min(rows, key=lambda r: r["cer"])
    return dataclasses.replace(base, lm_weight=best["lm_weight"], insertion_bonus=best["insertion_bonus"]), rows


def tuned_meta(net: Any, sessions: list[Any], decoder: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``decoder`` tuned on ``sessions`` with the built-in LM as the board decodes, the same tuned for whole
    prompts (``max_delay_frames`` None: the host's decoding, ``eval``'s ``beam_lm_offline``), and the record."""
    import time

    import torch

    from edgeemg.tasks.keystroke.workflow import model_emissions, score_sessions

    t0 = time.process_time()
    with torch.no_grad():
        em = model_emissions(net, sessions)
    base = DecoderConfig.from_dict(decoder)
    board, rows = tune_beam(em, sessions, builtin_lm(), base)
    whole, whole_rows = tune_beam(em, sessions, builtin_lm(), dataclasses.replace(base, max_delay_frames=None))
    record = {"lm": f"built-in corpus, order {TUNING_LM_ORDER}", "sessions": "validation",
              "greedy_cer": score_sessions(em, sessions).rates.cer, "grid": rows, "offline_grid": whole_rows,
              "cpu_s": time.process_time() - t0}
    return ({**decoder, "lm_weight": board.lm_weight, "insertion_bonus": board.insertion_bonus},
            {**decoder, **whole.to_dict()}, record)


__all__ = ["PERSONAL_GRID", "TUNING_LM_ORDER", "builtin_lm", "tune_beam", "tuned_meta"]
