"""Start the MO-DCNN's first layer as the teacher's separation filters (torch; training host only).

Why: from a random start the student has to discover, from a few thousand
discharges per unit, spatio-temporal filters that the teacher has already
found; on two CPU cores that did not converge within the time budget (seed
widths halved, 24 epochs: 0.947 / 0.963 at 30 %, still improving). The
teacher's units come with a separation filter each, re-estimated on the very
stream the student sees (the board's causal band-pass and scale,
:func:`~edgeemg.tasks.motor_units.separation.fit_separation_filters`), i.e. an
FIR of ``extension`` taps on every channel whose output peaks at that unit's
discharges. With ``trunk_kernel == extension`` these are C1 filters as they
are: filter ``u`` of C1 starts as unit ``u``'s source (scaled so a discharge
peaks near 1, which the following ReLU passes), the remaining C1 filters keep
their random start, and all layers then train as usual (the heads learn where
in the window a peak means "fires in the labelled step").
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.motor_units.filter_decoder import FilterDecoderConfig
from edgeemg.tasks.motor_units.filter_workflow import causal_stream
from edgeemg.tasks.motor_units.int8_grid import round_to_grid, second_moment
from edgeemg.tasks.motor_units.models import MODCNN
from edgeemg.tasks.motor_units.recordings import Recording, split_point
from edgeemg.tasks.motor_units.separation import fit_separation_filters

log = logging.getLogger(__name__)


def init_from_teacher(net: MODCNN, recs: list[Recording], unit_trains: list[list[NDArray[np.int64]]],
                      desc: list[dict[str, Any]], split: float) -> dict[str, Any]:
    """Copy each head's causal separation filter into C1 filter ``head``; returns what was done (for the meta).

    Parameters
    ----------
    net : MODCNN
        ``config.trunk_kernel`` taps become the filters' extension; needs
        ``trunk_filters >= n_units``.
    recs, unit_trains
        The recordings and, per recording, the heads' training-part discharges.
    desc : list of dict
        The student's DSP description (its window stage is dropped: the filters
        are fitted on the sample-wise stream the windows are cut from).
    split : float
        Training fraction of each recording.
    """
    cfg = net.config
    if cfg.trunk_filters < cfg.n_units:
        raise InvalidInputError(f"init_from_teacher: C1 has {cfg.trunk_filters} filters for {cfg.n_units} heads; "
                                "set trunk_filters >= max_units")
    fs_hz = recs[0].fs_hz
    parts, offsets = [], [0]
    for r in recs:
        parts.append(causal_stream(desc, r.emg, fs_hz)[: split_point(r, split)])
        offsets.append(offsets[-1] + parts[-1].shape[0])
    trains = [np.concatenate([unit_trains[i][u] + offsets[i] for i in range(len(recs))])
              for u in range(cfg.n_units)]
    board = FilterDecoderConfig(threshold=(1.0,), fs_hz=fs_hz)
    r = cfg.trunk_kernel
    # the best delay whatever its latency (the window looks ahead), no unit dropped, no int8 grid: a start, not a
    # decoder; delays up to +R reach the MUAP when the trains mark its onset (truth) rather than its peak (teacher)
    filters, kept = fit_separation_filters(np.concatenate(parts), trains, fs_hz, extension=r, confirm=board.confirm,
                                           refractory=board.refractory, delays=tuple(range(-r, r + 1, 2)), slack=0.0,
                                           min_f1=-1.0, int8_levels=None)
    # Conv1d correlates: out[j] = sum_m k[m] x[j + m]; the FIR needs k[m] = weights[R - 1 - m]
    kernel = np.ascontiguousarray(filters.weights[:, ::-1, :].transpose(0, 2, 1), dtype=np.float32)
    with torch.no_grad():
        net.c1.weight[kept] = torch.from_numpy(kernel)
        net.c1.bias[kept] = torch.from_numpy(np.asarray(filters.bias, np.float32))
    log.info("motor-units: C1 filters %s start as the teacher's separation filters (validation F1 %s)", kept,
             np.round(filters.val_f1, 3).tolist())
    return {"c1_from_teacher": [int(k) for k in kept], "teacher_filter_val_f1": [float(f) for f in filters.val_f1],
            "teacher_filter_delay": [int(d) for d in filters.delay]}


def freeze_rows(conv: torch.nn.Conv1d, rows: list[int]) -> None:
    """Zero the gradient of ``rows`` (output filters and their biases) of ``conv`` from now on, in place.

    Why: the teacher-started C1 filters are whitening-folded sources whose
    taps are mostly small; RMSprop moves every weight by about its learning
    rate per step whatever its gradient's size, so within a few epochs those
    filters stop being sources. Measured on the 30 % student (old teacher, 14
    heads, C1 trained): peak-detecting C1's row of each head on the held-out
    third gave sensitivity / precision as low as 0.39 / 0.66 and 0.33 / 0.25
    where the starting filter had validation F1 >= 0.96. Frozen, the heads
    learn to read a source that stays one; the other filters still train.
    With zero gradients RMSprop (no momentum, no weight decay) leaves the rows
    exactly as they were.
    """
    mask = torch.ones(conv.out_channels)
    mask[list(rows)] = 0.0
    conv.weight.register_hook(lambda g: g * mask.to(g)[:, None, None])
    if conv.bias is not None:
        conv.bias.register_hook(lambda g: g * mask.to(g))


def c1_on_int8_grid(net: MODCNN, x: NDArray[np.float32], stride: int = 4, max_windows: int = 1024,
                    rows: list[int] | None = None) -> None:
    """Round C1's filters (``rows`` of them; all by default) onto the export's portable int8 grid, errors
    compensated over ``x``'s patches, in place.

    Why: a teacher-started C1 keeps whitening-folded filters (a few large taps,
    many small), whose plain per-channel rounding adds up in each output, as
    for the filter decoder (:mod:`edgeemg.tasks.motor_units.int8_grid`).
    Measured on the 30 % student (11 heads): int8 ONNX parity p99 0.42 of the
    output range (over the export's 0.25) with plain rounding, 0.15 after this,
    held-out window F1 0.9618 before and 0.9620 after in fp32.

    ``x`` (n, window, channels) are training windows (at most ``max_windows``,
    evenly spaced, are used); C1 sees every ``trunk_kernel``-sample patch of
    them, one in ``stride`` is used.
    """
    k = net.c1.kernel_size[0]
    x = x[np.linspace(0, len(x) - 1, min(len(x), max_windows)).astype(np.int64)]
    patches = np.concatenate([x[:, j:j + k, :].transpose(0, 2, 1).reshape(len(x), -1)  # c-major like weight[o]
                              for j in range(0, x.shape[1] - k + 1, stride)])
    moment = second_moment(patches)
    with torch.no_grad():
        w = net.c1.weight.detach().cpu().numpy().astype(np.float64)
        for o in range(w.shape[0]) if rows is None else rows:
            w[o] = round_to_grid(w[o].ravel(), moment).reshape(w[o].shape)
        net.c1.weight.copy_(torch.from_numpy(w.astype(np.float32)))


__all__ = ["c1_on_int8_grid", "freeze_rows", "init_from_teacher"]
