"""Prompt templates, rendered once with the model's chat template.

The rendered text is what goes to the server (``/v1/completions``), what the trainer sees
before the response, and what evaluation sends: one function, so the three can never drift.

Templates: the paper's two (LiveCodeBench's stdin-program and starter-code wordings) and a
function-completion one for HumanEval-style problems, where the assistant turn is prefilled
with an opening fence, the function header and docstring, and the indentation of the body, so
the model continues the body instead of closing the block.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ssd.problems import AssertTests, Problem

SYSTEM_PROMPT = (
    "You are an expert Python programmer. You will be given a question (problem specification) "
    "and will generate a correct Python program that matches the specification and passes all tests."
)

STDIN_INSTRUCTIONS = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly "
    "test on the sample inputs). Enclose your code within delimiters as follows. Ensure that when "
    "the python program runs, it reads the inputs, runs the algorithm and writes output to STDOUT."
)
STARTER_INSTRUCTIONS = (
    "You will use the following starter code to write the solution to the problem and enclose "
    "your code within delimiters."
)
COMPLETION_INSTRUCTIONS = "Complete the following Python function. Return the whole function in one code block."


class PromptStyle(str, Enum):
    stdin = "stdin"
    starter = "starter"
    completion = "completion"
    chat = "chat"  # a captured or imported conversation, rendered as the endpoint serves it
    text = "text"  # a captured /v1/completions prompt, sent as the endpoint sends it


# How HumanEval-like problems (the prompt is the function header plus docstring) are asked.
# Greedy pass@1 of SmolLM2-135M on all 164, 384 tokens: completion 0/164, starter 0/164, so the
# tie was broken by how many answers hold a real function body (completion with the body
# indent prefilled: 46, starter: 26; starter mostly echoes the header and closes the fence).
HUMANEVAL_STYLE = PromptStyle.completion


class RenderedPrompt(BaseModel):
    model_config = ConfigDict(frozen=True)
    problem_id: str
    style: PromptStyle
    text: str  # the full text sent to the model (chat template applied, plus any prefill)
    prefill: str = ""  # the part of the assistant turn we wrote ourselves


SERVED_STYLES = (PromptStyle.chat, PromptStyle.text)


def style_for(problem: Problem) -> PromptStyle:
    served = problem.meta.get("served_as")  # set on captured prompts by ssd.traffic.mix
    if served in (PromptStyle.chat.value, PromptStyle.text.value):
        return PromptStyle(served)
    if (
        isinstance(problem.tests, AssertTests)
        and problem.tests.entry_point
        and problem.starter_code
        and problem.prompt.strip() == problem.starter_code.strip()
    ):
        return HUMANEVAL_STYLE
    if problem.starter_code:
        return PromptStyle.starter
    return PromptStyle.stdin


def user_message(problem: Problem, style: PromptStyle) -> str:
    if style is PromptStyle.completion:
        return f"{COMPLETION_INSTRUCTIONS}\n\n```python\n{problem.prompt.rstrip()}\n```"
    if style is PromptStyle.starter:
        return (
            f"### Question:\n{problem.prompt.strip()}\n\n### Format: {STARTER_INSTRUCTIONS}\n"
            f"```python\n{(problem.starter_code or '').rstrip()}\n```\n\n"
            "### Answer: (use the provided format with backticks)\n"
        )
    return (
        f"### Question:\n{problem.prompt.strip()}\n\n### Format: {STDIN_INSTRUCTIONS}\n"
        "```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the provided format with backticks)\n"
    )


@lru_cache(maxsize=8)
def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


COMPLETION_FENCE = "```python\n"


def _with_body_indent(prompt: str) -> str:
    """The function header and docstring followed by the indentation of the body's first line.

    Measured on HumanEval with SmolLM2-135M (greedy, 384 tokens): prefilling the header alone
    let the model close the fence at once (106/164 answers without code, 6 with a function
    body); ending the prefill inside the body left 42 without code and 46 with a body."""
    if not prompt.endswith("\n"):
        prompt += "\n"
    lines = [line for line in prompt.splitlines() if line.strip()]
    if not lines:
        return prompt
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return prompt + indent


def render(problem: Problem, tokenizer, style: PromptStyle | None = None) -> RenderedPrompt:
    """The text sent to the model for ``problem``. ``style`` overrides the automatic choice
    (only for experiments: sampling, training and evaluation must all use the default)."""
    style = style or style_for(problem)
    if style in SERVED_STYLES:
        return RenderedPrompt(problem_id=problem.id, style=style, text=render_served(problem, tokenizer, style))
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(problem, style)},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prefill = ""
    if style is PromptStyle.completion:
        prefill = COMPLETION_FENCE + _with_body_indent(problem.prompt)
        text += prefill
    return RenderedPrompt(problem_id=problem.id, style=style, text=text, prefill=prefill)


def render_served(problem: Problem, tokenizer, style: PromptStyle) -> str:
    """A captured prompt exactly as the endpoint's vLLM renders it: chat messages through the
    model's chat template with the generation prompt (vLLM's chat defaults), a completions
    prompt behind the special tokens the tokenizer puts in front (vLLM's completions default)."""
    if style is PromptStyle.chat:
        messages = problem.meta.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"captured prompt {problem.id!r} has no messages to render")
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    plain = tokenizer(problem.prompt, add_special_tokens=False).input_ids
    full = tokenizer(problem.prompt).input_ids
    head = full[: len(full) - len(plain)] if plain and full[len(full) - len(plain) :] == plain else []
    return (tokenizer.decode(head) if head else "") + problem.prompt


def render_for_model(problem: Problem, model_dir: str | Path, style: PromptStyle | None = None) -> RenderedPrompt:
    return render(problem, load_tokenizer(str(model_dir)), style)


_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*)\Z", re.DOTALL | re.IGNORECASE)


def extract_program(rendered: RenderedPrompt, completion: str) -> str | None:
    """The program in a response: the last fenced python block (a block cut off by the token
    limit counts), or, for completion-style prompts, the prefilled header plus the completion up
    to its closing fence. None when there is no code."""
    if rendered.style is PromptStyle.completion:
        body = completion.split("```", 1)[0]
        program = rendered.prefill[len(COMPLETION_FENCE) :] + body
        return program if body.strip() else None
    blocks = _FENCE.findall(completion)
    if blocks:
        code = blocks[-1]
    else:
        m = _OPEN_FENCE.search(completion)
        if not m:
            return None
        code = m.group(1)
    return code if code.strip() else None
