"""What a round does with captured prompts: the hooks ``daemon.rounds.runner`` calls.

- ``prepare_training_prompts`` (prepare stage): draws the round's training prompts from the
  problem pool and the kept, decontaminated captured prompts by ``learning.mix`` and writes
  them to ``rounds/<round>/prompts.jsonl`` before the stage moves on (a resumed round reads
  the same prompts back); records which captured prompts it used.
- ``training_prompts`` (sample stage): those prompts (the pool, for a round from before).
- ``without_purged`` (distill stage): drops samples of prompts purged or dropped since.
- ``run_traffic_check`` (evaluate stage): champion and candidate answer the held-out slice
  of captured prompts; ``rounds/<round>/traffic_check.json``.
- ``apply_traffic_check`` (decide stage): records the check; a candidate significantly
  worse there is not promoted (``policies.traffic``), even when the gate says promote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from daemon.learning.purge import enforce_prompt_limits, retry_pending_scrub
from daemon.learning.store import CapturedPromptRow, PromptStore
from daemon.rounds.context import RoundDeps, round_seed, served_name
from daemon.state import RoundKind, RoundRow
from policies.outcome import Outcome, TrafficVerdict, traffic_outcome
from ssd.atomic_io import write_text_atomic
from ssd.problems import Problem, load_problems, write_problems
from ssd.traffic.mix import CapturedCandidate, build_round_problems, captured_problem, plan_mix
from ssd.traffic.traffic_check import TrafficCheckReport

if TYPE_CHECKING:
    from ssd.evaluate import EvalConfig
    from ssd.sampling import SampleRecord

log = structlog.get_logger(__name__)

MIX_FILE = "prompts.jsonl"
TRAFFIC_FILE = "traffic_check.json"
TRAFFIC_ANSWERS = "traffic_answers.jsonl"
CAPTURED_ID = re.compile(r"^(?:cap|imp)-[0-9a-f]{16}$")


def problem_of(row: CapturedPromptRow) -> Problem:
    return captured_problem(row.id, "chat" if row.kind == "chat" else "text", row.messages, row.text or "", row.source)


def _training_candidates(deps: RoundDeps, pstore: PromptStore) -> list[CapturedPromptRow]:
    """Kept training-split prompts, checked again against today's held-out problems (the
    pool may have grown since they were captured): an overlap now drops them for good."""
    from daemon.learning.ingest import heldout_problems
    from ssd.traffic.decontaminate import Decontaminator

    rows = pstore.kept("train")
    if not rows:
        return []
    lc = deps.cfg.learning
    decon = Decontaminator(heldout_problems(deps.sets), lc.decontamination, lc.curation)
    out = []
    for r in rows:
        why = decon.check(r.text or "")
        if why is None:
            out.append(r)
        else:
            pstore.drop(r.id, "contaminated", why)
            log.warning("learning.contaminated_now", prompt_id=r.id, detail=why)
    return out


def prepare_training_prompts(deps: RoundDeps, row: RoundRow, rdir: Path) -> None:
    pstore = PromptStore(deps.store)
    path = rdir / MIX_FILE
    pool_ids = [p.id for p in deps.sets.train]
    if path.is_file():  # resumed: the file decides; record it if the crash came before that
        known = pstore.round_learning([row.name]).get(row.name)
        if known is None or not known.mix_json:
            ids = [p.id for p in load_problems(path)]
            captured = [i for i in ids if i not in set(pool_ids)]
            pstore.record_round_mix(
                row.name, captured, {"total": len(ids), "pool": len(ids) - len(captured), "captured": len(captured)}
            )
        return
    enforce_prompt_limits(deps.cfg, deps.store)
    rows = _training_candidates(deps, pstore)
    uses = pstore.use_counts("train")
    candidates = [CapturedCandidate(id=r.id, uses=uses.get(r.id, 0), captured_at=r.captured_at) for r in rows]
    plan = plan_mix(pool_ids, candidates, deps.cfg.learning.mix, round_seed(row.name))
    chosen = {r.id: problem_of(r) for r in rows if r.id in set(plan.captured_ids)}
    write_problems(build_round_problems(deps.sets.train, chosen, plan), path)
    pstore.record_round_mix(row.name, plan.captured_ids, plan.summary())
    log.info("learning.mix", **plan.summary())


def training_prompts(deps: RoundDeps, rdir: Path) -> list[Problem]:
    path = rdir / MIX_FILE
    return load_problems(path) if path.is_file() else list(deps.sets.train)


def without_purged(deps: RoundDeps, rows: Sequence[SampleRecord]) -> list[SampleRecord]:
    """Samples whose captured prompt is still kept (purged or dropped ones go)."""
    retry_pending_scrub(deps.cfg, deps.store)
    captured = {r.problem_id for r in rows if CAPTURED_ID.match(r.problem_id)}
    if not captured:
        return list(rows)
    gone = captured - PromptStore(deps.store).kept_ids(captured)
    if gone:
        log.warning("learning.samples_of_purged_prompts_dropped", prompts=len(gone))
    return [r for r in rows if r.problem_id not in gone]


def _save_report(path: Path, report: TrafficCheckReport) -> None:
    write_text_atomic(path, report.model_dump_json(indent=2))


def traffic_summary(report: TrafficCheckReport) -> dict[str, Any]:
    """The traffic check as ``ssdd status --json`` shows it beside pass@1."""
    d = report.decision
    return {
        "run": report.run,
        "prompts": report.prompts,
        "champion_code_ok": report.champion.code_ok_share if report.champion else None,
        "candidate_code_ok": report.candidate.code_ok_share if report.candidate else None,
        "champion_degenerate": report.champion.degenerate_share if report.champion else None,
        "candidate_degenerate": report.candidate.degenerate_share if report.candidate else None,
        "p_code_ok_worse": d.code_ok.p_worse if d and d.code_ok else None,
        "p_degenerate_worse": d.degenerate.p_worse if d and d.degenerate else None,
        "level": d.level if d else None,
        "worse": report.block,
        "reason": report.reason,
    }


class RoundFolder(Protocol):
    """What the traffic check needs of the round's runner (``RoundRunner``)."""

    deps: RoundDeps

    def rdir(self, row: RoundRow) -> Path: ...


def run_traffic_check(runner: RoundFolder, row: RoundRow, ev: EvalConfig) -> None:
    from ssd.prompts import load_tokenizer, render
    from ssd.sampling import SamplingParams
    from ssd.traffic.traffic_check import answer_arms, judge_arms

    deps, rdir = runner.deps, runner.rdir(row)
    path = rdir / TRAFFIC_FILE
    if path.is_file():
        return
    tc = deps.cfg.learning.traffic_check
    pstore = PromptStore(deps.store)
    retry_pending_scrub(deps.cfg, deps.store)
    if not tc.enabled:
        _save_report(path, TrafficCheckReport(run=False, reason="learning.traffic_check.enabled is false", prompts=0))
        return
    rows = [r for r in pstore.kept("check") if r.kind == "chat"][: tc.slice_size]
    if len(rows) < tc.min_prompts:
        reason = (
            f"traffic check not run: {len(rows)} held-out captured prompts, fewer than min_prompts {tc.min_prompts}"
        )
        _save_report(path, TrafficCheckReport(run=False, reason=reason, prompts=len(rows)))
        return
    tokenizer = load_tokenizer(deps.model.path)
    rendered = [render(problem_of(r), tokenizer) for r in rows]
    params = SamplingParams(
        temperature=ev.t_eval[0],
        top_k=ev.top_k,
        top_p=ev.top_p,
        min_p=ev.min_p,
        max_tokens=tc.max_tokens,
        n=1,
        seed=ev.seed,
    )
    models = {"champion": served_name(deps, row.parent), "candidate": served_name(deps, row.candidate)}
    answers = answer_arms(deps.base_url, models, rendered, params, concurrency=ev.concurrency, priority=ev.priority)
    report, marks = judge_arms(answers, models, tc)
    lines = []
    for arm, arm_answers in answers.items():
        for (pid, text, finish), mark in zip(arm_answers, marks[arm]):
            lines.append(
                json.dumps(
                    {"problem_id": pid, "arm": arm, "answer": text, "finish_reason": finish, **mark.model_dump()},
                    ensure_ascii=False,
                )
            )
    write_text_atomic(rdir / TRAFFIC_ANSWERS, "".join(line + "\n" for line in lines))
    _save_report(path, report)
    pstore.record_round_traffic(row.name, [r.id for r in rows], traffic_summary(report))
    log.info("learning.traffic_check", **traffic_summary(report))


def apply_traffic_check(deps: RoundDeps, row: RoundRow, rdir: Path) -> None:
    """Decide stage, after the gate: a significantly worse candidate is not promoted (an
    operator's ``--skip-gate`` override stands, with the check noted in its reason)."""
    path = rdir / TRAFFIC_FILE
    if not path.is_file():
        return
    report = TrafficCheckReport.model_validate_json(path.read_text())
    summary = traffic_summary(report)
    verdict = traffic_outcome(
        Outcome(decision="promote" if row.decision == "promote" else "reject", reason=row.reason or ""),
        TrafficVerdict(worse=report.block, reason=report.reason),
        operator_override=row.kind == RoundKind.SUBMIT_SKIP_GATE,
    )
    if verdict.traffic_vetoed or verdict.reason != (row.reason or ""):
        row.decision, row.reason = verdict.decision, verdict.reason
    PromptStore(deps.store).set_round_traffic(row.name, {**summary, "vetoed": verdict.traffic_vetoed})
