"""The local backend (opt-in, weaker isolation): each kind and the resource limits."""

from __future__ import annotations

import textwrap
import time

import pytest

from sandbox import SandboxConfig, SandboxLimits, TestStatus, open_sandbox
from sandbox_problems import ADD, ADD_PROGRAM, assert_kind, call

LIMITS = SandboxLimits(test_timeout_s=3.0, test_cpu_s=2.0, memory_mb=256, pids=32)


@pytest.fixture(scope="module")
def local_sandbox():
    with open_sandbox(SandboxConfig(backend="local", workers=2, limits=LIMITS)) as sb:
        yield sb


def test_local_kinds(local_sandbox):
    add_call = call("add", [([1, 2], 3), ([True, 1], 2)])
    add_assert = assert_kind("def check(candidate):\n    assert candidate(1, 2) == 3\n", "add")
    eq_obj = "class A:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return A()"
    v = local_sandbox.judge_many([
        (ADD, ADD_PROGRAM),
        (ADD, "print(4)"),
        (add_call, "class Solution:\n    def add(self, a, b):\n        return a + b"),
        (add_call, eq_obj),
        (add_assert, "def add(a, b):\n    return a + b"),
        (add_assert, eq_obj),
        (add_assert, "import os\ndef add(a, b):\n    os._exit(0)"),
    ])
    assert [x.passed for x in v] == [True, False, True, False, True, False, False]


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
    v = local_sandbox.judge_many([
        (ADD, "while True:\n    pass"),
        (ADD, "import time\ntime.sleep(100)"),
        (ADD, "x = bytearray(4 << 30)\nprint(3)"),
        (ADD, fork_bomb),
        (ADD, daemon),
    ])
    assert v[0].status == TestStatus.timeout
    assert v[1].status == TestStatus.timeout
    assert v[2].status == TestStatus.memory_exceeded
    assert not v[3].passed
    assert not v[4].passed
    assert time.monotonic() - t0 < 30
    # The host is fine and the next program passes.
    assert local_sandbox.judge(ADD, ADD_PROGRAM).passed
