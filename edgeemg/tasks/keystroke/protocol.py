"""Which sessions train, validate and test a keystroke decoder, so that no score leaks (numpy only).

emg2qwerty keeps its splits apart by *session* and by *text*; this module does
the same for simulated typing and for recordings:

* **Simulated user** (``--simulate``, :class:`SimulationPlan`): sessions
  ``0 .. n-1`` of user ``seed`` train (prompts from the corpus's ``train``
  split), session ``n`` validates (``val`` split) and session ``n + 1`` tests
  (``test`` split): a later session, a band placed anew, and sentences the
  model never saw. The three text splits share no sentence
  (:func:`edgeemg.data.sim_keystroke.corpus_sentences`).
* **Generic model** (``plan.users`` > 1): users ``seed .. seed + users - 1``
  train (sessions ``0 .. n-1`` each) and session 0 of user ``seed + users``,
  whom training never sees, validates, so early stopping picks the model that
  reads a *new* person best. An unseen user is tested on session 0 with
  ``test`` text.
* **Recordings** (``--data``): the last session file (sorted: emg2qwerty names
  sort by time) validates, the others train. Two sessions at least, which is
  also what ``edgeemg export`` needs (it calibrates on one and scores another).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke.sessions import PreparedSession, read_sessions, simulated_sessions


@dataclass(frozen=True)
class SimulationPlan:
    """How much typing ``--simulate`` generates, per user (emg2qwerty has ~1.5 h per user; minutes here).

    ``train_sessions`` of ``seconds`` each train; validation and test sessions
    last ``eval_seconds``; ``users`` > 1 trains a generic model on that many users.
    """

    train_sessions: int = 4
    seconds: float = 120.0
    eval_seconds: float = 120.0
    snr_db: float | None = None
    users: int = 1


@dataclass(frozen=True)
class TrainingData:
    """Training and validation sessions (never the same session) and what they are, for the checkpoint."""

    train: list[PreparedSession]
    val: list[PreparedSession]
    description: str
    user_seeds: tuple[int, ...] = ()
    val_user: int | None = None


def simulated_training_data(seed: int, plan: SimulationPlan, *, progress: bool = False) -> TrainingData:
    """Training sessions of users ``seed ..`` and a separate validation session (see the module docstring)."""
    if plan.users < 1 or plan.train_sessions < 1:
        raise InvalidInputError(f"keystroke: a simulation plan needs >= 1 user and >= 1 training session, got "
                                f"users={plan.users}, train_sessions={plan.train_sessions}")
    users = tuple(range(seed, seed + plan.users))
    train = [s for u in users for s in simulated_sessions(u, range(plan.train_sessions), plan.seconds, text="train",
                                                          snr_db=plan.snr_db, progress=progress)]
    if plan.users == 1:
        val_user, val_session = seed, plan.train_sessions
        what = f"simulated user {seed}: sessions 0-{plan.train_sessions - 1} train, session {val_session} validates"
    else:
        val_user, val_session = seed + plan.users, 0
        what = (f"{plan.users} simulated users {users[0]}-{users[-1]} (sessions 0-{plan.train_sessions - 1} each) "
                f"train, unseen user {val_user} validates")
    return TrainingData(train, validation_sessions(val_user, val_session, plan, progress), what, users, val_user)


def validation_sessions(user: int, session: int, plan: SimulationPlan, progress: bool = False
                        ) -> list[PreparedSession]:
    """The validation session (early stopping; a generic model's decoder settings): ``val`` text."""
    return simulated_sessions(user, [session], plan.eval_seconds, text="val", snr_db=plan.snr_db, progress=progress)


def recorded_training_data(paths: list[Path], *, progress: bool = False) -> TrainingData:
    """The session files: all but the last train, the last validates; fewer than two is refused."""
    sessions = read_sessions(list(paths), progress=progress)
    if len(sessions) < 2:
        raise InvalidInputError(
            f"keystroke train: {[str(p) for p in paths]} hold {len(sessions)} session; training validates on a "
            f"separate session and export calibrates on one session and scores another: give at least 2 sessions")
    return TrainingData(sessions[:-1], sessions[-1:],
                        f"{len(sessions) - 1} recorded session(s) train, {sessions[-1].name} validates")


def personal_test_sessions(user: int, train_sessions: int, plan: SimulationPlan,
                           progress: bool = False, n: int = 1) -> list[PreparedSession]:
    """The later session a personalised model is scored on: ``train_sessions + 1``, ``test`` text (and the ``n - 1``
    after it: one 120 s session holds ~600 characters, so two models' CERs on it differ by a few pp by chance)."""
    return simulated_sessions(user, range(train_sessions + 1, train_sessions + 1 + n), plan.eval_seconds, text="test",
                              snr_db=plan.snr_db, progress=progress)


def calibration_sessions(user: int, plan: SimulationPlan, progress: bool = False) -> list[PreparedSession]:
    """Unlabeled typing that turns a generic model to ``user``'s band (:mod:`.alignment`): session 1, ``val`` text.

    Never the scored session: only its signal is used, to estimate how the band sits.
    """
    return simulated_sessions(user, [1], plan.eval_seconds, text="val", snr_db=plan.snr_db, progress=progress)


def unseen_user_sessions(user: int, plan: SimulationPlan, progress: bool = False) -> list[PreparedSession]:
    """Session 0 of a user the model never trained on, ``test`` text (the generic score)."""
    return simulated_sessions(user, [0], plan.eval_seconds, text="test", snr_db=plan.snr_db, progress=progress)


__all__ = ["SimulationPlan", "TrainingData", "calibration_sessions", "personal_test_sessions", "recorded_training_data",
           "simulated_training_data", "unseen_user_sessions", "validation_sessions"]
