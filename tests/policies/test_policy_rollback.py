"""Rollback on equal terms: `decide_reevaluation` over fresh evaluations of both arms."""

from __future__ import annotations

import math

import pytest
from policy_builders import binary_pair, from_arrays, prov

from policies import spending
from policies.counts import ProblemCounts
from policies.provenance import ProvenanceMismatch
from policies.rollback import ReevalConfig, ReevalLedger, decide_reevaluation, reevaluation_due

P = prov()


def _decide(parent, champion, ledger=None, cfg=None, rounds=10, **kw):
    return decide_reevaluation(
        parent,
        champion,
        ledger or ReevalLedger(),
        cfg or ReevalConfig(),
        parent_provenance=kw.pop("parent_provenance", P),
        champion_provenance=kw.pop("champion_provenance", P),
        rounds_since_promotion=rounds,
    )


def test_clear_regression_rolls_back_at_the_first_level():
    # Parent 30/100 fresh; champion 10/100 fresh: 0 wins, 20 losses, p = 2^-20.
    parent, champ = binary_pair(10, 20, 0, 70)
    d = _decide(parent, champ)
    assert d.run and d.rollback
    assert d.p_value == pytest.approx(2.0**-20, rel=1e-12)
    assert d.delta == pytest.approx(-0.20)
    assert d.alpha_level == pytest.approx(0.05 * spending.gamma(1, ReevalConfig()))
    assert d.comparison.alternative == "less"
    assert d.reason.startswith("ROLLBACK to parent, mark champion bad")
    led = d.ledger_after
    assert (led.tests, led.rollbacks, led.alpha_spent) == (1, 1, 0.0)
    assert led.carry == pytest.approx(d.alpha_level)  # fallback: passed on, not spent


def test_smollm2_regression_is_not_enough_at_the_lifetime_budget():
    # 30/500 -> 19/500 (5 wins, 16 losses): one-sided p = 27896/2^21 = 0.0133 > alpha_1 0.0023.
    parent, champ = binary_pair(14, 16, 5, 465)
    d = _decide(parent, champ)
    assert d.run and not d.rollback
    assert d.p_value == pytest.approx(27896 / 2**21, rel=1e-12)
    assert "within noise" in d.reason
    assert d.ledger_after.alpha_spent == pytest.approx(d.alpha_level)


def test_equal_or_better_champion_is_kept():
    parent, same = binary_pair(30, 0, 0, 70)
    d = _decide(parent, same)
    assert d.run and not d.rollback and "not worse" in d.reason
    _, better = binary_pair(30, 0, 20, 50)
    assert not _decide(parent, better).rollback


def test_cooldown_skips_without_spending_or_comparing():
    parent, champ = binary_pair(10, 20, 0, 70)
    led = ReevalLedger(tests=4, alpha_spent=0.01)
    cfg = ReevalConfig(cooldown_rounds=3)
    d = _decide(parent, champ, led, cfg, rounds=2)
    assert not d.run and not d.rollback
    assert d.comparison is None and d.p_value is None and d.alpha_level is None
    assert d.ledger_after == led
    assert "cooldown_rounds=3" in d.reason
    assert not reevaluation_due(cfg, 2) and reevaluation_due(cfg, 3)
    assert _decide(parent, champ, led, cfg, rounds=3).run
    with pytest.raises(ValueError, match="rounds_since_promotion must be >= 0, got -1"):
        reevaluation_due(cfg, -1)


def test_too_few_problems_is_not_run():
    parent, champ = binary_pair(0, 10, 0, 0)
    d = _decide(parent, champ, cfg=ReevalConfig(min_problems=20))
    assert not d.run and not d.rollback and "min_problems" in d.reason
    assert d.ledger_after == ReevalLedger() and d.comparison is not None


def test_min_regression_requires_a_practical_drop():
    parent, champ = binary_pair(100, 20, 0, 380)  # -4 points, p = 2^-20
    assert _decide(parent, champ, cfg=ReevalConfig(min_regression=0.03)).rollback
    d = _decide(parent, champ, cfg=ReevalConfig(min_regression=0.05))
    assert not d.rollback and "min_regression" in d.reason


def test_levels_follow_the_spending_schedule_and_budget_is_never_exceeded():
    cfg = ReevalConfig()
    parent, same = binary_pair(30, 5, 5, 60)
    led = ReevalLedger()
    levels = []
    for _ in range(50):
        d = _decide(parent, same, led, cfg)
        levels.append(d.alpha_level)
        led = d.ledger_after
    assert levels == pytest.approx([0.05 * spending.gamma(k, cfg) for k in range(1, 51)], rel=1e-12)
    assert led.tests == 50 and led.rollbacks == 0
    assert led.alpha_spent == pytest.approx(0.05 * (1 - spending.unscheduled_fraction(50, cfg)), rel=1e-9)
    assert led.alpha_spent < 0.05


def test_provenance_must_match():
    parent, champ = binary_pair(10, 20, 0, 70)
    with pytest.raises(ProvenanceMismatch) as exc:
        _decide(parent, champ, champion_provenance=prov(vllm_version="0.34.0", seed=8))
    assert exc.value.fields == ("seed", "vllm_version")
    assert "vllm_version: '0.33.0' vs '0.34.0'" in str(exc.value)


def test_counts_must_have_the_provenance_n():
    parent = from_arrays([1, 2, 3] * 10, 4)
    with pytest.raises(ValueError, match="parent: provenance says n=1"):
        _decide(parent, parent)


def test_mismatched_problem_ids_raise():
    parent, champ = binary_pair(10, 20, 0, 70)
    champ = champ[:-1] + [ProblemCounts(problem_id="new-1", n=1, c=0)]
    with pytest.raises(ValueError, match="only in champion: \\['new-1'\\]"):
        _decide(parent, champ)


def test_budget_terms_cannot_change_mid_life():
    parent, same = binary_pair(30, 5, 5, 60)
    led = _decide(parent, same).ledger_after
    with pytest.raises(ValueError, match="alpha: ledger 0.05, config 0.1"):
        _decide(parent, same, led, ReevalConfig(alpha=0.1))


def test_ledger_round_trips_through_json():
    parent, champ = binary_pair(10, 20, 0, 70)
    led = _decide(parent, champ).ledger_after
    assert ReevalLedger.model_validate_json(led.model_dump_json()) == led
    assert math.isclose(led.carry + led.alpha_spent + 0.05 * spending.unscheduled_fraction(1, ReevalConfig()), 0.05)
