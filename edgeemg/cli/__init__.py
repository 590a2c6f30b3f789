"""The `edgeemg` command: one thin verb per module, each calling the library.

stdout carries data (JSON with ``--json``, or the verb's result); stderr carries
progress and chatter. While a verb runs, everything else that writes to stdout
(a library's ``print``, torch.onnx's and the converters' C-level writes to file
descriptor 1) is sent to stderr; the verb writes its data to ``args.out``, the
real stdout. Exit codes: 0 ok, 1 runtime failure, 2 usage error (argparse's, or
an :class:`~edgeemg.errors.InvalidInputError`). ``--debug`` re-raises instead of
printing one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edgeemg import __version__
from edgeemg.errors import EXIT_FAILURE, EdgeEmgError, describe, missing_extra
from edgeemg.stdio import stdout_to_stderr

# verb -> module under edgeemg.cli; each has add_parser(subparsers) and run(args) -> int.
VERBS: dict[str, str] = {
    "demo": "edgeemg.cli.demo",
    "simulate": "edgeemg.cli.simulate",
    "train": "edgeemg.cli.train",
    "eval": "edgeemg.cli.eval",
    "calibrate": "edgeemg.cli.calibrate",
    "explain": "edgeemg.cli.explain",
    "band-sim": "edgeemg.cli.band_sim",
    "export": "edgeemg.cli.export",
    "inspect": "edgeemg.cli.inspect",
    "run": "edgeemg.cli.run",
    "bench": "edgeemg.cli.bench",
    "lm": "edgeemg.cli.lm",
}

log = logging.getLogger("edgeemg")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeemg",
        description="Surface-EMG decoders from a GPU to a wearable's edge board: "
        "simulate, train, export int8, run on-device.",
    )
    parser.add_argument("--version", action="version", version=f"edgeemg {__version__}")
    verbosity = parser.add_argument_group("diagnostics")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress or chatter on stderr")
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more chatter on stderr (-vv: debug)")
    verbosity.add_argument("--debug", action="store_true", help="show the full traceback on failure")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module_name in VERBS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def _configure_logging(quiet: bool, verbose: int) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.quiet, args.verbose)
    try:
        with stdout_to_stderr() as args.out:
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (EdgeEmgError, OSError) as exc:
        if args.debug:
            raise
        print(f"edgeemg {args.verb}: {describe(exc)}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, EdgeEmgError) else EXIT_FAILURE
    except ModuleNotFoundError as exc:  # a board install running a host verb (train, export ...)
        error = missing_extra(exc, "this command")
        if error is None or args.debug:
            raise
        print(f"edgeemg {args.verb}: {describe(error)}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
