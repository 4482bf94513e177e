"""Evaluation: accounting over real sandbox verdicts, and end to end through the server."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ssd.evaluate import (
    NO_CODE,
    PASSED,
    EvalConfig,
    EvalReport,
    evaluate,
    judge_results,
    load_report,
    report_table,
    save_report,
    summarize,
)
from ssd.problems import CallCase, CallTests, InputError, Problem
from ssd.prompts import PromptStyle, RenderedPrompt, render_for_model
from ssd.sampling import GenerationResult


def starter_problems() -> list[Problem]:
    return [
        Problem(
            id="add",
            difficulty="easy",
            prompt="Write a function add(a, b) that returns the sum of a and b.",
            starter_code="def add(a, b):\n",
            tests=CallTests(
                kind="call", fn_name="add", cases=[CallCase(input=[1, 2], output=3), CallCase(input=[-5, 5], output=0)]
            ),
        ),
        Problem(
            id="is_even",
            difficulty="easy",
            prompt="Write a function is_even(n) that returns True when n is even and False otherwise.",
            starter_code="def is_even(n):\n",
            tests=CallTests(
                kind="call",
                fn_name="is_even",
                cases=[CallCase(input=[4], output=True), CallCase(input=[7], output=False)],
            ),
        ),
        Problem(
            id="max_list",
            difficulty="medium",
            prompt="Write a function largest(xs) that returns the largest number in the list xs.",
            starter_code="def largest(xs):\n",
            tests=CallTests(
                kind="call",
                fn_name="largest",
                cases=[CallCase(input=[[3, 9, 2]], output=9), CallCase(input=[[-1]], output=-1)],
            ),
        ),
    ]


def test_config_validation():
    assert EvalConfig(t_eval=[0.0, 0.7]).params_for(0.0).n == 1
    assert EvalConfig(n=5).params_for(0.7).n == 5
    for bad, why in [
        (dict(t_eval=[]), r"t_eval\n  List should have at least 1 item"),
        (dict(t_eval=[-0.1]), r"t_eval values must be >= 0"),
        (dict(t_eval=[0.5, 0.5]), r"t_eval has duplicates"),
        (dict(n=0), r"n\n  Input should be greater than or equal to 1"),
        (dict(x=1), r"x\n  Extra inputs are not permitted"),
    ]:
        with pytest.raises(ValidationError, match=why):
            EvalConfig(**bad)


def test_problems_without_tests_are_refused(model_dir):
    probs = starter_problems() + [Problem(id="untested", prompt="Do something.")]
    with pytest.raises(InputError, match="no tests.*untested"):
        evaluate("http://127.0.0.1:9", "m", probs, model_dir, sandbox=None, cfg=EvalConfig())
    with pytest.raises(InputError, match="no problems"):
        evaluate("http://127.0.0.1:9", "m", [], model_dir, sandbox=None, cfg=EvalConfig())


def _res(i: int, pid: str, s: int, text: str, finish: str = "stop") -> GenerationResult:
    return GenerationResult(
        prompt_index=i,
        problem_id=pid,
        sample_index=s,
        seed=0,
        text=text,
        prompt_tokens=10,
        completion_tokens=5,
        finish_reason=finish,
    )


@pytest.mark.docker
def test_accounting_over_real_verdicts(docker_sandbox):
    probs = starter_problems()[:2]
    rendered = [RenderedPrompt(problem_id=p.id, style=PromptStyle.starter, text="T") for p in probs]
    fence = "```python\n{}\n```"
    results = [
        _res(0, "add", 0, fence.format("def add(a, b):\n    return a + b")),
        _res(0, "add", 1, fence.format("def add(a, b):\n    return a - b")),
        _res(0, "add", 2, "I do not know."),
        _res(0, "add", 3, "```python\ndef add(a, b):\n    return a + b", finish="length"),  # cut, still correct
        _res(1, "is_even", 0, fence.format("def is_even(n):\n    return 1/0")),
        _res(1, "is_even", 1, ""),
        _res(1, "is_even", 2, fence.format("def is_even(n):\n    return n % 2 == 0")),
        _res(1, "is_even", 3, fence.format("def is_even(n):\n    return False")),
    ]
    judged = judge_results(probs, rendered, results, docker_sandbox)
    statuses = [s for s, _ in judged]
    assert statuses == [PASSED, "wrong_answer", NO_CODE, PASSED, "runtime_error", NO_CODE, PASSED, "wrong_answer"]
    tr = summarize(0.8, 4, probs, results, statuses)
    add, even = tr.per_problem
    assert (add.n, add.c, even.n, even.c) == (4, 2, 4, 1)
    assert add.pass_at_k == {1: 0.5, 2: pytest.approx(5 / 6), 4: 1.0}
    assert even.pass_at_k[2] == pytest.approx(0.5)
    assert tr.pass_at_k[1] == pytest.approx((0.5 + 0.25) / 2)
    assert tr.statuses == {PASSED: 3, "wrong_answer": 2, NO_CODE: 2, "runtime_error": 1}
    assert tr.truncated == 1 and set(tr.by_difficulty) == {"easy"}
    lo, hi = tr.pass_at_1_ci
    assert 0.25 <= lo <= tr.pass_at_k[1] <= hi <= 0.5
    with pytest.raises(RuntimeError, match="expected 4"):
        summarize(0.8, 4, probs, results[:7], statuses[:7])


def _fenced_answer(program: str) -> str:
    """How a chat model answers a starter-style prompt: words, the program in a fence, words."""
    return f"Here is a solution.\n\n```python\n{program.rstrip()}\n```\n\nIt runs in linear time."


@pytest.mark.docker
def test_known_solutions_get_known_verdicts_through_extraction_and_judging(docker_sandbox, model_dir):
    """Extraction and judging exactly as evaluation runs them, on prompts rendered for the
    model: reference solutions written as a model answers pass, known-wrong ones fail, so a
    regression that marks everything wrong (or everything right) cannot hide."""
    from ssd.sources.humaneval import humaneval_canonical, load_humaneval
    from ssd.sources.starter import load_starter, starter_solutions

    starters = load_starter()[:6]
    refs = {s.problem_id: s.program for s in starter_solutions("reference")}
    wrongs = {s.problem_id: s.program for s in starter_solutions("wrong")}
    humaneval = load_humaneval()[:6]
    canonical = {s.problem_id: s.program for s in humaneval_canonical()}
    problems = starters + humaneval
    rendered = [render_for_model(p, model_dir) for p in problems]
    assert {r.style for r in rendered[:6]} != {PromptStyle.completion}
    assert {r.style for r in rendered[6:]} == {PromptStyle.completion}

    results: list[GenerationResult] = []
    expected: list[str] = []
    for i, (p, r) in enumerate(zip(problems, rendered)):
        if r.style is PromptStyle.completion:
            # The model continues the prefilled header: the rest of the canonical body, then the fence.
            header = r.prefill[len("```python\n") :]
            assert canonical[p.id].startswith(header)
            body = canonical[p.id][len(header) :]
            results += [
                _res(i, p.id, 0, body + "\n```\nThat is all."),
                _res(i, p.id, 1, body, finish="length"),  # cut by the token limit after the body
                _res(i, p.id, 2, "return None\n```"),
                _res(i, p.id, 3, "```"),
            ]
            expected += [PASSED, PASSED, "fail", NO_CODE]
        else:
            results += [
                _res(i, p.id, 0, _fenced_answer(refs[p.id])),
                _res(i, p.id, 1, _fenced_answer(wrongs[p.id])),
                _res(i, p.id, 2, "I would write a loop."),
                _res(i, p.id, 3, _fenced_answer("raise SystemExit(3)")),
            ]
            expected += [PASSED, "fail", NO_CODE, "fail"]
    statuses = [st for st, _ in judge_results(problems, rendered, results, docker_sandbox)]
    for got, want, r in zip(statuses, expected, results):
        where = f"{r.problem_id} sample {r.sample_index}"
        if want == "fail":  # a known-wrong program: whatever it trips, it is judged and not passed
            assert got not in (PASSED, NO_CODE, "sandbox_error"), (where, got)
        else:
            assert got == want, (where, got)
    report = summarize(0.0, 4, problems, results, statuses)
    assert [pr.c for pr in report.per_problem] == [1] * 6 + [2] * 6


@pytest.mark.docker
@pytest.mark.vllm
def test_evaluate_end_to_end(vllm_server, docker_sandbox, model_dir, tmp_path):
    from ssd.sources.humaneval import load_humaneval

    probs = starter_problems() + load_humaneval()[:3]
    cfg = EvalConfig(t_eval=[0.0, 1.0], n=2, max_tokens=64, concurrency=8)
    details = tmp_path / "details.jsonl"
    rep = evaluate(
        vllm_server.base_url,
        vllm_server.served_model_name,
        probs,
        model_dir,
        docker_sandbox,
        cfg,
        progress=False,
        details_path=details,
    )
    assert [t.temperature for t in rep.temperatures] == [0.0, 1.0]
    assert [t.n for t in rep.temperatures] == [1, 2]
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert len(rows) == 6 * 1 + 6 * 2
    for t in rep.temperatures:
        assert [pr.problem_id for pr in t.per_problem] == [p.id for p in probs]
        mine = [r for r in rows if r["temperature"] == t.temperature]
        for pr in t.per_problem:
            st = [r["status"] for r in mine if r["problem_id"] == pr.problem_id]
            assert pr.n == len(st) == t.n and pr.c == st.count(PASSED)
            assert sum(pr.statuses.values()) == pr.n
            # No program means no_code, and a no_code row has no program.
            assert all(
                (r["program"] is None) == (r["status"] == NO_CODE) for r in mine if r["problem_id"] == pr.problem_id
            )
        assert t.pass_at_k[1] == pytest.approx(sum(pr.c / pr.n for pr in t.per_problem) / len(probs))
        assert set(t.by_difficulty) == {"easy", "medium", "unknown"}
        assert t.by_difficulty["unknown"].problems == 3
        assert t.completion_tokens > 0
    best = max(rep.temperatures, key=lambda t: (t.pass_at_k[1], -t.temperature))
    assert rep.best_temperature == best.temperature and rep.best_pass_at_1 == best.pass_at_k[1]

    out = tmp_path / "report.json"
    save_report(rep, out)
    assert load_report(out) == rep
    assert not list(tmp_path.glob("*.tmp"))
    from rich.console import Console

    console = Console(record=True, width=140)
    console.print(report_table(rep))
    assert "pass@1" in console.export_text()


def test_evaluate_server_down_names_url(model_dir):
    from net_util import free_port

    from ssd.sampling import GenerationError

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GenerationError, match=url):
        evaluate(url, "m", starter_problems(), model_dir, None, EvalConfig(t_eval=[0.0]), progress=False)


def test_report_roundtrip_rejects_garbage(tmp_path):
    f = tmp_path / "r.json"
    f.write_text("{}")
    with pytest.raises(InputError, match="r.json"):
        load_report(f)
    assert EvalReport.model_fields["temperatures"]
