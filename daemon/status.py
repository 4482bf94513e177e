"""What ``ssdd status`` shows: from the state DB always, plus live data when the daemon runs.

``collect_status`` returns the public JSON object documented in the README (``ssdd status
--json``); ``print_status`` renders the same object for people.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from daemon.learning_status import add_learning_status, learning_rows
from daemon.state import RoundRow, Store

EVENT_KINDS = ("promotion", "rejection", "rollback", "restart", "error")


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


def daemon_running(store: Store, cfg) -> bool:
    info = store.get_kv("daemon") or {}
    if not _pid_alive(info.get("pid")):
        return False
    try:
        beat = datetime.fromisoformat(info["heartbeat_at"])
    except (KeyError, ValueError):
        return False
    return (datetime.now(timezone.utc) - beat).total_seconds() < 3 * cfg.schedule.watchdog_s + 10


def _eval_ci(cfg, round_name: str | None, which: str) -> list[float] | None:
    if not round_name:
        return None
    path = cfg.rounds_dir / round_name / f"{which}_eval.json"
    try:
        rep = json.loads(path.read_text())
        return list(rep["temperatures"][0]["pass_at_1_ci"])
    except (OSError, ValueError, KeyError, IndexError):
        return None


def _champion(cfg, store: Store) -> dict[str, Any] | None:
    ch = store.champion()
    if ch is None:
        return None
    lineage = store.lineage(ch.version)
    judged = next((r for r in store.rounds() if r.candidate == ch.version and r.decision == "promote"), None)
    return {
        "version": ch.version,
        "pass_at_1": ch.pass_at_1,
        "since": ch.since,
        "parent": ch.parent,
        "lineage": lineage,
        "source": ch.source,
        "pass_at_1_ci": _eval_ci(cfg, judged.name if judged else None, "candidate"),
        "gate_problems": None if judged is None or judged.champion_n is None else judged.champion_n,
        "audit_pass_at_1": ch.audit_pass_at_1,
        "audit_problems": ch.audit_problems,
        "audit_n": ch.audit_n,
    }


def _budget(cfg, store: Store) -> dict[str, Any] | None:
    from policies.gate import GateLedger, budget_status

    try:
        ledger = GateLedger.model_validate(store.get_kv("gate_ledger") or {})
        n = cfg.evaluation.params_for(cfg.evaluation.t_eval[0]).n
        problems = next((r.champion_n // max(1, n) for r in store.rounds() if r.champion_n), None)
        st = budget_status(ledger, cfg.gate, n_problems=problems or 100, n_samples=n)
        return {**st.model_dump(mode="json"), "problems_assumed": problems or 100}
    except Exception as exc:  # status must show something even on an odd ledger
        return {"error": f"{type(exc).__name__}: {exc}"}


def _eta(cfg, store: Store, row: RoundRow) -> str | None:
    """Finish estimate of a running round from the mean duration of finished ones."""
    secs = [
        (datetime.fromisoformat(r.finished_at) - datetime.fromisoformat(r.started_at)).total_seconds()
        for r in store.rounds(20)
        if r.status == "done" and r.kind == row.kind and r.finished_at
    ]
    if not secs:
        return None
    start = datetime.fromisoformat(row.started_at)
    from datetime import timedelta

    return (start + timedelta(seconds=sum(secs) / len(secs))).isoformat(timespec="seconds")


def _endpoint_health(url: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    import httpx

    try:
        r = httpx.get(url + "/health", timeout=3.0)
        return {"url": url, "status": r.status_code, "body": r.text[:200]}
    except httpx.HTTPError as exc:
        return {"url": url, "status": None, "body": type(exc).__name__}


def collect_status(cfg, store: Store, *, rounds: int = 20, events: int = 20) -> dict[str, Any]:
    info = store.get_kv("daemon") or {}
    running = daemon_running(store, cfg)
    rows = store.rounds(rounds)
    current = next((r for r in rows if r.status == "running"), None)
    st = {
        "champion": _champion(cfg, store),
        "running_round": None if current is None else {**round_dict(current), "eta": _eta(cfg, store, current)},
        "rounds": [round_dict(r) for r in rows],
        "events": [
            {"kind": e.kind, "version": e.version, "at": e.at, "reason": e.reason, "round": e.round_name}
            for e in store.events(events, EVENT_KINDS)
        ],
        "daemon": {
            "running": running,
            "pid": info.get("pid") if running else None,
            "next_round_at": (store.get_kv("next_round_at") if running else None),
            "paused": bool(store.get_kv("paused", False)),
            "backoff": store.get_kv("backoff"),
            "heartbeat_at": info.get("heartbeat_at"),
            "started_at": info.get("started_at"),
        },
        "endpoint": _endpoint_health(info.get("endpoint")) if running else None,
        "budget": _budget(cfg, store),
        "db": str(Path(cfg.db_path)),
    }
    return add_learning_status(st, cfg, store)  # learning: captured/kept/used, mix, traffic check


def print_status(st: dict[str, Any], console) -> None:
    from rich.table import Table

    pct = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
    t = Table(title="ssdd status", show_header=False)
    d = st["daemon"]
    t.add_row("daemon", f"running, pid {d['pid']}" if d["running"] else "not running")
    if d["paused"]:
        t.add_row("", "[yellow]paused[/]")
    if d.get("backoff") and d["backoff"].get("backing_off"):
        t.add_row("back-off", d["backoff"]["reason"])
    t.add_row("next round", "after the running round" if st["running_round"] else (d["next_round_at"] or "-"))
    ch = st["champion"]
    if ch is None:
        t.add_row("champion", "the base model (no adapter promoted yet)")
    else:
        ci = ch.get("pass_at_1_ci")
        t.add_row("champion", f"{ch['version']} since {ch['since']} (lineage: {' <- '.join(ch['lineage']) or 'base'})")
        t.add_row("gate pass@1", f"{pct(ch['pass_at_1'])}" + (f" (95% CI {ci[0]:.1%}-{ci[1]:.1%})" if ci else ""))
        t.add_row("audit pass@1", f"{pct(ch['audit_pass_at_1'])} on {ch['audit_problems'] or '-'} sealed problems")
    rr = st["running_round"]
    if rr:
        t.add_row(
            "running round",
            f"{rr['id']} ({rr['kind']}) stage {rr['stage']} since {rr['stage_started_at']}, "
            f"attempt {rr['attempts']}, ETA {rr['eta'] or '-'}",
        )
    b = st.get("budget") or {}
    if "alpha_left" in b:
        t.add_row(
            "error budget",
            f"spent {b['alpha_spent']:.4f}, left {b['alpha_left']:.4f}, next test at "
            f"{b['next_alpha']:.2g}; min detectable +{b['min_detectable_delta']:.1%} "
            f"on {b['problems_assumed']} problems" + (" [yellow]refresh due[/]" if b.get("refresh_due") else ""),
        )
    for label, text in learning_rows(st):  # learning: prompt capture, last mix, traffic check
        t.add_row(label, text)
    ep = st.get("endpoint")
    if ep:
        t.add_row("endpoint", f"{ep['url']} -> {ep['status']} {ep['body'][:60]}")
    console.print(t)
    rt = Table(title="last rounds")
    for c in ("round", "kind", "parent", "candidate", "status", "champion", "candidate", "p", "decision"):
        rt.add_column(c)
    for r in st["rounds"][:10]:
        rt.add_row(
            r["id"],
            r["kind"],
            r["parent"] or "base",
            r["candidate"] or "-",
            f"{r['status']}/{r['stage']}",
            pct(r["champion_pass_at_1"]),
            pct(r["candidate_pass_at_1"]),
            "-" if r["p_value"] is None else f"{r['p_value']:.3g}",
            r["decision"] or "-",
        )
    console.print(rt)
    for e in st["events"][:10]:
        console.print(f"{e['at']} [bold]{e['kind']}[/] {e['version'] or ''}: {e['reason'][:160]}", highlight=False)
