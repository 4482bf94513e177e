"""A running stage's progress as ``ssdd status`` shows it, and the ETA arithmetic behind it.

Presentation, not judgement (that is ``policies/``): every function here is pure, so the
arithmetic is tested without a clock, a database or a daemon. ``daemon.rounds.progress``
measures and writes the ``stage_progress`` rows; ``daemon.status`` reads them through
``stage_status`` and ``round_eta``.

The ETA of a running stage comes from its own measured rate (work done in this attempt over
the time it took); a stage without a measured rate yet, and every later stage, is estimated
by the duration the latest finished round measured for it. A stage nothing is known of is
left out of the sum and named in ``RoundEta.unknown``: the ETA is then a lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from daemon.state import StageProgressRow


class RateLimiter:
    """``ready()`` is True at most once every ``interval_s`` (the first call always is): the
    progress rows and log lines come at a bounded rate however fast the work reports."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.interval_s, self.clock = interval_s, clock
        self._last: float | None = None

    def ready(self) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True


def stage_eta_s(
    *, done: int, total: int | None, start_done: int, measured_s: float, elapsed_s: float, previous_s: float | None
) -> float | None:
    """Seconds left in a running stage. ``measured_s``: from this attempt's start to its last
    progress update, during which it went from ``start_done`` to ``done``; ``elapsed_s``: from
    its start to now. With no rate measured yet, ``previous_s`` (the stage's duration in the
    latest finished round) less the time elapsed. None when neither is known.

    With both, they are blended by the share of the stage seen so far: a rate taken over the
    first step of a distillation still carries the model's loading time, and over the first
    batch of a sequential test it cannot know the test will stop early; the previous round
    knew both, and its weight fades as the stage's own measurement covers more of it."""
    if total is not None and done >= total:
        return 0.0
    prior = None if previous_s is None else max(0.0, previous_s - elapsed_s)
    progressed = done - start_done
    if total is not None and progressed > 0 and measured_s > 0:
        left_at_update = (total - done) * measured_s / progressed
        measured = max(0.0, left_at_update - max(0.0, elapsed_s - measured_s))
        if prior is None:
            return measured
        seen = progressed / max(1, total - start_done)
        return seen * measured + (1.0 - seen) * prior
    return prior


@dataclass(frozen=True)
class RoundEta:
    eta_s: float | None  # seconds until the round is done, from the stages with an estimate
    unknown: tuple[str, ...]  # stages (the current one, later ones) with none: left out of eta_s


def round_eta(
    current: str, current_eta_s: float | None, later: Sequence[str], previous: Mapping[str, float]
) -> RoundEta:
    """The round's ETA: the current stage's estimate plus each later stage's duration in the
    latest finished round. None only when no stage has an estimate."""
    parts: list[float] = []
    unknown: list[str] = []
    if current_eta_s is None:
        unknown.append(current)
    else:
        parts.append(current_eta_s)
    for stage in later:
        if stage in previous:
            parts.append(previous[stage])
        else:
            unknown.append(stage)
    return RoundEta(eta_s=round(sum(parts), 1) if parts else None, unknown=tuple(unknown))


def current_stage_eta_s(
    progress: StageProgressStatus | None, *, fresh: bool, previous_s: float | None, stage_elapsed_s: float
) -> float | None:
    """The running stage's estimate for ``round_eta``: its progress row's (``fresh``: written
    by the running daemon, so its rate is this attempt's); for a stage without progress rows
    (prepare, decide, promote) its previous duration less the time it has run; for a row a
    stopped daemon left, the previous duration whole (the resumed attempt has just begun)."""
    if progress is not None and fresh:
        return progress.eta_s
    if previous_s is None:
        return None
    if progress is not None:
        return previous_s
    return max(0.0, previous_s - stage_elapsed_s)


def previous_durations(timings_newest_first: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each stage's duration in the latest finished round that ran it (a submit round has no
    sample or distill stage, so those come from the latest SSD round)."""
    out: dict[str, float] = {}
    for timings in timings_newest_first:
        for stage, seconds in timings.items():
            out.setdefault(stage, seconds)
    return out


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class ArmProgress(BaseModel):
    """One arm of a sequential test: problems judged of the most the test may evaluate."""

    model_config = ConfigDict(extra="forbid")
    arm: str  # "reference" (the champion; a re-evaluation's parent) | "challenger"
    version: str | None  # None: the base model
    done: int
    total: int | None


class StageProgressStatus(BaseModel):
    """A stage's progress (``stage_progress``), with its rate and ETA at the time of asking."""

    model_config = ConfigDict(extra="forbid")
    stage: str  # sample | distill | evaluate
    unit: str  # samples (prompts x n) | steps (optimizer steps) | problems (both arms together)
    done: int
    total: int | None  # None until known
    total_is_max: bool  # evaluate: the sequential test may stop before total
    started_at: str  # this attempt's start (a resumed stage restarts the clock)
    updated_at: str
    finished_at: str | None
    elapsed_s: float  # from started_at to now (to finished_at once finished)
    rate_per_s: float | None  # units done in this attempt per second
    eta_s: float | None  # seconds left in this stage (at most, when total_is_max); 0 once finished
    loss: float | None  # distill: the latest training loss
    arms: list[ArmProgress]  # evaluate: per arm; [] otherwise


def _seconds(a: str, b: str | datetime) -> float:
    end = b if isinstance(b, datetime) else datetime.fromisoformat(b)
    return max(0.0, (end - datetime.fromisoformat(a)).total_seconds())


def stage_status(
    row: StageProgressRow,
    now: datetime,
    previous_s: float | None,
    versions: tuple[str | None, str | None] = (None, None),
) -> StageProgressStatus:
    """``row`` as of ``now``; ``versions``: an evaluate row's (reference, challenger)."""
    measured = _seconds(row.started_at, row.updated_at)
    elapsed = _seconds(row.started_at, row.finished_at or now)
    progressed = row.done - row.start_done
    if row.finished_at is not None:
        eta: float | None = 0.0
    else:
        eta = stage_eta_s(
            done=row.done,
            total=row.total,
            start_done=row.start_done,
            measured_s=measured,
            elapsed_s=elapsed,
            previous_s=previous_s,
        )
    arms = []
    if row.reference_done is not None and row.challenger_done is not None:
        arms = [
            ArmProgress(arm="reference", version=versions[0], done=row.reference_done, total=row.arm_total),
            ArmProgress(arm="challenger", version=versions[1], done=row.challenger_done, total=row.arm_total),
        ]
    return StageProgressStatus(
        stage=str(row.stage),
        unit=row.unit,
        done=row.done,
        total=row.total,
        total_is_max=row.total_is_max,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        elapsed_s=round(elapsed, 1),
        rate_per_s=round(progressed / measured, 4) if progressed > 0 and measured > 0 else None,
        eta_s=None if eta is None else round(eta, 1),
        loss=row.loss,
        arms=arms,
    )


def progress_text(p: StageProgressStatus) -> str:
    """One line for people: ``sample 40/105 samples, 0.31/s, 3m12s left``."""
    of = "?" if p.total is None else str(p.total)
    head = f"{p.stage} {p.done}/{of} {p.unit}"
    if p.arms:
        head = f"{p.stage} " + ", ".join(f"{a.arm} {a.done}/{a.total or '?'}" for a in p.arms) + " problems"
    bits = [head]
    if p.loss is not None:
        bits.append(f"loss {p.loss:.4g}")
    if p.finished_at is not None:
        bits.append(f"done in {duration_text(p.elapsed_s)}")
        return ", ".join(bits)
    if p.rate_per_s is not None:
        bits.append(f"{p.rate_per_s:.3g}/s")
    left = f"{duration_text(p.eta_s)} left" if p.eta_s is not None else "time left unknown"
    bits.append(left + (" at most (the test may stop early)" if p.total_is_max and p.eta_s is not None else ""))
    return ", ".join(bits)
