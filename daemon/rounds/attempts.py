"""Attempts: which round runs next, what a failure costs, and when the round job runs again.

``RoundAttempts.run_job(new_round)`` is the round job: unfinished rounds first (resumed, or
submitted), oldest first, then one new SSD round. It returns what the scheduler should do
next (``NextRun``) instead of reaching back into it. A failure is sorted by
``daemon.rounds.errors``:

- interrupted (stopping, paused): not an attempt; the round resumes at its stage later;
- permanent (``PermanentRoundError``): the round is closed as failed at once (no back-off);
- anything else while the inference server is down: not an attempt, retried after a wait;
- anything else: an attempt used; retried with back-off, closed as failed after
  ``schedule.max_attempts_per_round``.

A closed-failed round releases its candidate and marks it rejected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from daemon.config import ScheduleConfig
from daemon.metrics import DaemonMetrics
from daemon.rounds.errors import PermanentRoundError, RoundInterrupted
from daemon.state import AdapterState, RoundRow, RoundStatus, Store, utcnow
from policies.schedule import retry_delay

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NextRun:
    """When the round job should run next. ``from_schedule``: ask the configured schedule
    (and its back-off after rejections); otherwise run in ``delay_s`` for ``reason``."""

    delay_s: float = 0.0
    reason: str = ""
    new_round: bool = True
    from_schedule: bool = False


SKIPPED: NextRun | None = None  # stopping, paused or interrupted: nothing to schedule


class _RetryLater(Exception):
    def __init__(self, delay_s: float, reason: str):
        super().__init__(reason)
        self.delay_s, self.reason = delay_s, reason


class RoundAttempts:
    """Runs the round job. ``run_round`` runs one round row to ``done`` (``RoundRunner.run``),
    ``server_down`` says whether the inference server is down, ``close_candidate`` releases a
    failed round's candidate from the endpoint."""

    def __init__(
        self,
        store: Store,
        schedule: ScheduleConfig,
        metrics: DaemonMetrics,
        run_round: Callable[[RoundRow], object],
        server_down: Callable[[], bool],
        close_candidate: Callable[[str], None],
        stopping: threading.Event,
        paused: Callable[[], bool],
    ):
        self.store, self.schedule, self.metrics = store, schedule, metrics
        self.run_round, self.server_down, self.close_candidate = run_round, server_down, close_candidate
        self.stopping, self.paused = stopping, paused
        self.running = threading.Event()  # a round job is inside its loop

    def _go_on(self) -> bool:
        return not self.stopping.is_set() and not self.paused()

    def run_job(self, new_round: bool = True) -> NextRun | None:
        """Unfinished rounds first (resumed, or submitted), then one new SSD round."""
        if not self._go_on():
            log.info("round.skipped", stopping=self.stopping.is_set(), paused=self.paused())
            return SKIPPED
        if self.server_down():  # nothing a round does works without it: wait, quietly
            wait_s = max(10.0, self.schedule.retry_backoff_s[0])
            return NextRun(wait_s, "the inference server is down; the round waits for it", new_round)
        self.running.set()
        self.metrics.round_running.set(1)
        try:
            closed_failed = False
            while self._go_on():
                pending = self.store.running_rounds()
                if not pending:
                    break
                closed_failed |= not self.run_one(pending[0])
            # After a round closed as failed the next one waits for the schedule (and its
            # back-off on failures) instead of starting into the same fault at once.
            if new_round and not closed_failed and self._go_on():
                self.run_one(self.store.add(RoundRow(name=self.store.next_round_name())))
            return SKIPPED if self.stopping.is_set() else NextRun(from_schedule=True)
        except _RetryLater as retry:  # the retry finishes this round; the schedule says when a new one runs
            return NextRun(retry.delay_s, retry.reason, new_round=False)
        except RoundInterrupted as exc:
            log.info("round.interrupted", reason=str(exc))
            return SKIPPED
        finally:
            self.running.clear()
            self.metrics.round_running.set(0)
            structlog.contextvars.unbind_contextvars("round_id", "stage")

    def run_one(self, row: RoundRow) -> bool:
        """Run or resume one round; False when it was closed as failed."""
        row.attempts += 1
        row = self.store.save(row)
        try:
            self.run_round(row)
        except RoundInterrupted:
            self._not_an_attempt(row)
            raise
        except Exception as exc:
            if self.stopping.is_set():  # e.g. vLLM stopped under a running request
                self._not_an_attempt(row)
                raise RoundInterrupted(f"stopping ({exc})") from exc
            return self._failed(row, exc)
        return True

    def _failed(self, row: RoundRow, exc: Exception) -> bool:
        # A stage that failed while the inference server was down (the supervisor is
        # restarting it) is retried without using up the round: the fault was not the round's.
        permanent = isinstance(exc, PermanentRoundError)
        server_down = not permanent and self.server_down()
        if server_down:
            log.warning("round.failed", round_id=row.name, error=str(exc), server_down=True)
        else:
            log.exception("round.failed", round_id=row.name, attempt=row.attempts, error=str(exc), permanent=permanent)
        current = self.round(row.name)
        current.error = f"{type(exc).__name__}: {exc}"[:2000]
        if permanent or (row.attempts >= self.schedule.max_attempts_per_round and not server_down):
            self._close_failed(current, row.attempts, permanent)
            return False
        self.store.save(current)
        if server_down:
            self._not_an_attempt(row)
        delay = retry_delay(row.attempts, self.schedule.retry_backoff_s)
        why = "the inference server is down: not counted, " if server_down else ""
        raise _RetryLater(
            delay, f"round {row.name} failed at {current.stage} (attempt {row.attempts}, {why}retry in {delay:.0f}s)"
        ) from exc

    def _close_failed(self, row: RoundRow, attempts: int, permanent: bool) -> None:
        row.status, row.finished_at = RoundStatus.FAILED, utcnow()
        self.store.save(row)
        after = "(retrying cannot change it)" if permanent else f"after {attempts} attempts"
        self.store.event(
            "error",
            f"round {row.name} failed at stage {row.stage} {after}: {row.error}",
            round_name=row.name,
            version=row.candidate,
        )
        self.metrics.rounds.labels(decision="failed").inc()
        if row.candidate and (a := self.store.adapter(row.candidate)) and a.state == AdapterState.CANDIDATE:
            try:
                self.close_candidate(row.candidate)
            except Exception as exc:
                log.warning("round.release_failed", error=str(exc))
            self.store.set_adapter_state(row.candidate, AdapterState.REJECTED)

    def _not_an_attempt(self, row: RoundRow) -> None:
        """A stop, a pause or a server that was down is not a failed attempt."""
        current = self.round(row.name)
        self.store.save(current.model_copy(update={"attempts": max(0, current.attempts - 1)}))

    def round(self, name: str) -> RoundRow:
        return next(r for r in self.store.rounds() if r.name == name)
