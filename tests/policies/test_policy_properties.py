"""Property checks over the paired gates: monotonicity and symmetry."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from policies.counts import ProblemCounts
from policies.paired import PairedTestSettings, compare_paired
from policies.promotion import PromotionConfig, decide_promotion
from policies.rollback import ChampionRecord, RollbackConfig, decide_rollback

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


@settings(max_examples=150, deadline=None)
@given(_paired())
def test_rollback_is_the_mirror_of_promotion(pair):
    """Rolling back from Y to X happens exactly when X would be promoted over Y."""
    x, y = pair
    promote_x_over_y = decide_promotion(y, x, PromotionConfig(**_FAST)).promote
    history = [
        ChampionRecord(version="base", counts=x, is_base=True),
        ChampionRecord(version="v1", counts=y),
    ]
    rollback = decide_rollback(history, y, RollbackConfig(**_FAST))
    assert rollback.rollback == promote_x_over_y
    if rollback.rollback:
        assert rollback.target_version == "base" and rollback.mark_bad == "v1"
