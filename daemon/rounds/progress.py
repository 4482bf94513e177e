"""A running stage's progress: counted as the work reports it, written to the state DB at a
bounded rate, logged now and then, and drawn as a bar when ``ssdd run`` has a terminal.

The ``ssd`` functions take plain callbacks (``sample(on_progress=)``, ``distill(on_line=)``
with ``parse_progress_line``, ``evaluate_pair_batch(on_arm_done=)``); a ``StageProgress`` is
what the daemon hands them. Progress is information only: a row that cannot be written (a full
disk) is logged and the stage goes on; the stage's own results are what resumes it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import structlog

from daemon.progress import RateLimiter, duration_text, stage_eta_s
from daemon.state import ProgressStage, StageProgressRow, Store, utcnow_ms
from ssd.distill import parse_progress_line

log = structlog.get_logger(__name__)

WRITE_EVERY_S = 2.0  # state DB rows: ssdd status polls them; SQLite shares the disk with the stage
LOG_EVERY_S = 30.0  # round.progress lines: what journald keeps of a 40-minute stage


class TtyBar:
    """A rich progress bar on stderr for the stage that runs; log lines print above it."""

    def __init__(self, label: str, unit: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from ssd.cli_common import console

        self.bar: Any = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit + " {task.fields[note]}"),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task(label, total=None, note="")

    def start(self) -> bool:
        from rich.errors import LiveError

        try:
            self.bar.start()
        except LiveError:  # another job's bar is up: that one keeps the terminal
            return False
        return True

    def show(self, done: int, total: int | None, note: str) -> None:
        self.bar.update(self.task, completed=done, total=total, note=note)

    def stop(self) -> None:
        self.bar.stop()


class StageProgress:
    """One stage's progress in one attempt. ``report`` takes absolute counts (the first one,
    work resumed from earlier attempts, is not counted in the rate); thread-safe."""

    def __init__(
        self,
        store: Store,
        name: str,
        stage: ProgressStage,
        unit: str,
        *,
        total_is_max: bool = False,
        bar: bool = False,
        write_every_s: float | None = None,
        log_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.clock = store, clock
        self.row = StageProgressRow(name=name, stage=ProgressStage(stage), unit=unit, total_is_max=total_is_max)
        # The module's intervals are read here, not bound as defaults: a test may shorten them.
        self._write = RateLimiter(WRITE_EVERY_S if write_every_s is None else write_every_s, clock)
        self._log = RateLimiter(LOG_EVERY_S if log_every_s is None else log_every_s, clock)
        self._lock = threading.Lock()
        self._t0: float | None = None
        self._write_failed = False
        self._bar = TtyBar(f"{name} {stage}", unit) if bar else None

    def __enter__(self) -> StageProgress:
        if self._bar is not None and not self._bar.start():
            self._bar = None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Only a stage that ended normally is finished; a failed one keeps its counts for status."""
        with self._lock:
            if exc_type is None and self._t0 is not None:
                self.row.finished_at = utcnow_ms()
            if self._t0 is not None:
                self._flush(force=True, why="finished" if exc_type is None else "stopped")
        if self._bar is not None:
            self._bar.stop()

    def report(self, done: int | None = None, total: int | None = None, **fields: Any) -> None:
        """Set the counts (``done``, ``total``, and row fields such as ``loss``); written and
        logged when their rate limits allow."""
        with self._lock:
            now = self.clock()
            if self._t0 is None:
                self._t0 = now
                self.row.start_done = self.row.done if done is None else done
                self.row.started_at = utcnow_ms()
            if done is not None:
                self.row.done = done
            if total is not None:
                self.row.total = total
            for key, value in fields.items():
                setattr(self.row, key, value)
            self.row.updated_at = utcnow_ms()
            self._flush(force=False)

    def eta_s(self) -> float | None:
        elapsed = 0.0 if self._t0 is None else self.clock() - self._t0
        r = self.row
        return stage_eta_s(
            done=r.done, total=r.total, start_done=r.start_done, measured_s=elapsed, elapsed_s=elapsed, previous_s=None
        )

    def _flush(self, *, force: bool, why: str = "running") -> None:
        if self._write.ready() or force:
            self._save()
        eta = self.eta_s()
        if self._log.ready() or force:
            r = self.row
            extra = {} if r.reference_done is None else {"reference": r.reference_done, "challenger": r.challenger_done}
            log.info(
                "round.progress",
                round_id=r.name,
                stage=str(r.stage),
                state=why,
                done=r.done,
                total=r.total,
                unit=r.unit,
                total_is_max=r.total_is_max,
                loss=r.loss,
                eta_s=None if eta is None else round(eta, 1),
                **extra,
            )
        if self._bar is not None:
            note = "" if eta is None else f"ETA {duration_text(eta)}" + (" at most" if self.row.total_is_max else "")
            self._bar.show(
                self.row.done, self.row.total, note if self.row.loss is None else f"loss {self.row.loss:.4g} {note}"
            )

    def _save(self) -> None:
        try:
            self.store.save_progress(self.row.model_copy())
        except Exception as exc:  # progress is information: the stage must not fail for it
            if not self._write_failed:
                log.warning("round.progress_not_written", error=f"{type(exc).__name__}: {exc}")
            self._write_failed = True


def wants_bar() -> bool:
    """A bar only on a terminal: under systemd stderr is journald, which gets the log lines."""
    return sys.stderr.isatty()


def distill_lines(progress: StageProgress, echo: Callable[[str], None]) -> Callable[[str], None]:
    """``distill``'s ``on_line``: each worker line still goes to ``echo`` (the daemon's stderr, as
    without progress), and each ``distill.progress`` line moves the stage's counts."""

    def on_line(line: str) -> None:
        echo(line)
        p = parse_progress_line(line)
        if p is not None:
            progress.report(p.step, p.max_steps, loss=p.loss)

    return on_line


def arm_counter(progress: StageProgress, committed: int, limit: int) -> Callable[[str, int], None]:
    """``evaluate_pair_batch``'s ``on_arm_done`` for a sequential test with ``committed`` problems
    already on disk of at most ``limit``: each arm's judged problems, both arms in ``done``
    (reported at once, so the resumed count is this attempt's starting point)."""
    arms = {"reference": committed, "challenger": committed}

    def publish() -> None:
        progress.report(
            sum(arms.values()),
            2 * limit,
            reference_done=arms["reference"],
            challenger_done=arms["challenger"],
            arm_total=limit,
        )

    def on_arm_done(arm: str, problems: int) -> None:
        arms[arm] += problems
        publish()

    publish()
    return on_arm_done
