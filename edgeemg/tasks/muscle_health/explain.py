"""Saliency maps for the muscle-health CNNs: gradient x input over the log-spectrum (seed 002's XAI ask).

For a segment ``x`` (frames x frequency bins) and a class ``c``, the map is
``x * d logit_c / d x``. For a model linear in ``x`` it is exactly each cell's
additive contribution to the logit (the map sums to ``logit_c - bias``), which
is why it is read as "how much this time-frequency cell pushed the decision
towards ``c``"; for the CNN it is the first-order (Taylor) version of that. The
delta plane is computed inside the model, so its share is already folded back
onto the log-spectrum cells it came from. The baseline is a log-power of 0
(``log10`` power of 1 z-unit squared); cells quieter than that carry negative
inputs, so their sign reads together with the gradient's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from edgeemg.errors import InvalidInputError

log = logging.getLogger(__name__)


def gradient_x_input(model: nn.Module, segments: NDArray[np.float32], target: NDArray[np.int64] | None = None,
                     device: torch.device | str = "cpu") -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Gradient x input of each segment for its target class.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, *segment_shape) to (batch, n_classes) logits.
    segments : ndarray of float32, shape (n, n_frames, n_freq, n_channels)
    target : ndarray of int, shape (n,), optional
        Class explained per segment; default: the model's own prediction.

    Returns
    -------
    saliency : ndarray of float32, same shape as ``segments``
    target : ndarray of int64, shape (n,)
        The classes explained.
    """
    seg = np.asarray(segments, dtype=np.float32)
    if seg.ndim < 2 or seg.shape[0] == 0:
        raise InvalidInputError(f"gradient_x_input: segments must be (n, ...) with n >= 1, got shape {seg.shape}")
    model = model.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(seg)).to(device).requires_grad_(True)
    logits = model(x)
    if target is None:
        tgt = logits.argmax(dim=1)
    else:
        tgt = torch.as_tensor(np.asarray(target, dtype=np.int64), device=logits.device)
        if tgt.shape != (seg.shape[0],):
            raise InvalidInputError(f"gradient_x_input: target must have shape ({seg.shape[0]},), got {tuple(tgt.shape)}")
    # summing the selected logits gives each segment's own gradient (segments do not interact in eval mode)
    logits.gather(1, tgt[:, None]).sum().backward()
    sal = (x.grad * x).detach().cpu().numpy().astype(np.float32)
    return sal, tgt.detach().cpu().numpy().astype(np.int64)


def explain_checkpoint(
    ckpt: Any,
    data: list[Path] | None,
    *,
    simulate: bool,
    out_dir: str | Path,
    per_class: int = 3,
    seed: int = 1,
    device: str = "cpu",
    progress: bool = False,
) -> list[Path]:
    """Write gradient x input PNGs for ``per_class`` segments of each true class.

    Segments are taken evenly spread over the records of each class (different
    records first), and each map explains the model's *predicted* class: the
    question a clinician asks is why the model said what it said. The title
    gives the truth, the prediction and its probability.

    Returns the written paths.
    """
    from edgeemg.tasks.classification import softmax
    from edgeemg.tasks.muscle_health import spec, workflow
    from edgeemg.tasks.plots import plot_saliency
    from edgeemg.tasks.torch_support import resolve_device

    if ckpt.task != workflow.TASK:
        raise InvalidInputError(f"explain: checkpoint is for task '{ckpt.task}'; saliency maps exist for 'muscle' only")
    if isinstance(per_class, bool) or int(per_class) < 1:
        raise InvalidInputError(f"explain: per_class must be an integer >= 1, got {per_class!r}")
    net = workflow.build_network(ckpt)
    _, segs = workflow.load_segments(ckpt, data, simulate, seed=seed, progress=progress)
    labels = ckpt.meta["labels"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen: list[int] = []
    for c in range(len(labels)):
        idx = np.flatnonzero(segs.y == c)
        if idx.size == 0:
            log.warning("explain: no segment of class '%s' in the data", labels[c])
            continue
        # round-robin over records so the first picks come from different people
        by_rec = [idx[segs.record[idx] == r] for r in np.unique(segs.record[idx])]
        picks: list[int] = []
        k = 0
        while len(picks) < per_class and any(k < len(g) for g in by_rec):
            for g in by_rec:
                if k < len(g) and len(picks) < per_class:
                    picks.append(int(g[(len(g) * (2 * len(picks) + 1)) // (2 * per_class)]))  # spread over time
            k += 1
        chosen.extend(picks)
    dev = resolve_device(device)
    sal, target = gradient_x_input(net, segs.x[chosen], device=dev)
    with torch.no_grad():
        probs = softmax(net(torch.from_numpy(segs.x[chosen]).to(dev)).cpu().numpy(), axis=1)
    frame_hop_s = spec.FRAME_HOP / ckpt.meta["fs_hz"]
    paths = []
    for j, i in enumerate(chosen):
        true, pred = labels[segs.y[i]], labels[target[j]]
        name = f"saliency_{true}_{segs.subject[i]}_{int(segs.end_index[i])}.png"
        paths.append(plot_saliency(
            segs.x[i, :, :, 0], sal[j, :, :, 0], out / name, fs_hz=ckpt.meta["fs_hz"], frame_hop_s=frame_hop_s,
            title=f"{segs.subject[i]}: true {true}, predicted {pred} (p={probs[j, target[j]]:.2f})",
        ))
    log.info("explain: wrote %d saliency maps to %s", len(paths), out)
    return paths
