"""Prometheus metrics of the round loop, on the endpoint's registry (one ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.rounds = Counter(
            "ssd_rounds_total", "Finished rounds by decision (promote, reject, failed)", ["decision"], registry=r
        )
        self.stage_seconds = Histogram(
            "ssd_round_stage_seconds", "Wall time of each round stage", ["stage"], buckets=STAGE_BUCKETS, registry=r
        )
        self.champion_pass = Gauge(
            "ssd_champion_pass_at_1", "Gate-set pass@1 of the champion when it was judged", registry=r
        )
        self.champion_audit = Gauge(
            "ssd_champion_audit_pass_at_1", "Sealed audit-set pass@1 of the champion", registry=r
        )
        self.promotions = Counter("ssd_promotions_total", "Candidates promoted to champion", registry=r)
        self.rollbacks = Counter("ssd_rollbacks_total", "Champions rolled back", registry=r)
        self.round_running = Gauge("ssd_round_running", "1 while a round runs", registry=r)
        self.gate_alpha_spent = Gauge("ssd_gate_alpha_spent", "Promotion error budget spent so far", registry=r)
