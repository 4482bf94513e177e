"""The local backend (opt-in, weaker isolation): each kind and the resource limits, exact statuses."""

from __future__ import annotations

import textwrap
import time

import pytest
from sandbox_problems import ADD, ADD_PROGRAM, FIND_EXPECTED, FORGE_NONCE, SECRET_ASSERT, assert_kind, call

from sandbox import SandboxConfig, SandboxLimits, TestStatus, open_sandbox

LIMITS = SandboxLimits(test_timeout_s=3.0, test_cpu_s=2.0, memory_mb=256, pids=32)
ADD_ASSERT = assert_kind("def check(candidate):\n    assert candidate(1, 2) == 3\n", "add")


@pytest.fixture(scope="module")
def local_sandbox():
    with open_sandbox(SandboxConfig(backend="local", workers=2, limits=LIMITS)) as sb:
        yield sb


def test_local_kinds(local_sandbox):
    add_call = call("add", [([1, 2], 3), ([True, 1], 2)])
    add_assert = assert_kind("def check(candidate):\n    assert candidate(1, 2) == 3\n", "add")
    eq_obj = "class A:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return A()"
    v = local_sandbox.judge_many(
        [
            (ADD, ADD_PROGRAM),
            (ADD, "print(4)"),
            (add_call, "class Solution:\n    def add(self, a, b):\n        return a + b"),
            (add_call, eq_obj),
            (add_assert, "def add(a, b):\n    return a + b"),
            (add_assert, eq_obj),
            (add_assert, "import os\ndef add(a, b):\n    os._exit(0)"),
        ]
    )
    S = TestStatus
    assert [x.status for x in v] == [S.ok, S.wrong_answer, S.ok, S.wrong_answer, S.ok, S.wrong_answer, S.runtime_error]
    assert v[3].tests[0].detail == "return value is not JSON (A)"
    assert v[5].tests[0].detail == "candidate returned a non-builtin A"
    assert v[6].tests[0].detail == "the program stopped answering (exit code 0)"  # os._exit in the candidate
    assert all(x.error is None for x in v)


def test_local_timeout_memory_fork_bomb(local_sandbox):
    fork_bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    daemon = textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(1.0)
            print(3, flush=True)
            time.sleep(100)
    """)
    t0 = time.monotonic()
    # Alone: RLIMIT_NPROC counts uid 65534 host-wide, so a fork bomb next to it would make the
    # daemon's own fork fail and the attack would not be tried at all.
    d = local_sandbox.judge(ADD, daemon)
    assert d.status == TestStatus.wrong_answer and d.tests[0].detail == "output differs", d
    v = local_sandbox.judge_many(
        [
            (ADD, "while True:\n    pass"),
            (ADD, "import time\ntime.sleep(100)"),
            (ADD, "x = bytearray(4 << 30)\nprint(3)"),
            (ADD, fork_bomb),
        ]
    )
    assert [x.status for x in v] == [
        TestStatus.timeout,
        TestStatus.timeout,
        TestStatus.memory_exceeded,
        TestStatus.timeout,
    ], v
    assert all(x.error is None for x in v)
    assert time.monotonic() - t0 < 30
    # The host is fine and the next program passes.
    assert local_sandbox.judge(ADD, ADD_PROGRAM).passed


@pytest.mark.parametrize(
    ("exit_code", "cpu_s", "status"),
    [
        (-24, 2.86, "timeout"),  # SIGXCPU below the tick-sampled limit: seen in a hostile-suite run
        (-24, 3.0, "timeout"),
        (-9, 3.0, "timeout"),  # SIGKILL at the hard CPU limit
        (-9, 0.5, "runtime_error"),  # SIGKILL well under it: not a CPU timeout
    ],
)
def test_cpu_limit_signals_are_timeouts(exit_code, cpu_s, status):
    from sandbox.harness import classify

    rec = {"exit": exit_code, "cpu_s": cpu_s, "wall_s": cpu_s, "stderr": "", "clean": True}
    limits = {"cpu_s": 3.0, "memory_mb": 256}
    assert classify("stdio", rec, None, limits, 0, b"", "n")["status"] == status


def test_local_assert_kind_program_cannot_forge_a_pass_or_read_the_test(local_sandbox):
    # The same attacks as the Docker hostile suite: the test runs in the judge process.
    forge, find = local_sandbox.judge_many([(ADD_ASSERT, FORGE_NONCE), (SECRET_ASSERT, FIND_EXPECTED)])
    assert forge.status == TestStatus.runtime_error, forge.tests
    assert find.status == TestStatus.wrong_answer, find.tests
    assert local_sandbox.judge(ADD_ASSERT, "def add(a, b):\n    return a + b").passed
