"""The round state machine: prepare -> sample -> distill -> evaluate -> decide -> promote -> done.

A round samples from the **current champion** (the base while there is none), distills a
candidate initialised from the champion's adapter (``distill.init``), evaluates champion and
candidate in the same run on the gate set with one decoding, asks ``policies.gate`` whether
to promote, and promotes into the live endpoint (load -> probe -> atomic alias switch).

Every stage's result is a file in the round's folder (written atomically) or a committed
row, and the row's ``stage`` moves on only after that: a round killed anywhere resumes at its
stage, and no stage is done twice. A ``submit`` round starts at ``evaluate`` with an adapter
the user brought.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from daemon import round_learning as learning
from daemon.config import DaemonConfig
from daemon.metrics import DaemonMetrics
from daemon.serving.adapter_registry import AdapterNotApplied, AdapterRegistry
from daemon.state import AdapterRow, RoundRow, Store, utcnow
from policies.counts import ProblemCounts
from policies.gate import GateLedger, decide_gate
from policies.provenance import EvalProvenance
from ssd.adapters import adapter_content_hash
from ssd.atomic_io import write_text_atomic
from ssd.distill import distill
from ssd.evaluate import EvalConfig, EvalReport, evaluate, load_report, save_report
from ssd.filters import filter_samples
from ssd.model_store import ModelInfo
from ssd.problems import Problem
from ssd.sampling import read_samples, sample
from ssd.split import problem_set_hash

log = structlog.get_logger(__name__)

GATE_LEDGER = "gate_ledger"
STAGES = ("prepare", "sample", "distill", "evaluate", "decide", "promote", "done")


class RoundInterrupted(RuntimeError):
    """The daemon is stopping or paused: the round stays at its stage and resumes later."""


@dataclass(frozen=True)
class ProblemSets:
    train: list[Problem]
    gate: list[Problem]
    audit: list[Problem]
    calibration: list[Problem]


@dataclass
class RoundDeps:
    """What a round works with; the daemon owns each of these for its whole life."""

    cfg: DaemonConfig
    store: Store
    registry: AdapterRegistry
    sandbox: Any  # sandbox.Sandbox: judge_many + close
    model: ModelInfo
    sets: ProblemSets
    metrics: DaemonMetrics
    stopping: threading.Event = field(default_factory=threading.Event)
    paused: Callable[[], bool] = lambda: False
    sandbox_image: str = "unknown"
    vllm_version: str = "unknown"
    champion_lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def base_url(self) -> str:
        return self.registry.server.base_url


def round_seed(name: str) -> int:
    """Fresh seeds each round, reproducible from the round's name."""
    return int(hashlib.sha256(f"ssd-round\x00{name}".encode()).hexdigest()[:8], 16)


def counts_of(report: EvalReport, temperature: float) -> list[ProblemCounts]:
    return [ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.c) for r in report.at(temperature).per_problem]


def served_name(deps: RoundDeps, version: str | None) -> str:
    """The vLLM model name of a version (None: the base), loading and probing it if needed.
    Versions other than the champion are pinned while a round uses them."""
    if version is None:
        return deps.registry.base_model
    snap = deps.registry.snapshot()
    entry = snap.adapters.get(version)
    if entry is None or not entry.loaded:
        row = deps.store.adapter(version)
        if row is None:
            raise RuntimeError(f"adapter {version!r} is not in the state database")
        deps.registry.pin(version, row.path)
        entry = deps.registry.snapshot().adapters[version]
    return entry.vllm_name


def release(deps: RoundDeps, version: str | None) -> None:
    """Undo ``served_name``'s pin; retention then unloads what is no longer needed."""
    if version is not None and version in deps.registry.snapshot().pinned:
        deps.registry.unpin(version)


def _fault_point(stage: str, daemon_dir: Path) -> None:
    """Fault injection for the crash tests: with ``SSDD_FAULT_KILL_AT=<stage>`` the daemon
    SIGKILLs itself once as that stage starts (a marker file makes it once). The real kill
    cannot be timed into a stage that lasts milliseconds (decide, promote) from outside."""
    import os
    import signal

    if os.environ.get("SSDD_FAULT_KILL_AT") != stage:
        return
    marker = daemon_dir / f".fault-{stage}"
    if marker.exists():
        return
    marker.write_text("killed once")
    os.kill(os.getpid(), signal.SIGKILL)


class RoundRunner:
    """Runs one round row from its current stage to ``done``."""

    def __init__(self, deps: RoundDeps):
        self.deps = deps

    # -- plumbing -------------------------------------------------------------------------------
    def rdir(self, row: RoundRow) -> Path:
        d = self.deps.cfg.rounds_dir / row.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _advance(self, row: RoundRow, stage: str, started: float) -> RoundRow:
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
        stages: dict[str, Callable[[RoundRow], str]] = {
            "prepare": self.prepare,
            "sample": self.sample_stage,
            "distill": self.distill_stage,
            "evaluate": self.evaluate_stage,
            "decide": self.decide_stage,
            "promote": self.promote_stage,
        }
        while row.stage != "done":
            self._check_continue()
            stage = row.stage
            structlog.contextvars.bind_contextvars(round_id=row.name, stage=stage)
            log.info("round.stage_start", attempt=row.attempts)
            _fault_point(stage, self.deps.cfg.daemon_dir)
            t0 = time.monotonic()
            nxt = stages[stage](row)
            row = self._advance(row, nxt, t0)
        row.status, row.finished_at = "done", utcnow()
        row = self.deps.store.save(row)
        self.deps.metrics.rounds.labels(decision=row.decision or "none").inc()
        log.info("round.done", decision=row.decision, p=row.p_value)
        return row

    # -- stages ---------------------------------------------------------------------------------
    def prepare(self, row: RoundRow) -> str:
        champion = self.deps.store.champion()
        row.parent = champion.version if champion else None
        (self.rdir(row) / "round.json").write_text(
            json.dumps({"name": row.name, "parent": row.parent, "started_at": row.started_at})
        )
        learning.prepare_training_prompts(self.deps, row, self.rdir(row))  # learning: the round's prompt mix
        return "sample"

    def sample_stage(self, row: RoundRow) -> str:
        cfg, deps = self.deps.cfg, self.deps
        params = cfg.sampling.params.model_copy(update={"seed": (cfg.sampling.params.seed or 0) + round_seed(row.name)})
        name = served_name(deps, row.parent)
        try:
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
        return "distill"

    def distill_stage(self, row: RoundRow) -> str:
        cfg, store = self.deps.cfg, self.deps.store
        version = row.name
        adapter_dir = cfg.adapters_dir / version
        if store.adapter(version) is None:
            if not (adapter_dir / "adapter_config.json").is_file():
                rdir = self.rdir(row)
                samples = learning.without_purged(self.deps, read_samples(rdir / "samples.jsonl"))  # learning
                kept = filter_samples(samples, cfg.sampling.filters)
                if kept.kept_count == 0:
                    raise RuntimeError(f"no usable samples: all {kept.total} dropped {kept.dropped}")
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
                distill(
                    Path(self.deps.model.path),
                    train_path,
                    adapter_dir,
                    cfg.distill,
                    round_id=row.name,
                    init_adapter=init,
                    launcher=launcher,
                )
            # The folder is complete (distill publishes it atomically) before a row points at it.
            store.add(
                AdapterRow(
                    version=version,
                    path=str(adapter_dir.resolve()),
                    content_hash=adapter_content_hash(adapter_dir),
                    parent=row.parent,
                    source="ssd",
                    state="candidate",
                    round_name=row.name,
                )
            )
        row.candidate = version
        return "evaluate"

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
        if path.is_file():
            return load_report(path)
        name = served_name(self.deps, version)
        report = evaluate(
            self.deps.base_url,
            name,
            problems,
            self.deps.model.path,
            self.deps.sandbox,
            ev,
            progress=False,
            details_path=path.with_suffix(".samples.jsonl"),
            round_id=row.name,
        )
        save_report(report, path)
        return report

    def provenance(self, ev: EvalConfig, problems: list[Problem]) -> EvalProvenance:
        t = ev.t_eval[0]
        return EvalProvenance(
            temperature=t,
            top_p=ev.top_p,
            top_k=ev.top_k,
            n=ev.params_for(t).n,
            max_tokens=ev.max_tokens,
            seed=ev.seed,
            sandbox_image=self.deps.sandbox_image,
            vllm_version=self.deps.vllm_version,
            model_hash=self.deps.model.content_hash,
            problem_set_hash=problem_set_hash(problems),
        )

    def evaluate_stage(self, row: RoundRow) -> str:
        try:
            served_name(self.deps, row.candidate)  # loaded and probed before anything is spent on it
        except AdapterNotApplied as exc:
            # Not a failure to retry: the candidate is the base model again, so there is
            # nothing to test and no budget to spend. Rejected with the reason.
            row.decision = "reject"
            row.reason = f"REJECT without a test: the candidate changes nothing. {exc}"
            self.deps.store.save(row)
            log.warning("round.candidate_changes_nothing", candidate=row.candidate)
            return "promote"
        ev = self.decoding(row)
        rdir = self.rdir(row)
        gate = self.deps.sets.gate
        row.decoding_json = self.provenance(ev, gate).model_dump_json()
        self.deps.store.save(row)
        self._eval_cached(rdir / "champion_eval.json", row.parent, gate, ev, row)
        self._check_continue()
        self._eval_cached(rdir / "candidate_eval.json", row.candidate, gate, ev, row)
        self._check_continue()
        learning.run_traffic_check(self, row, ev)  # learning: the label-free check on captured prompts
        return "decide"

    def decide_stage(self, row: RoundRow) -> str:
        deps, rdir = self.deps, self.rdir(row)
        prov = EvalProvenance.model_validate_json(row.decoding_json or "{}")
        t = prov.temperature
        champ, cand = load_report(rdir / "champion_eval.json"), load_report(rdir / "candidate_eval.json")
        cc, kc = counts_of(champ, t), counts_of(cand, t)
        cand_row = deps.store.adapter(row.candidate or "")
        ledger = GateLedger.model_validate(deps.store.get_kv(GATE_LEDGER) or {})
        decision = decide_gate(
            cc,
            kc,
            ledger,
            deps.cfg.gate,
            champion_provenance=prov,
            candidate_provenance=prov,
            candidate_marked_bad=cand_row is not None and cand_row.state == "rolled_back",
        )
        if row.kind == "submit-skip-gate":
            # The operator's override: promoted whatever the test says, spending no budget;
            # the scheduled re-evaluation against its parent still guards the endpoint.
            decision = decision.model_copy(
                update={
                    "promote": True,
                    "ledger_after": ledger,
                    "reason": "PROMOTE by operator override (ssdd submit --skip-gate); "
                    f"the gate said: {decision.reason}",
                }
            )
        row.champion_c, row.champion_n = sum(c.c for c in cc), sum(c.n for c in cc)
        row.candidate_c, row.candidate_n = sum(c.c for c in kc), sum(c.n for c in kc)
        row.champion_pass_at_1 = champ.at(t).pass_at_k[1]
        row.candidate_pass_at_1 = cand.at(t).pass_at_k[1]
        row.p_value, row.alpha_level = decision.p_value, decision.alpha_level
        row.decision = "promote" if decision.promote else "reject"
        row.reason = decision.reason
        learning.apply_traffic_check(deps, row, rdir)  # learning: significantly worse on traffic -> not promoted
        # The decision and the budget it spent land in one transaction: a crash in between
        # can neither spend the budget twice nor decide without spending it.
        deps.store.save_with_kv(row, GATE_LEDGER, decision.ledger_after.model_dump(mode="json"))
        deps.metrics.gate_alpha_spent.set(decision.ledger_after.alpha_spent)
        log.info(
            "round.decided",
            decision=row.decision,
            p=decision.p_value,
            alpha=decision.alpha_level,
            champion=row.champion_pass_at_1,
            candidate=row.candidate_pass_at_1,
        )
        return "promote"

    def promote_stage(self, row: RoundRow) -> str:
        deps = self.deps
        store, version = deps.store, row.candidate
        assert version is not None
        cand = store.adapter(version)
        if cand is None:
            raise RuntimeError(f"candidate {version!r} vanished from the state database")
        with deps.champion_lock:
            current = store.champion()
            if (
                row.decision == "promote"
                and (current.version if current else None) != row.parent
                and (current is None or current.version != version)
            ):
                # The champion changed during the round (manual rollback, a submit round): the
                # comparison was against a model that no longer serves, so it decides nothing.
                row.decision = "reject"
                row.reason = (
                    f"champion changed during the round ({row.parent or 'base'} -> "
                    f"{current.version if current else 'base'}); not promoted. {row.reason}"
                )
                store.save(row)
            self._finish(row, version, cand)
        if row.decision == "promote":
            self.audit(row, version)  # after the swap: serving never waits for it
        return "done"

    def _finish(self, row: RoundRow, version: str, cand: AdapterRow) -> None:
        deps, store = self.deps, self.deps.store
        if row.decision == "promote":
            if deps.registry.champion != version:
                deps.registry.promote(version, cand.path)
            if cand.state != "champion":
                store.save(cand.model_copy(update={"pass_at_1": row.candidate_pass_at_1}))
                store.set_champion(version)
                store.event(
                    "promotion",
                    row.reason or "",
                    version=version,
                    round_name=row.name,
                    parent=row.parent,
                    p_value=row.p_value,
                    alpha=row.alpha_level,
                    champion_pass_at_1=row.champion_pass_at_1,
                    candidate_pass_at_1=row.candidate_pass_at_1,
                )
                deps.metrics.promotions.inc()
                deps.metrics.champion_pass.set(row.candidate_pass_at_1 or 0.0)
            release(deps, version)
        else:
            release(deps, version)
            if cand.state == "candidate":
                store.save(cand.model_copy(update={"pass_at_1": row.candidate_pass_at_1, "state": "rejected"}))
                store.event(
                    "rejection",
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
