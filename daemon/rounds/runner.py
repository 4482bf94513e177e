"""The round's stage loop: prepare -> sample -> distill -> evaluate -> decide -> promote -> done.

No judgement here: the gate is ``start_gate`` / ``decide_gate`` (the seam into
``policies.sequential_gate``), its loop is ``daemon.rounds.gate_test``, the outcome after it
is ``policies.outcome``, attempts and retries are ``daemon.rounds.attempts``, and the
learning hooks are ``daemon.rounds.learning``.

A round samples from the **current champion** (the base while there is none), distills a
candidate initialised from the champion's adapter (``distill.init``), runs the sequential
gate (champion vs candidate on the gate pool, one decoding, in batches that stop as soon as
the evidence is clear; each batch's per-problem rows committed before the next), asks
``policies.sequential_gate`` whether to promote, and promotes into the live endpoint (load
-> probe -> atomic alias switch).

Every stage's result is a file in the round's folder (written atomically) or a committed
row, and the row's ``stage`` moves on only after that: a round killed anywhere resumes at its
stage, and no stage is done twice. A ``submit`` round starts at ``evaluate`` with an adapter
the user brought.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import structlog

from daemon.rounds import gate_test, learning
from daemon.rounds.context import RoundDeps, fault_point, provenance, release, round_seed, served_name
from daemon.rounds.errors import PermanentRoundError, RoundInterrupted
from daemon.rounds.health import apply_health_guard, check_round_lineage
from daemon.rounds.progress import StageProgress, distill_lines
from daemon.serving.adapter_registry import AdapterNotApplied
from daemon.state import (
    AdapterRow,
    AdapterState,
    ProgressStage,
    RoundKind,
    RoundRow,
    RoundStage,
    RoundStatus,
    SequentialKind,
    SequentialTestRow,
    utcnow,
)
from policies import outcome
from policies.counts import ProblemCounts
from policies.gate import GateLedger
from policies.provenance import EvalProvenance
from policies.sequential import SequentialPlan, SequentialState
from policies.sequential_gate import (
    GateStart,
    GateTestDecision,
    abandon_gate_test,
    decide_gate_test,
    start_gate_test,
)
from ssd.adapters import adapter_content_hash
from ssd.atomic_io import write_text_atomic
from ssd.distill import distill
from ssd.evaluate import EvalConfig, EvalReport, counts_at, evaluate_cached, load_report
from ssd.filters import filter_samples
from ssd.problems import Problem
from ssd.sampling import read_samples, sample

log = structlog.get_logger(__name__)

GATE_LEDGER = "gate_ledger"
STAGES = tuple(RoundStage)


def start_gate(deps: RoundDeps, row: RoundRow, prov: EvalProvenance, ledger: GateLedger, marked_bad: bool) -> GateStart:
    """THE GATE SEAM (start): plan the round's sequential promotion test (champion vs candidate
    on the gate pool, one decoding), or skip it with a final decision (nothing spent)."""
    return start_gate_test(
        [p.id for p in deps.sets.gate],
        ledger,
        deps.cfg.gate,
        champion_provenance=prov,
        candidate_provenance=prov,
        seed=round_seed(row.name),
        earlier=gate_test.earlier_counts(deps.store, row.parent, exclude=row.name),
        candidate_marked_bad=marked_bad,
    )


def decide_gate(
    plan: SequentialPlan, state: SequentialState, ledger: GateLedger, deps: RoundDeps, prov: EvalProvenance
) -> GateTestDecision:
    """THE GATE SEAM (decide): the stopped test's verdict and the ledger after it."""
    try:
        return decide_gate_test(plan, state, ledger, deps.cfg.gate, provenance=prov)
    except ValueError as exc:  # the ledger moved since the plan, or the test has not stopped
        raise PermanentRoundError(f"the gate cannot decide this round's test: {exc}") from exc


def counts_of(report: EvalReport, temperature: float) -> list[ProblemCounts]:
    return counts_at(report.at(temperature))


class RoundRunner:
    """Runs one round row from its current stage to ``done``."""

    def __init__(self, deps: RoundDeps):
        self.deps = deps

    # -- plumbing -------------------------------------------------------------------------------
    def rdir(self, row: RoundRow) -> Path:
        d = self.deps.cfg.rounds_dir / row.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _advance(self, row: RoundRow, stage: RoundStage, started: float) -> RoundRow:
        timings = row.timings
        timings[row.stage] = round(timings.get(row.stage, 0.0) + time.monotonic() - started, 3)
        self.deps.metrics.stage_seconds.labels(stage=row.stage).observe(time.monotonic() - started)
        row.timings_json = json.dumps(timings)
        row.stage, row.stage_started_at = stage, utcnow()
        return self.deps.store.save(row)

    def _check_continue(self) -> None:
        if self.deps.stopping.is_set():
            raise RoundInterrupted("the daemon is stopping")
        if self.deps.paused():
            raise RoundInterrupted("the daemon is paused")

    def run(self, row: RoundRow) -> RoundRow:
        stages: dict[RoundStage, Callable[[RoundRow], RoundStage]] = {
            RoundStage.PREPARE: self.prepare,
            RoundStage.SAMPLE: self.sample_stage,
            RoundStage.DISTILL: self.distill_stage,
            RoundStage.EVALUATE: self.evaluate_stage,
            RoundStage.DECIDE: self.decide_stage,
            RoundStage.PROMOTE: self.promote_stage,
        }
        while row.stage != RoundStage.DONE:
            self._check_continue()
            stage = RoundStage(row.stage)
            structlog.contextvars.bind_contextvars(round_id=row.name, stage=stage.value)
            log.info("round.stage_start", attempt=row.attempts)
            fault_point(stage, self.deps.cfg.daemon_dir)
            t0 = time.monotonic()
            nxt = stages[stage](row)
            row = self._advance(row, nxt, t0)
        row.status, row.finished_at = RoundStatus.DONE, utcnow()
        row = self.deps.store.save(row)
        self.deps.metrics.rounds.labels(decision=row.decision or "none").inc()
        log.info("round.done", decision=row.decision, p=row.p_value)
        return row

    # -- stages ---------------------------------------------------------------------------------
    def prepare(self, row: RoundRow) -> RoundStage:
        champion = self.deps.store.champion()
        row.parent = champion.version if champion else None
        (self.rdir(row) / "round.json").write_text(
            json.dumps({"name": row.name, "parent": row.parent, "started_at": row.started_at})
        )
        learning.prepare_training_prompts(self.deps, row, self.rdir(row))  # learning: the round's prompt mix
        return RoundStage.SAMPLE

    def sample_stage(self, row: RoundRow) -> RoundStage:
        cfg, deps = self.deps.cfg, self.deps
        params = cfg.sampling.params.model_copy(update={"seed": (cfg.sampling.params.seed or 0) + round_seed(row.name)})
        name = served_name(deps, row.parent)
        try:
            with StageProgress(deps.store, row.name, ProgressStage.SAMPLE, "samples", bar=deps.progress_bar) as prog:
                report = sample(
                    deps.base_url,
                    name,
                    learning.training_prompts(deps, self.rdir(row)),  # learning: the mix drawn at prepare
                    deps.model.path,
                    params,
                    self.rdir(row) / "samples.jsonl",
                    concurrency=cfg.sampling.concurrency,
                    progress=False,
                    round_id=row.name,
                    priority=cfg.sampling.priority,
                    on_progress=prog.report,
                )
        finally:
            if row.parent != deps.registry.champion:
                release(deps, row.parent)
        log.info(
            "round.sampled",
            generated=report.generated,
            resumed=report.already_done,
            tokens=report.completion_tokens,
            tok_s=report.tokens_per_s,
        )
        # The collapse guard's lineage check: on drift it pauses rounds (health.on_lineage_drift),
        # and the loop's pause check then stops this round cleanly before distill.
        check_round_lineage(deps.store, cfg, row, self.rdir(row), deps.metrics)
        return RoundStage.DISTILL

    def distill_stage(self, row: RoundRow) -> RoundStage:
        cfg, store = self.deps.cfg, self.deps.store
        version = row.name
        adapter_dir = cfg.adapters_dir / version
        if store.adapter(version) is None:
            if not (adapter_dir / "adapter_config.json").is_file():
                self._train(row, adapter_dir)
            # The folder is complete (distill publishes it atomically) before a row points at it.
            store.add(
                AdapterRow(
                    version=version,
                    path=str(adapter_dir.resolve()),
                    content_hash=adapter_content_hash(adapter_dir),
                    parent=row.parent,
                    source="ssd",
                    state=AdapterState.CANDIDATE,
                    round_name=row.name,
                )
            )
        row.candidate = version
        return RoundStage.EVALUATE

    def _train(self, row: RoundRow, adapter_dir: Path) -> None:
        cfg, store = self.deps.cfg, self.deps.store
        rdir = self.rdir(row)
        samples = learning.without_purged(self.deps, read_samples(rdir / "samples.jsonl"))  # learning
        kept = filter_samples(samples, cfg.sampling.filters)
        if kept.kept_count == 0:  # the same samples give the same answer on every retry
            raise PermanentRoundError(f"no usable samples: all {kept.total} dropped {kept.dropped}")
        train_path = rdir / "train.jsonl"
        write_text_atomic(train_path, "".join(r.model_dump_json() + "\n" for r in kept.kept))
        init = None
        if cfg.distill.init == "champion" and row.parent is not None:
            parent = store.adapter(row.parent)
            init = Path(parent.path) if parent else None
        cfg.adapters_dir.mkdir(parents=True, exist_ok=True)
        launcher = None
        if cfg.gpu is not None:
            from daemon.gpu import train_launcher

            launcher = train_launcher(cfg.gpu.train_devices)
        with StageProgress(store, row.name, ProgressStage.DISTILL, "steps", bar=self.deps.progress_bar) as prog:
            prog.report(0)  # the clock starts with the worker: loading the model is part of the stage
            distill(
                Path(self.deps.model.path),
                train_path,
                adapter_dir,
                cfg.distill,
                round_id=row.name,
                init_adapter=init,
                launcher=launcher,
                on_line=distill_lines(prog, lambda line: print(line, file=sys.stderr)),
            )

    def decoding(self, row: RoundRow) -> EvalConfig:
        """The one decoding both arms use: the configured T_eval, or the one chosen on the
        calibration split (never on the gate set) when several are configured."""
        cfg = self.deps.cfg
        ev = cfg.evaluation
        seed = ev.seed + round_seed(row.name)
        if len(ev.t_eval) == 1 or not self.deps.sets.calibration:
            return ev.model_copy(update={"t_eval": [ev.t_eval[0]], "seed": seed})
        from policies.decoding import TemperatureResult, TEvalConfig, choose_gate_decoding

        path = self.rdir(row) / "calibration_eval.json"
        report = self._eval_cached(
            path, row.parent, self.deps.sets.calibration, ev.model_copy(update={"seed": seed}), row
        )
        results = [
            TemperatureResult(t=t.temperature, counts=counts_of(report, t.temperature)) for t in report.temperatures
        ]
        tcfg = TEvalConfig(incumbent_t=ev.t_eval[0], alpha=cfg.gate.alpha, min_problems=1, seed=seed)
        choice = choose_gate_decoding(results, ev.t_eval, tcfg, gate_problem_ids=[p.id for p in self.deps.sets.gate])
        log.info("round.decoding", t_eval=choice.t_eval, reason=choice.decision.reason if choice.decision else "")
        return ev.model_copy(update={"t_eval": [choice.t_eval], "seed": seed})

    def _eval_cached(
        self, path: Path, version: str | None, problems: list[Problem], ev: EvalConfig, row: RoundRow
    ) -> EvalReport:
        if path.is_file():  # before served_name: a cached arm needs no adapter loaded
            return load_report(path)
        report, _ = evaluate_cached(
            path,
            base_url=self.deps.base_url,
            model_name=served_name(self.deps, version),
            problems=problems,
            model_dir=self.deps.model.path,
            sandbox=self.deps.sandbox,
            cfg=ev,
            progress=False,
            round_id=row.name,
        )
        return report

    def evaluate_stage(self, row: RoundRow) -> RoundStage:
        try:
            served_name(self.deps, row.candidate)  # loaded and probed before anything is spent on it
        except AdapterNotApplied as exc:
            # Not a failure to retry: the candidate is the base model again, so there is
            # nothing to test and no budget to spend. Rejected with the reason.
            verdict = outcome.zero_effect(str(exc))
            row.decision, row.reason = verdict.decision, verdict.reason
            self.deps.store.save(row)
            log.warning("round.candidate_changes_nothing", candidate=row.candidate)
            return RoundStage.PROMOTE
        ev = self.decoding(row)
        rdir = self.rdir(row)
        gate = self.deps.sets.gate
        prov = provenance(self.deps, ev, gate)
        row.decoding_json = prov.model_dump_json()
        self.deps.store.save(row)
        test = self._gate_test(row, prov)
        plan = gate_test.plan_of(test)
        if plan is not None:
            names = (served_name(self.deps, row.parent), served_name(self.deps, row.candidate))
            state = gate_test.drive(
                self.deps,
                test,
                reference_name=names[0],
                challenger_name=names[1],
                ev=ev,
                details_dir=rdir / gate_test.BATCH_DIR,
                check_continue=self._check_continue,
            )
            gate_test.write_arm_records(
                rdir, ("champion", "candidate"), names, self.deps.base_url, plan, state, gate, ev
            )
        self._check_continue()
        learning.run_traffic_check(self, row, ev)  # learning: the label-free check on captured prompts
        return RoundStage.DECIDE

    def _gate_test(self, row: RoundRow, prov: EvalProvenance) -> SequentialTestRow:
        """The round's test row, its plan committed before any problem is evaluated; a resumed
        round gets the row it committed (same order, level and boundaries)."""
        store = self.deps.store
        existing = store.sequential_test(row.name, SequentialKind.GATE)
        if existing is not None:
            if existing.decoding_json != prov.model_dump_json():
                raise PermanentRoundError(
                    f"the decoding changed since this round's gate test was planned ({existing.decoding_json} -> "
                    f"{prov.model_dump_json()}): the committed results cannot be compared with new ones"
                )
            return existing
        ledger = self._settle_abandoned(row, GateLedger.model_validate(store.get_kv(GATE_LEDGER) or {}))
        cand_row = store.adapter(row.candidate or "")
        marked_bad = cand_row is not None and cand_row.state == AdapterState.ROLLED_BACK
        start = start_gate(self.deps, row, prov, ledger, marked_bad)
        test = gate_test.open_test(
            store,
            SequentialTestRow(
                name=row.name,
                kind=SequentialKind.GATE,
                reference=row.parent,
                challenger=row.candidate,
                decoding_json=prov.model_dump_json(),
                plan_json=None if start.plan is None else start.plan.model_dump_json(),
                skipped_reason=None if start.skipped is None else start.skipped.reason,
            ),
        )
        if start.plan is not None:
            log.info(
                "round.gate_planned",
                pool=len(start.plan.order),
                limit=start.plan.limit,
                level=start.plan.level,
                test_index=start.plan.test_index,
            )
        return test

    def _settle_abandoned(self, row: RoundRow, ledger: GateLedger) -> GateLedger:
        """Gate tests of rounds closed as failed before deciding count as tests that did not
        promote (``abandon_gate_test``): otherwise this round's test would run again at their
        level, and every failed round would add its level to the lifetime bound."""
        store = self.deps.store
        status = {r.name: r.status for r in store.rounds()}
        for t in store.sequential_tests(SequentialKind.GATE, undecided=True):
            if t.name == row.name or status.get(t.name) == RoundStatus.RUNNING:
                continue
            plan = gate_test.plan_of(t)
            if plan is not None:
                ledger = abandon_gate_test(plan, ledger, self.deps.cfg.gate)
            t.decided_at, t.outcome = utcnow(), "abandoned"
            store.save_all([t], {GATE_LEDGER: ledger.model_dump(mode="json")})
            log.warning("round.gate_test_abandoned", test=t.name, tests=ledger.tests)
        return ledger

    def decide_stage(self, row: RoundRow) -> RoundStage:
        deps, rdir = self.deps, self.rdir(row)
        prov = EvalProvenance.model_validate_json(row.decoding_json or "{}")
        test = deps.store.sequential_test(row.name, SequentialKind.GATE)
        if test is None:
            raise PermanentRoundError(f"round {row.name}: no gate test recorded at the decide stage")
        ledger = GateLedger.model_validate(deps.store.get_kv(GATE_LEDGER) or {})
        plan, state = gate_test.state_of(deps.store, test)
        if plan is None or state is None:  # not run (start_gate_test skipped it): nothing spent
            promote, reason, p_value, alpha_level, spent = False, test.skipped_reason or "", 1.0, 0.0, ledger
            test.outcome = "not_run"
        else:
            d = decide_gate(plan, state, ledger, deps, prov)
            promote, reason, spent = d.promote, d.reason, d.ledger_after
            p_value, alpha_level = d.summary.p_value, d.summary.alpha_level
            pairs = gate_test.evaluated_prefix(plan, state)
            row.champion_c, row.candidate_c = sum(r.reference_c for r in pairs), sum(r.challenger_c for r in pairs)
            row.champion_n = row.candidate_n = sum(r.n for r in pairs)
            row.champion_pass_at_1, row.candidate_pass_at_1 = d.summary.reference_pass1, d.summary.challenger_pass1
            test.outcome, test.summary_json = d.summary.outcome, d.summary.model_dump_json()
        override = row.kind == RoundKind.SUBMIT_SKIP_GATE
        verdict = outcome.gate_outcome(promote, reason, operator_override=override)
        ledger_after = spent if outcome.override_spends_budget(override) else ledger
        row.p_value, row.alpha_level = p_value, alpha_level
        row.decision, row.reason = verdict.decision, verdict.reason
        learning.apply_traffic_check(deps, row, rdir)  # learning: significantly worse on traffic -> not promoted
        # The collapse guard after the traffic check: a veto changes the decision, while the
        # gate's ledger_after stands (the test ran and counts).
        apply_health_guard(deps.cfg.health, row, rdir, deps.metrics)
        test.decided_at = utcnow()
        # The decision, its test's row and the budget it spent land in one transaction: a
        # crash in between can neither spend the budget twice nor decide without spending it.
        deps.store.save_all([row, test], {GATE_LEDGER: ledger_after.model_dump(mode="json")})
        deps.metrics.gate_alpha_spent.set(ledger_after.alpha_spent)
        log.info(
            "round.decided",
            decision=row.decision,
            outcome=test.outcome,
            evaluated=None if state is None else state.evaluated,
            pool=len(deps.sets.gate),
            p=p_value,
            alpha=alpha_level,
            champion=row.champion_pass_at_1,
            candidate=row.candidate_pass_at_1,
        )
        return RoundStage.PROMOTE

    def promote_stage(self, row: RoundRow) -> RoundStage:
        deps = self.deps
        store, version = deps.store, row.candidate
        assert version is not None
        cand = store.adapter(version)
        if cand is None:
            raise PermanentRoundError(f"candidate {version!r} vanished from the state database")
        with deps.champion_lock:
            current = store.champion()
            changed = outcome.champion_changed(
                row.decision,
                row.reason,
                parent=row.parent,
                current=current.version if current else None,
                candidate=version,
            )
            if changed is not None:
                # The champion changed during the round (manual rollback, a submit round): the
                # comparison was against a model that no longer serves, so it decides nothing.
                row.decision, row.reason = changed.decision, changed.reason
                store.save(row)
            self._finish(row, version, cand)
        if row.decision == "promote":
            self.audit(row, version)  # after the swap: serving never waits for it
        return RoundStage.DONE

    def _finish(self, row: RoundRow, version: str, cand: AdapterRow) -> None:
        deps, store = self.deps, self.deps.store
        if row.decision == "promote":
            if deps.registry.champion != version:
                deps.registry.promote(version, cand.path)
            # The crash tests' kill between the live swap and the champion row: the restart's
            # reconcile must serve the recorded champion and the resumed stage record it once.
            fault_point("promote_registry", deps.cfg.daemon_dir)
            if cand.state != AdapterState.CHAMPION:
                store.save(cand.model_copy(update={"pass_at_1": row.candidate_pass_at_1}))
                store.set_champion(version)
                self._record(row, "promotion", version)
                deps.metrics.promotions.inc()
                deps.metrics.champion_pass.set(row.candidate_pass_at_1 or 0.0)
            release(deps, version)
        else:
            release(deps, version)
            if cand.state == AdapterState.CANDIDATE:
                store.set_adapter_state(version, AdapterState.REJECTED, pass_at_1=row.candidate_pass_at_1)
                self._record(row, "rejection", version)

    def _record(self, row: RoundRow, kind: Literal["promotion", "rejection"], version: str) -> None:
        self.deps.store.event(
            kind,
            row.reason or "",
            version=version,
            round_name=row.name,
            parent=row.parent,
            p_value=row.p_value,
            alpha=row.alpha_level,
            champion_pass_at_1=row.champion_pass_at_1,
            candidate_pass_at_1=row.candidate_pass_at_1,
        )

    def audit(self, row: RoundRow, version: str) -> None:
        """The sealed audit set: evaluated only to report the new champion honestly."""
        audit = self.deps.sets.audit
        if not audit:
            return
        ev = EvalProvenance.model_validate_json(row.decoding_json or "{}")
        cfg = self.deps.cfg.evaluation.model_copy(update={"t_eval": [ev.temperature], "seed": ev.seed})
        report = self._eval_cached(self.rdir(row) / "audit_eval.json", version, audit, cfg, row)
        at = report.at(ev.temperature)
        adapter = self.deps.store.adapter(version)
        if adapter is not None:
            self.deps.store.save(
                adapter.model_copy(
                    update={"audit_pass_at_1": at.pass_at_k[1], "audit_n": at.n, "audit_problems": len(audit)}
                )
            )
        self.deps.metrics.champion_audit.set(at.pass_at_k[1])
        self.deps.store.event(
            "audit",
            f"audit-set pass@1 {at.pass_at_k[1]:.4f} on {len(audit)} problems "
            f"(n={at.n}, 95% CI {at.pass_at_1_ci[0]:.3f}-{at.pass_at_1_ci[1]:.3f})",
            version=version,
            round_name=row.name,
            pass_at_1=at.pass_at_k[1],
            ci=list(at.pass_at_1_ci),
            problems=len(audit),
            n=at.n,
        )
