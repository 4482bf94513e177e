"""Prometheus metrics of the round loop, on the endpoint's registry (one ``/metrics``)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from policies.health import HealthSignals, HealthVerdict

STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = r = registry
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
        # The collapse guard's inputs, so a dashboard sees a slow drift long before the guard
        # trips: the latest round's samples (ssd.health), one series per signal.
        self.sample_signal = Gauge(
            "ssd_round_sample_signal",
            "Health signals of the latest round's samples (length_mean in tokens or chars, shares 0-1,"
            " mean_logprob in nats)",
            ["signal"],
            registry=r,
        )
        self.health_drift = Counter(
            "ssd_health_drift_total",
            "Health checks that tripped (lineage: a round's samples against the first rounds';"
            " candidate: its gate outputs against the champion's)",
            ["check"],
            registry=r,
        )

    def observe_samples(self, signals: HealthSignals) -> None:
        values: dict[str, float | None] = {
            "outputs": signals.outputs,
            "length_mean": signals.length_mean,
            "length_std": signals.length_std,
            "truncated_frac": signals.truncated_frac,
            "empty_frac": signals.empty_frac,
            "repetition_rate": signals.repetition_rate,
            "parse_frac": signals.parse_frac,
            "mean_logprob": signals.mean_logprob,
            **{f"distinct_{n}": v for n, v in signals.distinct.items()},
        }
        for name, value in values.items():
            # NaN, not the previous round's value, for a signal this round could not measure
            # (no code prompts, no log-probs from the server).
            self.sample_signal.labels(signal=name).set(math.nan if value is None else value)

    def observe_verdict(self, check: str, verdict: HealthVerdict | None) -> None:
        if verdict is not None and not verdict.ok:
            self.health_drift.labels(check=check).inc()
