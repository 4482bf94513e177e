"""The sequential gate's loop, shared by a round's promotion test and the rollback test.

The decision rule is ``policies.sequential`` / ``policies.sequential_gate``; this module only
persists and drives it:

1. ``open_test``: the test's row (``sequential_tests``) with its plan is committed **before**
   anything is evaluated, so a resumed test replays the same order, level and boundaries.
2. ``drive``: ``replay`` the committed per-problem rows (``pair_results``), then evaluate both
   arms batch by batch (``ssd.gate_eval.evaluate_pair_batch``), committing each batch's rows in
   one transaction before ``advance`` sees them, and checking for stop / pause between batches.
   Each arm's judged problems are the test's ``stage_progress`` row (``evaluate``, under the
   test's name: a round's, or a re-evaluation's).
   A test killed mid-batch commits nothing of that batch; ``next_batch`` after ``replay``
   returns the rest of it, and the decision is the one an uninterrupted run reaches.
3. The caller decides (``decide_gate_test`` / ``decide_reevaluation_test``) and commits the
   decision, the test row and the ledger in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog

from daemon.rounds.context import RoundDeps, fault_point
from daemon.rounds.progress import StageProgress, arm_counter
from daemon.state import PairResultRow, ProgressStage, RoundStatus, SequentialKind, SequentialTestRow, Store
from policies.counts import ProblemCounts
from policies.sequential import PairResult, SequentialPlan, SequentialState, advance, next_batch, replay
from ssd.atomic_io import write_text_atomic
from ssd.evaluate import EvalConfig, EvalReport, ProblemResult, TemperatureEval, save_report
from ssd.gate_eval import evaluate_pair_batch
from ssd.passk import bootstrap_ci
from ssd.problems import Problem

log = structlog.get_logger(__name__)

BATCH_DIR = "gate_batches"  # per-batch, per-arm sample details inside the round's folder


def committed(store: Store, name: str, kind: SequentialKind) -> list[PairResult]:
    return [
        PairResult(problem_id=r.problem_id, n=r.n, reference_c=r.reference_c, challenger_c=r.challenger_c)
        for r in store.pair_results(name, kind)
    ]


def plan_of(test: SequentialTestRow) -> SequentialPlan | None:
    return None if test.plan_json is None else SequentialPlan.model_validate_json(test.plan_json)


def state_of(store: Store, test: SequentialTestRow) -> tuple[SequentialPlan | None, SequentialState | None]:
    """The test's plan and its state after every committed row (None, None: not run)."""
    plan = plan_of(test)
    if plan is None:
        return None, None
    return plan, replay(plan, committed(store, test.name, test.kind))


def open_test(store: Store, test: SequentialTestRow) -> SequentialTestRow:
    """Commit the test's row (its plan) unless one exists for (name, kind): an existing row is
    the plan this test already runs, and a resumed test must keep it."""
    existing = store.sequential_test(test.name, test.kind)
    if existing is not None:
        return existing
    return store.add(test)


def drive(
    deps: RoundDeps,
    test: SequentialTestRow,
    *,
    reference_name: str,
    challenger_name: str,
    ev: EvalConfig,
    details_dir: Path | None,
    check_continue: Callable[[], None],
) -> SequentialState:
    """Run the test to its stop from where its committed rows leave it."""
    plan = plan_of(test)
    assert plan is not None, "drive() needs a test that runs"
    rows = committed(deps.store, test.name, test.kind)
    state = replay(plan, rows)
    if state.evaluated:
        log.info("gate_test.resumed", test=test.name, kind=test.kind, evaluated=state.evaluated, batches=state.batches)
    # The limit is the most the test may evaluate: it may stop at any batch boundary before.
    with StageProgress(
        deps.store, test.name, ProgressStage.EVALUATE, "problems", total_is_max=True, bar=deps.progress_bar
    ) as prog:
        on_arm_done = arm_counter(prog, len(rows), plan.limit)
        while not state.done:
            check_continue()  # between batches: a stop or pause leaves only whole batches committed
            ids = next_batch(plan, state)
            res = evaluate_pair_batch(
                deps.base_url,
                reference_name,
                challenger_name,
                deps.sets.gate,
                ids,
                deps.model.path,
                deps.sandbox,
                ev,
                round_id=test.name,
                details_dir=details_dir,
                evaluate_fn=_kill_point_after_first_arm(deps),
                on_arm_done=on_arm_done,
            )
            _commit_batch(deps.store, test, res)
            fault_point("gate_batch", deps.cfg.daemon_dir)  # the crash tests' kill mid-test
            state = advance(plan, state, res)
            log.info(
                "gate_test.batch",
                test=test.name,
                kind=test.kind,
                evaluated=state.evaluated,
                limit=plan.limit,
                e_value=round(state.e_value, 4),
                outcome=state.outcome,
            )
    return state


def _commit_batch(store: Store, test: SequentialTestRow, res: Sequence[PairResult]) -> None:
    store.commit_pair_results(
        [
            PairResultRow(
                test_name=test.name,
                kind=test.kind,
                problem_id=r.problem_id,
                n=r.n,
                reference_c=r.reference_c,
                challenger_c=r.challenger_c,
            )
            for r in res
        ]
    )


def _kill_point_after_first_arm(deps: RoundDeps) -> Callable[..., EvalReport]:
    """``deps.evaluate`` with the crash tests' kill point between a batch's two arms: the
    reference arm judged, nothing of the batch committed yet."""
    calls = 0

    def evaluate(*args: Any, **kw: Any) -> EvalReport:
        nonlocal calls
        report = deps.evaluate(*args, **kw)
        calls += 1
        if calls == 1:
            fault_point("gate_arm", deps.cfg.daemon_dir)
        return report

    return evaluate


def evaluated_prefix(plan: SequentialPlan, state: SequentialState) -> list[PairResult]:
    """The results the decision rests on: the plan's order up to where the test stopped."""
    return [state.results[p] for p in plan.order[: state.evaluated]]


def earlier_counts(store: Store, version: str | None, *, exclude: str) -> list[ProblemCounts]:
    """``version``'s per-problem counts from its latest earlier gate test (as the reference arm,
    or as the candidate that was promoted): fresh samples of an evaluation before this one,
    independent of this test's, so they may shape its order and prior
    (``policies.sequential.make_plan``). [] when there is none."""
    for t in store.sequential_tests(SequentialKind.GATE):
        if t.name == exclude or t.decided_at is None or t.plan_json is None:
            continue
        if t.reference == version:
            return [
                ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.reference_c)
                for r in store.pair_results(t.name, t.kind)
            ]
        if t.challenger == version and t.outcome == "efficacy":
            return [
                ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.challenger_c)
                for r in store.pair_results(t.name, t.kind)
            ]
    return []


def rounds_finished_since(store: Store, since: str) -> int:
    return sum(1 for r in store.rounds() if r.status == RoundStatus.DONE and (r.finished_at or "") > since)


def _arm_report(
    name: str, base_url: str, pairs: Sequence[PairResult], arm: str, problems: Sequence[Problem], ev: EvalConfig
) -> EvalReport:
    diff = {p.id: p.difficulty for p in problems}
    t = ev.t_eval[0]
    rows = []
    for r in pairs:
        c = r.reference_c if arm == "reference" else r.challenger_c
        rows.append(
            ProblemResult(
                problem_id=r.problem_id,
                difficulty=diff.get(r.problem_id),
                n=r.n,
                c=c,
                pass_at_k={1: c / r.n},
                statuses={},
            )
        )
    p1 = sum(x.pass_at_k[1] for x in rows) / len(rows) if rows else 0.0
    at = TemperatureEval(
        temperature=t,
        n=rows[0].n if rows else 0,
        pass_at_k={1: p1},
        pass_at_1_ci=bootstrap_ci([x.pass_at_k[1] for x in rows]) if rows else (0.0, 0.0),
        by_difficulty={},
        per_problem=rows,
        statuses={},
        completion_tokens=0,
        truncated=0,
        generate_s=0.0,
        judge_s=0.0,
    )
    return EvalReport(
        model_name=name,
        base_url=base_url,
        created_at=datetime.now(timezone.utc).isoformat(),
        problems=len(rows),
        config=ev,
        temperatures=[at],
        best_temperature=t,
        best_pass_at_1=p1,
    )


def write_arm_records(
    rdir: Path,
    files: tuple[str, str],
    names: tuple[str, str],
    base_url: str,
    plan: SequentialPlan,
    state: SequentialState,
    problems: Sequence[Problem],
    ev: EvalConfig,
) -> None:
    """Each arm's record on the problems the test evaluated (``<file>_eval.json``, the format
    ``ssd.evaluate`` writes, read by ``ssdd report`` and ``ssdd status``) and its samples
    gathered from the batches (``<file>_eval.samples.jsonl``, read by ``ssd.health``).
    Rebuilt from the committed rows, so a resumed round writes the same records."""
    pairs = evaluated_prefix(plan, state)
    for file, name, arm in zip(files, names, ("reference", "challenger")):
        save_report(_arm_report(name, base_url, pairs, arm, problems, ev), rdir / f"{file}_eval.json")
        batch_dir = rdir / BATCH_DIR
        # rglob: a problem id with a "/" (HumanEval/0, starter/...) names a file in a subfolder.
        parts = sorted(batch_dir.rglob(f"*-{arm}.samples.jsonl")) if batch_dir.is_dir() else []
        write_text_atomic(rdir / f"{file}_eval.samples.jsonl", "".join(p.read_text() for p in parts))
