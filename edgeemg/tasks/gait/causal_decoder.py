"""Board-side decoder of the causal gait model: HMM-smoothed states and heel-strike / toe-off events (numpy only).

The model emits, every hop, ``n_states`` state logits followed by one contact
logit per foot: the states about the instant ``horizon`` samples after the
newest sample it saw, the contacts ``contact_horizon`` samples after it. This decoder

* runs the states through a causal HMM forward pass (:class:`~edgeemg.tasks.gait.hmm.ForwardFilter`,
  durations and transitions fitted on training labels) and emits an event when the
  most probable state changes and its posterior reaches ``min_confidence``;
* turns each foot's contact probability into heel strikes (swing -> contact)
  and toe-offs (contact -> swing) with a hysteresis (a change needs the
  probability past ``0.5 ± contact_margin``), timing each event where the
  probability crossed 0.5, linearly interpolated between two hops, plus the
  contact horizon and the event kind's fitted offset.

It is exposed as ``edgeemg.tasks.gait.decoder:CausalGaitDecoder`` (the runtime
only loads decoders from a task's ``decoder`` module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.classification import softmax
from edgeemg.tasks.gait.hmm import ForwardFilter
from edgeemg.tasks.gait.spec import FOOTS, LABELS
from edgeemg.tasks.manifest import decoder_settings, manifest_labels


@dataclass(frozen=True)
class CausalConfig(DictConfig):
    """What the causal decoder needs from the manifest's ``decoder`` field.

    Attributes
    ----------
    transitions : list of list of float
        Frame-rate transition matrix of the hidden states (fitted on training labels).
    groups : list of int
        The gait state of each hidden state (:func:`~edgeemg.tasks.gait.hmm.fit_duration_hmm`);
        empty: one hidden state per gait state.
    evidence_weight : float
        Exponent on each frame's posterior in the forward pass (chosen on validation subjects).
    horizon, contact_horizon : int
        Samples between a frame's newest sample and the instant its state / contact outputs describe;
        a negative ``contact_horizon`` describes the contact that many samples before the newest one
        (a look-back: the event is then known later, and the export adds it to the algorithmic latency).
    contact_margin : float
        Hysteresis half-width around 0.5 for the foot-contact probability.
    min_confidence : float
        The filtered state changes only to a state whose posterior reaches this (0: plain argmax);
        a near-tie between two states then cannot flip the output back and forth.
    heel_strike_offset, toe_off_offset : int
        Samples added to every decoded heel strike / toe-off time: minus the median timing error
        of the detector on training and validation subjects (its systematic lead or lag), fitted by
        :func:`~edgeemg.tasks.gait.causal_workflow.fit_event_offsets`.
    """

    transitions: list[list[float]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    evidence_weight: float = 1.0
    horizon: int = 0
    contact_horizon: int = 0
    contact_margin: float = 0.15
    min_confidence: float = 0.0
    heel_strike_offset: int = 0
    toe_off_offset: int = 0
    kind: str = "causal"

    def __post_init__(self) -> None:
        if self.kind != "causal":
            raise InvalidInputError(f"CausalConfig.kind must be 'causal', got {self.kind!r}")
        if not 0.0 <= float(self.contact_margin) < 0.5:
            raise InvalidInputError(f"CausalConfig.contact_margin must be in [0, 0.5), got {self.contact_margin!r}")
        if int(self.horizon) < 0:
            raise InvalidInputError(f"CausalConfig: horizon must be >= 0 samples (the state at or ahead of the "
                                    f"newest sample), got {self.horizon!r}")


class ContactTracker:
    """One foot's contact state with hysteresis; yields (event name, interpolated sample index) on a change."""

    def __init__(self, margin: float) -> None:
        self.margin = float(margin)
        self.reset()

    def reset(self) -> None:
        self.contact: bool | None = None
        self._prev: tuple[float, int] | None = None
        self._cross = 0.0  # interpolated index of the latest 0.5 crossing

    def step(self, p: float, index: int) -> str | None:
        # sides by p >= 0.5, so an output of exactly 0.5 (an int8 logit of 0) still marks its crossing
        if self._prev is not None and (self._prev[0] >= 0.5) != (p >= 0.5):
            p0, i0 = self._prev
            self._cross = i0 + (index - i0) * (0.5 - p0) / (p - p0)
        self._prev = (p, index)
        if self.contact is None:
            self.contact = p >= 0.5
            self._cross = float(index)
            return None
        if not self.contact and p > 0.5 + self.margin:
            self.contact = True
            return "heel_strike"
        if self.contact and p < 0.5 - self.margin:
            self.contact = False
            return "toe_off"
        return None

    @property
    def crossing(self) -> float:
        return self._cross


class CausalGaitDecoder:
    """Streaming decoder for the causal gait model (see the module docstring).

    Examples
    --------
    >>> t = [[0.9, 0.1], [0.1, 0.9]]
    >>> dec = CausalGaitDecoder(("stand", "walk"), CausalConfig(transitions=t), n_feet=0)
    >>> [e["state"] for e in dec.step(np.array([[5.0, 0.0], [0.0, 5.0], [0.0, 5.0]]), np.arange(3))]
    ['stand', 'walk']
    """

    def __init__(self, labels: tuple[str, ...] | list[str] = LABELS, config: CausalConfig | None = None,
                 n_feet: int = len(FOOTS)) -> None:
        self.labels = tuple(labels)
        self.config = config or CausalConfig()
        k = len(self.labels)
        trans = self.config.transitions or (np.full((k, k), 0.01 / (k - 1)) + np.eye(k) * (0.99 - 0.01 / (k - 1)))
        self.hmm = ForwardFilter(trans, evidence_weight=self.config.evidence_weight,
                                 groups=self.config.groups or None)
        if self.hmm.n_classes != k:
            raise InvalidInputError(f"CausalGaitDecoder: {k} labels but an HMM over {self.hmm.n_classes} states; "
                                    "the bundle's manifest is inconsistent, re-export it")
        self.feet = [ContactTracker(self.config.contact_margin) for _ in range(n_feet)]
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> CausalGaitDecoder:
        """Build from a bundle manifest / checkpoint meta: ``labels`` and the ``decoder`` dict."""
        labels = manifest_labels(manifest, "CausalGaitDecoder")
        return cls(labels, CausalConfig.from_dict(decoder_settings(manifest)))

    def reset(self) -> None:
        """Forget all history (a new recording or a reconnected band)."""
        self.current: int | None = None
        self.hmm.reset()
        for f in self.feet:
            f.reset()

    def _split(self, outputs: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        out = np.asarray(outputs, dtype=np.float64)
        k, n_f = len(self.labels), len(self.feet)
        if out.ndim != 2 or out.shape[1] != k + n_f:
            raise InvalidInputError(f"CausalGaitDecoder.step: outputs must be (n_frames, {k} state + {n_f} contact "
                                    f"logits), got shape {out.shape}")
        return softmax(out[:, :k], axis=1), 1.0 / (1.0 + np.exp(-out[:, k:]))

    def step(self, outputs: Any, end_index: Any) -> list[dict[str, Any]]:
        """Consume consecutive frames' logits; return state-change and gait events in time order.

        A state event is ``{"state", "probability", "previous", "end_index", "predicts_index"}``;
        a gait event ``{"event", "foot", "event_index", "end_index"}`` where ``event_index`` is
        the decoded sample of the heel strike / toe-off.
        """
        states, contact = self._split(outputs)
        idx = np.asarray(end_index).reshape(-1)
        if idx.shape[0] != states.shape[0]:
            raise InvalidInputError(f"CausalGaitDecoder.step: end_index must have one entry per frame "
                                    f"({states.shape[0]}), got {idx.shape[0]}")
        h, hc = int(self.config.horizon), int(self.config.contact_horizon)
        shift = {"heel_strike": hc + int(self.config.heel_strike_offset),
                 "toe_off": hc + int(self.config.toe_off_offset)}
        events: list[dict[str, Any]] = []
        for post, p_feet, e in zip(states, contact, idx):
            alpha = self.hmm.step(post)
            s = int(np.argmax(alpha))
            if s != self.current and (self.current is None or alpha[s] >= self.config.min_confidence):
                events.append({"state": self.labels[s], "probability": float(alpha[s]),
                               "previous": None if self.current is None else self.labels[self.current],
                               "end_index": int(e), "predicts_index": int(e) + h})
                self.current = s
            for foot, (tracker, p) in enumerate(zip(self.feet, p_feet)):
                name = tracker.step(float(p), int(e))
                if name is not None:
                    events.append({"event": name, "foot": FOOTS[foot],
                                   "event_index": int(round(tracker.crossing)) + shift[name], "end_index": int(e)})
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: nothing is held back."""
        return []

    def stream_report(self, events: list[tuple[int, dict[str, Any]]], signal: Any) -> dict[str, Any]:
        """Score a decoded stream (newest sample index, payload) against a simulated band's truth.

        ``signal`` is the :class:`~edgeemg.data.recording.BandSignal` the events were decoded from:
        its state-change truth events give the labels, its ``meta`` the foot-switch events. The
        report of :func:`~edgeemg.tasks.gait.metrics.stream_report` plus its human ``lines``.
        """
        from edgeemg.tasks.gait import metrics

        n, fs = signal.emg.shape[0], float(signal.fs_hz)
        states = np.full(n, self.labels.index(signal.meta.get("initial_state", self.labels[0])), np.int64)
        for ev in signal.events:
            states[int(round(ev.time_s * fs)) :] = self.labels.index(ev.value)
        feet = tuple(np.asarray(signal.meta.get(k, [[], []])[f], float) for k in ("heel_strikes", "toe_offs")
                     for f in range(len(FOOTS)))
        rep = metrics.stream_report(events, states, feet[:2], feet[2:], fs, self.labels)
        return {**rep, "lines": metrics.summary_lines(rep)}

    def decode(self, outputs: Any, end_index: Any) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
        """Offline: (filtered state after every frame, all events), from a reset decoder."""
        self.reset()
        events = self.step(outputs, end_index)
        idx = np.asarray(end_index).reshape(-1)
        states = np.empty(idx.shape[0], np.int64)
        changes = [(ev["end_index"], self.labels.index(ev["state"])) for ev in events if "state" in ev]
        pos = np.searchsorted(idx, [c[0] for c in changes])
        for k, (p, (_, s)) in enumerate(zip(pos, changes)):
            end = pos[k + 1] if k + 1 < len(pos) else idx.shape[0]
            states[p:end] = s
        return states, events


__all__ = ["CausalConfig", "CausalGaitDecoder", "ContactTracker"]
