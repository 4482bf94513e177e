"""policies.traffic: a candidate significantly worse on the traffic check is not promoted."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binomtest

from policies.traffic import AnswerOutcome, TrafficPolicyConfig, decide_traffic


def arms(pairs: list[tuple[bool, bool]], degenerate: list[tuple[bool, bool]] | None = None):
    """Per prompt (champion code_ok, candidate code_ok) and optionally (champion, candidate) degenerate."""
    degenerate = degenerate or [(False, False)] * len(pairs)
    champion = [
        AnswerOutcome(prompt_id=f"p{i}", code_ok=a, degenerate=d[0])
        for i, ((a, _), d) in enumerate(zip(pairs, degenerate))
    ]
    candidate = [
        AnswerOutcome(prompt_id=f"p{i}", code_ok=b, degenerate=d[1])
        for i, ((_, b), d) in enumerate(zip(pairs, degenerate))
    ]
    return champion, candidate


def test_a_candidate_whose_code_stops_compiling_is_blocked():
    ch, ca = arms([(True, True)] * 10 + [(True, False)] * 9 + [(False, True)] * 1 + [(False, False)] * 10)
    d = decide_traffic(ch, ca, TrafficPolicyConfig(alpha=0.05, min_prompts=10))
    assert d.run and d.block
    assert d.code_ok is not None and d.code_ok.only_champion == 9 and d.code_ok.only_candidate == 1
    # The exact one-sided McNemar p-value: P(X >= 9 | X ~ Bin(10, 1/2)).
    assert d.code_ok.p_worse == pytest.approx(binomtest(9, 10, 0.5, alternative="greater").pvalue)
    assert d.code_ok.p_worse == pytest.approx(11 / 1024)
    assert d.level == 0.025 and "code_ok" in d.reason and "significantly worse" in d.reason
    assert d.code_ok.champion_share == pytest.approx(19 / 30) and d.code_ok.candidate_share == pytest.approx(11 / 30)
    assert d.code_ok.ci[1] < 0  # the paired interval of candidate minus champion lies below zero


def test_a_candidate_that_degenerates_more_is_blocked():
    ch, ca = arms([(True, True)] * 30, degenerate=[(False, True)] * 12 + [(False, False)] * 18)
    d = decide_traffic(ch, ca, TrafficPolicyConfig())
    assert d.block and d.degenerate is not None and d.degenerate.worse and not d.code_ok.worse  # type: ignore[union-attr]
    assert "degenerate 0.0% -> 40.0%" in d.reason


def test_equal_or_better_candidates_pass():
    same = arms([(True, True)] * 15 + [(False, False)] * 15)
    d = decide_traffic(*same, TrafficPolicyConfig())
    assert d.run and not d.block and d.code_ok.p_worse == 1.0  # type: ignore[union-attr]
    better = arms([(False, True)] * 12 + [(True, True)] * 18, degenerate=[(True, False)] * 5 + [(False, False)] * 25)
    assert not decide_traffic(*better, TrafficPolicyConfig()).block


def test_a_small_non_significant_drop_passes():
    ch, ca = arms([(True, False)] * 3 + [(False, True)] * 1 + [(True, True)] * 26)
    d = decide_traffic(ch, ca, TrafficPolicyConfig())
    assert not d.block and d.code_ok.p_worse > 0.025  # type: ignore[union-attr]


def test_min_drop_is_a_practical_margin():
    ch, ca = arms([(True, False)] * 8 + [(True, True)] * 92)
    assert decide_traffic(ch, ca, TrafficPolicyConfig()).block  # 8 vs 0 discordant: p = 1/256
    assert not decide_traffic(ch, ca, TrafficPolicyConfig(min_drop=0.1)).block  # an 8-point drop is below 10


def test_too_few_prompts_cannot_veto():
    ch, ca = arms([(True, False)] * 5)
    d = decide_traffic(ch, ca, TrafficPolicyConfig(min_prompts=10))
    assert not d.run and not d.block and d.code_ok is None and "fewer than min_prompts 10" in d.reason


def test_the_arms_must_answer_the_same_prompts():
    ch, ca = arms([(True, True)] * 12)
    with pytest.raises(ValueError, match="different prompts"):
        decide_traffic(ch, list(reversed(ca)), TrafficPolicyConfig())


def test_a_candidate_no_worse_is_vetoed_at_most_alpha_of_the_time():
    """Simulated null: both arms draw each prompt's outcomes from the same per-prompt rates."""
    rng = random.Random(11)
    cfg = TrafficPolicyConfig(alpha=0.05, min_prompts=10)
    vetoes, rounds = 0, 1000
    for _ in range(rounds):
        rates = [(rng.random(), rng.random() * 0.3) for _ in range(32)]
        pairs = [(rng.random() < p, rng.random() < p) for p, _ in rates]
        degen = [(rng.random() < q, rng.random() < q) for _, q in rates]
        vetoes += decide_traffic(*arms(pairs, degen), cfg).block
    assert vetoes / rounds <= cfg.alpha
