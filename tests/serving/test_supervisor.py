"""vLLM killed with SIGKILL, then hung (SIGSTOP): prompt 503s while down, restart, champion
reloaded and re-probed each time.

Needs a vLLM server of its own (the session server is shared and must not be killed).
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import openai
import pytest
from net_util import free_port

from daemon.serving.config import EndpointConfig
from daemon.serving.serve import ServingStack
from ssd.child_process import group_members
from ssd.vllm_server import ServerConfig, VLLMServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROMPT = "def add(a, b):\n"


def _complete(stack, model="ssd", max_tokens=8) -> str:
    c = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=120)
    return c.completions.create(model=model, prompt=PROMPT, max_tokens=max_tokens, temperature=0).choices[0].text


def _wait_health(stack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(stack.url + "/health", timeout=5).status_code == 200:
            return
        time.sleep(1)
    raise AssertionError(f"{stack.url} not healthy after {timeout_s}s")


@pytest.mark.timeout(2400)  # three vLLM starts: ~5 min each on a busy 2-core box
def test_killed_or_hung_vllm_is_restarted_with_the_champion(model_dir, lora_pair, tmp_path):
    cfg = ServerConfig(
        port=free_port(), cpu_kvcache_gib=1, max_lora_rank=16, max_loras=2, max_model_len=1024, max_num_seqs=8
    )
    server = VLLMServer.start(model_dir, "smollm2-135m", cfg, tmp_path / "vllm.log")
    ep = dict(port=0, health_interval_s=0.5, health_timeout_s=3, retry_after_s=4)
    owned = ServingStack(server, EndpointConfig(**ep), tmp_path / "owned.json", own_server=True)
    # A second endpoint that merely attached to the same server: it must not restart anything.
    attached = ServingStack(
        VLLMServer(server.base_url, "smollm2-135m"), EndpointConfig(**ep), tmp_path / "attached.json"
    )
    try:
        owned.start_in_thread()
        attached.start_in_thread()
        owned.registry.promote("r1", lora_pair[0])
        attached.registry.promote("r1", lora_pair[0])
        expected = _complete(owned)
        assert expected != _complete(owned, "smollm2-135m")

        c = openai.OpenAI(base_url=owned.url + "/v1", api_key="x", max_retries=0, timeout=30)
        stream = iter(c.completions.create(model="ssd", prompt=PROMPT, max_tokens=400, temperature=0, stream=True))
        next(stream)
        old_pid = server.proc.pid
        os.kill(old_pid, signal.SIGKILL)

        # The open stream ends with an error instead of hanging.
        t0 = time.monotonic()
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass
        assert time.monotonic() - t0 < 10

        # New requests get a prompt 503 + Retry-After on both endpoints while vLLM is down.
        for stack in (owned, attached):
            t0 = time.monotonic()
            r = httpx.post(stack.url + "/v1/completions", json={"model": "ssd", "prompt": "x"}, timeout=10)
            assert time.monotonic() - t0 < 5
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "4"
            assert r.json()["error"]["code"] == "service_unavailable"
        # /health follows the supervisor, which notices within one check (a check may take
        # up to health_timeout_s) after the endpoint woke it.
        t0 = time.monotonic()
        while (h := httpx.get(owned.url + "/health", timeout=5)).status_code == 200:
            assert time.monotonic() - t0 < 10, "/health still says ok 10 s after vLLM died"
            time.sleep(0.2)
        assert h.status_code == 503 and h.headers["retry-after"] == "4"

        _wait_health(owned, 600)
        assert owned.registry.server.proc.pid != old_pid
        assert owned.registry.champion == "r1" and owned.registry.loaded_versions() == ["r1"]
        assert _complete(owned) == expected
        metrics = httpx.get(owned.url + "/metrics").text
        assert "ssd_serve_vllm_restarts_total 1.0" in metrics
        assert "ssd_serve_vllm_up 1.0" in metrics

        _wait_health(attached, 60)
        assert attached.registry.server.proc is None
        assert _complete(attached) == expected
        assert "ssd_serve_vllm_restarts_total 0.0" in httpx.get(attached.url + "/metrics").text

        # A hang: the API server stopped (port open, nothing answers). Detected by failed health
        # checks, the whole group killed (a stopped process ignores SIGTERM), started again.
        hung = owned.registry.server.proc.pid
        os.kill(hung, signal.SIGSTOP)
        t0 = time.monotonic()
        while owned.supervisor.is_up:
            assert time.monotonic() - t0 < 30, "hang not detected"
            time.sleep(0.2)
        print(f"hang detected after {time.monotonic() - t0:.1f}s")
        _wait_health(owned, 600)
        assert owned.registry.server.proc.pid != hung
        assert not group_members(hung)
        assert owned.registry.champion == "r1" and _complete(owned) == expected
        assert "ssd_serve_vllm_restarts_total 2.0" in httpx.get(owned.url + "/metrics").text
    finally:
        attached.close()
        owned.close()
    assert owned.registry.server.proc.poll() is not None
