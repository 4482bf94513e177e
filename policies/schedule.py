"""Scheduling judgements: when the next round runs, and when to back off a losing recipe."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class BackoffConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    after_rejections: int = Field(3, ge=1)
    factor: float = Field(2.0, ge=1.0)
    base_s: float = Field(600.0, gt=0)
    max_s: float = Field(86400.0, gt=0)


class NextRound(BaseModel):
    model_config = ConfigDict(frozen=True)
    delay_s: float
    backing_off: bool
    rejections_in_a_row: int
    reason: str


def next_round_delay(recent: Sequence[str | None], scheduled_delay_s: float, cfg: BackoffConfig) -> NextRound:
    """Delay before the next round, given the newest-first outcomes of finished rounds
    (``promote``, ``reject``, ``failed``) and the delay the schedule itself asks for.

    After ``after_rejections`` rejected rounds in a row the daemon stops burning the machine
    on the same losing recipe: the delay becomes ``base_s * factor**(k - after_rejections)``
    (never less than the schedule's own delay, at most ``max_s``). A promotion resets it.
    Failed rounds are retried by their own back-off and do not count here.
    """
    k = 0
    for outcome in recent:
        if outcome == "reject":
            k += 1
        elif outcome == "failed":
            continue
        else:
            break
    if k < cfg.after_rejections:
        return NextRound(
            delay_s=scheduled_delay_s,
            backing_off=False,
            rejections_in_a_row=k,
            reason=f"{k} rejected round(s) in a row (< {cfg.after_rejections}): on schedule",
        )
    backoff = min(cfg.max_s, cfg.base_s * cfg.factor ** (k - cfg.after_rejections))
    delay = max(scheduled_delay_s, backoff)
    return NextRound(
        delay_s=delay,
        backing_off=True,
        rejections_in_a_row=k,
        reason=f"{k} rejected rounds in a row (>= {cfg.after_rejections}): backing off, "
        f"next round in {delay:.0f}s instead of {scheduled_delay_s:.0f}s",
    )


def retry_delay(attempt: int, backoff_s: Sequence[float]) -> float:
    """Pause before retrying a failed round: ``backoff_s[attempt-1]``, the last value after."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if not backoff_s:
        raise ValueError("backoff_s is empty")
    return float(backoff_s[min(attempt, len(backoff_s)) - 1])
