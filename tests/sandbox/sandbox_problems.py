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
