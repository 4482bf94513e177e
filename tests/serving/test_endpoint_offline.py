"""Endpoint behaviour that needs no model: vLLM unreachable or down, and the retention rule."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from daemon.serving.adapter_registry import AdapterRegistry, policies_retention_plan
from daemon.serving.endpoint import create_app
from daemon.serve_config import EndpointConfig
from daemon.serving.supervisor import Supervisor
from ssd.vllm_server import VLLMServer


def _dead_server() -> VLLMServer:
    # A real handle on a loopback port where nothing listens: what vLLM looks like once gone.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return VLLMServer(f"http://127.0.0.1:{port}", "smollm2-135m")


def _call(app, method: str, path: str, **kw) -> httpx.Response:
    async def go() -> httpx.Response:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await c.request(method, path, **kw)

    return asyncio.run(go())


def test_connection_refused_by_vllm_is_a_prompt_503(tmp_path):
    app = create_app(EndpointConfig(retry_after_s=7), AdapterRegistry(_dead_server(), tmp_path / "r.json"))
    t0 = time.monotonic()
    r = _call(app, "POST", "/v1/completions", json={"model": "ssd", "prompt": "x"})
    assert time.monotonic() - t0 < 5
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "service_unavailable"


def test_supervisor_marks_an_unanswering_server_down_and_the_endpoint_answers_503(tmp_path):
    cfg = EndpointConfig(retry_after_s=3, health_failures=2, health_timeout_s=0.5)
    registry = AdapterRegistry(_dead_server(), tmp_path / "r.json")
    sup = Supervisor(registry, cfg)
    sup._recover("test")  # the start-up path, without the background thread
    assert sup.state == "down"
    app = create_app(cfg, registry, sup)
    for path in ("/v1/chat/completions", "/v1/completions"):
        t0 = time.monotonic()
        r = _call(app, "POST", path, json={"model": "ssd", "messages": [], "prompt": "x"})
        assert time.monotonic() - t0 < 1
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
    r = _call(app, "GET", "/health")
    assert r.status_code == 503 and r.json()["status"] == "down"
    # An attached server is never restarted, only polled.
    sup.tick()
    sup.tick()
    assert sup.state == "down" and registry.server.proc is None


def test_retention_keeps_champion_pins_and_the_previous_champion():
    loaded = ["v1", "v2", "v3", "v4", "v5"]
    assert policies_retention_plan(loaded, "v5", ["v2"], ["v1", "v3", "v4"]) == ["v1", "v3"]
    assert policies_retention_plan(loaded, "v5", [], ["v1", "v3", "v4"], keep_previous=0) == ["v1", "v2", "v3", "v4"]
    assert policies_retention_plan(loaded, None, [], []) == loaded
