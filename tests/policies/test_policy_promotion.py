"""The one-round promotion decision (`ssd round`): paired test, min_delta, too few problems, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from policy_builders import binary_pair, from_arrays, simulate_pair
from pydantic import ValidationError

from policies.counts import ProblemCounts
from policies.promotion import PromotionConfig, decide_promotion


def test_identical_champion_and_candidate_is_not_promoted():
    champ, cand = binary_pair(30, 0, 0, 70)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert not d.promote
    assert d.delta == 0.0 and d.p_value == 1.0
    assert d.ci_low <= 0.0 <= d.ci_high
    assert "not better" in d.reason


def test_clear_improvement_is_promoted():
    # 30/100 -> 60/100 with 2 losses and 32 wins.
    champ, cand = binary_pair(28, 2, 32, 38)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert d.promote
    assert d.delta == pytest.approx(0.30)
    assert d.p_value == pytest.approx(596 / 2**34, rel=1e-12)  # P(Bin(34, 1/2) >= 32) = 3.469e-8
    assert 0.0 < d.ci_low < d.delta < d.ci_high
    assert d.comparison.test == "mcnemar"
    assert d.comparison.wins == 32 and d.comparison.losses == 2
    assert d.reason.startswith("PROMOTE") and "p=" in d.reason


def test_tiny_improvement_within_noise_is_not_promoted():
    # 30/100 -> 32/100: 5 wins, 3 losses.
    champ, cand = binary_pair(27, 3, 5, 65)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert d.delta == pytest.approx(0.02)
    assert d.p_value == pytest.approx(93 / 256, rel=1e-12)  # P(Bin(8, 1/2) >= 5) = 0.3633
    assert not d.promote
    assert "noise" in d.reason
    assert d.ci_low < 0 < d.ci_high


def test_smollm2_regression_is_rejected():
    # Measured: greedy 30/500 -> 19/500 after SSD, McNemar two-sided p = 0.03.
    champ, cand = binary_pair(14, 16, 5, 465)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert not d.promote
    assert d.delta == pytest.approx(-11 / 500)
    # One-sided towards "candidate better": P(Bin(21, 1/2) >= 5) = 1 - 7547/2^21 = 0.99640.
    assert d.p_value == pytest.approx(1 - 7547 / 2**21, rel=1e-12)
    # 90% Newcombe interval, as quoted in docs/policies.md: the regression itself is significant.
    assert (d.ci_low, d.ci_high) == pytest.approx((-0.0388, -0.0067), abs=5e-5)


def test_mismatched_problem_ids_raise_and_name_the_ids():
    champ, cand = binary_pair(10, 0, 0, 20)
    cand = cand[:-1] + [ProblemCounts(problem_id="extra-1", n=1, c=0)]
    with pytest.raises(ValueError) as exc:
        decide_promotion(champ, cand, PromotionConfig())
    msg = str(exc.value)
    assert "only in champion: ['p0029']" in msg
    assert "only in candidate: ['extra-1']" in msg


def test_duplicate_problem_ids_raise():
    champ, cand = binary_pair(10, 0, 0, 20)
    with pytest.raises(ValueError, match="duplicate problem ids"):
        decide_promotion(champ + champ[:1], cand, PromotionConfig())


def test_invalid_counts_are_rejected():
    with pytest.raises(ValidationError, match="exceed"):
        ProblemCounts(problem_id="x", n=1, c=2)
    with pytest.raises(ValidationError, match=r"\nn\n  Input should be greater than or equal to 1"):
        ProblemCounts(problem_id="x", n=0, c=0)
    with pytest.raises(ValidationError, match=r"problem_id\n  String should have at least 1 character"):
        ProblemCounts(problem_id="", n=1, c=0)


def test_decision_does_not_depend_on_input_order():
    champ, cand = simulate_pair(np.random.default_rng(5), 80, 4, shift=0.1)
    a = decide_promotion(champ, cand, PromotionConfig())
    b = decide_promotion(list(reversed(champ)), cand[::2] + cand[1::2], PromotionConfig())
    assert a == b


def test_too_few_problems_blocks_promotion():
    champ, cand = binary_pair(0, 0, 10, 0)
    d = decide_promotion(champ, cand, PromotionConfig(min_problems=20))
    assert d.p_value < 0.01
    assert not d.promote and "min_problems" in d.reason


def test_min_delta_requires_a_practical_gain():
    champ, cand = binary_pair(100, 0, 20, 380)  # +4 points, highly significant
    assert decide_promotion(champ, cand, PromotionConfig(min_delta=0.03)).promote
    d = decide_promotion(champ, cand, PromotionConfig(min_delta=0.05))
    assert not d.promote and "min_delta" in d.reason


def test_candidate_marked_bad_is_never_promoted():
    champ, cand = binary_pair(28, 2, 32, 38)
    d = decide_promotion(champ, cand, PromotionConfig(), candidate_marked_bad=True)
    assert not d.promote and "marked bad" in d.reason


def test_multi_sample_paired_case_uses_sign_flip():
    rng = np.random.default_rng(6)
    champ, cand = simulate_pair(rng, 150, 8, shift=0.12)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert d.comparison.test == "signflip" and d.comparison.exact
    assert d.promote and d.ci_low > 0

    champ, cand = simulate_pair(rng, 150, 8, shift=0.0)
    d = decide_promotion(champ, cand, PromotionConfig())
    assert d.comparison.test == "signflip"
    assert d.p_value > 0.05 and not d.promote


def test_mixed_n_per_problem_is_supported():
    champ = [ProblemCounts(problem_id=f"q{i}", n=10, c=3) for i in range(40)]
    cand = [ProblemCounts(problem_id=f"q{i}", n=4, c=3) for i in range(40)]
    d = decide_promotion(champ, cand, PromotionConfig())
    assert d.delta == pytest.approx(0.45)
    assert d.promote and d.comparison.exact


def test_forcing_mcnemar_on_multi_sample_data_is_an_error():
    champ = from_arrays([1, 2, 3], 4)
    cand = from_arrays([2, 2, 3], 4)
    with pytest.raises(ValueError, match="n=1"):
        decide_promotion(champ, cand, PromotionConfig(test="mcnemar", min_problems=1))


def test_ci_level_defaults_to_one_minus_twice_alpha():
    champ, cand = binary_pair(28, 2, 32, 38)
    assert decide_promotion(champ, cand, PromotionConfig()).comparison.ci_confidence == pytest.approx(0.90)
    d = decide_promotion(champ, cand, PromotionConfig(ci_confidence=0.95))
    assert d.comparison.ci_confidence == 0.95


@pytest.mark.parametrize("n", [1, 5])
def test_false_promotion_rate_under_the_null_is_at_most_alpha(n):
    """Candidate and champion drawn from the same per-problem rates: promote rarely."""
    rng = np.random.default_rng(100 + n)
    cfg = PromotionConfig(n_bootstrap=200)
    sims = 300
    promoted = sum(decide_promotion(*simulate_pair(rng, 100, n), cfg).promote for _ in range(sims))
    # alpha = 0.05; binomial sd over 300 sims is ~0.013.
    assert promoted / sims <= 0.08


@pytest.mark.parametrize("n,m", [(1, 400), (5, 200)])
def test_power_against_a_real_ten_point_gain(n, m):
    # Measured power at alpha 0.05: n=1 m=200 0.78, n=1 m=400 0.96, n=5 m=200 1.0.
    rng = np.random.default_rng(200 + n)
    cfg = PromotionConfig(n_bootstrap=200)
    sims = 100
    promoted = sum(decide_promotion(*simulate_pair(rng, m, n, shift=0.10), cfg).promote for _ in range(sims))
    assert promoted / sims >= 0.85
