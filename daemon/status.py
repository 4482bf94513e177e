"""What ``ssdd status`` shows: from the state DB always, plus live data when the daemon runs.

``StatusReport`` is the public JSON object of ``ssdd status --json`` (documented in the README;
its JSON schema is committed as ``docs/status.schema.json`` and a test keeps the two equal).
``status_report`` builds it, ``collect_status`` returns it as plain JSON data, and
``print_status`` renders that for people.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from daemon.config import DaemonConfig
from daemon.learning.status import (
    LearningError,
    LearningStatus,
    RoundLearning,
    learning_rows,
    learning_status,
    round_learning,
)
from daemon.progress import (
    StageProgressStatus,
    current_stage_eta_s,
    duration_text,
    previous_durations,
    progress_text,
    round_eta,
    stage_status,
)
from daemon.state import RoundRow, RoundStage, Store
from policies.health import HealthSignals, HealthVerdict

EVENT_KINDS = ("promotion", "rejection", "rollback", "restart", "error", "health_drift")


class RoundHealthStatus(BaseModel):
    """A round's health record (``rounds/<r>/health.json``, ``ssd.health.RoundHealth``): the
    signals of its samples and of both arms' gate outputs, and its lineage check."""

    model_config = ConfigDict(extra="forbid")
    samples: HealthSignals | None  # drawn from the round's parent; None: a submit round
    champion_eval: HealthSignals | None  # None until the round's gate test ran
    candidate_eval: HealthSignals | None
    lineage: HealthVerdict | None  # the sample stage's check against the first rounds; None: not run


class RoundStatusRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str
    parent: str | None
    candidate: str | None
    stage: str
    status: str
    decision: str | None
    champion_pass_at_1: float | None
    candidate_pass_at_1: float | None
    p_value: float | None
    alpha_level: float | None
    champion_passed: int | None
    candidate_passed: int | None
    samples: int | None
    attempts: int
    started_at: str
    stage_started_at: str
    finished_at: str | None
    timings: dict[str, float]
    error: str | None
    reason: str | None
    mix: dict[str, Any] | None = None  # learning: the round's prompt mix
    traffic_check: dict[str, Any] | None = None  # learning: the label-free check beside pass@1
    # The round's sequential gate test (None before it was planned): how it stopped
    # (efficacy | futility | exhausted | not_run | abandoned; None while it runs), the
    # problems it evaluated of the pool, and the generations both arms drew.
    gate_outcome: str | None = None
    gate_problems_evaluated: int | None = None
    gate_pool: int | None = None
    gate_generations: int | None = None
    health: RoundHealthStatus | None = None  # rounds/<r>/health.json; None: no readable record


class RoundProgress(BaseModel):
    """A running round's progress and ETA (``daemon.progress`` does the arithmetic)."""

    model_config = ConfigDict(extra="forbid")
    # When the round should be done (None: nothing is known, or the daemon is not running):
    # the running stage at its measured rate, later stages at the durations the latest
    # finished round measured; stages in eta_unknown have neither and are left out.
    eta: str | None = None
    eta_s: float | None = None  # seconds from now to eta
    eta_unknown: list[str] = []
    progress: list[StageProgressStatus] = []  # the stages that report progress, in the order run


class RunningRound(RoundStatusRow, RoundProgress):
    pass


class ChampionStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    pass_at_1: float | None
    since: str | None
    parent: str | None
    lineage: list[str]
    source: str
    pass_at_1_ci: list[float] | None
    gate_problems: int | None
    audit_pass_at_1: float | None
    audit_problems: int | None
    audit_n: int | None


class EventStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    version: str | None
    at: str
    reason: str
    round: str | None


class DaemonStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    running: bool
    pid: int | None
    next_round_at: str | None
    paused: bool
    backoff: dict[str, Any] | None
    heartbeat_at: str | None
    started_at: str | None


class EndpointHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    status: int | None
    body: str


class SequentialTestStatus(BaseModel):
    """A sequential test that has not decided yet (``sequential_tests`` + ``pair_results``):
    the progress of the round's gate test, or of a re-evaluation."""

    model_config = ConfigDict(extra="forbid")
    name: str  # the round's name, or the re-evaluation's id
    kind: str  # "gate" (champion vs candidate) | "reeval" (parent vs champion)
    reference: str | None  # the reference arm's version (None: the base model)
    challenger: str | None
    test_index: int | None  # k: the ledger's test this one runs (None: not run)
    alpha_level: float | None  # alpha_k; efficacy needs e_value >= 1 / alpha_level
    problems_evaluated: int  # the in-order prefix folded into the test
    problems_committed: int  # per-problem rows on disk (a batch in flight is not counted)
    limit: int | None  # the most problems this test may evaluate
    pool_problems: int | None
    batch_size: int | None
    batches: int  # stop checks passed
    e_value: float  # efficacy wealth so far
    futility_e_value: float  # futility wealth so far; 1 / futility_error stops the test
    p_value: float  # anytime-valid, at the boundaries passed
    mean_effect: float  # challenger - reference pass@1 on the evaluated prefix ("reeval": the drop)
    generations: int  # samples drawn so far, both arms
    outcome: str  # "running", or how it stopped before the decision was recorded
    progress: StageProgressStatus | None = None  # problems judged per arm, with rate and ETA


class StatusReport(BaseModel):
    """``ssdd status --json``: a public interface (fields are added, never renamed)."""

    model_config = ConfigDict(extra="forbid")
    champion: ChampionStatus | None
    running_round: RunningRound | None
    rounds: list[RoundStatusRow]
    events: list[EventStatus]
    daemon: DaemonStatus
    endpoint: EndpointHealth | None
    budget: dict[str, Any] | None  # policies.gate.budget_status + gate_power.design_status, or {"error"}
    db: str
    learning: LearningStatus | LearningError
    gate_test: SequentialTestStatus | None = None  # the sequential test in progress, if any


def round_dict(r: RoundRow) -> dict[str, Any]:
    return {
        "id": r.name,
        "kind": r.kind,
        "parent": r.parent,
        "candidate": r.candidate,
        "stage": r.stage,
        "status": r.status,
        "decision": r.decision,
        "champion_pass_at_1": r.champion_pass_at_1,
        "candidate_pass_at_1": r.candidate_pass_at_1,
        "p_value": r.p_value,
        "alpha_level": r.alpha_level,
        "champion_passed": r.champion_c,
        "candidate_passed": r.candidate_c,
        "samples": r.champion_n,
        "attempts": r.attempts,
        "started_at": r.started_at,
        "stage_started_at": r.stage_started_at,
        "finished_at": r.finished_at,
        "timings": r.timings,
        "error": r.error,
        "reason": r.reason,
    }


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except (ProcessLookupError, PermissionError, ValueError):
        return False


def daemon_running(store: Store, cfg: DaemonConfig) -> bool:
    info = store.get_kv("daemon") or {}
    if not _pid_alive(info.get("pid")):
        return False
    try:
        beat = datetime.fromisoformat(info["heartbeat_at"])
    except (KeyError, ValueError):
        return False
    return (datetime.now(timezone.utc) - beat).total_seconds() < 3 * cfg.schedule.watchdog_s + 10


def _eval_ci(cfg: DaemonConfig, round_name: str | None, which: str) -> list[float] | None:
    if not round_name:
        return None
    path = cfg.rounds_dir / round_name / f"{which}_eval.json"
    try:
        rep = json.loads(path.read_text())
        return list(rep["temperatures"][0]["pass_at_1_ci"])
    except (OSError, ValueError, KeyError, IndexError):
        return None


def _champion(cfg: DaemonConfig, store: Store) -> ChampionStatus | None:
    ch = store.champion()
    if ch is None:
        return None
    lineage = store.lineage(ch.version)
    judged = next((r for r in store.rounds() if r.candidate == ch.version and r.decision == "promote"), None)
    return ChampionStatus(
        version=ch.version,
        pass_at_1=ch.pass_at_1,
        since=ch.since,
        parent=ch.parent,
        lineage=lineage,
        source=ch.source,
        pass_at_1_ci=_eval_ci(cfg, judged.name if judged else None, "candidate"),
        gate_problems=None if judged is None or judged.champion_n is None else judged.champion_n,
        audit_pass_at_1=ch.audit_pass_at_1,
        audit_problems=ch.audit_problems,
        audit_n=ch.audit_n,
    )


def _last_gate_counts(cfg, store: Store) -> tuple[list, int | None, float | None]:
    """The champion's per-problem counts from the last decided gate test it took part in
    (the ``pair_results`` rows: as the reference arm, or as the candidate promoted), that
    test's pool size and temperature; ([], None, None) before any."""
    from policies.counts import ProblemCounts
    from policies.provenance import EvalProvenance
    from policies.sequential import SequentialPlan

    champion = store.champion()
    version = champion.version if champion else None
    tests = [t for t in store.sequential_tests("gate") if t.decided_at is not None and t.plan_json]
    for t in tests:
        side = "reference" if t.reference == version else "challenger" if t.challenger == version else None
        if side is None:
            continue
        rows = store.pair_results(t.name, t.kind)
        if not rows:
            continue
        try:
            pool = len(SequentialPlan.model_validate_json(t.plan_json or "").order)
            temp = EvalProvenance.model_validate_json(t.decoding_json or "").temperature
        except ValueError:  # a row another version wrote: try the test before
            continue
        counts = [
            ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.reference_c if side == "reference" else r.challenger_c)
            for r in rows
        ]
        return counts, pool, temp
    return [], None, None


def _gate_test(store: Store) -> SequentialTestStatus | None:
    """The newest sequential test not decided yet, with its progress from the committed rows."""
    import math

    from policies.sequential import PairResult, SequentialPlan, replay

    undecided = store.sequential_tests(undecided=True, limit=1)
    if not undecided:
        return None
    t = undecided[0]
    rows = store.pair_results(t.name, t.kind)
    committed = len(rows)
    plan = SequentialPlan.model_validate_json(t.plan_json) if t.plan_json else None
    pairs = [
        PairResult(problem_id=r.problem_id, n=r.n, reference_c=r.reference_c, challenger_c=r.challenger_c) for r in rows
    ]
    state = replay(plan, pairs) if plan else None
    rows_of = [p for p in store.progress(t.name) if p.stage == "evaluate"]
    progress = (
        stage_status(rows_of[0], datetime.now(timezone.utc), None, (t.reference, t.challenger)) if rows_of else None
    )
    return SequentialTestStatus(
        name=t.name,
        kind=t.kind,
        reference=t.reference,
        challenger=t.challenger,
        test_index=plan.test_index if plan else None,
        alpha_level=plan.level if plan else None,
        problems_evaluated=state.evaluated if state else 0,
        problems_committed=committed,
        limit=plan.limit if plan else None,
        pool_problems=len(plan.order) if plan else None,
        batch_size=plan.settings.batch_size if plan else None,
        batches=state.batches if state else 0,
        e_value=state.e_value if state else 1.0,
        futility_e_value=math.exp(state.log_f) if state else 1.0,
        p_value=state.p_value if state else 1.0,
        mean_effect=state.mean_effect(plan.n) if plan and state else 0.0,
        generations=2 * committed * (plan.n if plan else 0),
        outcome=state.outcome if state else "not_run",
        progress=progress,
    )


def _round_gate(store: Store, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each listed round's gate test, as RoundStatusRow's gate_* fields."""
    out: dict[str, dict[str, Any]] = {}
    wanted = set(names)
    for t in store.sequential_tests("gate", limit=max(50, 3 * len(names))):
        if t.name not in wanted or t.name in out:
            continue
        summary = json.loads(t.summary_json) if t.summary_json else {}
        pool = None
        if t.plan_json:
            pool = len(json.loads(t.plan_json).get("order", []))
        evaluated = summary.get("problems_evaluated")
        if evaluated is None and t.decided_at is None:
            evaluated = len(store.pair_results(t.name, t.kind))  # running: the rows so far
        out[t.name] = {
            "gate_outcome": t.outcome,
            "gate_problems_evaluated": evaluated,
            "gate_pool": pool,
            "gate_generations": summary.get("generations"),
        }
    return out


def _round_health(cfg: DaemonConfig, names: list[str]) -> dict[str, RoundHealthStatus | None]:
    """Each listed round's health record; a missing or unreadable one is None (status must
    show the rest; the round's own stages log a record they cannot read)."""
    from ssd.health import HEALTH_FILE, load_round_health
    from ssd.problems import InputError

    out: dict[str, RoundHealthStatus | None] = {}
    for name in names:
        path = cfg.rounds_dir / name / HEALTH_FILE
        try:
            h = load_round_health(path) if path.is_file() else None
        except InputError:
            h = None
        out[name] = None if h is None else RoundHealthStatus(**h.model_dump(exclude={"round_name"}))
    return out


def _budget(cfg: DaemonConfig, store: Store) -> dict[str, Any] | None:
    from policies.gate import GateLedger, budget_status
    from policies.gate_power import design_status

    try:
        ledger = GateLedger.model_validate(store.get_kv("gate_ledger") or {})
        counts, pool, t = _last_gate_counts(cfg, store)
        t = cfg.evaluation.t_eval[0] if t is None else t
        n = cfg.evaluation.params_for(t).n
        st = budget_status(ledger, cfg.gate, n_problems=pool or 1, n_samples=n)
        # The sequential gate's power and cost for the actual design: the measured pool and
        # champion pass rates, not an assumed base rate or problem count (issue 15).
        design = design_status(
            st.next_alpha,
            cfg.gate,
            n=n,
            greedy=t == 0.0,
            min_problems=cfg.gate.min_problems,
            min_effect=cfg.gate.min_delta,
            champion_counts=counts,
            pool_problems=pool,
        )
        return {
            **st.model_dump(mode="json"),
            "min_detectable_delta": design.min_detectable_delta,
            "gate_problems": design.pool_problems,
            "design": design.model_dump(mode="json"),
        }
    except Exception as exc:  # status must show something even on an odd ledger
        return {"error": f"{type(exc).__name__}: {exc}"}


def _fresh(updated_at: str, daemon_started_at: str | None) -> bool:
    """Written by the daemon running now (a row an earlier process left has an old rate)."""
    if daemon_started_at is None:
        return True
    return datetime.fromisoformat(updated_at) >= datetime.fromisoformat(daemon_started_at)


def _running_progress(
    store: Store, row: RoundRow, rows: list[RoundRow], info: dict[str, Any], running: bool
) -> RoundProgress:
    now = datetime.now(timezone.utc)
    previous = previous_durations([r.timings for r in rows if r.status == "done"])
    stages = [
        stage_status(p, now, previous.get(str(p.stage)), versions=(row.parent, row.candidate))
        for p in store.progress(row.name)
    ]
    if not running:  # an interrupted round: nothing moves until the daemon starts again
        return RoundProgress(progress=stages)
    stage = str(row.stage)
    current = next((p for p in stages if p.stage == stage), None)
    current_eta = current_stage_eta_s(
        current,
        fresh=current is not None and _fresh(current.updated_at, info.get("started_at")),
        previous_s=previous.get(stage),
        stage_elapsed_s=(now - datetime.fromisoformat(row.stage_started_at)).total_seconds(),
    )
    order = [s.value for s in RoundStage if s != RoundStage.DONE]
    later = order[order.index(stage) + 1 :] if stage in order else []
    eta = round_eta(stage, current_eta, later, previous)
    at = None if eta.eta_s is None else (now + timedelta(seconds=eta.eta_s)).isoformat(timespec="seconds")
    return RoundProgress(progress=stages, eta=at, eta_s=eta.eta_s, eta_unknown=list(eta.unknown))


def _endpoint_health(url: str | None, api_keys: list[Any]) -> dict[str, Any] | None:
    if not url:
        return None
    import httpx

    # With api_keys set, /health tells a caller without a key only the status.
    headers = {"Authorization": f"Bearer {api_keys[0].get_secret_value()}"} if api_keys else {}
    try:
        r = httpx.get(url + "/health", timeout=3.0, headers=headers)
        return {"url": url, "status": r.status_code, "body": r.text[:200]}
    except httpx.HTTPError as exc:
        return {"url": url, "status": None, "body": type(exc).__name__}


def _round_status(
    r: RoundRow, extra: RoundLearning | None, gate: dict[str, dict[str, Any]], **more: Any
) -> dict[str, Any]:
    return {**round_dict(r), **(extra or RoundLearning()).model_dump(), **gate.get(r.name, {}), **more}


def status_report(cfg: DaemonConfig, store: Store, *, rounds: int = 20, events: int = 20) -> StatusReport:
    info = store.get_kv("daemon") or {}
    running = daemon_running(store, cfg)
    rows = store.rounds(rounds)
    current = next((r for r in rows if r.status == "running"), None)
    learned = round_learning(store, [r.name for r in rows])
    gate = _round_gate(store, [r.name for r in rows])
    health = _round_health(cfg, [r.name for r in rows])
    progress = RoundProgress() if current is None else _running_progress(store, current, rows, info, running)
    return StatusReport(
        champion=_champion(cfg, store),
        running_round=None
        if current is None
        else RunningRound(
            **_round_status(current, learned.get(current.name), gate, health=health[current.name], **dict(progress))
        ),
        rounds=[RoundStatusRow(**_round_status(r, learned.get(r.name), gate, health=health[r.name])) for r in rows],
        events=[
            EventStatus(kind=e.kind, version=e.version, at=e.at, reason=e.reason, round=e.round_name)
            for e in store.events(events, EVENT_KINDS)
        ],
        daemon=DaemonStatus(
            running=running,
            pid=info.get("pid") if running else None,
            next_round_at=(store.get_kv("next_round_at") if running else None),
            paused=bool(store.get_kv("paused", False)),
            backoff=store.get_kv("backoff"),
            heartbeat_at=info.get("heartbeat_at"),
            started_at=info.get("started_at"),
        ),
        endpoint=_endpoint_health(info.get("endpoint"), cfg.endpoint.api_keys) if running else None,
        budget=_budget(cfg, store),
        db=str(Path(cfg.db_path)),
        learning=learning_status(cfg, store, rows, learned),  # learning: captured/kept/used, mix, traffic check
        gate_test=_gate_test(store),
    )


def collect_status(cfg: DaemonConfig, store: Store, *, rounds: int = 20, events: int = 20) -> dict[str, Any]:
    """``status_report`` as JSON data (what ``ssdd status --json`` prints)."""
    return status_report(cfg, store, rounds=rounds, events=events).model_dump(mode="json")


def _power_text(b: dict[str, Any]) -> str:
    """The budget row's power figures (policies.gate_power.design_status)."""
    d = b.get("design") or {}
    if b.get("min_detectable_delta") is None:
        return f"min detectable gain: {d.get('basis') or 'unknown'}"
    gens = d.get("expected_generations") or {}
    return (
        f"min detectable +{b['min_detectable_delta']:.1%} at {d['power']:.0%} power on {b['gate_problems']} gate "
        f"problems x n={d['n']}; ~{gens.get('null', 0):.0f} generations per decision for a useless candidate, "
        f"~{gens.get('loss_5', 0):.0f} for a clear loser"
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def print_status(st: dict[str, Any], console, *, wide: bool = False) -> None:
    """The human view of ``status --json``: fits an 80-column terminal (long cells wrap);
    ``wide`` adds the columns that do not fit there."""
    console.print(_summary_table(st))
    console.print(_rounds_table(st["rounds"][:10], wide))
    for e in st["events"][:10]:
        console.print(f"{e['at']} [bold]{e['kind']}[/] {e['version'] or ''}: {e['reason'][:160]}", highlight=False)


def round_state_text(rr: dict[str, Any], daemon_running: bool) -> str:
    """A running round of a stopped daemon is not running: it resumes at its stage on start."""
    if not daemon_running:
        return f"{rr['id']} ({rr['kind']}) interrupted, resumes at {rr['stage']} (attempt {rr['attempts']})"
    return (
        f"{rr['id']} ({rr['kind']}) stage {rr['stage']} since {rr['stage_started_at']}, "
        f"attempt {rr['attempts']}, ETA {eta_text(rr)}"
    )


def eta_text(rr: dict[str, Any]) -> str:
    """``2026-12-03T17:05:12+00:00 (in 23m10s)``, saying which stages it cannot count yet."""
    if rr.get("eta") is None:
        return "-"
    unknown = rr.get("eta_unknown") or []
    gap = f"; without {', '.join(unknown)}: not measured yet" if unknown else ""
    return f"{rr['eta']} (in {duration_text(rr.get('eta_s'))}{gap})"


def _summary_table(st: dict[str, Any]):
    from rich.table import Table

    t = Table(title="ssdd status", show_header=False)
    t.add_column(no_wrap=True)
    t.add_column(overflow="fold")
    d = st["daemon"]
    t.add_row("daemon", f"running, pid {d['pid']}" if d["running"] else "not running")
    if d["paused"]:
        t.add_row("", "[yellow]paused[/]")
    if d.get("backoff") and d["backoff"].get("backing_off"):
        t.add_row("back-off", d["backoff"]["reason"])
    if st["running_round"]:
        nxt = "after the running round" if d["running"] else "the unfinished round resumes when the daemon starts"
    else:
        nxt = d["next_round_at"] or "-"
    t.add_row("next round", nxt)
    ch = st["champion"]
    if ch is None:
        t.add_row("champion", "the base model (no adapter promoted yet)")
    else:
        ci = ch.get("pass_at_1_ci")
        t.add_row("champion", f"{ch['version']} since {ch['since']} (lineage: {' <- '.join(ch['lineage']) or 'base'})")
        t.add_row("gate pass@1", f"{_pct(ch['pass_at_1'])}" + (f" (95% CI {ci[0]:.1%}-{ci[1]:.1%})" if ci else ""))
        t.add_row("audit pass@1", f"{_pct(ch['audit_pass_at_1'])} on {ch['audit_problems'] or '-'} sealed problems")
    rr = st["running_round"]
    if rr:
        t.add_row("running round" if d["running"] else "unfinished", round_state_text(rr, d["running"]))
        for i, p in enumerate(rr.get("progress") or []):
            t.add_row("progress" if i == 0 else "", progress_text(StageProgressStatus.model_validate(p)))
    gt = st.get("gate_test")
    if gt:
        need = "" if gt["alpha_level"] is None else f" (promotes at {1 / gt['alpha_level']:.3g})"
        t.add_row(
            "sequential test",
            f"{gt['kind']} {gt['name']} ({gt['reference'] or 'base'} vs {gt['challenger'] or 'base'}): "
            f"{gt['problems_evaluated']}/{gt['limit'] or '-'} problems, e-value {gt['e_value']:.3g}{need}, "
            f"{gt['outcome']}",
        )
        if gt["kind"] == "reeval" and gt.get("progress"):
            t.add_row("", progress_text(StageProgressStatus.model_validate(gt["progress"])))
    b = st.get("budget") or {}
    if "alpha_left" in b:
        t.add_row(
            "error budget",
            f"spent {b['alpha_spent']:.4f}, left {b['alpha_left']:.4f}, next test at "
            f"{b['next_alpha']:.2g}; " + _power_text(b) + (" [yellow]refresh due[/]" if b.get("refresh_due") else ""),
        )
    for label, text in learning_rows(st):  # learning: prompt capture, last mix, traffic check
        t.add_row(label, text)
    ep = st.get("endpoint")
    if ep:
        t.add_row("endpoint", f"{ep['url']} -> {ep['status']} {ep['body'][:60]}")
    return t


# (header, what it shows, only with --wide): short headers so the table fits 80 columns.
_ROUND_COLUMNS = (
    ("round", lambda r: r["id"], False),
    ("kind", lambda r: r["kind"], True),
    ("parent", lambda r: r["parent"] or "base", True),
    ("cand.", lambda r: r["candidate"] or "-", False),
    ("status", lambda r: f"{r['status']}/{r['stage']}", False),
    ("champ p@1", lambda r: _pct(r["champion_pass_at_1"]), False),
    ("cand. p@1", lambda r: _pct(r["candidate_pass_at_1"]), False),
    ("p", lambda r: "-" if r["p_value"] is None else f"{r['p_value']:.3g}", False),
    ("decision", lambda r: r["decision"] or "-", False),
)


def _rounds_table(rounds: list[dict[str, Any]], wide: bool):
    from rich.table import Table

    cols = [c for c in _ROUND_COLUMNS if wide or not c[2]]
    rt = Table(title="last rounds")
    for header, _, _ in cols:
        rt.add_column(header, overflow="fold")
    for r in rounds:
        rt.add_row(*(show(r) for _, show, _ in cols))
    return rt


if __name__ == "__main__":  # python -m daemon.status --schema: the committed docs/status.schema.json
    import sys

    if sys.argv[1:] != ["--schema"]:
        raise SystemExit("usage: python -m daemon.status --schema")
    print(json.dumps(StatusReport.model_json_schema(), indent=2, sort_keys=True))
