"""Property checks over the paired gates: monotonicity and symmetry."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from policy_builders import prov

from policies import spending
from policies.counts import ProblemCounts
from policies.gate import GateConfig, GateLedger, decide_gate
from policies.paired import PairedTestSettings, compare_paired
from policies.promotion import PromotionConfig, decide_promotion
from policies.rollback import ReevalConfig, ReevalLedger, decide_reevaluation

_FAST = dict(n_bootstrap=100, min_problems=5)


@st.composite
def _paired(draw, max_n=6):
    m = draw(st.integers(5, 60))
    n_ch = draw(st.sampled_from([1, 1, 2, 4, max_n]))
    n_ref = draw(st.sampled_from([n_ch, n_ch, 1, 3]))
    champ, cand = [], []
    for i in range(m):
        champ.append(ProblemCounts(problem_id=f"p{i}", n=n_ref, c=draw(st.integers(0, n_ref))))
        cand.append(ProblemCounts(problem_id=f"p{i}", n=n_ch, c=draw(st.integers(0, n_ch))))
    return champ, cand


@settings(max_examples=200, deadline=None)
@given(_paired(), st.data())
def test_adding_a_candidate_win_never_turns_promote_into_reject(pair, data):
    champ, cand = pair
    cfg = PromotionConfig(**_FAST)
    before = decide_promotion(champ, cand, cfg)
    room = [i for i, pc in enumerate(cand) if pc.c < pc.n]
    assume(room)
    i = data.draw(st.sampled_from(room))
    improved = list(cand)
    improved[i] = ProblemCounts(problem_id=cand[i].problem_id, n=cand[i].n, c=cand[i].c + 1)
    after = decide_promotion(champ, improved, cfg)
    assert after.p_value <= before.p_value + 1e-12
    assert after.delta > before.delta
    if before.promote:
        assert after.promote


@settings(max_examples=200, deadline=None)
@given(_paired())
def test_swapping_arms_mirrors_the_test(pair):
    champ, cand = pair
    s = PairedTestSettings(**_FAST)
    up = compare_paired(champ, cand, s, alternative="greater")
    down = compare_paired(cand, champ, s, alternative="less")
    assert abs(up.p_value - down.p_value) < 1e-12
    assert abs(up.delta + down.delta) < 1e-12
    assert up.wins == down.losses and up.losses == down.wins


@settings(max_examples=100, deadline=None)
@given(_paired())
def test_p_value_and_ci_are_well_formed(pair):
    champ, cand = pair
    d = decide_promotion(champ, cand, PromotionConfig(**_FAST))
    assert 0.0 < d.p_value <= 1.0
    assert -1.0 <= d.ci_low <= d.ci_high <= 1.0
    assert d.ci_low - 1e-9 <= d.delta <= d.ci_high + 1e-9
    assert not (d.promote and d.delta <= 0)


@st.composite
def _same_n(draw):
    m = draw(st.integers(5, 60))
    n = draw(st.sampled_from([1, 1, 2, 4, 6]))
    a = [ProblemCounts(problem_id=f"p{i}", n=n, c=draw(st.integers(0, n))) for i in range(m)]
    b = [ProblemCounts(problem_id=f"p{i}", n=n, c=draw(st.integers(0, n))) for i in range(m)]
    return a, b, n


@settings(max_examples=150, deadline=None)
@given(_same_n(), st.integers(0, 300))
def test_rollback_is_the_mirror_of_promotion(pair, tests_before):
    """Rolling back from Y to X happens exactly when the gate would promote X over Y at the
    same level (same position on the same budget schedule)."""
    x, y, n = pair
    p = prov(n=n)
    frac = spending.unscheduled_fraction(tests_before, spending.SpendingSettings())
    gl = GateLedger(tests=tests_before, alpha_spent=0.05 * (1 - frac))
    rl = ReevalLedger(tests=tests_before, alpha_spent=0.05 * (1 - frac))
    promote = decide_gate(y, x, gl, GateConfig(**_FAST), champion_provenance=p, candidate_provenance=p)
    back = decide_reevaluation(
        x, y, rl, ReevalConfig(**_FAST), parent_provenance=p, champion_provenance=p, rounds_since_promotion=3
    )
    assert back.rollback == promote.promote
    assert back.alpha_level == promote.alpha_level
    assert abs(back.p_value - promote.p_value) < 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40), st.booleans())
def test_gate_ledger_keeps_the_budget_identity(steps, fallback):
    """Whatever the outcomes, alpha_spent + carry + alpha * F(tests) == alpha, nothing is spent
    twice, and the level of each test is at most what is left."""
    cfg = GateConfig(min_problems=1, n_bootstrap=100, fallback=fallback)
    p = prov()
    win = [ProblemCounts(problem_id=f"p{i}", n=1, c=0) for i in range(30)]
    won = [ProblemCounts(problem_id=f"p{i}", n=1, c=1) for i in range(30)]  # p = 2^-30
    ledger = GateLedger()
    last_run_promoted = False
    for wins, marked_bad in steps:
        d = decide_gate(
            win,
            won if wins else win,
            ledger,
            cfg,
            champion_provenance=p,
            candidate_provenance=p,
            candidate_marked_bad=marked_bad,
        )
        after = d.ledger_after
        if marked_bad:
            assert not d.run and after == ledger
        else:
            assert d.run and after.tests == ledger.tests + 1
            assert d.alpha_level <= cfg.alpha - ledger.alpha_spent + 1e-15
            assert d.promote == wins
            last_run_promoted = d.promote
        left = cfg.alpha * spending.unscheduled_fraction(after.tests, cfg)
        assert abs(after.alpha_spent + after.carry + left - cfg.alpha) < 1e-12
        assert (after.carry > 0.0) == (fallback and last_run_promoted)
        ledger = after
