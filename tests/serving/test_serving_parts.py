"""The endpoint's parts alone, without any server: request models and errors, caps, the
concurrency limiter, API keys, the SSE rewriter, the retry policy, pidfile records."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import SecretStr
from starlette.requests import Request

from daemon.serving.auth import ApiKeyAuth
from daemon.serving.config import EndpointConfig
from daemon.serving.limits import ConcurrencyLimiter, check_caps
from daemon.serving.protocol import APIError, parse_json, validate_request
from daemon.serving.stream import SSERewriter
from ssd.child_process import ProcessRecord, group_members, kill_group, spawn
from ssd.retry import Retry


def _err(route: str, payload) -> APIError:
    with pytest.raises(APIError) as exc:
        validate_request(route, payload)
    return exc.value


# -- protocol ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "route,payload,status,code,param",
    [
        ("completions", [1, 2], 400, "invalid_json", None),
        ("completions", {"prompt": "x"}, 400, "missing_required_parameter", "model"),
        ("completions", {"model": "", "prompt": "x"}, 400, "missing_required_parameter", "model"),
        ("completions", {"model": "ssd"}, 400, "missing_required_parameter", "prompt"),
        ("completions", {"model": "ssd", "prompt": 5}, 400, "invalid_type", "prompt"),
        ("chat", {"model": "ssd"}, 400, "missing_required_parameter", "messages"),
        ("chat", {"model": "ssd", "messages": []}, 400, "missing_required_parameter", "messages"),
        ("completions", {"model": "ssd", "prompt": "x", "stream": "true"}, 400, "invalid_type", "stream"),
        ("completions", {"model": "ssd", "prompt": "x", "stream_options": 3}, 400, "invalid_type", "stream_options"),
        ("completions", {"model": "ssd", "prompt": "x", "n": 0}, 400, "invalid_value", "n"),
        ("completions", {"model": "ssd", "prompt": "x", "n": "2"}, 400, "invalid_type", "n"),
        ("completions", {"model": "ssd", "prompt": "x", "max_tokens": -1}, 400, "invalid_value", "max_tokens"),
        (
            "completions",
            {"model": "ssd", "prompt": "x", "prompt_logprobs": 1},
            400,
            "unsupported_parameter",
            "prompt_logprobs",
        ),
        # vLLM derives prompt logprobs from echo + logprobs: the request that killed the engine.
        (
            "completions",
            {"model": "ssd", "prompt": "x", "echo": True, "logprobs": 1},
            400,
            "unsupported_parameter",
            "echo",
        ),
        (
            "chat",
            {"model": "ssd", "messages": [{"role": "user", "content": "x"}], "echo": True, "logprobs": True},
            400,
            "unsupported_parameter",
            "echo",
        ),
        # Scheduling and other engine extras are not the client's to set.
        ("completions", {"model": "ssd", "prompt": "x", "priority": -100}, 400, "unsupported_parameter", "priority"),
        (
            "chat",
            {"model": "ssd", "messages": [{"role": "user", "content": "x"}], "priority": 0},
            400,
            "unsupported_parameter",
            "priority",
        ),
        (
            "completions",
            {"model": "ssd", "prompt": "x", "guided_json": {}},
            400,
            "unsupported_parameter",
            "guided_json",
        ),
        (
            "chat",
            {"model": "ssd", "messages": [{"role": "user", "content": "x"}], "best_of": "2"},
            400,
            "unsupported_parameter",
            "best_of",
        ),
        ("completions", {"model": "ssd", "prompt": "x", "best_of": "2"}, 400, "invalid_type", "best_of"),
        ("completions", {"model": "ssd", "prompt": "x", "temperature": 3.5}, 400, "invalid_value", "temperature"),
        ("completions", {"model": "ssd", "prompt": "x", "temperature": 1e999}, 400, "invalid_type", "temperature"),
        (
            "completions",
            {"model": "ssd", "prompt": "x", "stream_options": {"x": 1}},
            400,
            "unsupported_parameter",
            "stream_options.x",
        ),
        ("chat", {"model": "ssd", "messages": [{"role": "root", "content": "x"}]}, 400, "invalid_type", "messages"),
        (
            "chat",
            {"model": "ssd", "messages": [{"role": "user", "content": "x", "foo": 1}]},
            400,
            "unsupported_parameter",
            "messages.0.foo",
        ),
    ],
)
def test_bad_requests_name_the_field(route, payload, status, code, param):
    err = _err(route, payload)
    assert (err.status, err.code, err.param) == (status, code, param), err.message
    body = err.body()["error"]
    assert set(body) == {"message", "type", "param", "code"} and body["message"]


def test_good_requests_forward_only_what_they_set_and_count_what_they_ask():
    req = validate_request(
        "completions",
        {
            "model": "ssd",
            "prompt": ["a", "b", "c"],
            "n": 2,
            "best_of": 3,
            "max_tokens": 7,
            "top_k": 5,
            "stream_options": None,
        },
    )
    assert req.prompt_count() == 3 and req.sequences() == 3 and req.requested_max_tokens() == 7
    assert req.forward_body("ssd-r1") == {
        "model": "ssd-r1",
        "prompt": ["a", "b", "c"],
        "n": 2,
        "best_of": 3,
        "max_tokens": 7,
        "top_k": 5,
        "stream_options": None,
    }
    assert validate_request("completions", {"model": "ssd", "prompt": [1, 2, 3]}).prompt_count() == 1
    chat = validate_request(
        "chat",
        {"model": "ssd", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9, "max_completion_tokens": 4},
    )
    assert chat.requested_max_tokens() == 4 and chat.sequences() == 1
    with pytest.raises(APIError, match="not valid JSON"):
        parse_json(b"{nope")
    # Ordinary client fields are accepted; the ones that change nothing are not forwarded.
    chat = validate_request(
        "chat",
        {
            "model": "ssd",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
            "temperature": 1,
            "logprobs": True,
            "top_logprobs": 2,
            "user": "me",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        },
    )
    assert set(chat.forward_body("ssd-r1")) == {"model", "messages", "temperature", "logprobs", "top_logprobs", "tools"}


@pytest.mark.parametrize(
    "raw,match",
    [
        (b'{"model": "ssd", "prompt": "x", "temperature": NaN}', "not a JSON number"),
        (b'{"model": "ssd", "prompt": "x", "temperature": Infinity}', "not a JSON number"),
        (b'{"model": "ssd", "prompt": "x", "top_p": -Infinity}', "not a JSON number"),
        (b'{"a": 1e999}', "too large"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nests deeper"),
    ],
)
def test_bodies_json_cannot_represent_faithfully_are_refused(raw, match):
    with pytest.raises(APIError, match=match) as exc:
        parse_json(raw)
    assert exc.value.status == 400 and exc.value.code == "invalid_json"


# -- caps --------------------------------------------------------------------------------------
def _cap_error(payload: dict, max_model_len: int | None = 2048, route: str = "completions", **cfg) -> APIError:
    req = validate_request(
        route,
        {"model": "ssd", "prompt": "x", **payload}
        if route == "completions"
        else {"model": "ssd", "messages": [{"role": "user", "content": "x"}], **payload},
    )
    with pytest.raises(APIError) as exc:
        check_caps(req, EndpointConfig(**cfg), max_model_len)
    assert exc.value.status == 400
    return exc.value


def test_caps_refuse_what_would_occupy_the_engine():
    err = _cap_error({"n": 10000, "max_tokens": 4})
    assert err.param == "n" and "at most 8" in err.message and "max_n" in err.message
    assert _cap_error({"best_of": 9}).param == "best_of"
    assert _cap_error({"max_tokens": 4096}).code == "context_length_exceeded"
    assert _cap_error({"max_completion_tokens": 4096}, route="chat").param == "max_completion_tokens"
    assert "EndpointConfig.max_tokens" in _cap_error({"max_tokens": 600}, max_tokens=512).message
    err = _cap_error({"n": 4, "max_tokens": 300}, max_total_tokens=1000)
    assert "1200 tokens" in err.message and "lower n or max_tokens" in err.message
    err = _cap_error({"n": 8}, max_total_tokens=8192)  # no max_tokens: the context length counts
    assert "no max_tokens" in err.message
    assert _cap_error({"prompt": ["x"] * 17}).param == "prompt"
    # Defaults: n * the context length is allowed, a batch of prompts at full length is not.
    err = _cap_error({"prompt": ["x"] * 16})
    assert "16 prompt(s)" in err.message


def test_caps_let_ordinary_requests_through():
    ok = [
        {"n": 8},
        {"n": 8, "max_tokens": 2048},
        {"max_tokens": 2048},
        {"prompt": ["x"] * 16, "max_tokens": 64},
        {"best_of": 8, "max_tokens": 100},
        {},
    ]
    for payload in ok:
        check_caps(validate_request("completions", {"model": "ssd", "prompt": "x", **payload}), EndpointConfig(), 2048)
    # Context length unknown (vLLM did not say): only the explicit caps apply.
    check_caps(
        validate_request("completions", {"model": "ssd", "prompt": "x", "max_tokens": 10**6}), EndpointConfig(), None
    )


def test_concurrency_limiter_counts_per_client_and_answers_429():
    lim = ConcurrencyLimiter(per_client=2, retry_after_s=3)
    a1, a2 = lim.acquire("a"), lim.acquire("a")
    b1 = lim.acquire("b")
    with pytest.raises(APIError) as exc:
        lim.acquire("a")
    assert exc.value.status == 429 and exc.value.headers == {"Retry-After": "3"}
    assert exc.value.code == "rate_limit_exceeded"
    a1.release()
    a1.release()  # idempotent: a slot is released once
    assert lim.open("a") == 1
    lim.acquire("a")
    a2.release()
    b1.release()
    assert lim.open("b") == 0


def _request(headers: dict[str, str], host: str = "10.0.0.7") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/",
            "client": (host, 1234),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


def test_api_keys_identify_clients():
    open_auth = ApiKeyAuth([])
    assert open_auth.identify(_request({})) == "client:10.0.0.7"
    auth = ApiKeyAuth([SecretStr("k-one"), SecretStr("k-two")])
    one = auth.identify(_request({"Authorization": "Bearer k-one"}))
    two = auth.identify(_request({"Authorization": "bearer k-two"}))
    assert one.startswith("key:") and one != two and "k-one" not in one
    for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic k-one"}, {"Authorization": "Bearer "}):
        with pytest.raises(APIError) as exc:
            auth.identify(_request(bad))
        assert exc.value.status == 401 and exc.value.code == "invalid_api_key"


# -- the SSE rewriter --------------------------------------------------------------------------
def _chunk(model: str, text: str | None = None, usage: dict | None = None) -> str:
    obj = {"model": model, "choices": [] if text is None else [{"index": 0, "text": text}]}
    if usage is not None:
        obj["usage"] = usage
    return "data: " + json.dumps(obj)


def test_sse_rewriter_renames_the_model_and_strips_the_usage_it_asked_for():
    seen = []
    rw = SSERewriter(internal_name="ssd-r1-abcd", asked="ssd", strip_usage=True, on_usage=seen.append)
    usage = {"prompt_tokens": 2, "completion_tokens": 3}
    out = [
        rw.rewrite(line)
        for line in [
            "",
            _chunk("ssd-r1-abcd", "a"),
            _chunk("ssd-r1-abcd", "b", usage),
            _chunk("ssd-r1-abcd", None, usage),
            ": comment",
            "data: [DONE]",
        ]
    ]
    assert out[0] is None and out[3] is None  # blank line; the usage-only chunk nobody asked for
    assert json.loads(out[1][6:]) == {"model": "ssd", "choices": [{"index": 0, "text": "a"}]}
    assert "usage" not in json.loads(out[2][6:])
    assert out[4] == b": comment\n\n" and out[5] == b"data: [DONE]\n\n" and rw.done
    assert seen == [usage, usage]
    keep = SSERewriter(internal_name="x", asked="ssd", strip_usage=False)
    assert json.loads(keep.rewrite(_chunk("x", None, usage))[6:])["usage"] == usage
    assert keep.rewrite("data: not json") == b"data: not json\n\n"


# -- retry -------------------------------------------------------------------------------------
def test_retry_retries_only_what_it_is_told_and_then_reraises():
    calls = []

    def flaky(fail_times: int, exc: Exception):
        calls.append(1)
        if len(calls) <= fail_times:
            raise exc
        return "ok"

    assert Retry(attempts=3, on=(httpx.ConnectError,), backoff_s=0).call(flaky, 2, httpx.ConnectError("x")) == "ok"
    calls.clear()
    with pytest.raises(httpx.ConnectError, match="down"):
        Retry(attempts=2, on=(httpx.ConnectError,), backoff_s=0).call(flaky, 5, httpx.ConnectError("down"))
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ValueError, match="not retried"):
        Retry(attempts=5, on=(httpx.ConnectError,), backoff_s=0).call(flaky, 5, ValueError("not retried"))
    assert len(calls) == 1

    async def aflaky():
        calls.append(1)
        if len(calls) < 3:
            raise httpx.RemoteProtocolError("dropped")
        return 7

    calls.clear()
    assert asyncio.run(Retry(attempts=3, on=(httpx.RemoteProtocolError,), backoff_s=0).acall(aflaky)) == 7
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        Retry(attempts=0)


# -- child processes and pidfiles --------------------------------------------------------------
def test_pidfile_record_matches_only_that_very_process(tmp_path):
    proc = spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while ProcessRecord.of(proc.pid).cmdline[:2] != [sys.executable, "-c"] and time.monotonic() < deadline:
            time.sleep(0.02)  # the exec shim replaces itself with the command
        rec = ProcessRecord.of(proc.pid, port=1)
        assert rec.pgid == proc.pid  # its own session: the group can be killed as one
        rec.write(tmp_path / "x.pid")
        again = ProcessRecord.read(tmp_path / "x.pid")
        assert again == rec and again.is_running()
        other = ProcessRecord(rec.pid, rec.pgid, rec.start_ticks, rec.cmdline + ["--other"])
        assert not other.is_running()  # same pid, other command line: not ours
        assert not ProcessRecord(rec.pid, rec.pgid, (rec.start_ticks or 0) + 1, rec.cmdline).is_running()
        assert kill_group(rec.pgid, grace_s=5, proc=proc) and not group_members(rec.pgid)
        assert not again.is_running()
    finally:
        proc.kill()
        proc.wait()
    for garbage in ("", "{", "[]", '{"pid": 1, "pgid": 1, "cmdline": ["x"]}', '{"pid": "x"}'):
        (tmp_path / "g.pid").write_text(garbage)
        assert ProcessRecord.read(tmp_path / "g.pid") is None
    assert ProcessRecord.read(tmp_path / "missing.pid") is None


@pytest.mark.parametrize(
    "child",
    [
        "import time; time.sleep(120)",
        # deaf to SIGTERM, as vLLM is while its HTTP server starts
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)",
    ],
    ids=["obeys-sigterm", "ignores-sigterm"],
)
def test_a_spawned_child_dies_with_its_parent_even_on_sigkill(child):
    code = (
        f"import sys, time; sys.path.insert(0, {os.getcwd()!r})\n"
        "from ssd.child_process import spawn\n"
        f"p = spawn([sys.executable, '-c', {child!r}], kill_after_s=2)\n"
        "print(p.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(0.5)  # let the child set its SIGTERM handler
    assert group_members(child_pid) == [child_pid]
    parent.kill()
    parent.wait()
    t0 = time.monotonic()
    while group_members(child_pid) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert not group_members(child_pid)


def test_spawn_works_in_a_forked_child():
    spawn([sys.executable, "-c", "pass"]).wait()  # the spawner thread exists in the parent
    pid = os.fork()
    if pid == 0:  # the child: no threads were copied, spawn must still work
        try:
            os._exit(spawn([sys.executable, "-c", "import sys; sys.exit(7)"]).wait(timeout=30))
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


def _watchdogs_of(pgids: set[int]) -> list[int]:
    """Live watchdogs (``python -m ssd.child_process --watch PARENT PGID ...``) this process
    started for the groups ``pgids`` (an exited one, a zombie, has no command line)."""
    from ssd.child_process import proc_cmdline

    found = []
    for entry in os.scandir("/proc"):
        cmd = proc_cmdline(int(entry.name)) if entry.name.isdigit() else None
        if cmd and cmd[1:4] == ["-m", "ssd.child_process", "--watch"] and cmd[4] == str(os.getpid()):
            if int(cmd[5]) in pgids:
                found.append(int(entry.name))
    return found


def _reaper_threads() -> int:
    import threading

    return sum(t.name == "ssd-child-watchdog-reaper" for t in threading.enumerate())


def _wait_until(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_watchdogs_exit_once_their_child_group_is_gone():
    """A long-running daemon spawns many children (vLLM restarts): each watchdog must leave
    with its child's group, however that group ends, or they pile up."""
    reapers_before = _reaper_threads()
    ends = [spawn([sys.executable, "-c", "pass"]) for _ in range(4)]  # end on their own
    stopped = [spawn([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)]
    # The leader exits at once, a grandchild in its group lives on: the group is not gone yet.
    grandchild = "import subprocess; subprocess.Popen(['sleep', '60']); print('up', flush=True)"
    lingering = spawn([sys.executable, "-c", grandchild], stdout=subprocess.PIPE, text=True)
    assert lingering.stdout.readline() == "up\n"
    lingering.wait(30)
    pgids = {p.pid for p in [*ends, *stopped, lingering]}
    assert len(_watchdogs_of(pgids)) >= 4  # the sleepers' and the lingering group's at least
    for p in ends:
        p.wait(30)
    for p in stopped:
        assert kill_group(p.pid, grace_s=5, proc=p)
    _wait_until(lambda: _watchdogs_of(pgids) == _watchdogs_of({lingering.pid}), 10, "watchdogs of gone groups linger")
    assert len(_watchdogs_of({lingering.pid})) == 1  # its group still has a member: still watched
    assert kill_group(lingering.pid, grace_s=5)
    _wait_until(lambda: not _watchdogs_of(pgids), 10, "a watchdog outlives its group")
    _wait_until(lambda: _reaper_threads() <= reapers_before, 10, "reaper threads linger")


# -- `ssdd serve`'s signal handling, without vLLM ----------------------------------------------------
SERVE_LIKE = """
import sys, time
sys.path.insert(0, {repo!r})
from daemon.serving.serve import graceful_signals
from ssd.child_process import kill_group, spawn
with graceful_signals(bound_s=3):
    child = spawn([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        print(child.pid, flush=True)
        time.sleep(120)
    finally:
        if {hang}:
            time.sleep(120)  # a shutdown path that hangs
        kill_group(child.pid, grace_s=5, proc=child)
        print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_sigint_and_sigterm_take_the_shutdown_path(sig):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_LIKE.format(repo=os.getcwd(), hang=False)], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(proc.stdout.readline())
        proc.send_signal(sig)
        assert proc.wait(30) == 0  # not 143: SIGTERM unwinds like SIGINT
        out = proc.stdout.read()
        assert "serve.shutdown" in out and out.endswith("stopped\n") and not group_members(child)
    finally:
        proc.kill()
        proc.wait()


def test_a_hanging_shutdown_is_cut_off_at_its_bound():
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_LIKE.format(repo=os.getcwd(), hang=True)], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(proc.stdout.readline())
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)  # a second signal neither cuts it short nor lengthens it
        assert proc.wait(30) == 1
        assert 2.5 < time.monotonic() - t0 < 15
    finally:
        proc.kill()
        proc.wait()
    _wait_until(lambda: not group_members(child), 20, "the child outlived the forced exit")
