"""APScheduler 3.x over plain callables (``Jobs``): the ``round``, ``reevaluate`` and
``disk-sweep`` jobs, the local control channel and the heartbeat (systemd watchdog).

It knows no ``Daemon``: the composition root (``daemon.app``) hands it the job functions. The
round job returns its ``NextRun`` and the EXECUTED listener schedules it from the job's return
value (``event.retval``): no state is handed between threads through attributes.

Heavy jobs (rounds, re-evaluation, retention) share one worker thread, so they never run at
once and a re-evaluation asked for during a round runs right after it. Every job has
``max_instances=1``, ``coalesce`` and a misfire grace; an error listener records any job
failure as an event instead of losing it. Rounds are scheduled one at a time with a date
trigger: the next fire time is computed from the configured schedule (continuous, every,
cron), stretched by the back-off policy after rejected rounds in a row, or set by the retry
back-off after a failure.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.config import ScheduleConfig, parse_trigger_spec
from daemon.rounds.attempts import NextRun
from daemon.state import StateError, Store
from policies.schedule import BackoffConfig, next_round_delay

log = structlog.get_logger(__name__)
# A poll or heartbeat skipped while its previous run is still busy is expected; missed and
# failed jobs reach our own listener (structured, with the job id), so the library's own
# warnings are noise.
logging.getLogger("apscheduler").setLevel(logging.ERROR)

NEXT_ROUND_AT = "next_round_at"
BACKOFF = "backoff"


ROUND_JOBS = ("round", "round-pending")


@dataclass(frozen=True)
class Jobs:
    """What the scheduler runs. ``round(new_round)`` -> when to run again (None: nothing to
    schedule); ``reevaluate(forced)`` and ``disk_sweep(forced)``; ``control()`` and
    ``heartbeat()`` are light and run beside the heavy ones."""

    round: Callable[[bool], NextRun | None]
    reevaluate: Callable[[bool], None]
    disk_sweep: Callable[[bool], None]
    control: Callable[[], None]
    heartbeat: Callable[[], None]


def _trigger(spec: str, allow_continuous: bool = False) -> BaseTrigger | None:
    kind, value = parse_trigger_spec(spec, allow_continuous=allow_continuous, allow_off=not allow_continuous)
    if kind == "every":
        assert isinstance(value, timedelta)
        return IntervalTrigger(seconds=value.total_seconds())
    if kind == "cron":
        return CronTrigger.from_crontab(str(value))
    return None


class DaemonScheduler:
    def __init__(
        self, store: Store, cfg: ScheduleConfig, jobs: Jobs, stopping: threading.Event, round_running: threading.Event
    ):
        self.store, self.cfg, self.jobs = store, cfg, jobs
        self.stopping, self.round_running = stopping, round_running
        self.sched = BackgroundScheduler(
            executors={"heavy": ThreadPoolExecutor(1), "light": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.cfg.misfire_grace_s},
            timezone=timezone.utc,
        )
        self.sched.add_listener(self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED)
        self.round_trigger = _trigger(self.cfg.rounds, allow_continuous=True)
        self._round_now = threading.Event()  # round-now asked for while a round ran

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.store.running_rounds():
            # Unfinished (resumed or submitted) rounds first; the job then schedules the next
            # new round from the configured schedule.
            self._pending_now()
        self.schedule_round(self.scheduled_delay_s(), reason=f"start: schedule {self.cfg.rounds!r}")
        for job_id, spec, func in (
            ("reevaluate", self.cfg.reevaluate, self.jobs.reevaluate),
            ("disk-sweep", self.cfg.retention, self.jobs.disk_sweep),
        ):
            trig = _trigger(spec)
            if trig is not None:
                self.sched.add_job(
                    func, trig, id=job_id, executor="heavy", replace_existing=True, kwargs={"forced": False}
                )
        self.sched.add_job(
            self.jobs.control,
            IntervalTrigger(seconds=self.cfg.control_poll_s),
            id="control",
            executor="light",
            replace_existing=True,
        )
        self.sched.add_job(
            self.jobs.heartbeat,
            IntervalTrigger(seconds=max(1.0, self.cfg.watchdog_s / 3)),
            id="heartbeat",
            executor="light",
            replace_existing=True,
        )
        self.sched.start()

    def shutdown(self) -> None:
        if self.sched.running:
            self.sched.shutdown(wait=False)

    # -- rounds ----------------------------------------------------------------------------------
    def _pending_now(self) -> None:
        """Finish pending (resumed or submitted) rounds now; a scheduled round keeps its time."""
        self.sched.add_job(
            self.jobs.round,
            DateTrigger(),
            id="round-pending",
            executor="heavy",
            replace_existing=True,
            kwargs={"new_round": False},
        )

    def schedule_round(self, delay_s: float, *, reason: str, new_round: bool = True) -> datetime:
        """The one pending run of the round job. ``new_round=False`` only finishes pending
        (resumed or submitted) rounds, e.g. for a submission between cron-scheduled rounds."""
        at = datetime.now(timezone.utc) + timedelta(seconds=max(0.0, delay_s))
        self.sched.add_job(
            self.jobs.round,
            DateTrigger(run_date=at),
            id="round",
            executor="heavy",
            replace_existing=True,
            kwargs={"new_round": new_round},
        )
        try:
            self.store.set_kv(NEXT_ROUND_AT, at.isoformat(timespec="seconds"))
        except StateError as exc:  # only status reads it; the job itself is scheduled
            log.error("schedule.cannot_record_next_round", error=str(exc))
        log.info("schedule.next_round", at=at.isoformat(timespec="seconds"), reason=reason)
        return at

    def scheduled_delay_s(self) -> float:
        """What the configured schedule alone asks for, from now."""
        if self.round_trigger is None:  # continuous
            return 0.0
        now = datetime.now(timezone.utc)
        nxt = self.round_trigger.get_next_fire_time(None, now)
        return max(0.0, (nxt - now).total_seconds()) if nxt else 3600.0

    def next_from_schedule(self) -> NextRun:
        """After the round job: when the next round runs (a round-now asked for during it
        runs at once; else the schedule, stretched by the back-off after rejections)."""
        if self._round_now.is_set():
            self._round_now.clear()
            return NextRun(0.0, "round-now asked for", True)
        store = self.store
        decision = next_round_delay(
            store.recent_decisions(50),
            self.scheduled_delay_s(),
            BackoffConfig(
                after_rejections=self.cfg.backoff_after_rejections,
                factor=self.cfg.backoff_factor,
                base_s=self.cfg.backoff_base_s,
                max_s=self.cfg.backoff_max_s,
            ),
        )
        previous = store.get_kv(BACKOFF) or {}
        store.set_kv(BACKOFF, decision.model_dump())
        if decision.backing_off and not previous.get("backing_off"):
            store.event("backoff", decision.reason)
        return NextRun(decision.delay_s, decision.reason, True)

    def round_now(self, *, new_round: bool = True) -> None:
        """``ssdd round-now`` (new_round) or a submission (only the pending rounds)."""
        if self.round_running.is_set():
            if new_round:
                self._round_now.set()
            return  # pending (submitted) rounds are picked up by the running job's loop
        keep = self.sched.get_job("round")
        if not new_round and keep is not None and keep.next_run_time is not None:
            self._pending_now()  # finish the submission now; the scheduled round keeps its time
            return
        self.schedule_round(0.0, reason="round-now asked for", new_round=new_round)

    def reevaluate_now(self) -> None:
        self.sched.add_job(
            self.jobs.reevaluate,
            DateTrigger(),
            id="reevaluate-now",
            executor="heavy",
            replace_existing=True,
            kwargs={"forced": True},
        )

    def next_round_at(self) -> str | None:
        job = self.sched.get_job("round")
        return job.next_run_time.isoformat(timespec="seconds") if job and job.next_run_time else None

    # -- failures never vanish -------------------------------------------------------------------
    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_EXECUTED:
            if event.job_id in ROUND_JOBS and not self.stopping.is_set():
                self._after_round(event.retval)
            return
        if event.code == EVENT_JOB_MISSED:
            log.warning("schedule.missed", job=event.job_id, scheduled=str(event.scheduled_run_time))
            return
        log.error("schedule.job_failed", job=event.job_id, error=repr(event.exception))
        try:
            self.store.event(
                "error",
                f"job {event.job_id} failed: {event.exception!r}",
                traceback=json.dumps(str(event.traceback))[:4000],
            )
        except StateError as exc:  # e.g. the disk is full: the log has it, and rounds go on
            log.error("schedule.cannot_record_failure", job=event.job_id, error=str(exc))
        if event.job_id in ROUND_JOBS and not self.stopping.is_set():
            # The round job reschedules itself; make sure it still does.
            self.schedule_round(self.cfg.retry_backoff_s[0], reason="round job crashed")

    def _after_round(self, nxt: NextRun | None) -> None:
        # The round job cannot schedule its own next run while it runs (max_instances=1 would
        # skip it): its return value says when, and this listener schedules it.
        if nxt is None:
            return
        if nxt.from_schedule:
            if self.sched.get_job("round") is not None:  # e.g. a resume or a cron round already waits
                return
            nxt = self.next_from_schedule()
        self.schedule_round(nxt.delay_s, reason=nxt.reason, new_round=nxt.new_round)
