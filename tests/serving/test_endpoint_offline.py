"""Endpoint behaviour that needs no model: vLLM unreachable or down, the retention rule, and
the whole endpoint over a fake vLLM (caps, concurrency limit, aborting abandoned work, client
disconnects, /v1/models, the registry's state file and its fallback on reload)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time

import httpx
import openai
import pytest
from fake_vllm import make_fake_adapter

from daemon.serving.adapter_registry import AdapterRegistry, RegistryError, policies_retention_plan
from daemon.serving.config import EndpointConfig
from daemon.serving.endpoint import create_app
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


def _metric(stack, name: str) -> float:
    for line in httpx.get(stack.url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def _wait(cond, timeout_s: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(0.02)
    return time.monotonic() - t0


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


# -- over the fake vLLM ------------------------------------------------------------------------
def test_openai_clients_get_renamed_models_and_the_context_length(make_fake_stack, tmp_path):
    stack = make_fake_stack()
    stack.registry.promote("r0", make_fake_adapter(tmp_path, "b"))
    stack.registry.promote("r1", make_fake_adapter(tmp_path, "a"))  # r0: the former champion, kept
    c = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=30)
    cards = {m.id: m for m in c.models.list()}
    assert set(cards) == {"ssd", "ssd@r1", "ssd@r0", "smollm2-135m"}
    assert {m.model_extra["max_model_len"] for m in cards.values()} == {2048}  # as vLLM reports it

    r = c.completions.create(model="ssd", prompt="x", max_tokens=4)
    assert r.model == "ssd" and r.usage.completion_tokens == 4
    chunks = list(
        c.chat.completions.create(
            model="ssd@r0", messages=[{"role": "user", "content": "x"}], max_tokens=4, stream=True
        )
    )
    assert {ch.model for ch in chunks} == {"ssd@r0"} and all(ch.usage is None for ch in chunks)
    assert 'ssd_serve_tokens_total{kind="completion",model="ssd@r0"} 4.0' in httpx.get(stack.url + "/metrics").text


def test_only_the_champion_and_former_champions_are_reachable_by_version(make_fake_stack, tmp_path):
    stack = make_fake_stack()
    stack.registry.promote("r1", make_fake_adapter(tmp_path, "a"))
    # Candidates a round loads to evaluate them, one of them submitted by someone: loaded in
    # vLLM, not gated yet.
    stack.registry.pin("r2", make_fake_adapter(tmp_path, "b"))
    stack.registry.pin("mine", make_fake_adapter(tmp_path, "c"))
    assert set(stack.registry.loaded_versions()) == {"r1", "r2", "mine"}
    c = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=30)
    assert {m.id for m in c.models.list()} == {"ssd", "ssd@r1", "smollm2-135m"}
    for name in ("ssd@r2", "ssd@mine"):
        with pytest.raises(openai.NotFoundError) as exc:
            c.completions.create(model=name, prompt="x", max_tokens=1)
        assert exc.value.body["code"] == "model_not_found"
        assert exc.value.body["message"].endswith("available: ssd, ssd@r1, smollm2-135m")
    # Once promoted and replaced, a version is a former champion: a client may pin it.
    stack.registry.promote("r2")
    stack.registry.promote("r3", make_fake_adapter(tmp_path, "d"))
    assert c.completions.create(model="ssd@r2", prompt="x", max_tokens=1).model == "ssd@r2"
    assert "ssd@mine" not in {m.id for m in c.models.list()}
    stack.registry.unpin("mine")
    stack.registry.unpin("r2")


def test_version_names_are_whole_matches_and_base_is_reserved(make_fake_stack, tmp_path):
    from daemon.serving.adapter_registry import version_name_error

    stack = make_fake_stack()
    for bad in ("r1\n", "base", "Base", "", "-r1", "a" * 65, "r1/../x", "r 1"):
        assert version_name_error(bad) is not None, bad
        with pytest.raises(RegistryError, match="invalid adapter version"):
            stack.registry.promote(bad, make_fake_adapter(tmp_path, "a"))
    assert stack.registry.champion is None
    for good in ("r1", "my-adapter_v2.1", "baseline", "a" * 64):
        assert version_name_error(good) is None, good


def test_a_request_for_too_much_is_refused_before_it_reaches_vllm(make_fake_stack, fake_vllm):
    stack = make_fake_stack()
    c = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=30)
    cases = [
        ({"n": 10000, "max_tokens": 4}, "n"),
        ({"max_tokens": 4096}, "max_tokens"),
        ({"n": 8, "best_of": 9}, "best_of"),
        ({"prompt": ["x"] * 17, "max_tokens": 1}, "prompt"),
        ({"n": 8, "prompt": ["x", "y"], "max_tokens": 2048}, "max_tokens"),
    ]
    before = fake_vllm.state.started  # the registry's probe of the base model
    for extra, param in cases:
        t0 = time.monotonic()
        with pytest.raises(openai.BadRequestError) as exc:
            c.completions.create(**{"model": "ssd", "prompt": "x", **extra})
        assert time.monotonic() - t0 < 5  # refused here: no generation
        assert exc.value.body["param"] == param and exc.value.body["message"]
    assert fake_vllm.state.started == before
    assert c.completions.create(model="ssd", prompt="x", n=8, max_tokens=2).choices


def test_one_client_cannot_hold_more_than_its_share(make_fake_stack, fake_vllm):
    stack = make_fake_stack(max_concurrent_per_client=2, limit_retry_after_s=2)
    fake_vllm.state.token_delay_s = 0.05
    body = {"model": "ssd", "prompt": "x", "max_tokens": 30, "stream": True}
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        with c.stream("POST", "/v1/completions", json=body) as s1, c.stream("POST", "/v1/completions", json=body) as s2:
            lines1, lines2 = s1.iter_lines(), s2.iter_lines()  # (a dropped iterator closes its stream)
            next(lines1), next(lines2)  # both are open now
            r = c.post("/v1/completions", json={**body, "stream": False})
            assert r.status_code == 429 and r.headers["retry-after"] == "2"
            assert r.json()["error"]["code"] == "rate_limit_exceeded"
        # Both streams closed: once the endpoint has seen them go, the slots are free again.
        _wait(lambda: _metric(stack, "ssd_serve_inflight_requests") == 0, 5, "streams still counted")
        assert c.post("/v1/completions", json={**body, "stream": False, "max_tokens": 2}).status_code == 200
    assert 'status="429"' in httpx.get(stack.url + "/metrics").text


def test_clients_that_hang_up_do_not_leave_work_running(make_fake_stack, fake_vllm):
    """40 clients hang up mid-request (30 waiting for a whole answer, 10 reading a stream):
    vLLM aborts all of them at once."""
    stack = make_fake_stack(max_concurrent_per_client=64)
    state = fake_vllm.state
    state.token_delay_s = 0.02  # 1000 tokens: 20 s each if nobody aborts

    async def client(c: httpx.AsyncClient, i: int) -> None:
        body = {"model": "ssd", "prompt": "x", "max_tokens": 1000, "stream": i % 4 == 0}
        if body["stream"]:
            async with c.stream("POST", "/v1/completions", json=body) as r:
                async for _ in r.aiter_lines():
                    pass
        else:
            await c.post("/v1/completions", json=body)

    async def main() -> None:
        async with httpx.AsyncClient(base_url=stack.url, timeout=60, limits=httpx.Limits(max_connections=64)) as c:
            tasks = [asyncio.create_task(client(c, i)) for i in range(40)]
            deadline = time.monotonic() + 15
            while state.running < 40 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert state.running == 40, f"only {state.running} requests reached vLLM"
            for t in tasks:  # every client hangs up: its connection closes mid-request
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    started, finished = state.started, state.finished  # the registry's probe of the base model
    asyncio.run(main())
    assert state.started - started == 40
    _wait(lambda: state.running == 0, 5, "upstream requests still running")
    assert state.aborted == 40 and state.finished == finished
    _wait(lambda: _metric(stack, "ssd_serve_inflight_requests") == 0, 5, "endpoint in-flight gauge")
    assert 'status="499"' in httpx.get(stack.url + "/metrics").text
    state.token_delay_s = 0.001
    t0 = time.monotonic()
    r = httpx.post(stack.url + "/v1/completions", json={"model": "ssd", "prompt": "x", "max_tokens": 8}, timeout=10)
    assert r.status_code == 200 and time.monotonic() - t0 < 2


def test_a_client_that_times_out_cancels_its_upstream_request(make_fake_stack, fake_vllm):
    stack = make_fake_stack()
    fake_vllm.state.token_delay_s = 0.02
    started = fake_vllm.state.started
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            stack.url + "/v1/completions",
            json={"model": "ssd", "prompt": "x", "max_tokens": 1000},
            timeout=httpx.Timeout(30, read=3),
        )
    assert fake_vllm.state.started == started + 1
    _wait(lambda: fake_vllm.state.running == 0, 5, "the timed-out request still runs upstream")
    assert fake_vllm.state.aborted == 1


def test_a_stream_cut_by_its_client_releases_its_adapter(make_fake_stack, fake_vllm, tmp_path):
    stack = make_fake_stack()
    fake_vllm.state.token_delay_s = 0.05
    stack.registry.promote("r1", make_fake_adapter(tmp_path, "a"))
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        with c.stream(
            "POST", "/v1/completions", json={"model": "ssd", "prompt": "x", "max_tokens": 200, "stream": True}
        ) as s:
            lines = s.iter_lines()
            assert json.loads(next(lines)[6:])["model"] == "ssd"
            # Two swaps: r1 is now due for unloading, but the open stream still uses it.
            stack.registry.promote("r2", make_fake_adapter(tmp_path, "b"))
            stack.registry.promote("r3", make_fake_adapter(tmp_path, "c"))
            assert stack.registry.snapshot().adapters["r1"].pending_unload
            assert "r1" in stack.registry.loaded_versions()
    _wait(lambda: fake_vllm.state.running == 0, 5, "the cut stream still runs upstream")
    assert fake_vllm.state.aborted == 1
    _wait(lambda: "r1" not in stack.registry.loaded_versions(), 5, "r1 still loaded (lease not released)")
    assert _metric(stack, "ssd_serve_inflight_requests") == 0


def test_a_lost_champion_falls_back_to_the_newest_former_champion_that_loads(fake_vllm, tmp_path):
    server = VLLMServer.attach(fake_vllm.url, "smollm2-135m")
    a, b, c = (make_fake_adapter(tmp_path / "ad", n) for n in "abc")
    reg = AdapterRegistry(server, tmp_path / "state.json", keep_previous=2)
    reg.promote("ra", a)
    reg.promote("rb", b)
    reg.promote("rc", c)
    assert reg.snapshot().history == ["ra", "rb"]
    reg.unload_all()  # vLLM restarted: nothing loaded
    shutil.rmtree(c)  # the champion's folder is gone
    swaps = []
    again = AdapterRegistry(
        server, tmp_path / "state.json", keep_previous=2, on_swap=lambda prev, new, _: swaps.append((prev, new))
    )
    again.reload_all()
    assert again.champion == "rb" and swaps == [("rc", "rb")]
    assert json.loads((tmp_path / "state.json").read_text())["champion"] == "rb"
    assert again.resolve("ssd").version == "rb"

    # Every adapter lost: the alias serves the base model.
    again.unload_all()
    shutil.rmtree(a)
    shutil.rmtree(b)
    third = AdapterRegistry(server, tmp_path / "state.json", keep_previous=2)
    third.reload_all()
    assert third.champion is None and third.resolve("ssd").vllm_name == "smollm2-135m"


@pytest.mark.parametrize(
    "content,match",
    [
        (b"\x00\x01 not json", "unreadable registry state"),
        (b"[1, 2]", "unreadable registry state"),
        (b'{"hello": "world"}', "unreadable registry state"),
        (b'{"base_model": "smollm2-135m", "champion": null, "servers": []}', "unreadable registry state"),
        (b'{"schema_version": 99, "base_model": "smollm2-135m"}', "schema 99"),
        (b'{"base_model": "other-model"}', "state is for base model 'other-model'"),
    ],
)
def test_a_corrupt_or_foreign_state_file_is_refused_and_left_alone(fake_vllm, tmp_path, content, match):
    server = VLLMServer.attach(fake_vllm.url, "smollm2-135m")
    path = tmp_path / "registry.json"
    path.write_bytes(content)
    with pytest.raises(RegistryError, match=match):
        AdapterRegistry(server, path)
    assert path.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["registry.json"]


def test_with_api_keys_metrics_need_a_key_and_health_tells_only_the_status(make_fake_stack, tmp_path):
    stack = make_fake_stack(api_keys=["k-one"])
    stack.registry.promote("r7", make_fake_adapter(tmp_path, "a"))
    with_key = {"Authorization": "Bearer k-one"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(stack.url + "/metrics", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert "r7" not in r.text
        h = httpx.get(stack.url + "/health", headers=headers)
        assert h.status_code == 200 and h.json() == {"status": "ok"}  # a liveness probe needs no key
    assert "ssd_serve_swaps_total 1.0" in httpx.get(stack.url + "/metrics", headers=with_key).text
    assert httpx.get(stack.url + "/health", headers=with_key).json()["champion"] == "r7"
    # Without keys configured everything stays open, as the generation routes are.
    open_stack = make_fake_stack()
    assert httpx.get(open_stack.url + "/metrics").status_code == 200
    assert set(httpx.get(open_stack.url + "/health").json()) == {"status", "alias", "champion", "base_model"}
