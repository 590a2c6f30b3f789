"""`edgeemg inspect BUNDLE [--json]`: verify a bundle and print its manifest, sizes and accuracy table.

Imports no torch: it runs on a board, through :func:`edgeemg.runtime.bundle.load_bundle`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="verify a bundle and print its manifest, sizes and accuracy table",
                       description="Verify every file hash of a bundle, then print what it holds.")
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="bundle folder from `edgeemg export`")
    p.add_argument("--json", action="store_true", help="print the verified manifest as one JSON object")
    p.set_defaults(run=run)


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def format_report(manifest: dict[str, Any]) -> str:
    """Human-readable summary: task, input, DSP, pruning, and one row per artifact (size, metric, parity)."""
    m = manifest
    metric = m["metrics"].get("metric", "accuracy")
    lines = [
        f"bundle: task {m['task']}, model {m['model']}, manifest sha256 {m['manifest_sha256']}",
        f"input: {m['n_channels']} channels {m['channel_names']} at {m['fs_hz']:g} Hz; window {m['window']}, "
        f"hop {m['hop']} samples; model input {m['input']['shape']}; labels {m['labels']}",
        f"dsp: {' -> '.join(s['stage'] for s in m['dsp'])}; decoder {m['decoder_class']}; "
        f"algorithmic latency {m['algorithmic_latency_ms']:.1f} ms",
    ]
    pr = m.get("pruning", {})
    if pr:
        lines.append(f"pruning: {pr['method']} ratio {pr['ratio']}: params {pr['before']['params']} -> "
                     f"{pr['after']['params']}, MACs {pr['before']['macs']} -> {pr['after']['macs']}")
    ref = m["metrics"].get("torch-fp32", {}).get(metric)
    lines.append(f"{'artifact':<12} {'size':>10} {metric:>9} {'loss pp':>8} {'parity':>10}  "
                 f"(held-out: {m['metrics'].get('held_out', {}).get('source', '?')})")
    if ref is not None:
        lines.append(f"{'torch-fp32':<12} {'-':>10} {ref:>9.4f} {'':>8} {'reference':>10}")
    for name, art in m["artifacts"].items():
        if art.get("status") == "unavailable":
            lines.append(f"{name:<12} unavailable: {art.get('reason')}")
            continue
        value = art.get("metric", {}).get(metric)
        loss = f"{art['loss_pp']:.2f}" if "loss_pp" in art else ""
        par = art.get("parity", {})
        lines.append(f"{name:<12} {_fmt_bytes(m['files'][art['file']]['bytes']):>10} "
                     f"{value if value is None else format(value, '.4f'):>9} {loss:>8} "
                     f"{par.get(par.get('judged_on', 'max_rel'), float('nan')):>10.2e}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from edgeemg.runtime.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    if args.json:
        print(json.dumps({"bundle": str(bundle.path), "verified": True, "manifest": bundle.manifest}), file=args.out)
    else:
        print(format_report(bundle.manifest), file=args.out)
    return 0
