"""Error control by simulation through the real code path (`policies.simulate`).

Each check compares a simulated probability with its bound plus 3 Monte Carlo standard errors
of a binomial at the bound: sqrt(alpha (1 - alpha) / sims). The sizes are small enough for a
few seconds each and large enough that a broken gate fails (checked below by breaking it).
"""

from __future__ import annotations

import math

import pytest

from policies import spending
from policies.gate import GateConfig, GateLedger, budget_status
from policies.simulate import (
    SIM_GATE,
    NullCase,
    OldCase,
    Population,
    false_rollbacks,
    null_gate_fwer,
    old_round_false_promotions,
    power_within,
)

ALPHA = 0.05


def _within_bound(est, alpha=ALPHA):
    return est.rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / est.sims)


FIXED = NullCase(label="fixed T, 50 problems, n=1", n_problems=50, rounds=100)


def test_any_false_promotion_over_100_null_rounds_is_within_alpha():
    est = null_gate_fwer(FIXED, sims=50, seed=1)
    assert est.sims == 50 and est.mean_tests > 90  # the budget really was used round after round
    assert _within_bound(est), est


def test_a_gate_that_ignores_the_ledger_fails_the_same_check(monkeypatch):
    """Mutation check: testing every round at alpha (no spending) must fail the bound above."""
    monkeypatch.setattr(spending, "next_level", lambda alpha, tests, carry, settings: alpha)
    est = null_gate_fwer(FIXED, sims=50, seed=1)
    assert not _within_bound(est), est
    assert est.rate > 0.5


def test_t_eval_tuned_on_calibration_keeps_the_bound():
    """T 0.6 is 12 points better for every model; T is re-tuned each round on a disjoint
    calibration split by `choose_gate_decoding`, and the useless adapter is still not promoted."""
    case = NullCase(
        label="tuned",
        n_problems=50,
        calibration_problems=50,
        temperatures=[0.0, 0.6, 1.0],
        t_gains={0.6: 0.12},
        rounds=40,
    )
    est = null_gate_fwer(case, sims=40, seed=2)
    assert est.mean_tests == 40
    assert _within_bound(est), est


def test_old_per_arm_t_on_the_gate_set_inflates_one_round():
    """The old round (T picked per arm on the test data, alpha 0.05 per round) promotes a
    useless adapter far more often than alpha in a single round."""
    est = old_round_false_promotions(OldCase(label="old", t_gains={0.6: 0.12}), sims=200, seed=3)
    assert not _within_bound(est), est


def test_unequal_n_never_reaches_a_test():
    est = null_gate_fwer(NullCase(label="1 vs 4", n_champion=1, n_candidate=4, n_problems=30), sims=5, seed=4)
    assert est.refused and est.events == 0 and est.mean_tests == 0


def test_false_rollbacks_over_100_reevaluations_are_within_alpha():
    est = false_rollbacks(50, 1, sims=50, seed=5)
    assert est.mean_tests == 100
    assert _within_bound(est), est


def test_power_accumulates_over_rounds_and_matches_the_status_estimate():
    """At the gain `budget_status` says is detectable with 80% power at test 1, the gate finds
    it at least that often in round 1 (the estimate is conservative), and more within 5."""
    cfg = GateConfig()
    base = Population().beta_a / (Population().beta_a + Population().beta_b)
    mdd = budget_status(GateLedger(), cfg, n_problems=400, n_samples=4, base_rate=base).min_detectable_delta
    row = power_within(mdd, 400, 4, SIM_GATE, sims=40, seed=6)
    assert row.within[1] <= row.within[5] <= row.within[20]
    assert row.within[1] >= 0.8 - 3 * math.sqrt(0.8 * 0.2 / 40), row
    assert row.within[5] >= 0.95, row


def test_power_is_lower_after_many_tests_but_not_gone():
    fresh = power_within(0.05, 400, 4, SIM_GATE, sims=30, seed=7, horizons=(1,))
    late = power_within(0.05, 400, 4, SIM_GATE, sims=30, seed=7, horizons=(1,), start_tests=500)
    assert late.within[1] <= fresh.within[1]
    assert late.within[1] >= 0.2, late


@pytest.mark.parametrize("delta", [0.0])
def test_power_function_at_zero_gain_is_the_false_promotion_rate(delta):
    row = power_within(delta, 60, 1, SIM_GATE, sims=30, seed=8, horizons=(1, 5))
    assert row.within[5] <= 0.1
