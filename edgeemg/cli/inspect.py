"""`edgeemg inspect BUNDLE [--json] [--verify]`: verify a bundle and print its manifest, sizes and accuracy table.

Imports no torch: it runs on a board, through :func:`edgeemg.runtime.bundle.load_bundle`.
``--verify`` also runs the golden self-check of every model in the bundle on this
CPU (:mod:`edgeemg.runtime.selfcheck`) and exits 1 if one fails or none could run.
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
    p.add_argument("--verify", action="store_true",
                   help="run the bundle's golden vectors through every model on this CPU's kernels (exit 1 on a "
                        "failure)")
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
    q = m["quantization"].get("onnx") or {}
    if q:
        lines.append(f"onnx int8: {q.get('scheme')} {q.get('format')}, activations {q.get('activation_type')}, "
                     f"weights {q.get('weight_type')}{' per-channel' if q.get('per_channel') else ''}, "
                     f"reduce_range {q.get('reduce_range', False)}; per op: "
                     + "; ".join(f"{k} {v}" for k, v in q.get("per_op", {}).items()))
    host, sc = m.get("export_host"), m.get("self_check")
    if host:
        lines.append(f"exported on: {host['kernel_family']} ({host['cpu'] or host['machine']}; int8 features "
                     f"{' '.join(host['cpu_features']) or 'none'}), "
                     + ", ".join(f"{k} {v}" for k, v in host["runtimes"].items()))
    if sc:
        lines.append(f"golden self-check: {sc['n_items']} items in {sc['file']}, tolerance int8 "
                     f"{sc['tolerance']['int8']:g} / fp32 {sc['tolerance']['fp32']:g} vs PyTorch, drift int8 "
                     f"{sc.get('drift_tolerance', {}).get('int8', float('nan')):g} vs the export host (relative to "
                     f"{sc['scale']:.3g}); "
                     "on the export host " + (", ".join(f"{k} {v['error']:.3g}" for k, v in
                                                       sc.get("export_host", {}).items()) or "not recorded"))
    else:
        lines.append("golden self-check: none (exported before it existed; re-export to get it)")
    ref = m["metrics"].get("torch-fp32", {}).get(metric)
    lines.append(f"{'artifact':<12} {'size':>10} {metric:>9} {'loss pp (95 % interval)':>24} {'parity':>10}  "
                 f"(held-out: {m['metrics'].get('held_out', {}).get('source', '?')})")
    if ref is not None:
        lines.append(f"{'torch-fp32':<12} {'-':>10} {ref:>9.4f} {'':>24} {'reference':>10}")
    for name, art in m["artifacts"].items():
        if art.get("status") == "unavailable":
            lines.append(f"{name:<12} unavailable: {art.get('reason')}")
            continue
        value = art.get("metric", {}).get(metric)
        loss = _loss_cell(art)
        par = art.get("parity", {})
        lines.append(f"{name:<12} {_fmt_bytes(m['files'][art['file']]['bytes']):>10} "
                     f"{'-' if value is None else format(value, '.4f'):>9} {loss:>24} "
                     f"{par.get(par.get('judged_on', 'max_rel'), float('nan')):>10.2e}")
    useful = m["metrics"].get("fp32_usefulness") or {}
    if useful.get("warning"):
        lines.append(f"WARNING: {useful['warning']}")
    return "\n".join(lines)


def _loss_cell(art: dict[str, Any]) -> str:
    """``0.23 (-1.10 to 1.60)``, plus the verdict unless within tolerance; older bundles: the loss alone."""
    loss = art.get("loss")
    if loss is None:
        return f"{art['loss_pp']:.2f}" if "loss_pp" in art else ""
    cell = f"{loss['loss_pp']:.2f} ({loss['ci_low_pp']:.2f} to {loss['ci_high_pp']:.2f})"
    return cell if loss["status"] == "within tolerance" else f"{cell} {loss['status']}"


def format_self_check(results: list[Any], skipped: dict[str, str], device: dict[str, Any]) -> str:
    """One line per checked model (the check's own message) and per model not checked, with why."""
    lines = [f"self-check on {device['kernel_family']} ({device['cpu'] or device['machine']}; "
             f"int8 features: {' '.join(device['cpu_features']) or 'none'}):"]
    lines += [f"  {r.artifact:<12} {'ok  ' if r.ok else 'FAIL'} {r.message()}" for r in results]
    lines += [f"  {name:<12} not checked: {why}" for name, why in skipped.items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from edgeemg.runtime.bundle import load_bundle

    bundle = load_bundle(args.bundle, precision=None)
    report: dict[str, Any] = {"bundle": str(bundle.path), "verified": True}
    ok = True
    if args.verify:
        from edgeemg.runtime.selfcheck import check_all, host_record

        results, skipped = check_all(bundle)
        ok = bool(results) and all(r.ok for r in results)
        device = host_record()
        report["self_check"] = {"ok": ok, "device": device, "results": [r.to_dict() for r in results],
                                "not_checked": skipped}
    if args.json:
        print(json.dumps({**report, "manifest": bundle.manifest}), file=args.out)
    else:
        print(format_report(bundle.manifest), file=args.out)
        if args.verify:
            print(format_self_check(results, skipped, device), file=args.out)
    return 0 if ok else 1
