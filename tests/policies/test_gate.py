"""The lifetime promotion gate: levels, ledger, skips, provenance, budget status."""

from __future__ import annotations

import math

import pytest
from policy_builders import binary_pair, from_arrays, prov, simulate_pair
from pydantic import ValidationError

from policies import spending
from policies.counts import ProblemCounts
from policies.gate import (
    BudgetStatus,
    GateConfig,
    GateLedger,
    budget_status,
    decide_gate,
    min_detectable_delta,
)
from policies.provenance import ProvenanceMismatch

P = prov()
CFG = GateConfig()


def _gate(champ, cand, ledger=None, cfg=CFG, **kw):
    return decide_gate(
        champ,
        cand,
        ledger or GateLedger(),
        cfg,
        champion_provenance=kw.pop("champion_provenance", P),
        candidate_provenance=kw.pop("candidate_provenance", P),
        **kw,
    )


def test_fresh_ledger_is_the_zero_state_and_serialises():
    led = GateLedger()
    assert (led.tests, led.alpha_spent, led.promotions, led.carry, led.terms) == (0, 0.0, 0, 0.0, None)
    assert GateLedger.model_validate_json(led.model_dump_json()) == led
    with pytest.raises(ValidationError, match=r"tests\n  Instance is frozen"):
        led.tests = 3


def test_clear_improvement_is_promoted_and_its_level_passed_on():
    champ, cand = binary_pair(28, 2, 32, 38)  # 30/100 -> 60/100
    d = _gate(champ, cand)
    assert d.run and d.promote
    assert d.p_value == pytest.approx(596 / 2**34, rel=1e-12)
    assert d.alpha_level == pytest.approx(0.05 * spending.gamma(1, CFG), rel=1e-12)
    assert d.alpha_level == pytest.approx(0.0023268705377203843, rel=1e-12)
    assert d.reason.startswith("PROMOTE: significant gain")
    assert "Test 1 at alpha_1=0.002327 (passed on to the next test)" in d.reason
    led = d.ledger_after
    assert (led.tests, led.promotions, led.alpha_spent) == (1, 1, 0.0)
    assert led.carry == d.alpha_level
    assert led.problem_set_hash == P.problem_set_hash and led.tests_on_set == 1
    assert led.terms == spending.budget_terms(0.05, CFG)
    # Online fallback: test 2 runs at alpha * gamma_2 + alpha_1.
    d2 = _gate(*binary_pair(30, 0, 0, 70), ledger=led)
    assert d2.alpha_level == pytest.approx(0.05 * spending.gamma(2, CFG) + d.alpha_level, rel=1e-12)
    assert not d2.promote and d2.ledger_after.carry == 0.0
    assert d2.ledger_after.alpha_spent == pytest.approx(d2.alpha_level)


def test_without_fallback_a_promotion_spends_its_level():
    cfg = GateConfig(fallback=False)
    d = _gate(*binary_pair(28, 2, 32, 38), cfg=cfg)
    assert d.promote and d.ledger_after.carry == 0.0
    assert d.ledger_after.alpha_spent == pytest.approx(d.alpha_level)
    assert "(spent)" in d.reason


def test_significant_at_fixed_alpha_is_not_enough_for_the_lifetime_budget():
    # 9 wins, 1 loss: p = 11/1024 = 0.0107 < 0.05 but > alpha_1 = 0.0023.
    d = _gate(*binary_pair(30, 1, 9, 60))
    assert d.run and not d.promote
    assert d.p_value == pytest.approx(11 / 1024, rel=1e-12)
    assert "within noise (p=0.01074 > alpha_1=0.002327)" in d.reason
    assert d.ledger_after.alpha_spent == pytest.approx(d.alpha_level)


def test_not_better_and_min_delta():
    d = _gate(*binary_pair(30, 0, 0, 70))
    assert d.run and not d.promote and "not better" in d.reason and d.p_value == 1.0
    champ, cand = binary_pair(100, 0, 20, 380)  # +4 points, p = 2^-20
    assert _gate(champ, cand, cfg=GateConfig(min_delta=0.03)).promote
    d = _gate(champ, cand, cfg=GateConfig(min_delta=0.05))
    assert d.run and not d.promote and "min_delta 0.05" in d.reason
    assert d.ledger_after.tests == 1  # the test ran: its level is spent


def test_tests_not_run_spend_nothing():
    led = GateLedger(tests=5, alpha_spent=0.01, carry=0.0)
    champ, cand = binary_pair(28, 2, 32, 38)
    d = _gate(champ, cand, led, candidate_marked_bad=True)
    assert not d.run and not d.promote and d.alpha_level == 0.0 and d.ledger_after == led
    assert "marked bad" in d.reason and "nothing spent" in d.reason
    d = _gate(*binary_pair(0, 0, 10, 0), led, cfg=GateConfig(min_problems=20))
    assert not d.run and d.ledger_after == led and "min_problems=20" in d.reason
    assert d.p_value == pytest.approx(2.0**-10)


def test_refresh_after_blocks_until_a_new_problem_set():
    cfg = GateConfig(refresh_after=2)
    champ, cand = binary_pair(30, 0, 0, 70)
    led = _gate(champ, cand, cfg=cfg).ledger_after
    led = _gate(champ, cand, led, cfg=cfg).ledger_after
    assert led.tests_on_set == 2
    d = _gate(champ, cand, led, cfg=cfg)
    assert not d.run and d.ledger_after == led and "refresh it" in d.reason
    assert budget_status(led, cfg, n_problems=100, n_samples=1).refresh_due
    new_set = prov(problem_set_hash="sha256:fresh")
    d = _gate(champ, cand, led, cfg=cfg, champion_provenance=new_set, candidate_provenance=new_set)
    assert d.run and d.ledger_after.tests == 3 and d.ledger_after.tests_on_set == 1
    assert d.ledger_after.problem_set_hash == "sha256:fresh"


def test_ledger_is_passed_round_to_round_and_levels_shrink():
    champ, cand = binary_pair(30, 5, 5, 60)
    led = GateLedger()
    levels = []
    for _ in range(30):
        d = _gate(champ, cand, led)
        levels.append(d.alpha_level)
        led = d.ledger_after
    assert levels == pytest.approx([0.05 * spending.gamma(k, CFG) for k in range(1, 31)], rel=1e-12)
    assert all(a > b for a, b in zip(levels, levels[1:]))
    assert led.alpha_spent == pytest.approx(sum(levels), rel=1e-12)
    assert led.alpha_spent == pytest.approx(0.05 * (1 - (1 + 30 / 10) ** -0.5), rel=1e-12)


def test_provenance_differences_are_refused():
    champ, cand = binary_pair(28, 2, 32, 38)
    with pytest.raises(ProvenanceMismatch) as exc:
        _gate(champ, cand, candidate_provenance=prov(temperature=1.0))
    assert exc.value.fields == ("temperature",)
    with pytest.raises(ProvenanceMismatch, match="n: 1 vs 4"):
        _gate(champ, cand, candidate_provenance=prov(n=4))


def test_unequal_n_is_refused_even_with_matching_provenance_claims():
    champ = from_arrays([0, 1] * 20, 1)
    cand = from_arrays([2, 3] * 20, 4)
    with pytest.raises(ValueError, match="candidate: provenance says n=1 samples per problem"):
        _gate(champ, cand)


def test_problem_ids_must_match():
    champ, cand = binary_pair(10, 0, 0, 20)
    cand = cand[:-1] + [ProblemCounts(problem_id="extra-1", n=1, c=0)]
    with pytest.raises(ValueError, match="only in candidate: \\['extra-1'\\]"):
        _gate(champ, cand)


def test_budget_terms_cannot_change_mid_life():
    led = _gate(*binary_pair(30, 0, 0, 70)).ledger_after
    with pytest.raises(ValueError, match="spend_horizon: ledger 10.0, config 20.0"):
        _gate(*binary_pair(30, 0, 0, 70), led, cfg=GateConfig(spend_horizon=20))
    with pytest.raises(ValueError, match="budget terms cannot change"):
        budget_status(led, GateConfig(alpha=0.1), n_problems=100, n_samples=1)


def test_multi_sample_gate_uses_the_exact_sign_flip():
    champ, cand = simulate_pair(__import__("numpy").random.default_rng(6), 300, 4, shift=0.15)
    p4 = prov(n=4)
    d = _gate(champ, cand, champion_provenance=p4, candidate_provenance=p4)
    assert d.comparison.test == "signflip" and d.comparison.exact
    assert d.promote and d.p_value < 1e-10


def test_decision_is_reproducible_and_order_free():
    import numpy as np

    champ, cand = simulate_pair(np.random.default_rng(5), 80, 4, shift=0.1)
    p4 = prov(n=4)
    a = _gate(champ, cand, champion_provenance=p4, candidate_provenance=p4)
    b = _gate(list(reversed(champ)), cand[::2] + cand[1::2], champion_provenance=p4, candidate_provenance=p4)
    assert a == b


def test_budget_status_fresh_and_after_tests():
    st = budget_status(GateLedger(), CFG, n_problems=400, n_samples=4)
    assert isinstance(st, BudgetStatus)
    assert st.alpha_spent == 0.0 and st.alpha_left == 0.05 and st.tests == 0
    assert st.next_alpha == pytest.approx(0.0023268705377203843, rel=1e-12)
    assert not st.refresh_due and st.tests_until_refresh is None
    assert 0.0 < st.min_detectable_delta < 0.1
    assert "next test at alpha_1=0.002327" in st.reason and "min detectable gain" in st.reason
    later = GateLedger(tests=100, tests_on_set=100, alpha_spent=0.05 * (1 - spending.unscheduled_fraction(100, CFG)))
    st100 = budget_status(later, CFG, n_problems=400, n_samples=4)
    assert st100.next_alpha == pytest.approx(0.05 * spending.gamma(101, CFG))
    assert st100.alpha_left == pytest.approx(0.05 * 11**-0.5)
    assert st100.min_detectable_delta > st.min_detectable_delta
    st_r = budget_status(later, GateConfig(refresh_after=150), n_problems=400, n_samples=4)
    assert st_r.tests_until_refresh == 50 and not st_r.refresh_due


def test_min_detectable_delta_formula():
    # Solves delta = z_a sd0 + z_b sd1(delta); check the fixed point and monotonicity.
    from scipy.stats import norm

    d = min_detectable_delta(0.0023, 400, 4, 0.3)
    sd0 = math.sqrt(2 * 0.21 / 1600)
    q = 0.3 + d
    sd1 = math.sqrt((0.21 + q * (1 - q)) / 1600)
    assert d == pytest.approx(norm.isf(0.0023) * sd0 + norm.ppf(0.8) * sd1, rel=1e-8)
    assert min_detectable_delta(0.0023, 1000, 4, 0.3) < d < min_detectable_delta(1e-5, 400, 4, 0.3)
    assert min_detectable_delta(0.0023, 400, 8, 0.3) < d
    assert min_detectable_delta(1e-6, 5, 1, 0.9) is None  # nothing is detectable on 5 problems
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\), got 0.0"):
        min_detectable_delta(0.0, 400, 4, 0.3)


def test_monte_carlo_resolution_warning():
    cfg = GateConfig(max_exact_work=0, n_permutations=100)
    st = budget_status(GateLedger(), cfg, n_problems=400, n_samples=4)
    assert "WARNING" in st.reason and "Monte Carlo" in st.reason
    assert "WARNING" not in budget_status(GateLedger(), CFG, n_problems=400, n_samples=4).reason
