"""The rounds' health hooks (``ssd.health`` signals, ``policies.health`` guard).

* End of the sample stage (``check_round_lineage``): the round's samples, drawn from the
  current champion, against the first rounds' samples (a fixed anchor). On drift, per
  ``health.on_lineage_drift``, rounds pause the way ``ssdd pause`` pauses them, or only a
  warning is logged; either way a ``health_drift`` event carries the reason.
* Decide stage (``apply_health_guard``): both arms' gate outputs; a candidate whose outputs
  drifted against the champion's on the same problems is not promoted.

Both keep the round's record as ``rounds/<r>/health.json`` (status and report read it).
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from daemon.config import DaemonConfig
from daemon.metrics import DaemonMetrics
from daemon.state import EventRow, RoundKind, RoundRow, RoundStage, Store
from policies.health import HealthGuardConfig, HealthSignals, HealthVerdict, check_candidate, check_lineage
from policies.outcome import Outcome, health_outcome
from ssd.health import HEALTH_FILE, RoundHealth, load_round_health, round_health, sample_signals, save_round_health
from ssd.problems import InputError
from ssd.sampling import read_samples

log = structlog.get_logger(__name__)

LINEAGE_EVENT = "health_drift"
PAUSED_KEY = "paused"  # the kv flag ``ssdd pause`` sets (daemon.cli, daemon.jobs.maintenance)
SAMPLES_FILE = "samples.jsonl"


def _stored_lineage(rdir: Path) -> HealthVerdict | None:
    path = rdir / HEALTH_FILE
    if not path.is_file():
        return None
    try:
        return load_round_health(path).lineage
    except InputError:  # rewritten below from the round's files; only the old verdict is lost
        return None


def apply_health_guard(
    cfg: HealthGuardConfig, row: RoundRow, rdir: Path, metrics: DaemonMetrics | None = None
) -> HealthVerdict | None:
    """Record the round's health; veto its promotion on drift. None: nothing to compare."""
    try:
        health = round_health(rdir, row.name)
    except InputError as exc:  # a record the guard cannot read vetoes nothing, loudly
        log.warning("round.health_unreadable", round_id=row.name, stage="decide", error=str(exc))
        return None
    # The sample stage's lineage verdict stays with the record it judged.
    save_round_health(health.model_copy(update={"lineage": _stored_lineage(rdir)}), rdir)
    if health.champion_eval is None or health.candidate_eval is None:
        return None
    verdict = check_candidate(health.champion_eval, health.candidate_eval, cfg)
    if metrics is not None:
        metrics.observe_verdict("candidate", verdict)
    before = Outcome(decision="promote" if row.decision == "promote" else "reject", reason=row.reason or "")
    after = health_outcome(before, verdict, operator_override=row.kind == RoundKind.SUBMIT_SKIP_GATE)
    if after != before:
        row.decision, row.reason = after.decision, after.reason
    if not verdict.ok:
        log.warning("round.health_drift", round_id=row.name, stage="decide", reason=verdict.reason)
    return verdict


# -- the lineage check at the end of the sample stage ---------------------------------------------


def _earlier_samples(rdir: Path, r: RoundRow) -> HealthSignals | None:
    """An earlier round's sample signals: its health record, else (a round from before the
    record existed) its samples file when the round got past sampling (a round that stopped
    inside the sample stage has only part of its samples: not a baseline)."""
    path = rdir / HEALTH_FILE
    try:
        if path.is_file():
            return load_round_health(path).samples
        if r.stage in (RoundStage.PREPARE, RoundStage.SAMPLE) or not (rdir / SAMPLES_FILE).is_file():
            return None
        return sample_signals(read_samples(rdir / SAMPLES_FILE))
    except InputError as exc:  # one unreadable round leaves the baseline to the others
        log.warning("round.health_unreadable", round_id=r.name, stage="sample", error=str(exc))
        return None


def lineage_history(
    store: Store, rounds_dir: Path, row: RoundRow, cfg: HealthGuardConfig
) -> list[tuple[str, HealthSignals]]:
    """The first ``cfg.baseline_rounds`` rounds before ``row`` that sampled, oldest first, with
    their sample signals: all ``check_lineage`` reads (the anchor is fixed, so later rounds are
    not needed, and each round reads at most that many records)."""
    found: list[tuple[str, HealthSignals]] = []
    for r in reversed(store.rounds()):  # oldest first
        if r.name == row.name or len(found) >= cfg.baseline_rounds:
            break
        signals = _earlier_samples(rounds_dir / r.name, r)
        # Too few outputs to compare is too few to anchor: one small early round would leave
        # every later check unchecked (the baseline counts its smallest round's outputs).
        if signals is not None and signals.outputs >= cfg.min_outputs:
            found.append((r.name, signals))
    return found


def check_round_lineage(
    store: Store, cfg: DaemonConfig, row: RoundRow, rdir: Path, metrics: DaemonMetrics | None = None
) -> HealthVerdict | None:
    """After sampling: record the samples' signals and check them against the lineage
    baseline; on drift pause rounds or warn (``health.on_lineage_drift``), with an event.
    None: the samples could not be read (the distill stage reads them again and fails there)."""
    try:
        samples = sample_signals(read_samples(rdir / SAMPLES_FILE))
    except InputError as exc:
        log.warning("round.health_unreadable", round_id=row.name, stage="sample", error=str(exc))
        return None
    history = lineage_history(store, cfg.rounds_dir, row, cfg.health)
    verdict = check_lineage([s for _, s in history], samples, cfg.health)
    if metrics is not None:
        metrics.observe_samples(samples)
        metrics.observe_verdict("lineage", verdict)
    record = RoundHealth(round_name=row.name, samples=samples, champion_eval=None, candidate_eval=None, lineage=verdict)
    save_round_health(record, rdir)
    if not verdict.ok:
        _record_drift(store, cfg.health, row, verdict, [name for name, _ in history])
    return verdict


def _record_drift(
    store: Store, cfg: HealthGuardConfig, row: RoundRow, verdict: HealthVerdict, baseline: list[str]
) -> None:
    """Pause (or only warn) with an event saying why, once per round: a sample stage run again
    after a crash, or after the operator resumed, must not pause the round a second time."""
    if any(e.round_name == row.name for e in store.events(20, [LINEAGE_EVENT])):
        return
    pause = cfg.on_lineage_drift == "pause"
    # What a demanding operator expects from "pause": no more GPU time spent on samples the
    # guard flagged, and no candidate distilled from them until someone looked. So the round
    # stops cleanly after this stage (the loop's pause check, as for ``ssdd pause``) with its
    # samples on disk, and ``ssdd resume`` continues it at distill (nothing resampled; its
    # candidate still faces the gate and the decide stage's guard). Warn: the round goes on.
    action = "rounds paused (ssdd resume continues)" if pause else "warning only (health.on_lineage_drift: warn)"
    reason = f"lineage drift of the champion's samples, {action}: {verdict.reason}"
    event = EventRow(
        kind=LINEAGE_EVENT,
        version=row.parent,  # the champion the drifted samples were drawn from (None: the base)
        round_name=row.name,
        reason=reason,
        data_json=json.dumps(
            {
                "action": cfg.on_lineage_drift,
                "baseline_rounds": baseline,
                "trips": [t.model_dump(mode="json") for t in verdict.trips],
            }
        ),
    )
    if pause:  # the flag and its reason in one transaction: a pause never lacks its event
        store.save_with_kv(event, PAUSED_KEY, True)
    else:
        store.add(event)
    log.warning(
        "round.lineage_drift",
        round_id=row.name,
        stage="sample",
        action=cfg.on_lineage_drift,
        champion=row.parent,
        baseline=baseline,
        signals=[t.signal for t in verdict.trips],
        reason=verdict.reason,
    )
