"""Drives one program's tests through a harness channel; shared by every backend.

The host keeps the expected outputs: it sends the harness only inputs, one case at a time, and
decides stdio/call verdicts itself from the raw output the harness returns. It stops at the
first failing test (only tests that ran are reported).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.compare import json_equal, parse_returned, stdio_equal
from sandbox.config import SandboxLimits
from sandbox.tests_spec import AssertTests, CallTests, Judgeable, StdioTests
from sandbox.verdict import TestResult, TestStatus, Verdict

# Host-side slack on top of a test's own wall limit before the host kills the whole sandbox:
# covers harness and interpreter start-up on a loaded machine.
OUTER_SLACK_S = 10.0


class ChannelError(RuntimeError):
    """The harness stream broke, ended early, or sent something malformed."""


class ChannelTimeout(ChannelError):
    """The harness did not answer in time; the host must kill the sandbox."""


class LineChannel:
    """Splits the harness's byte stream into records (one JSON line each). Backends provide
    ``_fill(deadline, max_bytes)``, which returns the next non-empty chunk of harness stdout
    or raises ChannelError / ChannelTimeout."""

    _buf: bytearray

    def _fill(self, deadline: float, max_bytes: int) -> bytes:
        raise NotImplementedError

    def read_line(self, deadline: float, max_bytes: int) -> bytes:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return line
            if len(self._buf) > max_bytes:
                raise ChannelError("harness record over the size limit")
            self._buf += self._fill(deadline, max_bytes)


class Channel(Protocol):
    def send(self, data: bytes) -> None: ...

    def read_line(self, deadline: float, max_bytes: int) -> bytes: ...

    def close(self) -> None: ...


def frame(obj: Any) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack(">Q", len(body)) + body


def harness_limits(limits: SandboxLimits) -> dict:
    return {
        "timeout_s": limits.test_timeout_s,
        "cpu_s": limits.test_cpu_s,
        "memory_mb": limits.memory_mb,
        "output_bytes": limits.output_bytes,
        "stderr_bytes": limits.stderr_bytes,
        "open_files": limits.open_files,
        "file_size_mb": limits.file_size_mb,
    }


@dataclass
class Job:
    header: dict
    runs: list[dict]  # one message per test, inputs only
    expected: list[Any]  # host-only; None for assert tests


def build_job(problem: Judgeable, program: str, limits: SandboxLimits) -> Job:
    tests = problem.tests
    if tests is None:
        raise ValueError(f"problem {problem.id!r} has no tests to judge against")
    header: dict[str, Any] = {"program": program, "limits": harness_limits(limits)}
    runs: list[dict[str, Any]]
    expected: list[Any]
    if isinstance(tests, StdioTests):
        header["mode"] = "stdio"
        runs = [{"op": "run", "input": c.input} for c in tests.cases]
        expected = [c.output for c in tests.cases]
    elif isinstance(tests, CallTests):
        header.update(mode="call", fn_name=tests.fn_name)
        runs = [{"op": "run", "args": c.input} for c in tests.cases]
        expected = [c.output for c in tests.cases]
    elif isinstance(tests, AssertTests):
        header.update(mode="assert", test=tests.code, entry_point=tests.entry_point)
        runs = [{"op": "run"}]
        expected = [None]
    else:  # pragma: no cover - the tests model admits only the three kinds
        raise ValueError(f"problem {problem.id!r}: unknown tests kind")
    return Job(header, runs, expected)


def _decode(b64: str | None, limit: int) -> str:
    if not b64:
        return ""
    raw = base64.b64decode(b64)
    return raw[-limit:].decode("utf-8", errors="replace") if limit else ""


def judge_record(mode: str, rec: dict, index: int, expected: Any, limits: SandboxLimits) -> TestResult:
    status_name = rec.get("status")
    detail = rec.get("detail")
    if status_name == "done":
        if mode == "stdio":
            out = base64.b64decode(rec.get("stdout", "")).decode("utf-8", errors="replace")
            ok = stdio_equal(out, expected)
        elif mode == "call":
            try:
                ok = json_equal(parse_returned(rec["value"]), expected)
            except (KeyError, ValueError, RecursionError):
                ok = False
        else:
            ok = False
        status = TestStatus.ok if ok else TestStatus.wrong_answer
        detail = None if ok else "output differs"
    else:
        try:
            status = TestStatus(status_name)
        except ValueError:
            status, detail = TestStatus.sandbox_error, f"unknown harness status {status_name!r}"
    return TestResult(
        index=index,
        status=status,
        wall_s=float(rec.get("wall_s", 0.0)),
        cpu_s=float(rec.get("cpu_s", 0.0)),
        stderr=_decode(rec.get("stderr"), limits.stderr_bytes),
        detail=detail,
    )


@dataclass
class Outcome:
    verdict: Verdict
    reusable: bool  # False: the sandbox must be replaced before the next program


def run_job(channel: Channel, problem: Judgeable, job: Job, limits: SandboxLimits) -> Outcome:
    mode = job.header["mode"]
    # A record carries at most the stdout cap and the stderr tail, base64-encoded.
    max_line = (limits.output_bytes + limits.stderr_bytes) * 4 // 3 + (64 << 10)
    results: list[TestResult] = []
    reusable = True
    error = None
    try:
        channel.send(frame(job.header) + frame(job.runs[0]))
        for i, expected in enumerate(job.expected):
            deadline = time.monotonic() + limits.test_timeout_s + OUTER_SLACK_S
            rec = _parse(channel.read_line(deadline, max_line))
            if rec.get("type") != "result":
                raise ChannelError(f"harness: expected a result, got {rec.get('type')!r}")
            result = judge_record(mode, rec, i, expected, limits)
            results.append(result)
            if not rec.get("clean", False):
                reusable = False
            if result.status in (TestStatus.timeout, TestStatus.memory_exceeded, TestStatus.sandbox_error):
                reusable = False  # a kill happened: do not trust this sandbox's state
            if result.status != TestStatus.ok or i + 1 == len(job.runs):
                break
            channel.send(frame(job.runs[i + 1]))
        channel.send(frame({"op": "end"}))
        end = _parse(channel.read_line(time.monotonic() + OUTER_SLACK_S, 1 << 16))
        if end.get("type") != "end" or not end.get("clean", False):
            reusable = False
    except ChannelTimeout:
        reusable = False
        results.append(TestResult(index=len(results), status=TestStatus.timeout, detail="killed by the host"))
    except ChannelError as exc:
        reusable = False
        if len(results) < len(job.runs) and (not results or results[-1].status == TestStatus.ok):
            results.append(TestResult(index=len(results), status=TestStatus.sandbox_error, detail=str(exc)[:200]))
            error = str(exc)
    passed = bool(results) and len(results) == len(job.runs) and all(r.status == TestStatus.ok for r in results)
    return Outcome(Verdict(problem_id=problem.id, passed=passed, tests=results, error=error), reusable)


def _parse(line: bytes) -> dict:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ChannelError("harness sent malformed JSON") from exc
    if not isinstance(obj, dict):
        raise ChannelError("harness sent a non-object record")
    return obj


def sandbox_error(problem: Judgeable, message: str) -> Verdict:
    return Verdict(
        problem_id=problem.id,
        passed=False,
        tests=[TestResult(index=0, status=TestStatus.sandbox_error, detail=message[:200])],
        error=message,
    )
