"""The sequential always-valid gate: exact replay, stopping rules, validity and power.

Error-rate checks compare a simulated rate with its bound plus 3 Monte Carlo standard errors
at the bound, as in test_gate_simulation.py; each has a mutation twin proving that a broken
decider (one that ignores alpha_k, or a wealth that is not a supermartingale) fails it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from policy_builders import prov

from policies import gate_power, sequential, spending
from policies.counts import ProblemCounts
from policies.gate import GateConfig, GateLedger
from policies.provenance import ProvenanceMismatch
from policies.rollback import ReevalConfig, ReevalLedger
from policies.sequential import (
    PairResult,
    SequentialSettings,
    SequentialState,
    advance,
    design_effect,
    make_plan,
    next_batch,
    replay,
    run_test,
)
from policies.sequential_gate import decide_gate_test, start_gate_test, start_reevaluation_test
from policies.simulate import SIM_GATE, SIM_REEVAL, SeqCase, seq_false_rollbacks, seq_null_fwer, seq_power_within

ALPHA = 0.05


def _within(rate: float, sims: int, bound: float = ALPHA) -> bool:
    return rate <= bound + 3 * math.sqrt(bound * (1 - bound) / sims)


def _pairs(rng, m, n, shift=0.0, prefix="p"):
    p = rng.beta(0.5, 1.0, m)
    q = np.clip(p + shift, 0, 1)
    a, b = rng.binomial(n, p), rng.binomial(n, q)
    return [
        PairResult(problem_id=f"{prefix}{i:04d}", n=n, reference_c=int(x), challenger_c=int(y))
        for i, (x, y) in enumerate(zip(a, b))
    ]


def _plan(ids, level=0.01, n=4, **kw):
    settings = SequentialSettings(**{k: v for k, v in kw.items() if k in SequentialSettings.model_fields})
    return make_plan(
        ids, direction="greater", seed=kw.get("seed", 7), level=level, n=n, settings=settings, min_problems=20
    )


# -- exact replay ---------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.15, -0.1])
def test_replay_equals_the_live_state_whatever_the_chunking(shift):
    rng = np.random.default_rng(1)
    res = _pairs(rng, 300, 4, shift)
    plan = _plan([r.problem_id for r in res], batch_size=10)
    by_id = {r.problem_id: r for r in res}
    live = run_test(plan, lambda ids: [by_id[i] for i in ids])
    assert live.done
    committed = [by_id[i] for i in live.results]
    # The same results committed in random order and random groups, as a resumed round sees them.
    for trial in range(5):
        order = rng.permutation(len(committed))
        state = SequentialState()
        i = 0
        while i < len(order):
            k = int(rng.integers(1, 40))
            state = advance(plan, state, [committed[j] for j in order[i : i + k]])
            i += k
        assert state == live, trial
    assert replay(plan, committed) == live


def test_a_crash_mid_batch_resumes_with_the_rest_of_that_batch_and_the_same_decision():
    rng = np.random.default_rng(2)
    res = _pairs(rng, 200, 4, 0.2)
    plan = _plan([r.problem_id for r in res], batch_size=25)
    by_id = {r.problem_id: r for r in res}
    live = run_test(plan, lambda ids: [by_id[i] for i in ids])
    first = next_batch(plan, SequentialState())
    assert first == plan.order[:25]
    half = replay(plan, [by_id[i] for i in first[:11]])  # killed after 11 of the batch
    assert half.evaluated == 11 and half.batches == 0 and not half.done  # no stop checked mid-batch
    assert next_batch(plan, half) == first[11:]
    resumed = run_test(plan, lambda ids: [by_id[i] for i in ids], state=half)
    assert resumed == live


def test_the_persisted_plan_round_trips_and_replays_to_the_same_state():
    """The round persists the plan as JSON (made from a whole GateConfig) and replays on the
    reloaded plan after a restart."""
    rng = np.random.default_rng(12)
    res = _pairs(rng, 120, 4, 0.1)
    p = prov(n=4)
    start = start_gate_test(
        [r.problem_id for r in res], GateLedger(), SIM_GATE, champion_provenance=p, candidate_provenance=p, seed=5
    )
    plan = start.plan
    back = type(plan).model_validate_json(plan.model_dump_json())
    assert back == plan
    by_id = {r.problem_id: r for r in res}
    live = run_test(plan, lambda ids: [by_id[i] for i in ids])
    assert replay(back, list(live.results.values())) == live


def test_advance_refuses_foreign_problems_wrong_n_and_conflicting_results():
    rng = np.random.default_rng(3)
    res = _pairs(rng, 50, 4)
    plan = _plan([r.problem_id for r in res])
    with pytest.raises(ValueError, match="'zz' is not among the plan's first 50"):
        advance(plan, SequentialState(), [PairResult(problem_id="zz", n=4, reference_c=0, challenger_c=0)])
    with pytest.raises(ValueError, match="n=2, but the plan samples n=4"):
        advance(plan, SequentialState(), [res[0].model_copy(update={"n": 2})])
    st = advance(plan, SequentialState(), [res[0]])
    other = res[0].model_copy(update={"challenger_c": (res[0].challenger_c + 1) % 5})
    with pytest.raises(ValueError, match="committed with another result"):
        advance(plan, st, [other])
    with pytest.raises(ValueError, match="passes .* exceed n=4"):
        PairResult(problem_id="a", n=4, reference_c=5, challenger_c=0)


def test_the_plan_is_a_function_of_pool_seed_and_earlier_counts():
    ids = [f"p{i:03d}" for i in range(100)]
    a = _plan(ids, seed=1)
    assert a == _plan(list(reversed(ids)), seed=1)  # the pool as a set
    assert a.order != _plan(ids, seed=2).order
    earlier = [ProblemCounts(problem_id=p, n=4, c=(0 if i < 50 else 4)) for i, p in enumerate(ids)]
    s = make_plan(
        ids,
        direction="greater",
        seed=1,
        level=0.01,
        n=4,
        settings=SequentialSettings(),
        min_problems=20,
        earlier=earlier,
    )
    # Stratified: every prefix of 20 holds both strata about equally.
    assert all(8 <= sum(p < "p050" for p in s.order[k : k + 20]) <= 12 for k in range(0, 100, 20))
    with pytest.raises(ValueError, match="lists a problem twice"):
        _plan(ids + ids[:1])
    with pytest.raises(ValueError, match="10 problems < min_problems=20"):
        _plan(ids[:10])


# -- stopping -------------------------------------------------------------------------------


def test_the_vectorised_power_path_takes_exactly_the_deciders_decisions():
    """`gate_power` simulates with the same wealth and boundaries as `advance`: on the same
    data both stop at the same problem with the same outcome."""
    rng = np.random.default_rng(4)
    n, m = 4, 120
    design = gate_power.Design(pool_problems=m, n=n, level=0.01, prior_m2=0.08)
    plan = design.plan()
    rows = []
    for shift in (-0.2, 0.0, 0.05, 0.3) * 5:
        p = rng.beta(0.5, 1.0, m)
        rows.append(rng.binomial(n, np.clip(p + shift, 0, 1)) - rng.binomial(n, p))
    nums = np.array(rows)
    codes, used = gate_power._outcomes(design, nums)
    names = {1: "efficacy", -1: "futility", 0: "exhausted"}
    for row, code, k in zip(nums, codes, used):
        res = [
            PairResult(problem_id=pid, n=n, reference_c=max(0, -int(x)), challenger_c=max(0, int(x)))
            for pid, x in zip(plan.order, row)
        ]
        st = replay(plan, res)
        assert (st.outcome, st.evaluated) == (names[int(code)], int(k))
    assert {-1, 1} <= set(codes.tolist())  # both kinds of stop happened


def test_clear_losers_stop_early_for_futility_and_clear_winners_for_efficacy():
    case = SeqCase(label="400x4", n_problems=400, n=4, crash_prob=0.2)
    loser = seq_power_within(-0.05, case, sims=20, seed=5, horizons=(1,))
    assert loser.within[1] == 0.0 and loser.first_round_futility == 1.0
    assert loser.first_round_problems < 0.35 * 400, loser
    winner = seq_power_within(0.10, case, sims=20, seed=5, horizons=(1,))
    assert winner.within[1] >= 0.95 and winner.first_round_problems < 0.5 * 400, winner


# -- lifetime validity, with mutation twins -------------------------------------------------

NULL = SeqCase(label="null 100x2, 30 rounds", n_problems=100, n=2, rounds=30, crash_prob=0.1)


def test_any_false_promotion_over_null_rounds_is_within_alpha():
    st = seq_null_fwer(NULL, sims=25, seed=6)
    assert st.estimate.mean_tests == NULL.rounds  # every round ran a test and spent
    assert st.resumed > 0  # the crash-and-replay path was taken
    assert _within(st.estimate.rate, st.estimate.sims), st


def test_t_eval_tuned_on_calibration_keeps_the_bound():
    """T 0.8 is 12 points better for every model; T is re-tuned each round on a disjoint
    calibration split, and the useless adapter is still not promoted."""
    case = NULL.model_copy(
        update={"rounds": 15, "temperatures": [0.6, 0.8, 1.0], "t_gains": {0.8: 0.12}, "calibration_problems": 60}
    )
    st = seq_null_fwer(case, sims=20, seed=14)
    assert st.estimate.mean_tests == 15 and _within(st.estimate.rate, st.estimate.sims), st


def test_a_sequential_gate_that_ignores_the_ledger_fails_the_same_check(monkeypatch):
    monkeypatch.setattr(spending, "next_level", lambda alpha, tests, carry, settings: 0.2)
    st = seq_null_fwer(NULL, sims=25, seed=6)
    assert not _within(st.estimate.rate, st.estimate.sims), st


def test_a_bet_that_sees_the_outcome_fails_the_same_check(monkeypatch):
    """A bet chosen after seeing x_t (not predictable) is no supermartingale under H0: the
    same check must catch it, at the real spending schedule."""
    real = sequential.wealth_path

    def peeking(nums, n, start_t, start_sum, start_sum2, start_log_e, start_log_f, prior_m2, settings):
        _, log_f = real(nums, n, start_t, start_sum, start_sum2, start_log_e, start_log_f, prior_m2, settings)
        x = np.asarray(nums) / n
        inc = np.log1p(settings.bet_cap * np.clip(x, 0.0, None))  # bet only when it wins
        start = np.expand_dims(np.asarray(start_log_e, float), -1)
        return np.cumsum(np.concatenate([start, inc], axis=-1), axis=-1)[..., 1:], log_f

    monkeypatch.setattr(sequential, "wealth_path", peeking)
    st = seq_null_fwer(NULL.model_copy(update={"rounds": 5}), sims=25, seed=7)
    assert not _within(st.estimate.rate, st.estimate.sims), st


def test_false_rollbacks_are_within_alpha_and_a_fixed_level_breaks_it(monkeypatch):
    case = NULL.model_copy(update={"rounds": 20})
    st = seq_false_rollbacks(case, sims=25, seed=8)
    assert st.estimate.mean_tests == 20 and _within(st.estimate.rate, 25), st
    monkeypatch.setattr(spending, "next_level", lambda alpha, tests, carry, settings: 0.2)
    bad = seq_false_rollbacks(case, sims=25, seed=8)
    assert not _within(bad.estimate.rate, 25), bad


def test_unequal_n_is_refused_before_anything_is_evaluated():
    with pytest.raises(ProvenanceMismatch):
        start_gate_test(
            ["a"] * 1, GateLedger(), GateConfig(), champion_provenance=prov(n=1), candidate_provenance=prov(n=4), seed=1
        )
    st = seq_null_fwer(NULL.model_copy(update={"n_candidate": 4, "rounds": 3}), sims=3, seed=9)
    assert st.estimate.refused and st.decisions == 0


# -- the gate's bookkeeping -----------------------------------------------------------------


def test_skips_spend_nothing_and_the_ledger_advances_once_per_test():
    ids = [f"p{i:03d}" for i in range(60)]
    p = prov(n=4)
    small = start_gate_test(ids[:10], GateLedger(), SIM_GATE, champion_provenance=p, candidate_provenance=p, seed=1)
    assert small.plan is None and small.skipped.ledger_after == GateLedger() and "min_problems" in small.skipped.reason
    bad = start_gate_test(
        ids, GateLedger(), SIM_GATE, champion_provenance=p, candidate_provenance=p, seed=1, candidate_marked_bad=True
    )
    assert bad.plan is None and "marked bad" in bad.skipped.reason
    start = start_gate_test(ids, GateLedger(), SIM_GATE, champion_provenance=p, candidate_provenance=p, seed=1)
    plan = start.plan
    assert plan.level == pytest.approx(spending.next_level(0.05, 0, 0.0, SIM_GATE)) and plan.test_index == 1
    flat = {pid: PairResult(problem_id=pid, n=4, reference_c=2, challenger_c=2) for pid in ids}
    with pytest.raises(ValueError, match="has not stopped"):
        decide_gate_test(plan, SequentialState(), GateLedger(), SIM_GATE, provenance=p)
    state = run_test(plan, lambda b: [flat[i] for i in b])
    d = decide_gate_test(plan, state, GateLedger(), SIM_GATE, provenance=p)
    assert not d.promote and d.ledger_after.tests == 1
    assert d.ledger_after.alpha_spent == pytest.approx(plan.level)
    assert d.summary.problems_evaluated == state.evaluated and d.summary.generations == 8 * state.evaluated
    with pytest.raises(ValueError, match="the ledger moved"):
        decide_gate_test(plan, state, d.ledger_after, SIM_GATE, provenance=p)
    with pytest.raises(ValueError, match="budget terms cannot change"):
        start_gate_test(
            ids, d.ledger_after, GateConfig(fallback=False), champion_provenance=p, candidate_provenance=p, seed=2
        )


def test_a_promotion_passes_its_level_on_and_min_delta_holds_back_efficacy():
    ids = [f"p{i:03d}" for i in range(200)]
    p = prov(n=4)
    win = {pid: PairResult(problem_id=pid, n=4, reference_c=1, challenger_c=3) for pid in ids}
    start = start_gate_test(ids, GateLedger(), SIM_GATE, champion_provenance=p, candidate_provenance=p, seed=1)
    st = run_test(start.plan, lambda b: [win[i] for i in b])
    d = decide_gate_test(start.plan, st, GateLedger(), SIM_GATE, provenance=p)
    assert d.promote and "PROMOTE" in d.reason and d.ledger_after.carry == pytest.approx(start.plan.level)
    assert st.evaluated < len(ids)  # stopped early
    assert d.summary.p_value <= start.plan.level
    strict = SIM_GATE.model_copy(update={"min_delta": 0.6})  # the gain is 0.5: never enough
    start = start_gate_test(ids, GateLedger(), strict, champion_provenance=p, candidate_provenance=p, seed=1)
    st = run_test(start.plan, lambda b: [win[i] for i in b])
    assert (
        st.outcome == "exhausted" and not decide_gate_test(start.plan, st, GateLedger(), strict, provenance=p).promote
    )


def test_rollback_test_plans_the_other_direction_and_honours_the_cooldown():
    ids = [f"p{i:03d}" for i in range(100)]
    p = prov(n=4)
    cool = start_reevaluation_test(
        ids, ReevalLedger(), SIM_REEVAL, parent_provenance=p, champion_provenance=p, seed=1, rounds_since_promotion=0
    )
    assert cool.plan is None and "cooldown" in cool.skipped.reason
    due = start_reevaluation_test(
        ids,
        ReevalLedger(),
        ReevalConfig(),
        parent_provenance=p,
        champion_provenance=p,
        seed=1,
        rounds_since_promotion=5,
    )
    assert due.plan.direction == "less"
    worse = {pid: PairResult(problem_id=pid, n=4, reference_c=3, challenger_c=1) for pid in ids}
    st = run_test(due.plan, lambda b: [worse[i] for i in b])
    assert st.outcome == "efficacy"


# -- design effect and power ----------------------------------------------------------------


def test_design_effect():
    rng = np.random.default_rng(10)
    m, n = 400, 4
    indep = [ProblemCounts(problem_id=f"p{i}", n=n, c=int(c)) for i, c in enumerate(rng.binomial(n, 0.4, m))]
    assert design_effect(indep).deff < 1.3
    p = rng.beta(0.3, 0.3, m)  # problems far apart: samples within a problem agree
    clustered = [ProblemCounts(problem_id=f"p{i}", n=n, c=int(c)) for i, c in enumerate(rng.binomial(n, p))]
    de = design_effect(clustered)
    assert de.icc > 0.5 and de.deff > 2.5 and de.effective_samples == pytest.approx(m * n / de.deff)
    assert design_effect(clustered, greedy=True).deff == n
    assert design_effect([ProblemCounts(problem_id="a", n=1, c=1)]).icc is None
    with pytest.raises(ValueError, match="one n per problem"):
        design_effect([ProblemCounts(problem_id="a", n=1, c=1), ProblemCounts(problem_id="b", n=2, c=1)])


def test_min_detectable_gain_follows_the_design_and_the_level():
    rng = np.random.default_rng(11)
    rates = np.clip(rng.beta(0.5, 1.0, 400), 1e-9, 1 - 1e-9)
    small = gate_power.min_detectable_gain(gate_power.Design(pool_problems=100, n=4, level=0.002), rates, sims=120)
    big = gate_power.min_detectable_gain(gate_power.Design(pool_problems=400, n=4, level=0.002), rates, sims=120)
    loose = gate_power.min_detectable_gain(gate_power.Design(pool_problems=400, n=4, level=0.05), rates, sims=120)
    assert big.min_gain < small.min_gain and loose.min_gain < big.min_gain
    assert big.at_min_gain.p_promote >= 0.8 and big.at_null.p_promote <= 0.02
    assert big.at_loss.mean_problems < big.at_null.mean_problems < 400
    # At the reported gain the real deciders promote about as often (same design, other draws).
    case = SeqCase(label="check", n_problems=400, n=4, crash_prob=0.0, population=_beta_as_mixture())
    row = seq_power_within(big.min_gain, case, GateConfig(report_ci=False, alpha=0.05), sims=40, seed=12, horizons=(1,))
    assert row.within[1] >= 0.8 - 3 * math.sqrt(0.16 / 40), row


def _beta_as_mixture():
    from policies.simulate import BetaMixture

    return BetaMixture(weights=[1.0], beta_a=[0.5], beta_b=[1.0])


def test_rates_from_counts_keep_the_observed_mean_and_spread():
    rng = np.random.default_rng(13)
    p = rng.beta(0.3, 0.6, 500)
    counts = [ProblemCounts(problem_id=f"p{i}", n=4, c=int(c)) for i, c in enumerate(rng.binomial(4, p))]
    r = gate_power.rates_from_counts(counts, greedy=False)
    assert abs(r.mean() - p.mean()) < 0.03 and abs(r.std() - p.std()) < 0.05
    greedy = gate_power.rates_from_counts(
        [ProblemCounts(problem_id="a", n=1, c=0)] * 27 + [ProblemCounts(problem_id="b", n=1, c=1)], greedy=True
    )
    assert abs(greedy.mean() - 1 / 28) < 0.01
