"""The traffic check's measurement: code blocks that compile, degenerate answers."""

from __future__ import annotations

from policies.traffic import TrafficPolicyConfig
from ssd.traffic.traffic_check import compiles, degenerate_reason, judge_arms, mark_answers, python_blocks

GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
BROKEN = "```python\ndef add(a, b)\n    return a + b\n```"


def test_python_blocks_are_tagged_python_or_untagged():
    text = "```js\nlet x = 1;\n```\n```\nx = 1\n```\n```py\ny = 2\n```\n```Python3\nz = 3\n```"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n", "z = 3\n"]
    assert python_blocks("no code here") == []


def test_compiles_in_a_child_and_survives_compiler_bombs():
    bombs = [
        "x = " + "(" * 500_000 + ")" * 500_000,  # the parser's nesting limit
        "s = 'a' * 10**10\n" + "t = " + "[" * 200 + "]" * 200,
        "\x00",
    ]
    assert compiles(["x = 1\n", "def f(:\n"] + bombs) == [True, False, False, True, False]


def test_degenerate_answers():
    assert degenerate_reason("   \n") == "empty"
    assert degenerate_reason("a = 1\n" + "print(1)\n" * 6) == "repeated_line"
    assert degenerate_reason("print(1)\n" * 5) is None  # five in a row is still an answer
    assert degenerate_reason("abc " * 200) == "repetitive"
    assert degenerate_reason(GOOD) is None
    assert degenerate_reason(open(__file__).read()) is None  # real code is far from the ratio


def test_marks_and_the_paired_decision():
    answers = {
        "champion": [(f"p{i}", GOOD, "stop") for i in range(12)],
        "candidate": [(f"p{i}", BROKEN if i < 10 else GOOD, "length") for i in range(12)],
    }
    marks = mark_answers(answers["candidate"])
    assert [m.code_ok for m in marks] == [False] * 10 + [True] * 2 and all(m.has_code for m in marks)
    assert mark_answers([("p", "just words", "stop")])[0].has_code is False
    report, _ = judge_arms(answers, {"champion": "base", "candidate": "r1"}, TrafficPolicyConfig(min_prompts=10))
    assert report.run and report.block
    assert report.champion is not None and report.champion.code_ok_share == 1.0
    assert report.candidate is not None and report.candidate.code_ok_share == 2 / 12 and report.candidate.model == "r1"


def test_a_batch_that_dies_is_retried_source_by_source(monkeypatch):
    from ssd.traffic import traffic_check

    real = traffic_check._compile_batch
    calls = []

    def dies_on_batches(sources, timeout_s):  # the fault: the child killed by its limits
        calls.append(len(sources))
        return None if len(sources) > 1 or sources[0].startswith("BOMB") else real(sources, timeout_s)

    monkeypatch.setattr(traffic_check, "_compile_batch", dies_on_batches)
    assert compiles(["x = 1\n", "BOMB = 1\n", "def f(:\n"]) == [True, False, False]
    assert calls == [3, 1, 1, 1]
