"""The packaged starter set: well-formed, and its reference/wrong solutions judged as labelled."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from ssd.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from ssd.sources.starter import load_starter, starter_solutions

REPO = Path(__file__).resolve().parents[1]


def _build_module():
    spec = importlib.util.spec_from_file_location(
        "build_starter_set", REPO / "scripts" / "build_starter_set.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look the module up while the class is built
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def build():
    return _build_module()


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_starter()


def _case_count(p: Problem) -> int:
    t = p.tests
    if isinstance(t, AssertTests):
        return sum(1 for n in ast.walk(ast.parse(t.code)) if isinstance(n, ast.Assert))
    assert isinstance(t, (CallTests, StdioTests))
    return len(t.cases)


def test_schema_and_mix(problems):
    assert len(problems) >= 150
    ids = [p.id for p in problems]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    kinds = Counter(p.tests.kind for p in problems if p.tests)
    assert all(kinds[k] >= 30 for k in ("call", "stdio", "assert")), kinds
    assert set(p.difficulty for p in problems) == {"easy", "medium"}
    assert Counter(p.difficulty for p in problems)["easy"] > len(problems) / 2
    for p in problems:
        assert p.id.startswith("starter/") and p.meta["source"] == "starter"
        assert p.tests is not None, p.id
        assert 5 <= _case_count(p) <= 10, p.id
        if isinstance(p.tests, StdioTests):
            assert p.starter_code is None, p.id
            assert all(c.output.strip() for c in p.tests.cases), p.id
        else:
            name = p.tests.fn_name if isinstance(p.tests, CallTests) else p.tests.entry_point
            assert p.starter_code and f"def {name}(" in p.starter_code, p.id
            assert f"`{name}`" in p.prompt, p.id
            compile(p.starter_code, p.id, "exec")  # signature + docstring is valid Python


def test_one_reference_and_one_wrong_each(problems):
    refs = starter_solutions("reference")
    wrongs = starter_solutions("wrong")
    ids = sorted(p.id for p in problems)
    assert sorted(s.problem_id for s in refs) == ids
    assert sorted(s.problem_id for s in wrongs) == ids
    by_ref = {s.problem_id: s.program for s in refs}
    for s in wrongs:
        assert s.program.strip() and s.program != by_ref[s.problem_id], s.problem_id
    with pytest.raises(ValueError):
        starter_solutions("canonical")


def _tiny_problems() -> tuple[list[Problem], dict[str, str]]:
    call = Problem(id="t/call", prompt="double", tests=CallTests(
        kind="call", fn_name="double", cases=[CallCase(input=[2], output=4),
                                              CallCase(input=[0], output=0)]))
    stdio = Problem(id="t/stdio", prompt="echo sum", tests=StdioTests(
        kind="stdio", cases=[StdioCase(input="1 2\n", output="3\n")]))
    asserted = Problem(id="t/assert", prompt="inc", tests=AssertTests(
        kind="assert", entry_point="inc", code="def check(c):\n    assert c(1) == 2\n"))
    refs = {"t/call": "def double(x):\n    return 2 * x\n",
            "t/stdio": "print(sum(map(int, input().split())))\n",
            "t/assert": "def inc(x):\n    return x + 1\n"}
    return [call, stdio, asserted], refs


def test_local_verify_flags_bad_pairs(build):
    problems, refs = _tiny_problems()
    good_wrongs = {"t/call": "def double(x):\n    return 3 * x\n",
                   "t/stdio": "print(1)\n",
                   "t/assert": "def inc(x):\n    return x\n"}
    assert build.verify(problems, refs, good_wrongs, workers=1).failures == []
    # A "wrong" program that is right, and a reference that is wrong, must both be reported.
    bad = build.verify(problems, {**refs, "t/stdio": "print(4)\n"}, refs, workers=1)
    assert sorted(bad.failures) == [
        "t/assert: wrong solution passes all 1",
        "t/call: wrong solution passes all 2",
        "t/stdio: reference passes only 0/1",
        "t/stdio: wrong solution passes all 1",
    ]


def test_local_comparison_rules(build):
    assert build.stdio_equal("  3 \n\n", "3\n")
    assert build.stdio_equal("2.50\n", "2.5")
    assert not build.stdio_equal("2.51\n", "2.5")
    assert not build.stdio_equal("1\n2\n", "1\n")
    assert build.json_equal([1, [2.0]], [1, [2]])
    assert not build.json_equal(True, 1)
    assert not build.json_equal({"a": 1}, {"a": 1, "b": 2})


@pytest.mark.slow
def test_packaged_files_match_definitions(build):
    """The JSONL is exactly what the definitions build to (deterministic, not hand-edited)."""
    assert build.main(["--check"]) == 0


@pytest.mark.slow
def test_local_judge_reference_passes_wrong_fails(build, problems):
    refs = {s.problem_id: s.program for s in starter_solutions("reference")}
    wrongs = {s.problem_id: s.program for s in starter_solutions("wrong")}
    report = build.verify(problems, refs, wrongs)
    assert report.failures == []
    # Plausible bugs: wrong programs still pass a fair share of cases, not none at all.
    assert 0.2 < report.wrong_pass_fraction < 0.9


@pytest.mark.docker
@pytest.mark.slow
def test_sandbox_reference_passes_wrong_fails(docker_sandbox, problems):
    by_id = {p.id: p for p in problems}
    refs = starter_solutions("reference")
    wrongs = starter_solutions("wrong")
    jobs = [(by_id[s.problem_id], s.program) for s in refs + wrongs]
    verdicts = docker_sandbox.judge_many(jobs)
    n = len(refs)
    ref_fail = [(v.problem_id, v.status.value, v.error) for v in verdicts[:n] if not v.passed]
    wrong_pass = [v.problem_id for v in verdicts[n:] if v.passed]
    assert ref_fail == []
    assert wrong_pass == []
    assert all(v.error is None for v in verdicts[n:])  # wrong ones fail on tests, not infra


@pytest.mark.docker
def test_sandbox_sample_per_kind(docker_sandbox, problems):
    """Fast slice of the full check: the first easy and first medium problem of each kind."""
    sample: dict[tuple[str, str], Problem] = {}
    for p in problems:
        sample.setdefault((p.tests.kind, p.difficulty), p)
    assert len(sample) == 6
    refs = {s.problem_id: s.program for s in starter_solutions("reference")}
    wrongs = {s.problem_id: s.program for s in starter_solutions("wrong")}
    picked = list(sample.values())
    verdicts = docker_sandbox.judge_many([(p, refs[p.id]) for p in picked]
                                         + [(p, wrongs[p.id]) for p in picked])
    assert [v.passed for v in verdicts] == [True] * 6 + [False] * 6, \
        [(v.problem_id, v.status.value, v.error) for v in verdicts]
