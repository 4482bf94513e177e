"""Prompt rendering and program extraction."""

from __future__ import annotations

import pytest

from ssd.problems import Problem, StdioCase, StdioTests
from ssd.prompts import PromptStyle, RenderedPrompt, extract_program, render_for_model, style_for

STDIN = RenderedPrompt(problem_id="p", style=PromptStyle.stdin, text="T")
STARTER = RenderedPrompt(problem_id="p", style=PromptStyle.starter, text="T")


def test_last_fenced_block_wins():
    text = "Idea:\n```python\nprint(1)\n```\nBetter:\n```python\nprint(2)\n```\nDone."
    assert extract_program(STDIN, text) == "print(2)\n"


@pytest.mark.parametrize("opener", ["```python", "```py", "```Python3", "```", "``` python "])
def test_fence_spellings(opener):
    assert extract_program(STDIN, f"{opener}\nx = 1\n```") == "x = 1\n"


def test_unterminated_fence_counts():
    # Cut off by the token limit: the open block is still the program.
    assert extract_program(STARTER, "Sure.\n```python\ndef f():\n    return 1") == "def f():\n    return 1"


def test_no_code_is_none():
    assert extract_program(STDIN, "I cannot solve this.") is None
    assert extract_program(STDIN, "") is None
    assert extract_program(STDIN, "```python\n\n```") is None
    assert extract_program(STDIN, "inline `code` only") is None


def test_completion_style_joins_prefill():
    rp = RenderedPrompt(problem_id="p", style=PromptStyle.completion, text="...", prefill="```python\ndef f(x):\n")
    assert extract_program(rp, "    return x\n```\nExplanation") == "def f(x):\n    return x\n"
    assert extract_program(rp, "```\nThis function ...") is None


def problem(**kw) -> Problem:
    base = dict(
        id="p1",
        prompt="Add two numbers.",
        tests=StdioTests(kind="stdio", cases=[StdioCase(input="1 2\n", output="3\n")]),
    )
    base.update(kw)
    return Problem(**base)


def test_style_selection():
    assert style_for(problem()) is PromptStyle.stdin
    assert style_for(problem(starter_code="class Solution:\n    def f(self):\n")) is PromptStyle.starter


def test_render_uses_chat_template_and_is_stable(model_dir):
    p = problem()
    a = render_for_model(p, model_dir)
    b = render_for_model(p, str(model_dir))
    assert a == b
    assert a.text.startswith("<|im_start|>system\n") and a.text.endswith("<|im_start|>assistant\n")
    assert "Add two numbers." in a.text and "# YOUR CODE HERE" in a.text
    s = render_for_model(problem(starter_code="def add(a, b):\n"), model_dir)
    assert s.style is PromptStyle.starter and "def add(a, b):" in s.text


def test_humaneval_style(model_dir):
    from ssd.prompts import HUMANEVAL_STYLE
    from ssd.sources.humaneval import load_humaneval

    he = load_humaneval()[0]
    r = render_for_model(he, model_dir)
    assert r.style is HUMANEVAL_STYLE is PromptStyle.completion
    # The prefill ends inside the function body, so the model writes the body next.
    assert r.text.endswith(he.prompt + "    ") and r.prefill == "```python\n" + he.prompt + "    "
    prog = extract_program(r, "return True\n```\nSome explanation.")
    assert prog == he.prompt + "    return True\n"
    compile(prog, "<he>", "exec")


@pytest.mark.parametrize(
    "prompt, tail",
    [
        ('def f(x):\n    """Doc."""\n', '    """Doc."""\n    '),
        ("def f(x):", "def f(x):\n    "),
        ("class A:\n    def f(self):\n", "    def f(self):\n        "),
    ],
)
def test_body_indent(prompt, tail):
    from ssd.prompts import _with_body_indent

    assert _with_body_indent(prompt).endswith(tail)
