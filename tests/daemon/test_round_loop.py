"""The fast tier of the round loop: the real ``RoundRunner`` and ``RoundAttempts`` over a real
SQLite state database and the real policies (the sequential gate, outcome, traffic, filters),
with fakes only at the vLLM boundary (the adapter registry) and at the one call that asks vLLM
+ the sandbox to evaluate an arm on a batch (``RoundDeps.evaluate``): each model's answer to
each problem is fixed by a table, so every decision below follows from the real gate's rule.
Runs in seconds."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import structlog
from prometheus_client import CollectorRegistry

from daemon.config import DaemonConfig
from daemon.jobs.scheduler import DaemonScheduler, Jobs
from daemon.metrics import DaemonMetrics
from daemon.rounds.attempts import NextRun, RoundAttempts
from daemon.rounds.context import RoundDeps, build_sets
from daemon.rounds.runner import GATE_LEDGER, RoundRunner
from daemon.state import AdapterRow, RoundRow, Store
from ssd.evaluate import EvalConfig, EvalReport, ProblemResult, TemperatureEval, save_report
from ssd.model_store import ModelInfo


class FakeRegistry:
    """The vLLM side of a round: which versions are loaded, pinned and served as the alias."""

    base_model = "base"

    def __init__(self, fail_pin: Exception | None = None):
        self.champion: str | None = None
        self.loaded: set[str] = set()
        self.pinned: set[str] = set()
        self.fail_pin = fail_pin
        self.server = SimpleNamespace(base_url="http://127.0.0.1:9")  # never contacted

    def snapshot(self) -> SimpleNamespace:
        adapters = {v: SimpleNamespace(loaded=True, vllm_name=f"ssd-{v}") for v in self.loaded}
        return SimpleNamespace(adapters=adapters, pinned=set(self.pinned))

    def pin(self, version: str, path: str) -> None:
        if self.fail_pin is not None:
            raise self.fail_pin
        self.loaded.add(version)
        self.pinned.add(version)

    def unpin(self, version: str) -> None:
        self.pinned.discard(version)

    def promote(self, version: str, path: str | None) -> None:
        self.loaded.add(version)
        self.champion = version

    def demote_to_base(self) -> None:
        self.champion = None


@pytest.fixture(autouse=True)
def quiet_logs():
    """Log events are captured as dicts: rendering each failure's traceback with its locals
    would take seconds, and this tier is meant to run in seconds."""
    with structlog.testing.capture_logs() as logs:
        yield logs


def make_deps(root: Path) -> RoundDeps:
    # Batches of 8 over the 42-problem gate pool: stops are checked at 8, 16, 24, 32, 40, 42.
    cfg = DaemonConfig(
        data_dir=root / "data",
        learning={"traffic_check": {"min_prompts": 1}},
        gate={"batch_size": 8, "min_problems": 8},
        reevaluation={"batch_size": 8, "min_problems": 8},
    )
    return RoundDeps(
        cfg=cfg,
        store=Store(cfg.db_path),
        registry=FakeRegistry(),  # type: ignore[arg-type]
        sandbox=None,  # type: ignore[arg-type]  # nothing is judged: RoundDeps.evaluate is a table
        model=ModelInfo(name="m", path=str(root / "model"), source="test", content_hash="h", created_at=""),
        sets=build_sets(cfg),
        metrics=DaemonMetrics(CollectorRegistry()),
    )


@pytest.fixture
def deps(tmp_path: Path) -> RoundDeps:
    return make_deps(tmp_path)


def fresh_deps(root: Path) -> RoundDeps:
    """A second daemon on its own state database (the uninterrupted run to compare with)."""
    root.mkdir()
    return make_deps(root)


def report_of(problems: list, passed, n: int = 1, temperature: float = 0.0) -> EvalReport:
    """One arm's evaluation at ``temperature``: ``passed(problem_id)`` of n samples pass."""
    rows = []
    for p in problems:
        c = passed(p.id)
        rows.append(ProblemResult(problem_id=p.id, difficulty=None, n=n, c=c, pass_at_k={1: c / n}, statuses={}))
    p1 = sum(r.pass_at_k[1] for r in rows) / len(rows)
    at = TemperatureEval(
        temperature=temperature,
        n=n,
        pass_at_k={1: p1},
        pass_at_1_ci=(0.0, 1.0),
        by_difficulty={},
        per_problem=rows,
        statuses={},
        completion_tokens=0,
        truncated=0,
        generate_s=0.0,
        judge_s=0.0,
    )
    return EvalReport(
        model_name="x",
        base_url="-",
        created_at="-",
        problems=len(problems),
        config=EvalConfig(),
        temperatures=[at],
        best_temperature=temperature,
        best_pass_at_1=p1,
    )


def write_eval(path: Path, problems: list, passed: int) -> None:
    """One arm's evaluation at T=0 (n=1) on disk: the first ``passed`` problems solved."""
    solved = {p.id for p in problems[:passed]}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_report(report_of(problems, lambda pid: int(pid in solved)), path)


class Models:
    """What each served model answers: ``solves[name]`` is the set of gate problems it passes
    (greedy, n=1). Stands in for vLLM + the sandbox; records every batch it was asked for."""

    def __init__(self, solves: dict[str, set[str]], before_each=None):
        self.solves, self.before_each = solves, before_each
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, base_url, name, problems, model_dir, sandbox, cfg, **kw) -> EvalReport:
        if self.before_each is not None:
            self.before_each(name, [p.id for p in problems])
        self.calls.append((name, [p.id for p in problems]))
        details = kw.get("details_path")
        if details is not None:  # as ssd.evaluate writes it: one line per sample
            Path(details).parent.mkdir(parents=True, exist_ok=True)
            Path(details).write_text("".join(f'{{"problem_id": "{p.id}", "model": "{name}"}}\n' for p in problems))
        return report_of(problems, lambda pid: int(pid in self.solves[name]), temperature=cfg.t_eval[0])

    def evaluated(self, name: str) -> int:
        return sum(len(ids) for n, ids in self.calls if n == name)


def queued_round(deps: RoundDeps, tmp_path: Path, *, kind: str = "submit", champion: int, candidate: int) -> Models:
    """A candidate at the evaluate stage; the champion (the base) solves the first ``champion``
    gate problems, the candidate the first ``candidate`` (the audit set's evaluation is on disk)."""
    (tmp_path / "cand").mkdir()
    deps.store.add(AdapterRow(version="cand", path=str(tmp_path / "cand"), content_hash="c", source="submitted"))
    deps.store.add(RoundRow(name="r1", kind=kind, candidate="cand", stage="evaluate"))
    ids = [p.id for p in deps.sets.gate]
    models = Models({"base": set(ids[:champion]), "ssd-cand": set(ids[:candidate])})
    deps.evaluate = models
    write_eval(deps.cfg.rounds_dir / "r1" / "audit_eval.json", deps.sets.audit, candidate // 3)
    return models


def the_round(deps: RoundDeps) -> RoundRow:
    return deps.store.rounds()[0]


def test_a_better_candidate_is_promoted_and_spends_budget(deps, tmp_path):
    queued_round(deps, tmp_path, champion=5, candidate=len(deps.sets.gate))
    done = RoundRunner(deps).run(the_round(deps))
    assert done.status == "done" and done.decision == "promote", done.reason
    assert deps.store.champion().version == "cand" and deps.registry.champion == "cand"
    assert deps.store.adapter("cand").audit_problems == len(deps.sets.audit)
    assert deps.store.get_kv(GATE_LEDGER)["tests"] == 1  # the gate's test ran and is on the ledger
    assert [e.kind for e in deps.store.events(kinds=["promotion", "rejection", "audit"])] == ["audit", "promotion"]


def test_a_worse_candidate_is_rejected(deps, tmp_path):
    queued_round(deps, tmp_path, champion=20, candidate=2)
    done = RoundRunner(deps).run(the_round(deps))
    assert done.decision == "reject" and deps.store.adapter("cand").state == "rejected"
    assert deps.store.champion() is None and deps.registry.champion is None
    assert deps.registry.pinned == set()  # released after the round


def test_the_operator_override_promotes_without_spending_budget(deps, tmp_path):
    queued_round(deps, tmp_path, kind="submit-skip-gate", champion=20, candidate=2)
    done = RoundRunner(deps).run(the_round(deps))
    assert done.decision == "promote" and "operator override" in (done.reason or "")
    assert deps.store.get_kv(GATE_LEDGER)["tests"] == 0  # an override is not a test: nothing spent


def attempts_for(deps: RoundDeps, *, server_down=lambda: False) -> RoundAttempts:
    return RoundAttempts(
        deps.store,
        deps.cfg.schedule,
        deps.metrics,
        run_round=lambda row: RoundRunner(deps).run(row),
        server_down=server_down,
        close_candidate=lambda v: None,
        stopping=threading.Event(),
        paused=lambda: False,
    )


def test_no_usable_samples_closes_the_round_at_once(deps):
    """A permanent failure: the same samples give the same answer, so no back-off, no retries."""
    row = deps.store.add(RoundRow(name="r1", stage="distill"))
    (deps.cfg.rounds_dir / "r1").mkdir(parents=True)
    (deps.cfg.rounds_dir / "r1" / "samples.jsonl").write_text("")
    nxt = attempts_for(deps).run_job(new_round=False)
    failed = deps.store.rounds()[0]
    assert failed.name == row.name and failed.status == "failed" and failed.attempts == 1
    assert "no usable samples" in (failed.error or "")
    assert nxt == NextRun(from_schedule=True)  # the schedule decides when the next round runs
    assert "retrying cannot change it" in deps.store.events(kinds=["error"])[0].reason


def test_a_transient_failure_is_retried_with_back_off_then_closed(deps, tmp_path):
    deps.registry.fail_pin = RuntimeError("vLLM answered 500")  # the candidate cannot be loaded
    queued_round(deps, tmp_path, champion=5, candidate=10)
    row = the_round(deps)
    attempts = attempts_for(deps)
    backoff = deps.cfg.schedule.retry_backoff_s
    for n in range(1, deps.cfg.schedule.max_attempts_per_round):
        nxt = attempts.run_job(new_round=False)
        current = deps.store.rounds()[0]
        assert current.status == "running" and current.attempts == n
        assert nxt is not None and nxt.delay_s == backoff[min(n - 1, len(backoff) - 1)] and not nxt.new_round
    attempts.run_job(new_round=False)
    closed = deps.store.rounds()[0]
    assert closed.name == row.name and closed.status == "failed"
    assert deps.store.adapter("cand").state == "rejected"


def test_a_failure_while_the_server_is_down_uses_no_attempt(deps, tmp_path):
    deps.registry.fail_pin = RuntimeError("connection refused")
    queued_round(deps, tmp_path, champion=5, candidate=10)
    down = [False]  # up when the job starts, down when the stage fails
    attempts = attempts_for(deps, server_down=lambda: down[0])
    deps.registry.pin = lambda v, p: (down.__setitem__(0, True), (_ for _ in ()).throw(RuntimeError("refused")))
    for _ in range(deps.cfg.schedule.max_attempts_per_round + 1):
        down[0] = False
        nxt = attempts.run_job(new_round=False)
        assert nxt is not None and "not counted" in nxt.reason
    current = deps.store.rounds()[0]
    assert current.status == "running" and current.attempts == 0


def scheduler_with(deps: RoundDeps, round_job) -> DaemonScheduler:
    jobs = Jobs(
        round=round_job,
        reevaluate=lambda forced: None,
        disk_sweep=lambda forced: None,
        control=lambda: None,
        heartbeat=lambda: None,
    )
    return DaemonScheduler(deps.store, deps.cfg.schedule, jobs, threading.Event(), threading.Event())


def wait_until(cond, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_scheduler_runs_the_round_job_again_when_its_return_value_says(deps):
    """The round job's NextRun is the only channel back to the scheduler (no shared attribute)."""
    calls: list[bool] = []

    def round_job(new_round: bool) -> NextRun | None:
        calls.append(new_round)
        return NextRun(0.2, "retry in a moment", new_round=False) if len(calls) == 1 else NextRun(from_schedule=True)

    deps.cfg = deps.cfg.model_copy(update={"schedule": deps.cfg.schedule.model_copy(update={"rounds": "every: 1h"})})
    deps.store.add(RoundRow(name="r1"))  # an unfinished round: the job runs at start
    sched = scheduler_with(deps, round_job)
    sched.start()
    try:
        wait_until(lambda: len(calls) >= 2)
        time.sleep(0.3)  # the listener schedules after the job returned
        assert calls == [False, False]  # the pending round, then its retry (not a new round)
        job = sched.sched.get_job("round")
        assert job is not None and job.kwargs == {"new_round": True}  # the schedule's next new round
        assert (job.next_run_time.timestamp() - time.time()) > 3000  # an hour away, as configured
    finally:
        sched.shutdown()


def test_round_now_during_a_round_runs_one_right_after_it(deps):
    sched = scheduler_with(deps, lambda new_round: NextRun(from_schedule=True))
    sched.round_running.set()
    sched.round_now(new_round=True)  # asked for while a round runs
    sched.round_running.clear()
    assert sched.next_from_schedule() == NextRun(0.0, "round-now asked for", True)
    assert sched.next_from_schedule().reason != "round-now asked for"  # once


# -- the sequential gate in the round ---------------------------------------------------------


def gate_rows(deps: RoundDeps, name: str = "r1"):
    return deps.store.pair_results(name, "gate")


def test_a_clearly_better_candidate_stops_early_for_efficacy_and_is_promoted(deps, tmp_path):
    models = queued_round(deps, tmp_path, champion=5, candidate=len(deps.sets.gate))
    done = RoundRunner(deps).run(the_round(deps))
    pool = len(deps.sets.gate)
    rows = gate_rows(deps)
    assert done.decision == "promote" and "e-value reached" in (done.reason or ""), done.reason
    assert 0 < len(rows) < pool  # stopped early: fewer problems evaluated than the pool holds
    assert models.evaluated("base") == models.evaluated("ssd-cand") == len(rows)  # both arms, same problems
    assert done.champion_n == done.candidate_n == len(rows)
    test = deps.store.sequential_test("r1", "gate")
    assert test.outcome == "efficacy" and test.decided_at is not None
    # The records ssdd report / status read cover what the test evaluated.
    cand = (deps.cfg.rounds_dir / "r1" / "candidate_eval.json").read_text()
    assert f'"problems": {len(rows)}' in cand
    # ...and each arm's samples, gathered from the batches (ssd.health reads them).
    for arm, name in (("champion", "base"), ("candidate", "ssd-cand")):
        lines = (deps.cfg.rounds_dir / "r1" / f"{arm}_eval.samples.jsonl").read_text().splitlines()
        assert len(lines) == len(rows) and all(f'"model": "{name}"' in x for x in lines)


def test_a_clearly_worse_candidate_stops_early_by_futility(deps, tmp_path):
    models = queued_round(deps, tmp_path, champion=len(deps.sets.gate), candidate=0)
    done = RoundRunner(deps).run(the_round(deps))
    assert done.decision == "reject" and "futility" in (done.reason or ""), done.reason
    assert 0 < len(gate_rows(deps)) < len(deps.sets.gate)
    assert models.evaluated("ssd-cand") == len(gate_rows(deps))
    assert deps.store.get_kv(GATE_LEDGER)["tests"] == 1  # a futility stop is a test: it counts


def test_the_plan_is_committed_before_any_problem_is_evaluated(deps, tmp_path):
    seen: list[tuple[bool, int]] = []

    def check(name, ids):
        test = deps.store.sequential_test("r1", "gate")
        seen.append((test is not None and test.plan_json is not None, len(gate_rows(deps))))

    models = queued_round(deps, tmp_path, champion=5, candidate=len(deps.sets.gate))
    models.before_each = check
    RoundRunner(deps).run(the_round(deps))
    assert seen and seen[0] == (True, 0)  # the plan is on disk when the first arm is evaluated
    from policies.sequential import SequentialPlan

    plan_json = deps.store.sequential_test("r1", "gate").plan_json
    assert SequentialPlan.model_validate_json(plan_json).model_dump_json() == plan_json  # round-trips exactly


# A candidate a little better: solves 20 of the champion's 14 plus 6 more; the test runs past
# the first batches, so a kill lands mid-test.
CLOSE = dict(champion=14, candidate=28)


def _outcome(deps: RoundDeps):
    r = the_round(deps)
    rows = [(x.problem_id, x.n, x.reference_c, x.challenger_c) for x in gate_rows(deps)]
    return r.decision, r.reason, r.p_value, deps.store.get_kv(GATE_LEDGER), sorted(rows)


@pytest.mark.parametrize("where", ["between batches", "inside a batch"])
def test_a_round_killed_mid_test_resumes_to_the_same_decision_and_ledger(deps, tmp_path, where):
    clean = fresh_deps(tmp_path / "clean")
    queued_round(clean, tmp_path / "clean", **CLOSE)
    RoundRunner(clean).run(the_round(clean))
    expected = _outcome(clean)
    assert len(expected[4]) > 16, "the test must run past two batches for a kill to land mid-test"

    calls = [0]

    def kill(name, ids):
        calls[0] += 1
        if where == "between batches" and calls[0] == 4:  # batch 2's candidate arm: stop after it
            deps.stopping.set()  # the daemon's stop: checked between batches
        if where == "inside a batch" and calls[0] == 6:  # batch 3's candidate arm
            raise RuntimeError("vLLM died under the batch")

    models = queued_round(deps, tmp_path, **CLOSE)
    models.before_each = kill
    from daemon.rounds.errors import RoundInterrupted

    with pytest.raises(RoundInterrupted if where == "between batches" else RuntimeError):
        RoundRunner(deps).run(the_round(deps))
    assert the_round(deps).stage == "evaluate" and the_round(deps).decision is None
    committed = len(gate_rows(deps))
    assert committed == 16  # two whole batches; nothing of the third (killed, or not started)
    deps.stopping.clear()
    models.before_each = None
    before = len(models.calls)
    RoundRunner(deps).run(the_round(deps))
    assert _outcome(deps) == expected
    # The resumed test evaluated only what was not committed.
    assert sum(len(ids) for _, ids in models.calls[before:]) == 2 * (len(expected[4]) - committed)


def test_a_schema_1_database_is_upgraded_and_keeps_its_rows(tmp_path):
    import sqlite3

    from daemon.state import SCHEMA_VERSION

    path = tmp_path / "state.db"
    old = Store(path)
    old.add(RoundRow(name="r1", stage="done", status="done", decision="reject"))
    old.close()
    with sqlite3.connect(path) as db:  # as schema version 1 wrote it: no sequential-test tables
        db.execute("DROP TABLE sequential_tests")
        db.execute("DROP TABLE pair_results")
        db.execute("UPDATE kv SET value_json = '1' WHERE key = 'schema_version'")
    store = Store(path, create=False)
    assert store.get_kv("schema_version") == SCHEMA_VERSION == 3
    assert [(r.name, r.decision) for r in store.rounds()] == [("r1", "reject")]
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"sequential_tests", "pair_results", "stage_progress", "rounds", "kv"} <= tables
    assert store.sequential_tests() == [] and store.pair_results("r1", "gate") == []
    store.close()
    # A later version is still refused, untouched.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE kv SET value_json = '4' WHERE key = 'schema_version'")
    from daemon.state import StateError

    with pytest.raises(StateError, match="schema version 4.*refusing"):
        Store(path, create=False)


# -- the rollback test (re-evaluation) --------------------------------------------------------


def crowned(deps: RoundDeps, tmp_path: Path, *, base: int, champion: int) -> Models:
    """ "cand" (parent: the base) serves as champion; each solves the first so many gate problems."""
    (tmp_path / "cand").mkdir()
    deps.store.add(AdapterRow(version="cand", path=str(tmp_path / "cand"), content_hash="c", source="submitted"))
    deps.store.set_champion("cand")
    deps.registry.promote("cand", str(tmp_path / "cand"))
    ids = [p.id for p in deps.sets.gate]
    models = Models({"base": set(ids[:base]), "ssd-cand": set(ids[:champion])})
    deps.evaluate = models
    return models


def test_a_champion_clearly_worse_than_its_parent_is_rolled_back_early(deps, tmp_path):
    from daemon.jobs.reevaluate import REEVAL_LEDGER, Reevaluation

    crowned(deps, tmp_path, base=len(deps.sets.gate), champion=0)
    Reevaluation(deps).run(forced=True)
    assert deps.store.champion() is None and deps.registry.champion is None  # the base serves again
    assert deps.store.adapter("cand").state == "rolled_back"
    (test,) = deps.store.sequential_tests("reeval")
    assert test.outcome == "efficacy" and test.reference is None and test.challenger == "cand"
    assert 0 < len(deps.store.pair_results(test.name, "reeval")) < len(deps.sets.gate)  # stopped early
    ledger = deps.store.get_kv(REEVAL_LEDGER)
    assert ledger["tests"] == 1 and ledger["rollbacks"] == 1
    (event,) = deps.store.events(kinds=["rollback"])
    assert "re-evaluation" in event.reason and "e-value" in event.reason


def test_a_champion_better_than_its_parent_is_kept_early_by_futility(deps, tmp_path):
    from daemon.jobs.reevaluate import REEVAL_LEDGER, Reevaluation

    crowned(deps, tmp_path, base=0, champion=len(deps.sets.gate))
    Reevaluation(deps).run(forced=True)
    assert deps.store.champion().version == "cand"
    (test,) = deps.store.sequential_tests("reeval")
    assert test.outcome == "futility" and test.decided_at is not None
    assert len(deps.store.pair_results(test.name, "reeval")) < len(deps.sets.gate)
    assert deps.store.get_kv(REEVAL_LEDGER)["tests"] == 1
    (event,) = deps.store.events(kinds=["reevaluation"])
    assert "KEEP champion" in event.reason


def test_an_interrupted_reevaluation_resumes_to_the_same_decision(deps, tmp_path):
    from daemon.jobs.reevaluate import REEVAL_LEDGER, Reevaluation

    clean = fresh_deps(tmp_path / "clean")
    crowned(clean, tmp_path / "clean", base=30, champion=14)
    Reevaluation(clean).run(forced=True)
    expected_rows = sorted((r.problem_id, r.challenger_c) for r in clean.store.pair_results("reeval-cand-0", "reeval"))
    assert len(expected_rows) > 8
    models = crowned(deps, tmp_path, base=30, champion=14)
    calls = [0]

    def stop_after_first_batch(name, ids):
        calls[0] += 1
        if calls[0] == 2:
            deps.stopping.set()

    models.before_each = stop_after_first_batch
    Reevaluation(deps).run(forced=True)  # stops between batches; nothing decided
    assert len(deps.store.pair_results("reeval-cand-0", "reeval")) == 8
    assert deps.store.get_kv(REEVAL_LEDGER) is None and deps.store.champion().version == "cand"
    deps.stopping.clear()
    models.before_each = None
    Reevaluation(deps).run()  # not forced and not due: the unfinished test resumes anyway
    got = sorted((r.problem_id, r.challenger_c) for r in deps.store.pair_results("reeval-cand-0", "reeval"))
    assert got == expected_rows
    assert deps.store.get_kv(REEVAL_LEDGER) == clean.store.get_kv(REEVAL_LEDGER)
    assert (deps.store.champion() is None) == (clean.store.champion() is None)


def test_a_gate_test_of_a_round_closed_as_failed_counts_as_a_test(deps, tmp_path):
    """Otherwise the next round's test would run again at the failed one's level, and each
    failed round would add its level to the lifetime bound."""
    from daemon.rounds.errors import PermanentRoundError
    from policies.sequential import SequentialPlan

    def fail_in_batch_2(name, ids):
        if len(models.calls) == 2:
            raise PermanentRoundError("the sandbox image vanished")

    models = queued_round(deps, tmp_path, **CLOSE)
    models.before_each = fail_in_batch_2
    attempts_for(deps).run_job(new_round=False)
    assert the_round(deps).status == "failed" and len(gate_rows(deps)) == 8
    models.before_each = None
    (tmp_path / "cand2").mkdir()
    deps.store.add(AdapterRow(version="cand2", path=str(tmp_path / "cand2"), content_hash="c2", source="submitted"))
    deps.store.add(RoundRow(name="r2", kind="submit", candidate="cand2", stage="evaluate"))
    models.solves["ssd-cand2"] = set(models.solves["ssd-cand"])
    write_eval(deps.cfg.rounds_dir / "r2" / "audit_eval.json", deps.sets.audit, 3)
    RoundRunner(deps).run(the_round(deps))
    assert deps.store.sequential_test("r1", "gate").outcome == "abandoned"
    plan = SequentialPlan.model_validate_json(deps.store.sequential_test("r2", "gate").plan_json)
    assert plan.test_index == 2  # the failed round's test is on the ledger
    assert deps.store.get_kv(GATE_LEDGER)["tests"] == 2


# -- progress of the running round (daemon.rounds.progress; what ssdd status reads) -------------


@pytest.fixture
def every_write(monkeypatch):
    """Every progress report written: this tier runs a stage in milliseconds, not 2-s steps."""
    import daemon.rounds.progress as progress

    monkeypatch.setattr(progress, "WRITE_EVERY_S", 0.0)


def live_daemon(deps: RoundDeps) -> None:
    """The kv a running daemon keeps (pid, heartbeat): status then computes ETAs."""
    import os

    from daemon.state import utcnow

    deps.store.set_kv(
        "daemon", {"pid": os.getpid(), "heartbeat_at": utcnow(), "started_at": "2026-01-01T00:00:00+00:00"}
    )


def running_progress(deps: RoundDeps) -> dict:
    """``ssdd status --json``'s running round's progress, by stage."""
    from daemon.status import collect_status

    rr = collect_status(deps.cfg, deps.store)["running_round"]
    return {p["stage"]: p for p in rr["progress"]}


def test_the_gate_tests_progress_advances_per_arm_during_the_round(deps, tmp_path, every_write):
    seen: list[tuple[int, int, int]] = []
    live_daemon(deps)

    def look(name, ids):
        p = running_progress(deps).get("evaluate")
        if p is not None:
            arms = {a["arm"]: a["done"] for a in p["arms"]}
            seen.append((arms["reference"], arms["challenger"], p["done"]))
            assert p["total"] == 2 * p["arms"][0]["total"] and p["total_is_max"]  # the test may stop early
            assert p["started_at"] <= p["updated_at"]

    models = queued_round(deps, tmp_path, **CLOSE)
    models.before_each = look
    done = RoundRunner(deps).run(the_round(deps))
    evaluated = len(gate_rows(deps))
    # Before each arm: the reference arm leads by one batch while the challenger catches up.
    assert seen[0] == (0, 0, 0) and seen[1] == (8, 0, 8) and seen[2] == (8, 8, 16)
    assert [s[2] for s in seen] == sorted(s[2] for s in seen) and len(seen) == len(models.calls)
    (row,) = [p for p in deps.store.progress("r1") if p.stage == "evaluate"]
    assert (row.reference_done, row.challenger_done, row.done) == (evaluated, evaluated, 2 * evaluated)
    assert row.arm_total == deps.sets.gate.__len__() and row.finished_at is not None and done.status == "done"


def test_a_resumed_gate_test_counts_its_committed_problems_but_not_in_its_rate(deps, tmp_path, every_write):
    calls = [0]

    def stop_after_batch_1(name, ids):
        calls[0] += 1
        if calls[0] == 2:
            deps.stopping.set()

    models = queued_round(deps, tmp_path, **CLOSE)
    models.before_each = stop_after_batch_1
    from daemon.rounds.errors import RoundInterrupted

    with pytest.raises(RoundInterrupted):
        RoundRunner(deps).run(the_round(deps))
    (stopped,) = deps.store.progress("r1")
    assert (stopped.done, stopped.finished_at) == (16, None)  # both arms of batch 1, not finished
    deps.stopping.clear()
    models.before_each = None
    RoundRunner(deps).run(the_round(deps))
    (resumed,) = deps.store.progress("r1")
    assert resumed.start_done == 16 and resumed.done == 2 * len(gate_rows(deps)) and resumed.finished_at


def scripted_sample(deps: RoundDeps, seen: list):
    """``ssd.sampling.sample`` as the runner calls it: rows on disk, progress as it reports it."""
    from ssd.sampling import SampleRecord, SampleReport, SamplingParams

    def sample(base_url, model, problems, model_dir, params, out_path, *, on_progress, **kw):
        lines = []
        on_progress(0, len(problems))
        for i, p in enumerate(problems, 1):
            time.sleep(0.003)  # a measurable rate
            text = f"def f():\n    return {i}\n" + "# more\n" * i
            rec = SampleRecord(
                problem_id=p.id, sample_index=0, prompt=p.prompt, prompt_style="stdin", completion=text,
                params=SamplingParams(), seed=0, prompt_tokens=1, completion_tokens=9, finish_reason="stop",
                model=model, created_at="-",
            )  # fmt: skip
            lines.append(rec.model_dump_json() + "\n")
            on_progress(i, len(problems))
            seen.append(running_progress(deps)["sample"])
        Path(out_path).write_text("".join(lines))
        n = len(problems)
        return SampleReport(
            path=str(out_path), model=model, problems=n, expected=n, already_done=0, generated=n, rejected=0,
            completion_tokens=9 * n, elapsed_s=1.0, tokens_per_s=1.0,
        )  # fmt: skip

    return sample


def scripted_distill(deps: RoundDeps, seen: list, steps: int = 4):
    """``ssd.distill.distill``: the worker's progress lines through ``on_line``, then the adapter."""

    def distill(base_dir, train_path, out_dir, cfg, *, on_line, **kw):
        seen.append(running_progress(deps)["distill"])  # the clock runs before the first step
        for step in range(1, steps + 1):
            time.sleep(0.003)
            on_line(
                f"2026-12-03 10:00:0{step} [info     ] distill.progress loss={2.0 / step} max_steps={steps} step={step}"
            )
            on_line("some other line of the worker")
            seen.append(running_progress(deps)["distill"])
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "adapter_config.json").write_text("{}")

    return distill


def test_every_stage_reports_progress_during_an_ssd_round(deps, tmp_path, every_write, monkeypatch):
    import daemon.rounds.runner as runner

    live_daemon(deps)
    sampled: list[dict] = []
    distilled: list[dict] = []
    monkeypatch.setattr(runner, "sample", scripted_sample(deps, sampled))
    monkeypatch.setattr(runner, "distill", scripted_distill(deps, distilled))
    ids = [p.id for p in deps.sets.gate]
    deps.evaluate = Models({"base": set(ids[:30]), "ssd-r1": set()})
    deps.store.add(RoundRow(name="r1"))
    done = RoundRunner(deps).run(the_round(deps))
    assert done.status == "done" and done.decision == "reject"
    prompts = len(deps.sets.train)
    assert [p["done"] for p in sampled] == list(range(1, prompts + 1))
    assert all(p["total"] == prompts and p["unit"] == "samples" for p in sampled)
    assert all(p["eta_s"] is not None for p in sampled)  # measured from the first sample on
    assert all(k in sampled[0] for k in ("done", "total", "started_at", "updated_at", "eta_s"))
    assert [(p["done"], p["total"]) for p in distilled] == [(0, None), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert distilled[-1]["loss"] == pytest.approx(0.5) and distilled[2]["loss"] == pytest.approx(1.0)
    stages = [(p.stage, p.finished_at is not None) for p in deps.store.progress("r1")]
    assert stages == [("sample", True), ("distill", True), ("evaluate", True)]
