"""Why a round stopped short: the three kinds ``daemon.rounds.attempts`` treats differently.

- ``RoundInterrupted``: the daemon is stopping or paused. The round stays at its committed
  stage and resumes later; not an attempt.
- ``PermanentRoundError``: retrying cannot change the outcome (no usable samples, a row the
  round needs is gone). The round is closed as failed at once, without back-off.
- ``TransientRoundError`` (and any other exception): may pass on retry. Retried with back-off
  until ``schedule.max_attempts_per_round``; not counted while the inference server is down.
"""

from __future__ import annotations


class RoundError(RuntimeError):
    """Base of the round's own errors."""


class RoundInterrupted(RoundError):
    """The daemon is stopping or paused: the round stays at its stage and resumes later."""


class PermanentRoundError(RoundError):
    """The same inputs give the same failure: the round closes as failed without retrying."""


class TransientRoundError(RoundError):
    """A failure that may pass (a server hiccup, a busy disk): retried with back-off."""
