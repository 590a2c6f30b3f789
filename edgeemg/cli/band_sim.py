"""`edgeemg band-sim TASK [--pty | --port DEVICE] [--seconds S]`: a simulated band on a serial port."""

from __future__ import annotations

import argparse

from edgeemg.bridge.simulated import band_sim_main
from edgeemg.data.bands import BAND_TASKS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "band-sim",
        help="stream a simulated band as protocol frames on a pseudo-terminal or serial port",
        description="Stream a simulator's signal as firmware_bridge/PROTOCOL.md frames. With --pty the "
        "pseudo-terminal's path is printed on stdout; point `edgeemg run --port PATH` or any reader at it.",
    )
    p.add_argument("task", choices=BAND_TASKS, metavar="TASK", help=f"one of {', '.join(BAND_TASKS)}")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print its path")
    where.add_argument("--port", metavar="DEVICE", help="write to this serial device or pyserial URL")
    p.add_argument("--seconds", type=float, help="stream length (default: endless until SIGINT/SIGTERM)")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time (default), 10 = ten times faster")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return band_sim_main(args.task, pty=args.pty, port=args.port, seconds=args.seconds, seed=args.seed, speed=args.speed,
                         out=args.out, progress=not args.quiet)
