"""Wrist-band typing simulator: two 16-electrode bands, 2 kHz, emg2qwerty ground truth.

The model, from the hand inwards:

* **Typing** (:mod:`edgeemg.data._ks_typing`). Sentences from the built-in corpus (``corpus.txt``) become prompts.
  A simulated typist touch-types them: each key has a hand, a finger and a reach
  (row and column offsets from that finger's home key); inter-key intervals are
  log-normal around the subject's mean (120-250 ms) with per-key factors, slower
  for same-finger bigrams and faster across hands; capitals and shifted symbols
  hold ``Key.shift`` with the other hand's little finger; typos hit a neighbouring
  key and are corrected with ``Key.backspace``; each prompt ends with ``Key.enter``.
* **Muscles** (:mod:`edgeemg.data._ks_muscles`). Each hand has a pool of flexor and extensor motor units per finger,
  and one per wrist mover (FCR, FCU, ECR, ECU), each unit at an angle and depth in the wrist, with a preferred
  reach direction. A
  press drives the units of its finger (and, weaker, its neighbours': finger
  enslaving) with a weight that depends on the key's reach and on a per-key
  random pattern fixed for the subject, so keys of one finger differ in which
  units fire, and keys of different fingers in where. Activity starts
  ``emd_s`` (the electromechanical delay, 50 ms by default) before the key
  registers, ramps with a key-specific shape, and decays after the press; the
  release fires the finger's extensors. At typing speed these bursts overlap.
* **What separates keys, physiologically**, with the sources and the
  difficulty table before and after each change: :mod:`edgeemg.data._ks_muscles`.
  In short, finger compartments of the extrinsic flexors and extensors at
  different places around the wrist, the extensor lift of a row reach, the
  wrist movers of a sideways or upward reach, and enough units firing at
  ballistic rates for a press's spatial pattern to show through the band.
  What keeps real data hard stays: the band moves between sessions
  (``session_shift_electrodes``), users differ in anatomy, unit pools, wrist
  use and speed, fast typing overlaps bursts, typos are corrected with
  backspace, and noise, hum and drift are added.
* **Electrodes** (:mod:`edgeemg.data._ks_electrodes`). A unit's action potential (first and second derivatives of a
  Gaussian whose width grows with depth) reaches each electrode with a gain that
  falls as a power of the distance, so deep units are small everywhere and a
  superficial one shows on its neighbouring electrodes with a shape that
  changes across them. Background: tonic postural units, band-limited noise,
  50 or 60 Hz hum and a slow baseline drift. Bands can be rotated by whole
  electrodes (``rotation``), emg2qwerty's augmentation.

Seeds: ``seed`` fixes the subject (anatomy, unit pools, per-key patterns, band
placement, typing speed, mains frequency); ``session`` gives new text, a band
shifted by a fraction of an electrode, new contact gains and new noise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from edgeemg.data._ks_electrodes import MUAP_LEN, N_ELECTRODES, add_background, add_spikes, muap_templates
from edgeemg.data._ks_muscles import burst_spikes, make_subject, tonic_spikes
from edgeemg.data._ks_typing import _PHYS, _PHYS_NAMES, TEXT_SPLITS, _plan, corpus_sentences, key_anatomy
from edgeemg.data.charset import CHARSET
from edgeemg.data.emg2qwerty import CHANNEL_NAMES, Keystroke, Prompt, write_emg2qwerty
from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

LAYOUT = "wristband-2x16"

# ---- configuration and results ------------------------------------------------------
@dataclass(frozen=True)
class KeystrokeSimConfig:
    """Physiological and recording parameters (units in the names).

    The defaults are tuned for realistic difficulty: a per-key RMS baseline is
    well above chance but far from perfect (see the module's tests).
    """

    emd_s: float = 0.050  # muscle onset -> key registers (electromechanical delay)
    emd_jitter_s: float = 0.008  # SD of the delay from press to press
    iki_mean_range_s: tuple[float, float] = (0.15, 0.21)  # per-subject mean inter-key interval
    iki_sigma: float = 0.28  # log-normal spread of one interval
    hold_mean_s: float = 0.095  # press -> release
    typo_rate_range: tuple[float, float] = (0.01, 0.04)  # per lower-case letter
    units_flexor: int = 48  # per finger (thumb: half)
    units_extensor: int = 24
    units_wrist: int = 24  # per wrist mover (FCR, FCU, ECR, ECU)
    units_tonic: int = 8  # per band, postural background
    unit_spread_rad: float = 0.28  # SD of a unit's angle around its compartment's centre
    depth_range_mm: tuple[float, float] = (3.0, 13.0)  # units' depth under the skin (uniform)
    muap_uv: float = 130.0  # action potential of a low-threshold unit at ``ref_distance_mm``
    ref_distance_mm: float = 3.0
    decay_power: float = 1.7  # amplitude ~ distance ** -decay_power
    peak_rate_hz: float = 80.0  # a unit's discharge rate at full drive (8 Hz at its threshold)
    wrist_gain: float = 0.5  # drive of the wrist movers relative to the striking finger's flexors
    key_pattern_sd: float = 0.35  # subject-fixed random part of each key's unit weights
    press_gain_sigma: float = 0.35  # log-normal press-to-press force variability
    compartment_gain_sigma: float = 0.3  # log-normal press-to-press drive of each finger's flexors / extensors
    unit_jitter_sigma: float = 0.15  # log-normal press-to-press drive of one unit beyond its pool's common drive
    lift_gain: float = 0.4  # extensor lift before a press, per row reached above the home row
    noise_uv: float = 7.0  # band-limited (20-450 Hz) background noise RMS per electrode
    white_uv: float = 0.8  # amplifier noise RMS
    hum_uv: float = 4.0  # mains hum amplitude (per-electrode factor 0.5-1.5)
    drift_uv: float = 15.0  # baseline drift RMS (below 0.5 Hz)
    session_shift_electrodes: float = 0.5  # SD of the band's angular shift between sessions
    start_unix_s: float = 1_700_000_000.0


@dataclass(frozen=True)
class KeyBurst:
    """Muscle truth of one keystroke (seconds from the start of the recording).

    ``onset_s`` = ``press_s`` - electromechanical delay; ``end_s`` is where the
    press burst has died away (the TruthEvent time); ``release_s`` the key-up;
    ``hand`` the band that sees the burst (0 left: channels 0-15, 1 right: 16-31).
    """

    key: str
    onset_s: float
    press_s: float
    end_s: float
    release_s: float
    hand: int


@dataclass(frozen=True)
class KeystrokeSimulation:
    """Simulated typing session: signal plus emg2qwerty-form ground truth.

    ``emg`` is (n_samples, 32) float32 microvolts, left band (0-15) then right;
    ``time`` unix seconds; ``keystrokes``/``prompts`` in emg2qwerty's label form
    (unix seconds); ``bursts`` the muscle truth (seconds from start); ``text``
    the prompts' text joined by newlines.
    """

    emg: NDArray[np.float32]
    fs_hz: float
    time: NDArray[np.float64]
    keystrokes: tuple[Keystroke, ...]
    prompts: tuple[Prompt, ...]
    text: str
    meta: dict[str, Any]
    channel_names: tuple[str, ...] = CHANNEL_NAMES
    layout: str = LAYOUT
    bursts: tuple[KeyBurst, ...] = field(default=())

    def to_band_signal(self) -> BandSignal:
        """As a :class:`BandSignal`; one ``"key"`` event per keystroke at its burst end."""
        events = tuple(
            TruthEvent(time_s=b.end_s, kind="key", value=CHARSET.key_to_char(b.key))
            for b in sorted(self.bursts, key=lambda b: b.end_s)
        )
        return BandSignal(
            emg=self.emg, fs_hz=self.fs_hz, layout=self.layout, channel_names=self.channel_names,
            events=events, meta=dict(self.meta),
        )  # fmt: skip


# ---- simulation ---------------------------------------------------------------------
def _check_args(seconds: float, seed: int, session: int, rotation: int, fs_hz: float) -> None:
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 1.0):
        raise InvalidInputError(f"seconds must be a finite number >= 1.0, got {seconds!r}")
    for name, v in (("seed", seed), ("session", session), ("rotation", rotation)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool):
            raise InvalidInputError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if seed < 0 or session < 0:
        raise InvalidInputError(f"seed and session must be >= 0, got seed={seed}, session={session}")
    if not 1000.0 <= fs_hz <= 10000.0:
        raise InvalidInputError(f"fs_hz must be in [1000, 10000] Hz (MUAP band up to 450 Hz), got {fs_hz}")


def _sentences(text: str | Sequence[str]) -> tuple[str, ...]:
    """The prompts a session draws from: a corpus split by name, or the given sentences (non-empty ones)."""
    if isinstance(text, str):
        return corpus_sentences(text)
    sentences = tuple(s.strip() for s in text if isinstance(s, str) and s.strip())
    if not sentences:
        raise InvalidInputError("text: give a corpus split name or at least one non-empty sentence, got none")
    return sentences


def read_prompt_file(path: Path) -> tuple[str, ...]:
    """Sentences of a UTF-8 text file, one per non-empty line (``edgeemg simulate keystroke --text FILE``)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--text {path}: cannot read it as UTF-8 text ({exc}); give a text file, "
                                f"one sentence per line") from exc
    sentences = tuple(line.strip() for line in lines if line.strip())
    if not sentences:
        raise InvalidInputError(f"--text {path}: no sentence in it; give one sentence per line")
    return sentences


def simulate_keystroke(
    seconds: float = 60.0,
    *,
    seed: int = 0,
    session: int = 0,
    snr_db: float | None = None,
    rotation: int = 0,
    fs_hz: float = 2000.0,
    config: KeystrokeSimConfig | None = None,
    text: str | Sequence[str] = "all",
) -> KeystrokeSimulation:
    """Simulate ``seconds`` of two-handed typing on two 16-electrode wrist bands.

    Parameters
    ----------
    seconds : float
        Recording length (>= 1 s). Typing stops a little before the end.
    seed : int
        The subject: anatomy, unit pools, per-key patterns, band placement,
        typing speed, mains frequency.
    session : int
        A new session of that subject: new text, band shifted by a fraction of an
        electrode, new contact gains and noise.
    snr_db : float, optional
        If given, the background noise is scaled so that keystroke muscle activity
        over Gaussian background noise is this many dB (over the whole recording,
        pauses included); otherwise ``config.noise_uv`` sets it.
    rotation : int
        Rotate both bands by whole electrodes (channel ``i`` reads what electrode
        ``i - rotation`` would), as emg2qwerty's rotation augmentation.
    fs_hz : float
        Sampling rate.
    config : KeystrokeSimConfig, optional
        Physiological parameters; defaults as documented there.
    text : str or sequence of str
        Corpus split the prompts come from (:data:`TEXT_SPLITS`): ``train``,
        ``val`` and ``test`` share no sentence; ``all`` is the whole corpus.
        Or the sentences themselves (a user's own prompts), typed in random order.

    Returns
    -------
    KeystrokeSimulation

    Raises
    ------
    InvalidInputError
        For a bad argument, before any work.
    """
    _check_args(seconds, seed, session, rotation, fs_hz)
    sentences = _sentences(text)  # a bad split name or an empty text fails before any work
    cfg = config or KeystrokeSimConfig()
    subj = make_subject(int(seed), cfg)
    rng_text = np.random.default_rng([seed, session, 0x7E7])
    rng_sig = np.random.default_rng([seed, session, 0x516])
    presses, prompt_spans = _plan(subj, cfg, rng_text, float(seconds), sentences)
    n = int(round(seconds * fs_hz))

    # session placement: the band sits slightly rotated, contacts differ
    spacing = 2 * np.pi / N_ELECTRODES
    shift = rng_sig.normal(0, cfg.session_shift_electrodes, 2) * spacing if session else np.zeros(2)
    emg = np.zeros((n, 2 * N_ELECTRODES), dtype=np.float64)
    spikes: list[list[tuple[NDArray, NDArray]]] = [[], []]
    bursts: list[KeyBurst] = []
    for p in presses:
        hand = _PHYS[_PHYS_NAMES[p.phys]].hand
        s, u, end = burst_spikes(subj, cfg, p, rng_sig, fs_hz)
        spikes[hand].append((s, u))
        bursts.append(KeyBurst(p.key, float(p.onset), float(p.press), end, float(p.release), hand))
    half = MUAP_LEN // 2
    for hand in range(2):
        contact = rng_sig.lognormal(0, 0.1, N_ELECTRODES)
        tmpl = muap_templates(subj, hand, subj.band_angle[hand] + shift[hand], contact, fs_hz, cfg)
        x = np.zeros((n, N_ELECTRODES))
        if spikes[hand]:
            s = np.concatenate([a for a, _ in spikes[hand]])
            u = np.concatenate([b for _, b in spikes[hand]])
            add_spikes(x, tmpl, s, u, half)
        emg[:, hand * N_ELECTRODES : (hand + 1) * N_ELECTRODES] = x
        ts, tu = tonic_spikes(subj, hand, n, rng_sig, fs_hz)
        xt = np.zeros((n, N_ELECTRODES))
        add_spikes(xt, tmpl, ts, tu, half)
        emg[:, hand * N_ELECTRODES : (hand + 1) * N_ELECTRODES] += xt
    p_signal = float(np.mean(emg**2))

    p_noise = add_background(emg, p_signal, snr_db, subj.hum_hz, cfg, rng_sig, fs_hz, float(seconds))
    t_rel = np.arange(n) / fs_hz
    if rotation:
        emg = emg.reshape(n, 2, N_ELECTRODES)
        emg = np.roll(emg, int(rotation), axis=2).reshape(n, 2 * N_ELECTRODES)

    t0 = cfg.start_unix_s + 86_400.0 * seed + 3_600.0 * session
    keystrokes = tuple(Keystroke(p.key, float(t0 + p.press), float(t0 + p.release)) for p in presses)
    prompts = tuple(
        Prompt(name=f"prompt{i:03d}", start=float(t0 + a), end=float(t0 + b), payload={"text": text})
        for i, (text, a, b) in enumerate(prompt_spans)
    )
    meta = {
        "session_name": f"sim-keystroke-u{seed:03d}-s{session:02d}",
        "user": f"sim-user-{seed:03d}",
        "condition": "on_keyboard",
        "duration_mins": float(seconds / 60.0),
        "seed": int(seed),
        "session": int(session),
        "rotation": int(rotation),
        "text_split": text if isinstance(text, str) else "custom",
        "emd_s": cfg.emd_s,
        "iki_mean_s": subj.iki_mean_s,
        "hum_hz": subj.hum_hz,
        "snr_db": 10 * math.log10(p_signal / p_noise) if p_noise > 0 else math.inf,
        "band_shift_electrodes": (shift / spacing).tolist(),
    }
    logger.debug("simulated %.1f s of typing: %d keystrokes, %d prompts", seconds, len(keystrokes), len(prompts))
    return KeystrokeSimulation(
        emg=emg.astype(np.float32),
        fs_hz=float(fs_hz),
        time=t0 + t_rel,
        keystrokes=keystrokes,
        prompts=prompts,
        text="\n".join(t for t, _, _ in prompt_spans),
        meta=meta,
        bursts=tuple(sorted(bursts, key=lambda b: b.press_s)),
    )


def band_signal(seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """What a simulated pair of wrist bands streams, with one ``"key"`` event per keystroke.

    Events are at the end of each key's press burst (seconds from the start), the
    value is the key's label character (``"a"``, ``" "``, ``"⌫"``, ``"⇧"``, ``"⏎"``).
    """
    return simulate_keystroke(seconds, seed=seed, session=session).to_band_signal()


def simulate_to_path(
    out: Path,
    *,
    seconds: float | None = None,
    seed: int = 0,
    session: int = 0,
    subjects: int | None = None,
    snr_db: float | None = None,
    text_file: Path | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write simulated sessions as emg2qwerty ``.hdf5`` files.

    Parameters
    ----------
    out : Path
        A file ending in ``.hdf5``/``.h5`` (one subject), or a folder (created if
        needed) that receives ``keystroke_u{seed:03d}_s{session:02d}.hdf5`` per subject.
    seconds : float, optional
        Length of each session; default 120 s.
    seed : int
        First subject's seed; subject ``k`` uses ``seed + k``.
    session : int
    subjects : int, optional
        Number of subjects (default 1).
    snr_db : float, optional
        See :func:`simulate_keystroke`.
    text_file : Path, optional
        Type the sentences of this UTF-8 file (one per line) instead of the built-in corpus.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    n_subj = 1 if subjects is None else int(subjects)
    if n_subj < 1:
        raise InvalidInputError(f"subjects must be >= 1, got {subjects}")
    secs = 120.0 if seconds is None else float(seconds)
    _check_args(secs, seed, session, 0, 2000.0)
    text: str | tuple[str, ...] = "all" if text_file is None else read_prompt_file(text_file)
    is_file = out.suffix.lower() in (".hdf5", ".h5")
    if is_file and n_subj > 1:
        raise InvalidInputError(f"out {out} is a single file but subjects={n_subj}; give a folder")
    if is_file:
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for k in tqdm(range(n_subj), desc="simulate keystroke", unit="subject", disable=not progress):
        sim = simulate_keystroke(secs, seed=seed + k, session=session, snr_db=snr_db, text=text)
        path = out if is_file else out / f"keystroke_u{seed + k:03d}_s{session:02d}.hdf5"
        meta = {k2: sim.meta[k2] for k2 in ("session_name", "user", "condition", "duration_mins")}
        write_emg2qwerty(path, sim.emg, sim.time, sim.keystrokes, sim.prompts, meta)
        written.append(path)
    return written


__all__ = [
    "KeyBurst",
    "KeystrokeSimConfig",
    "KeystrokeSimulation",
    "TEXT_SPLITS",
    "band_signal",
    "corpus_sentences",
    "key_anatomy",
    "simulate_keystroke",
    "simulate_to_path",
]
