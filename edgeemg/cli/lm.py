"""`edgeemg lm build (CORPUS | --builtin) -o LM [--order N]`: a character n-gram LM for keystroke decoding."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemg.errors import DataFormatError, InvalidInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lm", help="character language models for the keystroke decoder")
    lm_sub = p.add_subparsers(dest="lm_verb", metavar="ACTION", required=True)
    b = lm_sub.add_parser(
        "build",
        help="build a Kneser-Ney character n-gram LM from a text corpus (one sentence per line)",
        description="Build an interpolated Kneser-Ney character n-gram LM over keystrokes (shift and enter "
        "included) and write it in edgeemg's binary LM format, for `edgeemg eval --lm` and keystroke bundles.",
    )
    b.add_argument("corpus", type=Path, metavar="CORPUS", nargs="?",
                   help="UTF-8 text file, one sentence per line (or --builtin)")
    b.add_argument("--builtin", action="store_true",
                   help="use the corpus shipped with edgeemg (edgeemg/data/lm_corpus.txt): English sentences "
                   "disjoint from the simulator's typing prompts, so simulated evaluations do not flatter the LM")
    b.add_argument("-o", "--output", required=True, type=Path, metavar="LM", help="LM file to write")
    b.add_argument("--order", type=int, default=6, help="n-gram order (default: %(default)s, as emg2qwerty)")
    b.add_argument("--json", action="store_true", help="print {'lm', 'order', 'vocab_size', 'n_ngrams'} as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text

    if (args.corpus is None) == (not args.builtin):
        raise InvalidInputError("lm build: give exactly one corpus, a CORPUS file or --builtin")
    if args.builtin:
        text = builtin_corpus_text()
    else:
        if not args.corpus.is_file():
            raise DataFormatError(f"{args.corpus}: no such corpus file")
        try:
            text = args.corpus.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"{args.corpus}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lm = build_lm(text, order=args.order)
    path = lm.save(args.output)
    summary = {"lm": str(path), **lm.to_dict()}
    if args.json:
        print(json.dumps(summary), file=args.out)
    else:
        print(path, file=args.out)
        if not args.quiet:
            print(f"order {lm.order}, {len(lm.vocab)} symbols, {len(lm.logp)} n-grams", file=sys.stderr)
    return 0
