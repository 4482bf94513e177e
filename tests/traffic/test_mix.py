"""Mixing: which prompts a round trains on, and captured prompts rendered exactly as served."""

from __future__ import annotations

import pytest

from ssd.prompts import PromptStyle, load_tokenizer, render
from ssd.traffic.config import MixConfig
from ssd.traffic.mix import CapturedCandidate, build_round_problems, captured_problem, plan_mix

POOL = [f"pool-{i:02d}" for i in range(10)]


def cand(i: int, uses: int = 0, day: int = 1) -> CapturedCandidate:
    return CapturedCandidate(id=f"cap-{i}", uses=uses, captured_at=f"2026-05-{day:02d}T00:00:00+00:00")


def test_without_captured_prompts_the_round_trains_on_the_whole_pool_in_order():
    plan = plan_mix(POOL, [], MixConfig(captured_frac=0.5), seed=1)
    assert plan.pool_ids == POOL and plan.captured_ids == [] and plan.total == 10


def test_the_mix_takes_its_share_of_captured_prompts_never_used_and_newest_first():
    captured = [cand(1, uses=0, day=1), cand(2, uses=1, day=9), cand(3, uses=0, day=5), cand(4, uses=2, day=9)]
    plan = plan_mix(POOL, captured, MixConfig(captured_frac=0.3), seed=1)
    assert plan.captured_ids == ["cap-3", "cap-1", "cap-2"]  # 3 of 10: unused newest first, then least used
    assert len(plan.pool_ids) == 7 and set(plan.pool_ids) <= set(POOL)
    assert plan.pool_ids == sorted(plan.pool_ids)  # pool order kept
    assert plan.summary()["captured"] == 3 and plan.summary()["pool"] == 7


def test_the_pool_fills_in_when_captured_prompts_run_short_and_draws_are_seeded():
    plan = plan_mix(POOL, [cand(1)], MixConfig(captured_frac=0.5, prompts_per_round=6), seed=7)
    assert plan.captured_ids == ["cap-1"] and len(plan.pool_ids) == 5
    assert plan.captured_wanted == 3 and plan.captured_available == 1
    again = plan_mix(POOL, [cand(1)], MixConfig(captured_frac=0.5, prompts_per_round=6), seed=7)
    other = plan_mix(POOL, [cand(1)], MixConfig(captured_frac=0.5, prompts_per_round=6), seed=8)
    assert again.pool_ids == plan.pool_ids and other.pool_ids != plan.pool_ids


def test_all_captured_when_the_share_is_one():
    captured = [cand(i) for i in range(20)]
    plan = plan_mix(POOL, captured, MixConfig(captured_frac=1.0), seed=1)
    assert plan.pool_ids == [] and len(plan.captured_ids) == 10


def test_round_problems_keep_pool_then_captured_order():
    from ssd.problems import Problem

    pool = [Problem(id=i, prompt="x") for i in POOL]
    capd = {"cap-1": captured_problem("cap-1", "text", None, "def f():", "capture")}
    plan = plan_mix(POOL[:2], [cand(1)], MixConfig(captured_frac=0.5), seed=0)
    assert [p.id for p in build_round_problems(pool, capd, plan)] == [*plan.pool_ids, "cap-1"]
    assert len(plan.pool_ids) == 1


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return load_tokenizer(str(model_dir))


def test_a_captured_chat_renders_through_the_chat_template_as_served(tokenizer):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Write fizzbuzz"},
        {"role": "assistant", "content": "```python\nprint(1)\n```"},
        {"role": "user", "content": "Now in one line"},
    ]
    p = captured_problem("cap-0123456789abcdef", "chat", messages, "Now in one line", "capture")
    r = render(p, tokenizer)
    assert r.style is PromptStyle.chat and r.prefill == ""
    assert r.text == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "### Question" not in r.text and r.text.endswith("<|im_start|>assistant\n")


def test_a_captured_completion_prompt_is_sent_as_is(tokenizer):
    p = captured_problem("cap-0123456789abcdef", "text", None, "def fib(n):\n", "capture")
    r = render(p, tokenizer)
    assert r.style is PromptStyle.text
    # SmolLM2's tokenizer adds no BOS, so vLLM's completions route sees exactly the prompt.
    assert tokenizer(r.text, add_special_tokens=False).input_ids == tokenizer("def fib(n):\n").input_ids


def test_a_chat_without_messages_is_refused():
    with pytest.raises(ValueError, match="no messages"):
        captured_problem("cap-x", "chat", [], "hi", "capture")
