"""Capture in the endpoint: what is taken from a request, the bounded queue, and that capture
never slows or fails a request."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import httpx
import openai
import pytest

from daemon.serving.capture import PromptCapture, extract, key_id_of, prompt_messages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # the fake vLLM of the serving tests


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_the_prompt_is_the_conversation_up_to_the_last_user_turn():
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write fizzbuzz"},
        {"role": "assistant", "content": "print(1)"},
        {"role": "user", "content": [{"type": "text", "text": "now"}, {"type": "text", "text": "in one line"}]},
        {"role": "assistant", "content": "an assistant prefill is part of the answer, not the prompt"},
    ]
    assert prompt_messages(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write fizzbuzz"},
        {"role": "assistant", "content": "print(1)"},
        {"role": "user", "content": "now\nin one line"},
    ]


@pytest.mark.parametrize(
    "route, messages, prompt, detail",
    [
        ("chat", [{"role": "system", "content": "hi"}], None, "no user turn"),
        ("chat", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], None, "not text"),
        ("chat", [{"role": "tool", "content": "42"}, {"role": "user", "content": "ok"}], None, "tool"),
        ("completions", None, [1, 2, 3], "token ids"),
    ],
)
def test_prompts_that_are_not_plain_text_are_recorded_as_unsupported_without_text(route, messages, prompt, detail):
    (req,) = extract(route, messages, prompt, key_id_of("Bearer sk-x"), "2026-05-01T00:00:00+00:00")
    assert req.kind == "unsupported" and detail in req.detail and req.messages is None and req.text is None


def test_a_completions_batch_gives_one_prompt_each():
    reqs = extract("completions", None, ["def a():", "def b():"], "anonymous", "t")
    assert [r.text for r in reqs] == ["def a():", "def b():"] and {r.kind for r in reqs} == {"text"}


def test_the_key_is_reduced_to_the_id_the_endpoint_auth_gives_it():
    from pydantic import SecretStr
    from starlette.requests import Request

    from daemon.serving.auth import ApiKeyAuth

    scope = {"type": "http", "headers": [(b"authorization", b"Bearer sk-team-a")], "client": ("127.0.0.1", 1)}
    assert ApiKeyAuth([SecretStr("sk-team-a")]).identify(Request(scope)) == key_id_of("Bearer sk-team-a")
    assert key_id_of("Bearer sk-team-a").startswith("key:") and "sk-team-a" not in key_id_of("Bearer sk-team-a")
    assert key_id_of("") == key_id_of("Basic abc") == "anonymous"


def test_a_full_queue_drops_captures_and_counts_them():
    entered, release, seen = threading.Event(), threading.Event(), []

    def slow_sink(req):  # the fault: a writer that cannot keep up
        entered.set()
        release.wait(30)
        seen.append(req)
        return "kept"

    cap = PromptCapture(slow_sink, maxsize=2).start()
    payload = {"messages": [{"role": "user", "content": "hi"}]}
    cap.offer("chat", payload, "")
    assert entered.wait(10)
    for _ in range(9):
        cap.offer("chat", payload, "")  # returns at once: 2 queued, 7 dropped
    assert cap.metrics.dropped.labels(reason="queue_full")._value.get() == 7
    release.set()
    assert cap.wait_idle(10)
    assert len(seen) == 3 and cap.metrics.offered._value.get() == 10
    assert cap.metrics.stored.labels(status="kept")._value.get() == 3
    cap.close()


def test_a_failing_sink_is_counted_and_the_writer_goes_on():
    calls = []

    def sink(req):
        calls.append(req)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return "dropped"

    cap = PromptCapture(sink).start()
    for _ in range(2):
        cap.offer("chat", {"messages": [{"role": "user", "content": "hi"}]}, "")
    cap.offer("chat", {"messages": "not a list"}, "")  # never raises in the request path
    assert cap.wait_idle(10)
    assert len(calls) == 3 and calls[2].kind == "unsupported"
    assert cap.metrics.dropped.labels(reason="error")._value.get() == 1
    cap.close()


@pytest.fixture
def capturing_stack(tmp_path):
    from fake_vllm import FakeVLLM

    from daemon.serving.config import EndpointConfig
    from daemon.serving.serve import ServingStack
    from ssd.vllm_server import VLLMServer

    fake = FakeVLLM(token_delay_s=0.001).start()
    stack = ServingStack(
        VLLMServer.attach(fake.url, "smollm2-135m"),
        EndpointConfig(port=0, api_keys=["sk-team-a"], health_interval_s=0.2),
        tmp_path / "registry.json",
    ).start_in_thread()
    yield stack
    stack.close()
    fake.stop()


def test_through_the_endpoint_requests_succeed_and_only_prompts_are_captured(capturing_stack):
    got: list = []

    def sink(req):
        got.append(req)
        if len(got) == 2:
            raise RuntimeError("the store failed")  # a broken store must not fail the request
        return "kept"

    cap = PromptCapture(sink, capturing_stack.metrics.registry).start()
    capturing_stack.app.state.ctx.capture = cap
    client = openai.OpenAI(base_url=capturing_stack.url + "/v1", api_key="sk-team-a")
    conv = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write fizzbuzz in python"},
        {"role": "assistant", "content": "print(1)"},
        {"role": "user", "content": "shorter"},
    ]
    r = client.chat.completions.create(model="ssd", messages=conv, max_tokens=4)  # type: ignore[arg-type]
    answer = r.choices[0].message.content
    chunks = list(client.chat.completions.create(model="ssd", messages=conv[:2], max_tokens=4, stream=True))  # type: ignore[arg-type]
    c = client.completions.create(model="ssd", prompt="def fib(n):", max_tokens=4)
    assert answer and chunks and c.choices[0].text
    assert cap.wait_idle(10)
    assert [g.kind for g in got] == ["chat", "chat", "text"]
    assert got[0].messages == conv and got[1].messages == conv[:2] and got[2].text == "def fib(n):"
    assert {g.key_id for g in got} == {key_id_of("Bearer sk-team-a")}
    assert all(answer not in str(g) for g in got)  # never the response
    metrics = httpx.get(capturing_stack.url + "/metrics", headers={"Authorization": "Bearer sk-team-a"}).text
    assert _metric(metrics, "ssd_capture_offered_total") == 3
    assert _metric(metrics, 'ssd_capture_dropped_total{reason="error"}') == 1
    # Refused requests (a wrong key) are not captured.
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=capturing_stack.url + "/v1", api_key="wrong").completions.create(
            model="ssd", prompt="x", max_tokens=1
        )
    assert cap.wait_idle(5) and len(got) == 3
    cap.close()
