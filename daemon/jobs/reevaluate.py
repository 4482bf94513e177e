"""Re-evaluation of the champion against its parent, and rollback.

``Reevaluation.run`` runs the sequential rollback test (``policies.sequential_gate``:
reference = the parent, challenger = the champion, direction "is the champion worse?"), both
fresh, in the same run and with one decoding, on the gate pool, batch by batch with every
batch's per-problem rows committed (``daemon.rounds.gate_test``), under its own lifetime
error budget (``kv.reeval_ledger``); a test that stops for efficacy rolls back to the parent.
A re-evaluation interrupted mid-test (stop, pause, crash) resumes from its committed rows
at the next run of the job. ``rollback`` is also ``ssdd rollback``. Promotion and rollback
never interleave (``RoundDeps.champion_lock``).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from daemon.rounds import gate_test
from daemon.rounds.context import RoundDeps, provenance, release, round_seed, served_name
from daemon.rounds.errors import RoundInterrupted
from daemon.state import AdapterRow, AdapterState, EventRow, RoundStatus, SequentialKind, SequentialTestRow, utcnow
from daemon.state.lifecycle import NOT_A_ROLLBACK_TARGET
from policies.rollback import ReevalLedger, reevaluation_due
from policies.sequential_gate import abandon_reevaluation_test, decide_reevaluation_test, start_reevaluation_test
from ssd.evaluate import EvalConfig
from ssd.split import problem_set_hash

log = structlog.get_logger(__name__)

REEVAL_LEDGER = "reeval_ledger"


class Reevaluation:
    def __init__(self, deps: RoundDeps):
        self.deps = deps

    def _rounds_since(self, champion: AdapterRow) -> int:
        return gate_test.rounds_finished_since(self.deps.store, champion.since or champion.created_at)

    def _test_name(self, champion: AdapterRow) -> str:
        """Stable while the test runs (it counts decided tests only), new after it decided."""
        tests = self.deps.store.sequential_tests(SequentialKind.REEVAL)
        return f"reeval-{champion.version}-{sum(t.decided_at is not None for t in tests)}"

    def run(self, forced: bool = False) -> None:
        """Champion vs its parent, both fresh, same run, same decoding; roll back when the
        sequential test finds the champion worse (``decide_reevaluation_test``). An
        unfinished test of the current champion resumes first, due or not."""
        deps = self.deps
        if deps.stopping.is_set() or deps.paused():
            return
        champion = deps.store.champion()
        ledger = self._settle_abandoned(champion)
        if champion is None:
            return
        if self._rollback_left_undone(champion):
            return
        name = self._test_name(champion)
        pending = deps.store.sequential_test(name, SequentialKind.REEVAL)
        rounds_since = self._rounds_since(champion)
        if pending is None and not forced and not reevaluation_due(deps.cfg.reevaluation, rounds_since):
            return
        structlog.contextvars.bind_contextvars(round_id=name, stage="reevaluate")
        try:
            ev = self._decoding(name)
            prov = provenance(deps, ev, deps.sets.gate)
            if pending is not None and pending.decoding_json != prov.model_dump_json():
                # Another decoding (a new vLLM, sandbox image or config) cannot continue the
                # committed rows: the test is abandoned (it counts) and the next run starts anew.
                self._abandon(pending, ledger)
                return
            test = pending or self._open(name, champion, ev, ledger, 10**6 if forced else rounds_since)
            if test.plan_json is not None:
                try:
                    gate_test.drive(
                        deps,
                        test,
                        reference_name=served_name(deps, champion.parent),
                        challenger_name=served_name(deps, champion.version),
                        ev=ev,
                        details_dir=deps.cfg.rounds_dir / name / gate_test.BATCH_DIR,
                        check_continue=self._check_continue,
                    )
                except RoundInterrupted as exc:
                    log.info("reevaluation.interrupted", reason=str(exc))  # resumes at the next run
                    return
                finally:
                    if champion.parent is not None and champion.parent != deps.registry.champion:
                        release(deps, champion.parent)
            with deps.champion_lock:
                if (deps.store.champion() or champion).version != champion.version:
                    return  # the champion changed meanwhile: the next run settles this test as abandoned
                self._decide(champion, test, prov)
        finally:
            structlog.contextvars.unbind_contextvars("round_id", "stage")

    def _rollback_left_undone(self, champion: AdapterRow) -> bool:
        """A test that decided to roll back is committed before the rollback acts; a crash in
        between leaves the champion serving. Finish that rollback now (True), never re-test."""
        last = next(iter(self.deps.store.sequential_tests(SequentialKind.REEVAL, limit=1)), None)
        if last is None or last.outcome != "efficacy" or last.challenger != champion.version:
            return False
        log.warning("reevaluation.rollback_resumed", test=last.name)
        self.rollback_to(last.reference, f"re-evaluation {last.name} decided to roll back (finished after a restart)")
        return True

    def _check_continue(self) -> None:
        if self.deps.stopping.is_set():
            raise RoundInterrupted("the daemon is stopping")
        if self.deps.paused():
            raise RoundInterrupted("the daemon is paused")

    def _settle_abandoned(self, champion: AdapterRow | None) -> ReevalLedger:
        """Unfinished tests of a version that is no longer champion will never decide: each
        counts as a test that did not roll back (``abandon_reevaluation_test``), so the next
        test runs at the next level. Returns the ledger after them."""
        deps = self.deps
        ledger = ReevalLedger.model_validate(deps.store.get_kv(REEVAL_LEDGER) or {})
        for t in deps.store.sequential_tests(SequentialKind.REEVAL, undecided=True):
            if champion is not None and t.challenger == champion.version:
                continue
            ledger = self._abandon(t, ledger)
        return ledger

    def _abandon(self, t: SequentialTestRow, ledger: ReevalLedger) -> ReevalLedger:
        plan = gate_test.plan_of(t)
        if plan is not None:
            ledger = abandon_reevaluation_test(plan, ledger, self.deps.cfg.reevaluation)
        t.decided_at, t.outcome = utcnow(), "abandoned"
        self.deps.store.save_all([t], {REEVAL_LEDGER: ledger.model_dump(mode="json")})
        log.warning("reevaluation.abandoned", test=t.name, tests=ledger.tests)
        return ledger

    def _decoding(self, name: str) -> EvalConfig:
        ev_cfg = self.deps.cfg.evaluation
        return ev_cfg.model_copy(update={"t_eval": [ev_cfg.t_eval[0]], "seed": ev_cfg.seed + round_seed(name)})

    def _open(
        self, name: str, champion: AdapterRow, ev: EvalConfig, ledger: ReevalLedger, rounds_since: int
    ) -> SequentialTestRow:
        """Plan the test and commit its row before anything is evaluated."""
        deps = self.deps
        prov = provenance(deps, ev, deps.sets.gate)
        start = start_reevaluation_test(
            [p.id for p in deps.sets.gate],
            ledger,
            deps.cfg.reevaluation,
            parent_provenance=prov,
            champion_provenance=prov,
            seed=round_seed(name),
            rounds_since_promotion=rounds_since,
            earlier=gate_test.earlier_counts(deps.store, champion.parent, exclude=name),
        )
        return gate_test.open_test(
            deps.store,
            SequentialTestRow(
                name=name,
                kind=SequentialKind.REEVAL,
                reference=champion.parent,
                challenger=champion.version,
                decoding_json=prov.model_dump_json(),
                plan_json=None if start.plan is None else start.plan.model_dump_json(),
                skipped_reason=None if start.skipped is None else start.skipped.reason,
            ),
        )

    def _decide(self, champion: AdapterRow, test: SequentialTestRow, prov: Any) -> None:
        deps = self.deps
        ledger = ReevalLedger.model_validate(deps.store.get_kv(REEVAL_LEDGER) or {})
        plan, state = gate_test.state_of(deps.store, test)
        data: dict[str, Any] = dict(problems=len(deps.sets.gate), problem_set=problem_set_hash(deps.sets.gate))
        if plan is None or state is None:  # not run (cooldown, thin pool): nothing spent
            rollback, reason, ledger_after = False, test.skipped_reason or "", ledger
            test.outcome = "not_run"
            data.update(p_value=1.0, alpha=0.0)
        else:
            d = decide_reevaluation_test(plan, state, ledger, deps.cfg.reevaluation, provenance=prov)
            rollback, reason, ledger_after = d.rollback, d.reason, d.ledger_after
            s = d.summary
            test.outcome, test.summary_json = s.outcome, s.model_dump_json()
            data.update(
                p_value=s.p_value,
                alpha=s.alpha_level,
                delta=s.delta,
                e_value=s.e_value,
                outcome=s.outcome,
                problems_evaluated=s.problems_evaluated,
                generations=s.generations,
                parent_pass_at_1=s.reference_pass1,
                champion_pass_at_1=s.challenger_pass1,
            )
        test.decided_at = utcnow()
        # The test's row, the ledger it spent (and, when it keeps the champion, its event) in
        # one transaction: a crash after it cannot run (and spend) the same test again; a
        # rollback decided here and cut short is finished by ``_rollback_left_undone``.
        rows: list[Any] = [test]
        if not rollback:
            rows.append(
                EventRow(
                    kind="reevaluation",
                    version=champion.version,
                    reason=reason,
                    data_json=json.dumps({"result": data}, default=str),
                )
            )
        deps.store.save_all(rows, {REEVAL_LEDGER: ledger_after.model_dump(mode="json")})
        if rollback:
            self.rollback_to(champion.parent, f"re-evaluation: {reason}", result=data)

    def rollback_to(self, target: str | None, reason: str, **data: Any) -> None:
        """Alias -> ``target`` (None: the base); the current champion is marked rolled back
        and is never promoted again."""
        deps, store = self.deps, self.deps.store
        with deps.champion_lock:
            current = store.champion()
            if target is None:
                deps.registry.demote_to_base()
            else:
                t = store.adapter(target)
                if t is None or t.state in NOT_A_ROLLBACK_TARGET:
                    raise ValueError(f"cannot roll back to {target!r}: it is {t.state if t else 'unknown'}")
                deps.registry.promote(target, t.path)
            store.set_champion(target)
            if current is not None and current.version != target:
                store.set_adapter_state(current.version, AdapterState.ROLLED_BACK)
            last = next((r.name for r in store.rounds(5) if r.status != RoundStatus.RUNNING), None)
            store.event(
                "rollback",
                reason,
                version=current.version if current else None,
                round_name=last,
                to_version=target,
                **data,
            )
            deps.metrics.rollbacks.inc()
            log.warning("daemon.rollback", from_version=current.version if current else None, to_version=target)

    def rollback(self, version: str | None = None) -> str:
        """``ssdd rollback [VERSION|base]``: default the champion's parent. Returns what serves now."""
        current = self.deps.store.champion()
        if current is None:
            raise ValueError("the base model serves: there is nothing to roll back")
        target = version if version is not None else current.parent
        if target == "base":
            target = None
        self.rollback_to(target, f"manual rollback (ssdd rollback) from {current.version} to {target or 'base'}")
        return target or "base"
