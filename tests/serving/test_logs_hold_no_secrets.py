"""An internal error in the endpoint, or a failing capture sink, leaves no API key and no raw
prompt in the logs (console or JSON), and the JSON log still holds the exception."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
import structlog

from daemon.serving.adapter_registry import AdapterRegistry
from daemon.serving.capture import PromptCapture
from daemon.serving.config import EndpointConfig
from daemon.serving.endpoint import create_app
from ssd.cli_common import configure_logging
from ssd.vllm_server import VLLMServer

KEY = "sk-live-logtest-0123456789abcdef"
SECRET = "hunter2-prompt-secret-7f3a"
FAULT = "injected fault in the upstream transport"


@pytest.fixture
def logging_mode(request) -> Iterator[bool]:
    """The CLI's own logging set-up (``--json-logs`` or not), put back afterwards."""
    saved = structlog.get_config()
    configure_logging(verbose=False, json_logs=request.param)
    try:
        yield request.param
    finally:
        structlog.configure(**saved)


class FaultTransport(httpx.AsyncBaseTransport):
    """The fault: vLLM's connection raises something the endpoint does not expect."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(FAULT)


def _dead_server() -> VLLMServer:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return VLLMServer(f"http://127.0.0.1:{port}", "smollm2-135m")


def _post(app, path: str, body: dict) -> httpx.Response:
    async def go() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.post(path, json=body, headers={"Authorization": f"Bearer {KEY}"})

    return asyncio.run(go())


def _json_lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("logging_mode", [False, True], ids=["console", "json"], indirect=True)
@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/completions", {"model": "ssd", "prompt": f"{SECRET} def f():", "max_tokens": 4}),
        ("/v1/chat/completions", {"model": "ssd", "messages": [{"role": "user", "content": SECRET}], "max_tokens": 4}),
    ],
    ids=["completions", "chat"],
)
def test_an_internal_error_logs_the_exception_but_not_the_key_or_the_prompt(logging_mode, path, body, tmp_path, capsys):
    app = create_app(
        EndpointConfig(api_keys=[KEY]),
        AdapterRegistry(_dead_server(), tmp_path / "r.json"),
        upstream_transport=FaultTransport(),
    )
    r = _post(app, path, body)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    err = capsys.readouterr().err
    assert "serve.internal_error" in err and FAULT in err  # the error is there ...
    assert KEY not in err and SECRET not in err  # ... what the request carried is not
    if logging_mode:
        (line,) = [x for x in _json_lines(err) if x["event"] == "serve.internal_error"]
        assert "Traceback" in line["exception"] and f"RuntimeError: {FAULT}" in line["exception"]
        assert "exc_info" not in line


@pytest.mark.parametrize("logging_mode", [False, True], ids=["console", "json"], indirect=True)
def test_a_failing_capture_sink_logs_neither_the_prompt_nor_the_key(logging_mode, capsys):
    def sink(req):  # the faults: a full disk, and an error whose message quotes the prompt
        if "disk" in req.messages[0]["content"]:
            raise OSError(28, "No space left on device", f"/data/{SECRET}.db")
        raise ValueError(f"cannot store {req.messages!r}")

    cap = PromptCapture(sink).start()
    try:
        for text in (f"{SECRET} disk", f"{SECRET} value"):
            cap.offer("chat", {"messages": [{"role": "user", "content": text}]}, f"Bearer {KEY}")
        assert cap.wait_idle(10)
    finally:
        cap.close()
    assert cap.metrics.dropped.labels(reason="error")._value.get() == 2
    err = capsys.readouterr().err
    assert err.count("capture.store_failed") == 2
    assert "OSError: [Errno 28] No space left on device" in err and "ValueError" in err
    assert "in _run" in err  # where it failed is kept
    assert KEY not in err and SECRET not in err


def test_the_raw_authorization_header_is_never_queued():
    import threading

    entered, release = threading.Event(), threading.Event()

    def sink(req):  # a slow writer: the next offers wait on the queue
        entered.set()
        release.wait(10)
        return "kept"

    cap = PromptCapture(sink).start()
    try:
        cap.offer("chat", {"messages": [{"role": "user", "content": "hi"}]}, f"Bearer {KEY}")
        assert entered.wait(10)
        cap.offer("completions", {"prompt": "def f():"}, f"Bearer {KEY}")
        queued = list(cap._queue.queue)
        assert len(queued) == 1 and KEY not in repr(queued)
        assert queued[0][3].startswith("key:")
    finally:
        release.set()
        cap.close()
