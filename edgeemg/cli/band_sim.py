"""`edgeemg band-sim TASK (--pty | --port DEVICE | --lsl NAME) [--seconds S] [--fault KIND@AT:DURATION]`: a
simulated band on a serial port or as a Lab Streaming Layer stream."""

from __future__ import annotations

import argparse

from edgeemg.bridge.band_sim import band_sim_main
from edgeemg.data.bands import BAND_TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "band-sim",
        help="stream a simulated band as protocol frames on a pseudo-terminal or serial port, or on LSL",
        description="Stream a simulator's signal as firmware_bridge/PROTOCOL.md frames. With --pty the "
        "pseudo-terminal's path is printed on stdout; point `edgeemg run --port PATH` or any reader at it. "
        "With --lsl NAME it is published as an LSL stream (type EMG, µV) once a consumer subscribes: "
        "`edgeemg run --source lsl:NAME` (needs the devices extra).",
    )
    p.add_argument("task", choices=BAND_TASKS, metavar="TASK", help=f"one of {', '.join(BAND_TASKS)}")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    where.add_argument("--port", metavar="DEVICE", help="write to this serial device or pyserial URL")
    where.add_argument("--lsl", metavar="NAME", help="publish as an LSL stream with this name")
    p.add_argument("--seconds", type=float, help="stream length (default: endless until SIGINT/SIGTERM)")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time (default), 10 = ten times faster")
    p.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND@AT:DURATION",
                   help="--pty/--port: misbehave at AT s of signal for DURATION s: garbage (random bytes instead "
                   "of frames), drop (frames never sent), reboot (silent, then seq and clock from 0); repeatable, "
                   "e.g. --fault garbage@10:8 --fault reboot@30:2")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.lsl:
        from edgeemg.bridge.lsl_publish import band_sim_lsl

        return band_sim_lsl(args.task, args.lsl, seconds=args.seconds, seed=args.seed, speed=args.speed,
                            out=args.out, progress=not args.quiet)
    return band_sim_main(args.task, pty=args.pty, port=args.port, seconds=args.seconds, seed=args.seed, speed=args.speed,
                         out=args.out, progress=not args.quiet, faults=tuple(args.fault))


def _fault(text: str):
    from edgeemg.bridge.faults import parse_fault
    from edgeemg.errors import InvalidInputError

    try:
        return parse_fault(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
