"""Round health signals (ssd.health): on constructed rows, then on a real round's files sampled
from SmolLM2 through vLLM and judged in the Docker sandbox."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ssd.health import (
    compute_signals,
    eval_signals,
    load_round_health,
    read_eval_details,
    rendered_of,
    round_health,
    sample_signals,
    save_round_health,
)
from ssd.problems import InputError, Problem
from ssd.prompts import PromptStyle, render
from ssd.sampling import SampleRecord, SamplingParams, read_samples, sample


def row(completion: str, *, style=PromptStyle.stdin, prompt="<p>", tokens=10, finish="stop", lp=None, i=0):
    return SampleRecord(
        problem_id=f"p{i}",
        sample_index=0,
        prompt=prompt,
        prompt_style=style,
        completion=completion,
        params=SamplingParams(),
        seed=1,
        prompt_tokens=5,
        completion_tokens=tokens,
        finish_reason=finish,
        model="m",
        created_at="2026-01-01T00:00:00+00:00",
        logprob_sum=lp,
    )


GOOD = "```python\nprint(int(input()) ** 2)\n```"
BAD = "```python\nprint(int(input()) **\n```"


def test_lengths_truncation_and_parse_share():
    rows = [
        row(GOOD, tokens=10, i=0),
        row(BAD, tokens=30, finish="length", i=1),
        row("no code at all", tokens=20, i=2),
        row("", tokens=0, finish="rejected", i=3),  # the server refused the prompt: not an output
    ]
    s = sample_signals(rows)
    assert s.outputs == 3 and s.length_unit == "tokens"
    assert s.length_mean == 20.0 and s.length_std == pytest.approx(10.0)
    assert s.truncated_frac == pytest.approx(1 / 3)
    assert s.code_outputs == 3 and s.parse_frac == pytest.approx(1 / 3)  # only GOOD parses
    assert s.mean_logprob is None and s.logprob_outputs == 0


def test_completion_style_parses_with_its_prefilled_header():
    p = Problem(
        id="he",
        prompt='def add(a, b):\n    """Sum."""\n',
        starter_code='def add(a, b):\n    """Sum."""\n',
        tests={"kind": "assert", "code": "assert add(1, 2) == 3", "entry_point": "add"},
    )

    class Tok:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "<sys>" + messages[1]["content"] + "<assistant>"

    rendered = render(p, Tok())
    assert rendered.style is PromptStyle.completion
    r = row("return a + b\n```", style=PromptStyle.completion, prompt=rendered.text)
    assert rendered_of(r).prefill == rendered.prefill  # the prefill is recovered from the stored prompt
    # The body alone ("return a + b" at top level) would not be a function; with the header it parses.
    assert sample_signals([r]).parse_frac == 1.0
    assert (
        sample_signals([row("return a +\n```", style=PromptStyle.completion, prompt=rendered.text)]).parse_frac == 0.0
    )


def test_distinct_and_repetition():
    varied = [row(f"alpha{i} beta{i} gamma{i} delta{i} eps{i}", i=i) for i in range(5)]
    looped = [row("x = 1\n" * 20, i=i) for i in range(5)]
    v, lo = sample_signals(varied), sample_signals(looped)
    assert v.distinct == {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0} and v.repetition_rate == 0.0
    assert lo.distinct[2] < 0.05 and lo.repetition_rate > 0.9


def test_mean_logprob_is_per_token():
    rows = [row("a", tokens=10, lp=-10.0, i=0), row("b", tokens=30, lp=-3.0, i=1), row("c", tokens=5, i=2)]
    s = sample_signals(rows)
    assert s.mean_logprob == pytest.approx(-13.0 / 40) and s.logprob_outputs == 2


def test_chat_rows_do_not_count_for_the_parse_share_and_chars_when_tokens_unknown(tmp_path):
    s = sample_signals([row("hello there", style=PromptStyle.chat)])
    assert s.code_outputs == 0 and s.parse_frac is None
    path = tmp_path / "champion_eval.samples.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "temperature": 0.0,
                    "problem_id": f"p{i}",
                    "sample_index": 0,
                    "status": "passed",
                    "finish_reason": "stop",
                    "completion": "abcd" * (i + 1),
                    "program": "x = 1" if i else None,
                }
            )
            for i in range(2)
        )
        + "\n"
    )
    e = eval_signals(read_eval_details(path))
    assert e.length_unit == "chars" and e.length_mean == 6.0 and e.parse_frac == 0.5


def test_bad_eval_row_names_file_and_line(tmp_path):
    path = tmp_path / "x.samples.jsonl"
    path.write_text('{"temperature": 0}\n')
    with pytest.raises(InputError, match=r"x\.samples\.jsonl.*1.*problem_id"):
        read_eval_details(path)


def test_empty_input_gives_zeros_not_errors():
    s = compute_signals([])
    assert s.outputs == 0 and s.parse_frac is None and s.length_mean == 0.0


# --- real model ---------------------------------------------------------------------------------


@pytest.mark.vllm
@pytest.mark.docker
def test_signals_of_a_real_round(vllm_server, model_dir, docker_sandbox, tmp_path):
    """A round's files as the round writes them (samples.jsonl from SmolLM2 at the SSD settings
    with log-probs on, champion_eval.samples.jsonl from a sandbox-judged evaluation), read back
    into a health record."""
    from ssd.evaluate import EvalConfig, evaluate
    from ssd.sources.humaneval import load_humaneval
    from ssd.sources.starter import load_starter

    rdir = tmp_path / "r1"
    probs = load_starter()[:10]
    params = SamplingParams(max_tokens=96, n=2, seed=11, logprobs=True)
    url, name = vllm_server.base_url, vllm_server.served_model_name
    sample(url, name, probs, model_dir, params, rdir / "samples.jsonl", concurrency=8, progress=False)
    rows = read_samples(rdir / "samples.jsonl")
    # Asking for log-probs changes no sampled token: the same seeds without them give the same text.
    plain = tmp_path / "plain.jsonl"
    sample(url, name, probs[:3], model_dir, params.model_copy(update={"logprobs": False}), plain, progress=False)
    by_key = {(r.problem_id, r.sample_index): r.completion for r in rows}
    assert all(by_key[(r.problem_id, r.sample_index)] == r.completion for r in read_samples(plain))
    assert all(r.logprob_sum is None for r in read_samples(plain))

    gate = load_humaneval()[:4]
    cfg = EvalConfig(t_eval=[0.0], max_tokens=96, concurrency=4)
    evaluate(
        url,
        name,
        gate,
        model_dir,
        docker_sandbox,
        cfg,
        progress=False,
        details_path=rdir / "champion_eval.samples.jsonl",
    )

    health = round_health(rdir)
    s = health.samples
    assert s is not None and s.outputs == 20 and s.length_unit == "tokens"
    assert s.length_mean == pytest.approx(sum(r.completion_tokens for r in rows) / 20)
    assert s.logprob_outputs == sum(1 for r in rows if r.completion_tokens) and s.logprob_outputs > 0
    assert s.mean_logprob is not None and math.isfinite(s.mean_logprob) and s.mean_logprob < 0
    assert s.code_outputs == 20 and s.parse_frac is not None
    assert 0 < s.distinct[1] <= s.distinct[4] <= 1
    e = health.champion_eval
    assert e is not None and e.outputs == 4 and e.length_unit == "tokens" and e.code_outputs == 4
    assert health.candidate_eval is None  # not evaluated in this round folder
    back = load_round_health(save_round_health(health, rdir))
    assert back == health and Path(rdir / "health.json").is_file()
