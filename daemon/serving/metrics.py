"""Prometheus metrics of the serving endpoint.

Each ``ServeMetrics`` owns its own CollectorRegistry so several endpoints (tests, bench) can
live in one process without duplicate-registration errors. Model labels are only the names
the endpoint accepts (alias, pinned forms, base) or ``unknown``, so cardinality stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SWAP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class ServeMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "ssd_serve_requests_total",
            "Requests by route, model asked for and status",
            ["route", "model", "status"],
            registry=r,
        )
        self.errors = Counter(
            "ssd_serve_errors_total", "Error responses by route and error type", ["route", "type"], registry=r
        )
        self.latency = Histogram(
            "ssd_serve_request_seconds",
            "Request latency to the last byte",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "ssd_serve_first_byte_seconds",
            "Latency to the first streamed chunk",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "ssd_serve_tokens_total", "Tokens from usage, by model asked for and kind", ["model", "kind"], registry=r
        )
        self.inflight = Gauge("ssd_serve_inflight_requests", "Requests being proxied now", registry=r)
        self.champion = Gauge(
            "ssd_serve_champion_info", "1 for the version the alias serves (base: none)", ["version"], registry=r
        )
        self.swaps = Counter("ssd_serve_swaps_total", "Alias swaps (promotions, rollbacks, fallbacks)", registry=r)
        self.swap_latency = Histogram(
            "ssd_serve_swap_seconds", "promote(): load + probe + pointer swap", buckets=SWAP_BUCKETS, registry=r
        )
        self.restarts = Counter("ssd_serve_vllm_restarts_total", "vLLM restarts by the supervisor", registry=r)
        self.vllm_up = Gauge("ssd_serve_vllm_up", "1 when the endpoint forwards requests, else 0", registry=r)
        self.set_champion(None)

    def observe_request(self, route: str, model: str, status: int, t0: float, error: str | None = None) -> None:
        """One finished request (``t0``: its ``time.perf_counter()`` at arrival)."""
        self.requests.labels(route=route, model=model, status=str(status)).inc()
        self.latency.labels(route=route).observe(time.perf_counter() - t0)
        if error:
            self.errors.labels(route=route, type=error).inc()

    def count_usage(self, model: str, usage: Any) -> None:
        """Tokens from an OpenAI ``usage`` object."""
        if not isinstance(usage, dict):
            return
        for kind in ("prompt_tokens", "completion_tokens"):
            n = usage.get(kind)
            if isinstance(n, int) and n > 0:
                self.tokens.labels(model=model, kind=kind.split("_")[0]).inc(n)

    def set_champion(self, version: str | None) -> None:
        self.champion.clear()
        self.champion.labels(version=version or "none").set(1)

    def on_swap(self, previous: str | None, version: str | None, latency_s: float) -> None:
        self.swaps.inc()
        if latency_s > 0:
            self.swap_latency.observe(latency_s)
        self.set_champion(version)

    def render(self) -> bytes:
        return generate_latest(self.registry)
