"""`edgeemg run BUNDLE (--port DEVICE | --source SOURCE | --simulate) [--sink stdout|unix:PATH|lsl:NAME] ...`."""

from __future__ import annotations

import argparse

from edgeemg.errors import InvalidInputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="on-device daemon: decode a band with a bundle, JSON-lines events and metrics",
        description="Read a band, run the bundle's DSP chain, int8 model and task decoder, and write one JSON "
        "object per line: decoded events ({'type': 'event'}), the band's health ({'type': 'health'}: each gap in "
        "the samples, and the begin and end of a stretch without valid frames or of a disconnect) and periodic "
        "metrics ({'type': 'metrics'}: lost, dropped, restarts, CRC errors, resyncs, bytes discarded ...; the last "
        "one has 'final': true). SIGTERM/SIGINT stop cleanly. A band that disappears is reopened.",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="bundle folder from `edgeemg export`")
    src = p.add_argument_group("band").add_mutually_exclusive_group(required=True)
    src.add_argument("--port", metavar="DEVICE", help="serial port of the band, e.g. /dev/ttyACM0")
    src.add_argument("--source", metavar="SOURCE",
                     help="brainflow:BOARD[:PORT][?key=value&...] (e.g. brainflow:synthetic, brainflow:cyton:/dev/ttyUSB0) "
                     "or lsl:NAME_OR_TYPE (an LSL stream), which need `pip install 'edgeemg[devices]'`; "
                     "cyton:PORT[?gain=24] reads an OpenBCI Cyton with pyserial only")
    src.add_argument("--simulate", action="store_true",
                     help="simulate the bundle's task on a pty (the whole serial path, no hardware)")
    g = p.add_argument_group("output")
    g.add_argument("--sink", default="stdout", metavar="stdout|unix:PATH|lsl:NAME",
                   help="where JSON lines go; a Unix socket is created with mode 0660; lsl:NAME publishes events "
                   "(and NAME-metrics) as LSL string streams (default: %(default)s)")
    g.add_argument("--metrics-every", type=float, default=5.0, metavar="S", dest="metrics_every",
                   help="seconds between metrics lines (default: %(default)s)")
    e = p.add_argument_group("engine")
    e.add_argument("--target", metavar="NAME", help="board profile from targets/ (backend, threads, affinity, budget)")
    e.add_argument("--precision", choices=("int8", "fp32"), default="int8",
                   help="model precision (default: %(default)s)")
    e.add_argument("--seconds", type=float, metavar="S",
                   help="--port/--source: stop after S seconds; --simulate: length of the simulated signal (default: endless)")
    e.add_argument("--skip-after-ms", type=float, dest="skip_after_ms", metavar="MS",
                   help="skip model items older than this (default: the target's latency budget, 80 ms)")
    s = p.add_argument_group("simulation")
    s.add_argument("--speed", type=float, default=1.0, help="--simulate: x real time (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="--simulate: simulated subject (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgeemg.runtime.daemon import run_daemon

    if args.metrics_every <= 0:
        raise InvalidInputError(f"--metrics-every must be > 0, got {args.metrics_every}")
    return run_daemon(args.bundle, port=args.port, simulate=args.simulate, source=args.source, sink=args.sink,
                      seconds=args.seconds,
                      target=args.target, metrics_every_s=args.metrics_every, precision=args.precision,
                      speed=args.speed, seed=args.seed, skip_after_ms=args.skip_after_ms, out=args.out)
