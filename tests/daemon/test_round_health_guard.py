"""The decide stage's collapse guard: the round's health record is written from its real
evaluation-output files, and a candidate whose outputs collapsed against the champion's on
the same problems is not promoted (an operator's override stands, noted)."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from daemon.metrics import DaemonMetrics
from daemon.rounds.health import apply_health_guard
from daemon.state import RoundKind, RoundRow
from policies.health import HealthGuardConfig, HealthVerdict
from policies.outcome import Outcome, health_outcome

HEALTHY = [
    f"def f{i}(xs):\n    total = 0\n    for x in xs:\n        if x % {i + 2} == 0:\n"
    f"            total += x * {i}\n    return total  # variant {i}\n"
    for i in range(30)
]
COLLAPSED = ["def f(x):\n    return x\n"] * 30  # short, repeated, all alike


def _write_arm(rdir: Path, arm: str, programs: list[str]) -> None:
    rows = [
        {
            "temperature": 0.0,
            "problem_id": f"p{i}",
            "sample_index": 0,
            "status": "ok",
            "finish_reason": "stop",
            "completion": f"```python\n{p}```",
            "program": p,
            "completion_tokens": len(p.split()),
        }
        for i, p in enumerate(programs)
    ]
    (rdir / f"{arm}_eval.samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _row(kind: RoundKind = RoundKind.SSD) -> RoundRow:
    return RoundRow(name="r7", kind=kind, decision="promote", reason="PROMOTE: the gate said so")


def test_a_collapsed_candidate_is_not_promoted_and_the_record_is_kept(tmp_path):
    _write_arm(tmp_path, "champion", HEALTHY)
    _write_arm(tmp_path, "candidate", COLLAPSED)
    row = _row()
    metrics = DaemonMetrics(CollectorRegistry())
    verdict = apply_health_guard(HealthGuardConfig(), row, tmp_path, metrics)
    assert verdict is not None and not verdict.ok
    assert metrics.registry.get_sample_value("ssd_health_drift_total", {"check": "candidate"}) == 1
    assert row.decision == "reject" and "health guard vetoes" in row.reason and "the gate said so" in row.reason
    record = json.loads((tmp_path / "health.json").read_text())
    assert record["round_name"] == "r7" and record["candidate_eval"] and record["champion_eval"]


def test_a_healthy_candidate_keeps_its_promotion(tmp_path):
    _write_arm(tmp_path, "champion", HEALTHY)
    _write_arm(tmp_path, "candidate", list(reversed(HEALTHY)))
    row = _row()
    metrics = DaemonMetrics(CollectorRegistry())
    assert apply_health_guard(HealthGuardConfig(), row, tmp_path, metrics).ok
    assert metrics.registry.get_sample_value("ssd_health_drift_total", {"check": "candidate"}) is None
    assert row.decision == "promote" and row.reason == "PROMOTE: the gate said so"


def test_the_operator_override_stands_and_an_unreadable_record_vetoes_nothing(tmp_path):
    _write_arm(tmp_path, "champion", HEALTHY)
    _write_arm(tmp_path, "candidate", COLLAPSED)
    row = _row(RoundKind.SUBMIT_SKIP_GATE)
    apply_health_guard(HealthGuardConfig(), row, tmp_path)
    assert row.decision == "promote" and "overridden by the operator" in row.reason
    (tmp_path / "candidate_eval.samples.jsonl").write_text("{not json\n")
    row = _row()
    assert apply_health_guard(HealthGuardConfig(), row, tmp_path) is None
    assert row.decision == "promote"


def test_health_outcome_only_turns_promotions_into_rejections():
    bad = HealthVerdict(ok=False, checked=True, reason="outputs 60% shorter")
    promote, reject = Outcome(decision="promote", reason="g"), Outcome(decision="reject", reason="g")
    assert health_outcome(promote, bad, operator_override=False).decision == "reject"
    assert health_outcome(reject, bad, operator_override=False) == reject
    assert health_outcome(promote, None, operator_override=False) == promote
    ok = HealthVerdict(ok=True, checked=True, reason="")
    assert health_outcome(promote, ok, operator_override=False) == promote
