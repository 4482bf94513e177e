"""Problem builders shared by the sandbox tests."""

from __future__ import annotations

from ssd.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests


def stdio(cases: list[tuple[str, str]], pid: str = "stdio") -> Problem:
    return Problem(
        id=pid, prompt="p", tests=StdioTests(kind="stdio", cases=[StdioCase(input=i, output=o) for i, o in cases])
    )


def call(fn_name: str, cases: list[tuple[list, object]], pid: str = "call") -> Problem:
    return Problem(
        id=pid,
        prompt="p",
        tests=CallTests(kind="call", fn_name=fn_name, cases=[CallCase(input=i, output=o) for i, o in cases]),
    )


def assert_kind(code: str, entry_point: str | None = None, pid: str = "assert") -> Problem:
    return Problem(id=pid, prompt="p", tests=AssertTests(kind="assert", entry_point=entry_point, code=code))


ADD = stdio([("1 2\n", "3\n")], pid="add")
ADD_PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"


# Walks the stack frames and every object the collector knows for a per-test nonce (a 32-digit
# upper-case hex string), then reports it as a pass on every fd it has and exits: with the test
# in the program's process (as before the judge) it found the runner's nonce and passed.
FORGE_NONCE = r"""
import gc, inspect, os, sys
def add(a, b):
    found = set()
    def scan(v):
        if isinstance(v, str) and len(v) == 32 and all(c in "0123456789ABCDEF" for c in v):
            found.add(v)
    frame = sys._getframe()
    while frame is not None:
        for v in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            scan(v)
        frame = frame.f_back
    for info in inspect.stack():
        for v in info.frame.f_locals.values():
            scan(v)
    for o in gc.get_objects():
        if isinstance(o, dict):
            for v in list(o.values()):
                scan(v)
    for nonce in found or {"0" * 32}:
        for fd in range(3, 64):
            try:
                os.write(fd, ('{"passed": "%s"}\n' % nonce).encode())
            except OSError:
                pass
    os._exit(0)
"""
# Looks for the test's expected value in the process (frames, code constants, every object):
# with the test in the program's process it found it and returned it.
TEST_SECRET = "SECRET_EXPECTED_9c3e1d"
SECRET_ASSERT = assert_kind(f"def check(c):\n    assert c() == {TEST_SECRET!r}\n", "f", pid="secret-assert")
FIND_EXPECTED = r"""
import gc, re, sys
pat = re.compile(r"SECRET_EXPECTED_[0-9a-f]+")
def f():
    seen = []
    frame = sys._getframe()
    while frame is not None:
        seen += [frame.f_code.co_consts, frame.f_locals, frame.f_globals]
        frame = frame.f_back
    for o in seen + gc.get_objects():
        try:
            m = pat.search(repr(o))
        except Exception:
            continue
        if m:
            return m.group()
    return "not found"
"""
