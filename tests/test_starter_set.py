"""The packaged starter set: well-formed, and its reference/wrong solutions judged as labelled."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from ssd.problems import AssertTests, CallCase, CallTests, InputError, Problem, StdioCase, StdioTests
from ssd.sources.starter import CallDef, StdioDef, load_defs, load_starter, parse_def, starter_solutions

REPO = Path(__file__).resolve().parents[1]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_starter_set", REPO / "scripts" / "build_starter_set.py")
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
    with pytest.raises(ValueError, match="role must be one of .*got 'canonical'"):
        starter_solutions("canonical")


def test_definitions_are_the_built_set(problems):
    """One YAML file per problem, named by its id, in the same order as the built set."""
    defs = load_defs()
    assert [d.id for d in defs] == [p.id for p in problems]
    by_id = {s.problem_id: s.program for s in starter_solutions("reference")}
    for d in defs:
        assert d.path.endswith(d.id.removeprefix("starter/") + ".yaml")
        assert by_id[d.id] == d.spec.reference


_GOOD_CALL = """\
kind: call
difficulty: easy
signature: "def double(x: int) -> int:"
statement: Return twice `x`.
cases: [[1], [2], [3], [4], [5]]
reference: |
  def double(x):
      return 2 * x
wrong: |
  def double(x):
      return x + 2
"""

_GOOD_STDIO = """\
kind: stdio
difficulty: medium
statement: |-
  Echo a line.

  Input: one line.
cases:
  - |
    a
  - "b\\n"
  - c
  - d
  - e
reference: |
  print(input())
wrong: |
  print(input()[1:])
"""


def test_schema_accepts_a_good_definition():
    d = parse_def(_GOOD_CALL, "defs/007-double.yaml")
    assert d.id == "starter/007-double"
    assert isinstance(d.spec, CallDef) and d.spec.fn_name == "double" and not d.spec.method
    assert d.spec.cases[0] == [1] and d.spec.reference.endswith("return 2 * x\n")
    s = parse_def(_GOOD_STDIO, "defs/008-echo.yaml").spec
    assert isinstance(s, StdioDef)
    assert s.statement == "Echo a line.\n\nInput: one line."
    assert s.cases[:2] == ["a\n", "b\n"]


@pytest.mark.parametrize(
    "text, where",
    [
        (_GOOD_CALL + "hint: none\n", "hint: Extra inputs are not permitted"),
        (_GOOD_CALL.replace("kind: call", "kind: func"), "kind: Input tag 'func' found"),
        (_GOOD_CALL.replace("kind: call\n", ""), "kind: Unable to extract tag"),
        (_GOOD_CALL.replace("difficulty: easy", "difficulty: hard"), "difficulty: Input should be"),
        (_GOOD_CALL + 'method: "yes"\n', "method: Input should be a valid boolean"),
        (
            _GOOD_CALL.replace("[[1], [2], [3], [4], [5]]", "[[1], [2], [3], [4]]"),
            "cases: List should have at least 5 items",
        ),
        (
            _GOOD_CALL.replace("[[1], [2], [3], [4], [5]]", "[[1], [2], [3], [4], [1]]"),
            "cases: duplicate test case [1]",
        ),
        (_GOOD_CALL.replace("[[1], [2], [3], [4], [5]]", "[1, 2, 3, 4, 5]"), "cases.0: Input should be a valid list"),
        (
            _GOOD_CALL.replace('signature: "def double(x: int) -> int:"', "signature: double(x)"),
            "signature: is not a def line",
        ),
        (_GOOD_CALL.replace("      return x + 2", "      return x +"), "wrong: does not compile"),
        (
            _GOOD_CALL.replace("def double(x):\n      return x + 2", "def triple(x):\n      return 3"),
            "wrong: does not define double",
        ),
        (_GOOD_CALL.replace("return x + 2", "return 2 * x"), "wrong: equals the reference"),
        (_GOOD_CALL + "method: true\n", "reference: does not define Solution"),
        (_GOOD_CALL.replace("Return twice", "Return \\\\ twice"), "statement: must not contain"),
        (
            _GOOD_CALL.replace("kind: call", "kind: assert") + "method: false\n",
            "method: Extra inputs are not permitted",
        ),
        (_GOOD_STDIO + 'signature: "def f():"\n', "signature: Extra inputs are not permitted"),
        (_GOOD_STDIO.replace("  - c\n", "  - 3\n"), "cases.2: Input should be a valid string"),
        ("kind: [call\n", "not valid YAML"),
        ("- kind: call\n", "must be a YAML mapping"),
    ],
)
def test_schema_errors_name_file_and_field(text, where):
    with pytest.raises(InputError) as err:
        parse_def(text, "defs/007-double.yaml")
    assert err.value.source == "defs/007-double.yaml"
    assert where in err.value.message, err.value.message


@pytest.mark.parametrize(
    "name", ["7-double.yaml", "007_double.yaml", "007-Double.yaml", "007-double-.yaml", "0007-double.yaml"]
)
def test_file_name_is_the_id(name):
    with pytest.raises(InputError, match="file name must be NNN-slug.yaml"):
        parse_def(_GOOD_CALL, f"defs/{name}")


def test_load_defs_rejects_shared_numbers_and_slugs(tmp_path):
    (tmp_path / "001-double.yaml").write_text(_GOOD_CALL)
    (tmp_path / "README.md").write_text("not a definition")
    assert [d.id for d in load_defs(tmp_path)] == ["starter/001-double"]
    (tmp_path / "002-double.yaml").write_text(_GOOD_CALL)
    with pytest.raises(InputError, match="slug 'double' is also used by"):
        load_defs(tmp_path)
    (tmp_path / "002-double.yaml").rename(tmp_path / "001-twice.yaml")
    with pytest.raises(InputError, match="number 001 is also used by") as err:
        load_defs(tmp_path)
    assert err.value.source.endswith("001-twice.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no \\*.yaml definitions"):
        load_defs(tmp_path / "empty")


def test_build_collects_every_failing_reference(build, tmp_path):
    """A reference that crashes is reported by problem id, and nothing is built."""
    (tmp_path / "001-double.yaml").write_text(_GOOD_CALL)
    (tmp_path / "002-echo.yaml").write_text(_GOOD_STDIO.replace("print(input())", "print(input() + 1)"))
    with pytest.raises(build.BuildError) as err:
        build.build_all(workers=1, defs_dir=tmp_path)
    assert "1 bad definition(s)" in str(err.value)
    assert "starter/002-echo: reference fails on case 0" in str(err.value)
    (tmp_path / "002-echo.yaml").write_text(_GOOD_STDIO)
    built = build.build_all(workers=1, defs_dir=tmp_path)
    assert [b.problem.id for b in built] == ["starter/001-double", "starter/002-echo"]
    assert built[0].problem.tests.cases[1].output == 4


def _tiny_problems() -> tuple[list[Problem], dict[str, str]]:
    call = Problem(
        id="t/call",
        prompt="double",
        tests=CallTests(
            kind="call", fn_name="double", cases=[CallCase(input=[2], output=4), CallCase(input=[0], output=0)]
        ),
    )
    stdio = Problem(
        id="t/stdio", prompt="echo sum", tests=StdioTests(kind="stdio", cases=[StdioCase(input="1 2\n", output="3\n")])
    )
    asserted = Problem(
        id="t/assert",
        prompt="inc",
        tests=AssertTests(kind="assert", entry_point="inc", code="def check(c):\n    assert c(1) == 2\n"),
    )
    refs = {
        "t/call": "def double(x):\n    return 2 * x\n",
        "t/stdio": "print(sum(map(int, input().split())))\n",
        "t/assert": "def inc(x):\n    return x + 1\n",
    }
    return [call, stdio, asserted], refs


def test_local_verify_flags_bad_pairs(build):
    problems, refs = _tiny_problems()
    good_wrongs = {
        "t/call": "def double(x):\n    return 3 * x\n",
        "t/stdio": "print(1)\n",
        "t/assert": "def inc(x):\n    return x\n",
    }
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
    verdicts = docker_sandbox.judge_many([(p, refs[p.id]) for p in picked] + [(p, wrongs[p.id]) for p in picked])
    assert [v.passed for v in verdicts] == [True] * 6 + [False] * 6, [
        (v.problem_id, v.status.value, v.error) for v in verdicts
    ]
