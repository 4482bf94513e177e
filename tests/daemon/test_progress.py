"""A running stage's progress: the ETA arithmetic and the rate limiter (pure, ``daemon.progress``),
the writer (``daemon.rounds.progress``) on a real Store, what ``ssdd status`` reads back, and a
schema-2 state database migrated to the progress table without losing a row."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import structlog

from daemon.config import DaemonConfig
from daemon.progress import (
    RateLimiter,
    StageProgressStatus,
    current_stage_eta_s,
    duration_text,
    previous_durations,
    progress_text,
    round_eta,
    stage_eta_s,
    stage_status,
)
from daemon.rounds.progress import StageProgress, arm_counter, distill_lines
from daemon.state import SCHEMA_VERSION, RoundRow, StageProgressRow, Store, utcnow
from daemon.status import collect_status, print_status
from ssd.distill import parse_progress_line


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- the rate limiter ---------------------------------------------------------------------------


def test_the_rate_limiter_lets_one_call_through_per_interval():
    clock = Clock()
    limiter = RateLimiter(2.0, clock)
    seen = []
    for _ in range(100):  # 100 reports over 10 s
        seen.append(limiter.ready())
        clock.t += 0.1
    assert seen[0] is True  # the first report is written at once
    assert sum(seen) == 5  # at 0, 2, 4, 6, 8 s
    assert RateLimiter(0.0, clock).ready() and RateLimiter(0.0, clock).ready()


# -- the ETA arithmetic -------------------------------------------------------------------------


def eta(**kw):
    args = dict(done=0, total=100, start_done=0, measured_s=0.0, elapsed_s=0.0, previous_s=None)
    return stage_eta_s(**{**args, **kw})


def test_a_stage_eta_is_its_measured_rate_over_what_is_left():
    assert eta(done=25, measured_s=50.0, elapsed_s=50.0) == pytest.approx(150.0)  # 0.5/s, 75 left
    # 10 s after the last update the estimate is 10 s shorter: the finish time stays put.
    assert eta(done=25, measured_s=50.0, elapsed_s=60.0) == pytest.approx(140.0)
    # A resumed stage: only this attempt's work counts in the rate (10 done in 20 s).
    assert eta(done=60, start_done=50, measured_s=20.0, elapsed_s=20.0) == pytest.approx(80.0)
    assert eta(done=100, measured_s=1.0, elapsed_s=1.0) == 0.0
    assert eta(done=25, measured_s=50.0, elapsed_s=500.0) == 0.0  # overdue: never negative


def test_a_measured_rate_and_the_previous_duration_are_blended_by_the_share_of_the_stage_seen():
    # A quarter done at 0.5/s (150 s left by the rate), the previous round's 300 s less 50 s
    # elapsed (250 s): a quarter of the way the rate weighs a quarter.
    assert eta(done=25, measured_s=50.0, elapsed_s=50.0, previous_s=300.0) == pytest.approx(0.25 * 150 + 0.75 * 250)
    # Nearly done, the stage's own rate decides almost alone.
    assert eta(done=90, measured_s=90.0, elapsed_s=90.0, previous_s=1000.0) == pytest.approx(0.9 * 10 + 0.1 * 910)
    # A resumed stage: the share is of the work left at this attempt's start.
    assert eta(done=75, start_done=50, measured_s=25.0, elapsed_s=25.0, previous_s=100.0) == pytest.approx(
        0.5 * 25 + 0.5 * 75
    )
    # The first distillation step carried the model's load (60 s for 1 of 2 steps): the previous
    # round's 70 s for the stage pulls the estimate towards what is really left.
    blended = eta(done=1, total=2, measured_s=60.0, elapsed_s=60.0, previous_s=70.0)
    assert blended == pytest.approx(0.5 * 60 + 0.5 * 10) and blended < 60.0


def test_without_a_measured_rate_the_previous_duration_is_used_and_else_nothing_is_known():
    assert eta(previous_s=300.0, elapsed_s=120.0) == pytest.approx(180.0)
    assert eta(previous_s=300.0, elapsed_s=400.0) == 0.0
    assert eta(elapsed_s=120.0) is None  # nothing done, nothing measured before
    assert eta(total=None, done=5, measured_s=10.0, elapsed_s=10.0) is None  # total not known yet
    assert eta(total=None, done=5, previous_s=60.0, elapsed_s=10.0) == pytest.approx(50.0)


def test_the_round_eta_adds_later_stages_from_the_previous_round():
    previous = {"sample": 300.0, "distill": 600.0, "evaluate": 250.0, "decide": 0.1, "promote": 20.0}
    got = round_eta("sample", 100.0, ["distill", "evaluate", "decide", "promote"], previous)
    assert got.eta_s == pytest.approx(970.1) and got.unknown == ()
    # The first round: the running stage alone, and the stages nothing is known of are named.
    first = round_eta("sample", 100.0, ["distill", "evaluate"], {})
    assert first.eta_s == pytest.approx(100.0) and first.unknown == ("distill", "evaluate")
    unknown_now = round_eta("sample", None, ["distill"], {"distill": 600.0})
    assert unknown_now.eta_s == pytest.approx(600.0) and unknown_now.unknown == ("sample",)
    nothing = round_eta("sample", None, ["distill"], {})
    assert nothing.eta_s is None and nothing.unknown == ("sample", "distill")  # "ETA -"


def test_the_running_stage_estimate_picks_its_source():
    running = _status(done=50, total=100, eta_s=42.0)
    assert current_stage_eta_s(running, fresh=True, previous_s=300.0, stage_elapsed_s=10.0) == 42.0
    # A row an earlier daemon left: its rate is not this attempt's; the previous duration whole.
    assert current_stage_eta_s(running, fresh=False, previous_s=300.0, stage_elapsed_s=10.0) == 300.0
    assert current_stage_eta_s(running, fresh=False, previous_s=None, stage_elapsed_s=10.0) is None
    # A stage without progress rows (decide, promote): the previous duration less its time so far.
    assert current_stage_eta_s(None, fresh=False, previous_s=30.0, stage_elapsed_s=10.0) == 20.0
    assert current_stage_eta_s(None, fresh=False, previous_s=None, stage_elapsed_s=10.0) is None


def test_previous_durations_take_each_stage_from_the_latest_round_that_ran_it():
    newest_first = [{"evaluate": 100.0, "decide": 0.1}, {"sample": 30.0, "evaluate": 200.0}, {"sample": 99.0}]
    assert previous_durations(newest_first) == {"evaluate": 100.0, "decide": 0.1, "sample": 30.0}


def test_durations_read_as_people_write_them():
    assert [duration_text(s) for s in (None, 7.4, 65, 3600 + 125)] == ["-", "7s", "1m05s", "1h02m"]


def _status(**kw) -> StageProgressStatus:
    base = dict(
        stage="sample",
        unit="samples",
        done=0,
        total=None,
        total_is_max=False,
        started_at="2026-01-01T00:00:00+00:00",
        updated_at="2026-01-01T00:00:00+00:00",
        finished_at=None,
        elapsed_s=0.0,
        rate_per_s=None,
        eta_s=None,
        loss=None,
        arms=[],
    )
    return StageProgressStatus(**{**base, **kw})


def test_a_stage_status_is_measured_from_its_row():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    row = StageProgressRow(
        name="r1",
        stage="evaluate",
        unit="problems",
        done=20,
        total=96,
        total_is_max=True,
        start_done=16,
        started_at=t0.isoformat(),
        updated_at=(t0 + timedelta(seconds=40)).isoformat(),
        reference_done=12,
        challenger_done=8,
        arm_total=48,
    )
    st = stage_status(row, t0 + timedelta(seconds=50), None, versions=("r7", "r8"))
    assert st.rate_per_s == pytest.approx(0.1) and st.elapsed_s == 50.0
    assert st.eta_s == pytest.approx(76 / 0.1 - 10)  # at most: the test may stop early
    assert [(a.arm, a.version, a.done, a.total) for a in st.arms] == [
        ("reference", "r7", 12, 48),
        ("challenger", "r8", 8, 48),
    ]
    text = progress_text(st)
    assert "reference 12/48, challenger 8/48 problems" in text and "at most" in text
    row.finished_at = (t0 + timedelta(seconds=45)).isoformat()
    done = stage_status(row, t0 + timedelta(seconds=90), None)
    assert done.eta_s == 0.0 and done.elapsed_s == 45.0 and "done in 45s" in progress_text(done)


def test_the_distill_workers_progress_lines_are_parsed():
    line = (
        "2026-12-03 16:31:20 [info     ] distill.progress               elapsed_s=1.2 loss=1.58 "
        "lr=0.0002 max_steps=24 rank=0 round_id=r1 stage=distill step=5 tokens_seen=100"
    )
    p = parse_progress_line(line)
    assert p is not None and (p.step, p.max_steps, p.loss) == (5, 24, 1.58)
    colored = "\x1b[1mdistill.progress\x1b[0m \x1b[36mstep\x1b[0m=\x1b[35m2\x1b[0m max_steps=4 loss=None"
    assert parse_progress_line(colored) == type(p)(step=2, max_steps=4, loss=None)
    as_json = '{"event": "distill.progress", "step": 3, "max_steps": 9, "loss": 0.5}'
    assert parse_progress_line(as_json) == type(p)(step=3, max_steps=9, loss=0.5)
    assert parse_progress_line("2026 [info] distill.start examples=4") is None
    assert parse_progress_line("distill.progress step=garbage") is None


# -- the writer on a real Store -----------------------------------------------------------------


class CountingStore(Store):
    writes = 0

    def save_progress(self, row: StageProgressRow) -> StageProgressRow:
        self.writes += 1
        return super().save_progress(row)


def test_progress_rows_are_written_at_a_bounded_rate_and_once_at_the_end(tmp_path):
    store = CountingStore(tmp_path / "state.db")
    clock = Clock()
    with structlog.testing.capture_logs() as logs:
        with StageProgress(store, "r1", "sample", "samples", clock=clock) as prog:
            for done in range(3, 103):  # resumed with 3 done; one sample every 0.1 s for 10 s
                prog.report(done, 102)
                clock.t += 0.1
                if done == 50:
                    (mid,) = store.progress("r1")
                    assert mid.finished_at is None and 3 < mid.done <= 50
    assert store.writes == 5 + 1  # at 0, 2, 4, 6 and 8 s, plus the stage's end
    (row,) = store.progress("r1")
    assert (row.done, row.total, row.start_done) == (102, 102, 3) and row.finished_at is not None
    lines = [e for e in logs if e["event"] == "round.progress"]
    assert [e["state"] for e in lines] == ["running", "finished"]  # the start's line (then every 30 s), the end's
    assert lines[-1]["round_id"] == "r1" and lines[-1]["stage"] == "sample" and lines[-1]["done"] == 102


def test_a_failed_stage_keeps_its_counts_unfinished_and_a_retry_replaces_its_row(tmp_path):
    store = Store(tmp_path / "state.db")
    with pytest.raises(RuntimeError):
        with StageProgress(store, "r1", "distill", "steps") as prog:
            prog.report(0)
            lines = distill_lines(prog, lambda line: None)
            lines("2026 [info     ] distill.progress loss=2.5 max_steps=10 step=1")
            raise RuntimeError("worker died")
    (row,) = store.progress("r1")
    assert (row.done, row.total, row.loss, row.finished_at) == (1, 10, 2.5, None)
    with StageProgress(store, "r1", "distill", "steps") as prog:
        prog.report(0)
    (row,) = store.progress("r1")  # one row per stage: the retry's
    assert (row.done, row.start_done, row.finished_at is not None) == (0, 0, True)


def test_a_progress_row_that_cannot_be_written_does_not_fail_the_stage(tmp_path):
    class Full(Store):
        def save_progress(self, row):
            raise OSError("database or disk is full")

    with structlog.testing.capture_logs() as logs:
        with StageProgress(Full(tmp_path / "state.db"), "r1", "sample", "samples", write_every_s=0) as prog:
            prog.report(1, 2)
            prog.report(2, 2)
    assert [e["event"] for e in logs].count("round.progress_not_written") == 1


def running_daemon(store: Store, started: datetime) -> None:
    """The kv a live daemon keeps: status then computes an ETA."""
    store.set_kv("daemon", {"pid": os.getpid(), "heartbeat_at": utcnow(), "started_at": started.isoformat()})


def test_status_reads_the_progress_back_with_an_eta(tmp_path):
    cfg = DaemonConfig(data_dir=tmp_path / "data")
    store = Store(cfg.db_path)
    store.add(RoundRow(name="r0", stage="done", status="done", timings_json='{"distill": 600.0, "evaluate": 200.0}'))
    store.add(RoundRow(name="r1", stage="sample"))
    running_daemon(store, datetime.now(timezone.utc) - timedelta(hours=1))
    t0 = datetime.now(timezone.utc) - timedelta(seconds=60)
    store.save_progress(
        StageProgressRow(
            name="r1",
            stage="sample",
            unit="samples",
            done=30,
            total=100,
            start_done=0,
            started_at=t0.isoformat(),
            updated_at=(t0 + timedelta(seconds=60)).isoformat(),
        )
    )
    st = collect_status(cfg, store)
    rr = st["running_round"]
    (p,) = rr["progress"]
    assert {k: p[k] for k in ("stage", "done", "total", "unit")} == {
        "stage": "sample",
        "done": 30,
        "total": 100,
        "unit": "samples",
    }
    assert p["started_at"] and p["updated_at"] and p["eta_s"] == pytest.approx(140.0, abs=2.0)  # 0.5/s, 70 left
    # The round: sample's 140 s, then distill 600 and evaluate 200 as r0 measured them; r0 ran
    # no decide or promote stage, so those are named as not measured.
    assert rr["eta_s"] == pytest.approx(940.0, abs=2.0) and rr["eta_unknown"] == ["decide", "promote"]
    assert datetime.fromisoformat(rr["eta"]) > datetime.now(timezone.utc)
    from rich.console import Console

    console = Console(width=80, record=True, force_terminal=False)
    print_status(st, console)
    text = console.export_text()
    assert "sample 30/100 samples" in text and "not measured yet" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_stopped_daemon_shows_the_counts_but_no_eta(tmp_path):
    cfg = DaemonConfig(data_dir=tmp_path / "data")
    store = Store(cfg.db_path)
    store.add(RoundRow(name="r1", stage="distill"))
    with StageProgress(store, "r1", "distill", "steps") as prog:
        prog.report(0)
        prog.report(3, 24, loss=1.2)
    rr = collect_status(cfg, store)["running_round"]
    assert rr["progress"][0]["done"] == 3 and rr["progress"][0]["loss"] == 1.2
    assert rr["eta"] is None and rr["eta_s"] is None


def test_a_reevaluation_shows_its_progress_under_gate_test(tmp_path):
    from daemon.state import SequentialTestRow

    cfg = DaemonConfig(data_dir=tmp_path / "data")
    store = Store(cfg.db_path)
    store.add(SequentialTestRow(name="reeval-r2-0", kind="reeval", reference="r1", challenger="r2"))
    with StageProgress(store, "reeval-r2-0", "evaluate", "problems", total_is_max=True) as prog:
        on_arm = arm_counter(prog, 8, 40)
        on_arm("reference", 8)
    gt = collect_status(cfg, store)["gate_test"]
    arms = [(a["arm"], a["version"], a["done"], a["total"]) for a in gt["progress"]["arms"]]
    assert arms == [("reference", "r1", 16, 40), ("challenger", "r2", 8, 40)]
    assert gt["progress"]["done"] == 24 and gt["progress"]["total"] == 80 and gt["progress"]["total_is_max"]


# -- the migration ------------------------------------------------------------------------------


def test_a_schema_2_database_gains_the_progress_table_and_keeps_its_rows(tmp_path):
    path = tmp_path / "state.db"
    old = Store(path)
    old.add(RoundRow(name="r1", stage="done", status="done", decision="reject", timings_json='{"sample": 3.0}'))
    old.add(RoundRow(name="r2", stage="distill"))
    old.set_kv("gate_ledger", {"tests": 1})
    old.close()
    with sqlite3.connect(path) as db:  # as schema version 2 wrote it: no stage_progress table
        db.execute("DROP TABLE stage_progress")
        db.execute("UPDATE kv SET value_json = '2' WHERE key = 'schema_version'")
    store = Store(path, create=False)
    assert store.get_kv("schema_version") == SCHEMA_VERSION == 3
    assert [(r.name, r.stage, r.decision) for r in store.rounds()] == [
        ("r2", "distill", None),
        ("r1", "done", "reject"),
    ]
    assert store.rounds()[1].timings == {"sample": 3.0} and store.get_kv("gate_ledger") == {"tests": 1}
    assert store.progress("r2") == []
    with StageProgress(store, "r2", "distill", "steps") as prog:
        prog.report(0)
    assert [r.stage for r in store.progress("r2")] == ["distill"]
    store.close()
    again = Store(path, create=False)  # the upgrade happened once; a reopen is a plain open
    assert again.get_kv("schema_version") == 3 and len(again.progress("r2")) == 1


def test_the_module_constants_bound_the_rates(monkeypatch, tmp_path):
    """The round-loop tests shorten the write interval through the module (read per stage)."""
    import daemon.rounds.progress as progress

    monkeypatch.setattr(progress, "WRITE_EVERY_S", 0.0)
    store = CountingStore(Path(tmp_path) / "state.db")
    with StageProgress(store, "r1", "sample", "samples", clock=Clock()) as prog:
        for i in range(5):
            prog.report(i, 5)
    assert store.writes == 5 + 1
