"""Each test kind judged in the real Docker sandbox, with the edge cases of the format."""

from __future__ import annotations

import pytest
from sandbox_problems import ADD, ADD_PROGRAM, assert_kind, call, stdio

from sandbox import TestStatus

pytestmark = pytest.mark.docker


def verdicts(sb, jobs):
    return sb.judge_many(jobs)


def test_stdio_cases(docker_sandbox):
    sum_problem = stdio([("1 2\n", "3\n"), ("10 20\n", "30"), ("-1 1\n", "0\n")], pid="sum")
    half = stdio([("1\n", "0.50\n")], pid="half")
    lines = stdio([("", "a\n\nb\n")], pid="blank-line")
    upper = stdio([("", "YES\n")], pid="case")
    many = stdio([("3\n1\n2\n3\n", "6\n")], pid="iterate")
    jobs = [
        (sum_problem, ADD_PROGRAM),  # 0 ok
        (sum_problem, "a, b = map(int, input().split())\nprint(a + b, '  ')\nprint()\n"),  # 1 trailing ws
        (sum_problem, "print(3)"),  # 2 wrong on case 2
        (half, "print(0.5)"),  # 3 float tokens
        (half, "print('0.5000001')"),  # 4
        (lines, "print('a'); print(); print('b')"),  # 5 blank line inside
        (lines, "print('a'); print('b')"),  # 6 missing blank line
        (upper, "print('yes')"),  # 7 case-sensitive
        (upper, "print('YES')"),  # 8
        (many, "import sys\nnext(sys.stdin)\nprint(sum(int(l) for l in sys.stdin))"),  # 9 iteration
        (many, "d = open(0).read().split()\nprint(sum(map(int, d[1:])))"),  # 10 open(0)
        (many, "import sys\nd = sys.stdin.buffer.read().split()\nprint(sum(map(int, d[1:])))"),  # 11
        (sum_problem, "import sys\nsys.stdout.write('3')\nsys.exit(0)"),  # 12 exit(0) after output, case 2 wrong
        (ADD, "print(3)\nraise SystemExit(1)"),  # 13 right output, non-zero exit
        (ADD, "def f(:\n"),  # 14 syntax error
        (ADD, "a, b = map(int, input().split())\nprint(a + b)\nexit()"),  # 15 site's exit()
    ]
    v = verdicts(docker_sandbox, jobs)
    assert v[0].passed and len(v[0].tests) == 3
    assert v[1].passed
    assert not v[2].passed and [t.status for t in v[2].tests] == [TestStatus.ok, TestStatus.wrong_answer]
    assert v[3].passed
    assert not v[4].passed and v[4].status == TestStatus.wrong_answer
    assert v[5].passed
    assert v[6].status == TestStatus.wrong_answer
    assert v[7].status == TestStatus.wrong_answer
    assert v[8].passed
    assert v[9].passed and v[10].passed and v[11].passed
    assert not v[12].passed and v[12].tests[0].status == TestStatus.ok
    assert not v[13].passed and v[13].status == TestStatus.runtime_error
    assert v[14].status == TestStatus.runtime_error and "SyntaxError" in v[14].tests[0].stderr
    assert v[15].passed
    assert all(t.wall_s > 0 and t.cpu_s > 0 for t in v[0].tests)


def test_stdio_large_input(docker_sandbox):
    data = "x" * (8 << 20)
    p = stdio([(data + "\n", str(len(data)))], pid="big-input")
    v = docker_sandbox.judge(p, "import sys\nprint(len(sys.stdin.read().strip()))")
    assert v.passed, v


def test_call_cases(docker_sandbox):
    add = call("add", [([1, 2], 3), ([0.5, 0.5], 1)])
    pair = call("pair", [([1], [1, 2])])
    flag = call("flag", [([], True)])
    num = call("num", [([], 1)])
    nested = call("nested", [([{"a": [1, 2]}], {"a": [1, 2], "n": None})])
    jobs = [
        (add, "def add(a, b):\n    return a + b"),  # 0
        (add, "class Solution:\n    def add(self, a, b):\n        return a + b"),  # 1 Solution class
        (pair, "def pair(a):\n    return (a, a + 1)"),  # 2 tuple counts as a list
        (flag, "def flag():\n    return 1"),  # 3 int is not a bool
        (num, "def num():\n    return True"),  # 4 bool is not an int
        (num, "def num():\n    return 1.0"),  # 5 float vs int is fine
        (flag, "def flag():\n    return True"),  # 6
        (nested, "def nested(d):\n    return dict(d, n=None)"),  # 7
        (add, "def add(a, b):\n    return {a, b}"),  # 8 set: not JSON
        (add, "def other(a, b):\n    return a + b"),  # 9 missing function
        (add, "def add(a, b):\n    raise ValueError('x')"),  # 10
        (add, "print('3')\ndef add(a, b):\n    return a - b"),  # 11 stdout is not the answer
        (add, "import sys\ndef add(a, b):\n    sys.exit(0)"),  # 12 exit instead of returning
        (add, "def add(a, b):\n    l = []\n    l.append(l)\n    return l"),  # 13 cycle
    ]
    v = verdicts(docker_sandbox, jobs)
    assert v[0].passed and v[1].passed and v[2].passed
    assert v[3].status == TestStatus.wrong_answer
    assert v[4].status == TestStatus.wrong_answer
    assert v[5].passed and v[6].passed and v[7].passed
    assert v[8].status == TestStatus.wrong_answer and "JSON" in v[8].tests[0].detail
    assert v[9].status == TestStatus.runtime_error
    assert v[10].status == TestStatus.runtime_error and "ValueError" in v[10].tests[0].stderr
    assert v[11].status == TestStatus.wrong_answer
    assert v[12].status == TestStatus.runtime_error
    assert v[13].status == TestStatus.wrong_answer


def test_assert_cases(docker_sandbox):
    he = assert_kind("def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n", "sq")
    plain = assert_kind("assert sq(2) == 4\nassert sq(3) == 9\n")
    tol = assert_kind("def check(c):\n    assert abs(c() - 0.1) < 1e-9\n", "f")
    jobs = [
        (he, "def sq(x):\n    return x * x"),  # 0
        (he, "def sq(x):\n    return x + x"),  # 1
        (plain, "def sq(x):\n    return x * x"),  # 2 no entry point: module-level asserts
        (plain, "def sq(x):\n    return 4"),  # 3
        (he, "def square(x):\n    return x * x"),  # 4 entry point missing
        (he, "import sys\nsys.exit(0)\ndef sq(x):\n    return x * x"),  # 5
        (tol, "import builtins\nbuiltins.abs = lambda x: 0\ndef f():\n    return 5"),  # 6 patched builtins
        (he, "def sq(x):\n    return (x * x, )[0]"),  # 7
        (plain, "def sq(x):\n    return sq_helper(x)\ndef sq_helper(x):\n    return x * x"),  # 8
    ]
    v = verdicts(docker_sandbox, jobs)
    assert v[0].passed
    assert v[1].status == TestStatus.wrong_answer
    assert v[2].passed
    assert v[3].status == TestStatus.wrong_answer
    assert v[4].status == TestStatus.runtime_error
    assert v[5].status == TestStatus.runtime_error and v[5].tests[0].detail == "SystemExit raised"
    assert v[6].status == TestStatus.wrong_answer and v[6].tests[0].detail == "assertion failed"
    assert v[7].passed and v[8].passed


def test_no_tests_is_value_error(docker_sandbox):
    from ssd.problems import Problem

    p = Problem(id="none", prompt="p", tests=None)
    with pytest.raises(ValueError, match="none"):
        docker_sandbox.judge(p, "print(1)")
    with pytest.raises(ValueError, match="'none' has no tests"):
        docker_sandbox.judge_many([(ADD, ADD_PROGRAM), (p, "print(1)")])


def test_progress_bar_keeps_order(docker_sandbox):
    jobs = [(ADD, ADD_PROGRAM if i % 2 == 0 else "print(4)") for i in range(6)]
    v = docker_sandbox.judge_many(jobs, progress=True)
    assert [x.passed for x in v] == [True, False] * 3
