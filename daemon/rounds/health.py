"""The decide stage's health hook: compute the round's health signals (``ssd.health``) from the
files the round wrote anyway, keep them as ``rounds/<r>/health.json`` (status and report read
them), and let the collapse guard (``policies.health`` -> ``policies.outcome``) veto a
promotion whose outputs drifted against the champion's on the same problems."""

from __future__ import annotations

from pathlib import Path

import structlog

from daemon.state import RoundKind, RoundRow
from policies.health import HealthGuardConfig, HealthVerdict, check_candidate
from policies.outcome import Outcome, health_outcome
from ssd.health import round_health, save_round_health
from ssd.problems import InputError

log = structlog.get_logger(__name__)


def apply_health_guard(cfg: HealthGuardConfig, row: RoundRow, rdir: Path) -> HealthVerdict | None:
    """Record the round's health; veto its promotion on drift. None: nothing to compare."""
    try:
        health = round_health(rdir, row.name)
    except InputError as exc:  # a record the guard cannot read vetoes nothing, loudly
        log.warning("round.health_unreadable", round_id=row.name, stage="decide", error=str(exc))
        return None
    save_round_health(health, rdir)
    if health.champion_eval is None or health.candidate_eval is None:
        return None
    verdict = check_candidate(health.champion_eval, health.candidate_eval, cfg)
    before = Outcome(decision="promote" if row.decision == "promote" else "reject", reason=row.reason or "")
    after = health_outcome(before, verdict, operator_override=row.kind == RoundKind.SUBMIT_SKIP_GATE)
    if after != before:
        row.decision, row.reason = after.decision, after.reason
    if not verdict.ok:
        log.warning("round.health_drift", round_id=row.name, stage="decide", reason=verdict.reason)
    return verdict
