from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies.counts import ProblemCounts
from policies.promotion import PromotionConfig, decide_promotion
from policies.rollback import ChampionRecord, RollbackConfig, bad_versions, decide_rollback
from policy_builders import binary_pair


def _rec(version, counts, **kw):
    return ChampionRecord(version=version, counts=counts, **kw)


def test_smollm2_regression_rolls_back_to_base():
    # Base greedy 30/500; v1's re-evaluation 19/500 (5 wins, 16 losses vs base).
    base_counts, latest = binary_pair(14, 16, 5, 465)
    # What v1 scored when it was promoted (same problems).
    _, v1_recorded = binary_pair(14, 16, 30, 440)
    history = [_rec("base", base_counts, is_base=True), _rec("v1", v1_recorded)]
    d = decide_rollback(history, latest, RollbackConfig())
    assert d.rollback
    assert d.target_version == "base"
    assert d.mark_bad == "v1"
    assert len(d.comparisons) == 1  # previous good is the base: compared once
    cmp = d.comparisons[0].comparison
    assert cmp.delta == pytest.approx(-11 / 500)
    assert cmp.p_value < 0.05 and cmp.alternative == "less"
    assert d.reason.startswith("ROLLBACK to 'base'")


def test_regression_against_previous_champion_rolls_back_to_it():
    base, v1 = binary_pair(20, 0, 20, 60)  # v1 = 40/100 recorded
    _, latest_v2 = binary_pair(20, 20, 0, 60)  # v2 re-evaluated: 20/100, lost v1's wins
    v1_counts = v1
    history = [_rec("base", base, is_base=True), _rec("v1", v1_counts), _rec("v2", v1_counts)]
    d = decide_rollback(history, latest_v2, RollbackConfig())
    assert d.rollback and d.target_version == "v1" and d.mark_bad == "v2"
    assert [c.reference_version for c in d.comparisons] == ["v1", "base"]
    assert d.comparisons[0].significant_regression


def test_worse_than_base_only_rolls_back_to_base():
    base, _ = binary_pair(40, 0, 0, 60)  # base 40/100
    # v1 recorded barely above what v2 now scores; v2 now 25/100, far below base.
    ref_v1 = [ProblemCounts(problem_id=p.problem_id, n=1, c=1 if i < 27 else 0) for i, p in enumerate(base)]
    latest = [ProblemCounts(problem_id=p.problem_id, n=1, c=1 if i < 25 else 0) for i, p in enumerate(base)]
    history = [_rec("base", base, is_base=True), _rec("v1", ref_v1), _rec("v2", ref_v1)]
    d = decide_rollback(history, latest, RollbackConfig())
    assert not d.comparisons[0].significant_regression
    assert d.comparisons[1].significant_regression
    assert d.rollback and d.target_version == "base" and d.mark_bad == "v2"


def test_noise_does_not_trigger_rollback():
    base, v1 = binary_pair(30, 0, 10, 60)  # v1 recorded 40/100
    history = [_rec("base", base, is_base=True), _rec("v1", v1)]
    latest = [ProblemCounts(problem_id=p.problem_id, n=1, c=p.c) for p in v1]
    latest[0] = ProblemCounts(problem_id=latest[0].problem_id, n=1, c=0)
    d = decide_rollback(history, latest, RollbackConfig())
    assert not d.rollback and d.target_version is None and d.mark_bad is None
    assert "no significant regression" in d.reason


def test_improvement_never_triggers_rollback():
    base, v1 = binary_pair(30, 0, 10, 60)
    _, better = binary_pair(30, 0, 40, 30)
    d = decide_rollback([_rec("base", base, is_base=True), _rec("v1", v1)], better, RollbackConfig())
    assert not d.rollback


def test_bad_records_are_skipped_as_targets():
    base, good = binary_pair(20, 0, 20, 60)
    _, awful = binary_pair(20, 20, 0, 60)
    history = [
        _rec("base", base, is_base=True),
        _rec("v1", good, marked_bad=True),
        _rec("v2", good),
    ]
    # Previous good champion of v2 is the base (v1 is bad).
    d = decide_rollback(history, awful, RollbackConfig())
    assert [c.reference_version for c in d.comparisons] == ["base"]
    assert not d.rollback  # awful (20/100) vs base (20/100 recorded): no regression

    _, worse = binary_pair(0, 20, 0, 80)
    d = decide_rollback(history, worse, RollbackConfig())
    assert d.rollback and d.target_version == "base"


def test_champion_already_marked_bad_rolls_back_without_a_test():
    base, v1 = binary_pair(20, 0, 20, 60)
    history = [_rec("base", base, is_base=True), _rec("v1", v1), _rec("v2", v1, marked_bad=True)]
    d = decide_rollback(history, v1, RollbackConfig())
    assert d.rollback and d.target_version == "v1" and d.comparisons == []


def test_base_champion_has_nothing_to_roll_back_to():
    base, worse = binary_pair(0, 40, 0, 60)
    d = decide_rollback([_rec("base", base, is_base=True)], worse, RollbackConfig())
    assert not d.rollback and "base model" in d.reason


def test_thin_evidence_does_not_roll_back():
    base, _ = binary_pair(10, 0, 0, 0)
    _, latest = binary_pair(0, 10, 0, 0)
    history = [_rec("base", base, is_base=True), _rec("v1", base)]
    d = decide_rollback(history, latest, RollbackConfig(min_problems=20))
    assert d.comparisons[0].comparison.p_value < 0.01
    assert not d.rollback and "min_problems" in d.reason


def test_reference_may_cover_more_problems_but_not_fewer():
    base, v1 = binary_pair(20, 0, 20, 60)
    history = [_rec("base", base, is_base=True), _rec("v1", v1)]
    d = decide_rollback(history, v1[:50], RollbackConfig())
    assert d.comparisons[0].comparison.n_problems == 50
    with pytest.raises(ValueError, match="only in .*latest.*'new-1'"):
        decide_rollback(history, v1 + [ProblemCounts(problem_id="new-1", n=1, c=1)], RollbackConfig())


@pytest.mark.parametrize(
    "history, match",
    [
        ([], "empty"),
        ([ChampionRecord(version="v1", counts=[ProblemCounts(problem_id="a", n=1, c=1)])], "base model"),
        (
            [
                ChampionRecord(version="b", counts=[ProblemCounts(problem_id="a", n=1, c=1)], is_base=True),
                ChampionRecord(version="b", counts=[ProblemCounts(problem_id="a", n=1, c=1)]),
            ],
            "duplicate",
        ),
        (
            [
                ChampionRecord(version="b", counts=[ProblemCounts(problem_id="a", n=1, c=1)], is_base=True),
                ChampionRecord(version="b2", counts=[ProblemCounts(problem_id="a", n=1, c=1)], is_base=True),
            ],
            "only history",
        ),
    ],
)
def test_invalid_history_raises(history, match):
    with pytest.raises(ValueError, match=match):
        decide_rollback(history, [ProblemCounts(problem_id="a", n=1, c=1)], RollbackConfig())


def test_base_cannot_be_marked_bad():
    with pytest.raises(ValidationError, match="base model cannot be marked bad"):
        ChampionRecord(version="base", counts=[ProblemCounts(problem_id="a", n=1, c=1)], is_base=True, marked_bad=True)


def test_rolled_back_version_is_not_repromoted():
    """Anti-flapping: the version a rollback marks bad cannot win the gate again."""
    base_counts, latest = binary_pair(14, 16, 5, 465)
    _, v1_recorded = binary_pair(14, 16, 30, 440)
    history = [_rec("base", base_counts, is_base=True), _rec("v1", v1_recorded)]
    d = decide_rollback(history, latest, RollbackConfig())
    assert d.mark_bad == "v1"
    history[-1] = history[-1].model_copy(update={"marked_bad": True})
    assert bad_versions(history) == {"v1"}
    # Even with v1's flattering recorded counts, the gate refuses it.
    is_bad = "v1" in bad_versions(history)
    again = decide_promotion(base_counts, v1_recorded, PromotionConfig(), candidate_marked_bad=is_bad)
    assert not again.promote and again.comparison.p_value < 0.05
