"""The train/held-out split: deterministic, stable under growth, disjoint, tests-only held out."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from ssd.problems import Problem, StdioCase, StdioTests
from ssd.sources.humaneval import load_humaneval
from ssd.split import (
    OverlapError,
    SplitConfig,
    check_disjoint_problems,
    normalize_text,
    split,
)

_TESTS = StdioTests(kind="stdio", cases=[StdioCase(input="", output="1\n")])


def _p(i: int | str, tests: bool = True, prompt: str | None = None) -> Problem:
    return Problem(id=f"p{i}", prompt=prompt or f"problem number {i}", tests=_TESTS if tests else None)


def _pool(n: int, start: int = 0) -> list[Problem]:
    return [_p(i) for i in range(start, start + n)]


def _side(s) -> dict[str, str]:
    return {**{i: "train" for i in s.train_ids}, **{i: "heldout" for i in s.heldout_ids}}


def test_config_needs_exactly_one_size():
    with pytest.raises(ValidationError, match="exactly one"):
        SplitConfig()
    with pytest.raises(ValidationError, match="exactly one"):
        SplitConfig(heldout_frac=0.2, heldout_count=5)
    for bad, why in ((0.0, "greater than 0"), (1.0, "less than 1"), (-0.1, "greater than 0")):
        with pytest.raises(ValidationError, match=rf"heldout_frac\n  Input should be {why}"):
            SplitConfig(heldout_frac=bad)
    with pytest.raises(ValidationError, match=r"heldout_count\n  Input should be greater than or equal to 1"):
        SplitConfig(heldout_count=0)


def test_deterministic_and_order_independent():
    pool = _pool(300)
    cfg = SplitConfig(heldout_frac=0.2, seed=3)
    a, b = split(pool, cfg), split(pool, cfg)
    assert a.train_ids == b.train_ids and a.heldout_ids == b.heldout_ids
    shuffled = pool[:]
    random.Random(0).shuffle(shuffled)
    assert _side(split(shuffled, cfg)) == _side(a)
    # Input order is kept within each side.
    assert a.train_ids == [p.id for p in pool if p.id in set(a.train_ids)]
    # The seed and the salt each change the assignment.
    assert _side(split(pool, SplitConfig(heldout_frac=0.2, seed=4))) != _side(a)
    assert _side(split(pool, SplitConfig(heldout_frac=0.2, seed=3, salt="other"))) != _side(a)


def test_fraction_is_roughly_respected():
    s = split(_pool(2000), SplitConfig(heldout_frac=0.25))
    assert 0.21 < len(s.heldout) / 2000 < 0.29
    assert len(s.train) + len(s.heldout) == 2000


def test_frac_adding_problems_never_moves_existing_ones():
    cfg = SplitConfig(heldout_frac=0.3, seed=7)
    before = _side(split(_pool(200), cfg))
    grown = _pool(200) + _pool(500, start=10_000)
    after = _side(split(grown, cfg))
    assert {i: after[i] for i in before} == before


def test_count_is_exact_and_growth_never_moves_train_into_heldout():
    cfg = SplitConfig(heldout_count=20, seed=1)
    small = split(_pool(100), cfg)
    assert len(small.heldout) == 20
    big = split(_pool(100) + _pool(400, start=5000), cfg)
    assert len(big.heldout) == 20
    # A prompt that was trained on must never become an evaluation problem later.
    assert not set(small.train_ids) & set(big.heldout_ids)
    assert split(_pool(5), cfg).notes == {"heldout_short_by": 15}


def test_problems_without_tests_are_never_held_out():
    pool = [_p(i, tests=i % 2 == 0) for i in range(400)]
    s = split(pool, SplitConfig(heldout_frac=0.9))
    assert s.heldout and all(p.has_tests for p in s.heldout)
    assert {p.id for p in pool if not p.has_tests} <= set(s.train_ids)
    s = split(pool, SplitConfig(heldout_count=1000))
    assert len(s.heldout) == 200 and s.notes == {"heldout_short_by": 800}
    assert split([_p(1, tests=False)], SplitConfig(heldout_frac=0.99)).heldout == []


def test_sides_are_disjoint_and_cover_the_pool():
    pool = _pool(500)
    s = split(pool, SplitConfig(heldout_frac=0.5))
    assert not set(s.train_ids) & set(s.heldout_ids)
    assert sorted(s.train_ids + s.heldout_ids) == sorted(p.id for p in pool)
    check_disjoint_problems(s.train, s.heldout)


def test_same_prompt_under_two_ids_lands_on_one_side():
    # Each pair is one question published twice (whitespace/case differ).
    pool = []
    for i in range(200):
        pool.append(_p(f"{i}a", prompt=f"Sum the numbers, case {i}."))
        pool.append(_p(f"{i}b", prompt=f"  sum THE numbers,\n case {i}.  "))
    s = split(pool, SplitConfig(heldout_frac=0.5, seed=2))
    side = _side(s)
    assert s.heldout and s.train
    assert all(side[f"p{i}a"] == side[f"p{i}b"] for i in range(200))
    # A group with a test-less member can only train.
    pool = [_p("x", prompt="Same text"), _p("y", tests=False, prompt="same   text")]
    assert split(pool, SplitConfig(heldout_frac=0.999)).heldout == []


def test_duplicate_ids_in_pool_are_refused():
    with pytest.raises(ValueError, match="duplicate problem id 'p1'"):
        split([_p(1), _p(1)], SplitConfig(heldout_frac=0.5))


def test_check_disjoint_lists_overlapping_ids():
    with pytest.raises(OverlapError, match=r"2 id\(s\) in both: pa, pc") as info:
        check_disjoint_problems([_p("a"), _p("b"), _p("c")], [_p("c"), _p("a"), _p("z")])
    assert info.value.ids == ["pa", "pc"] and info.value.text_pairs == []
    check_disjoint_problems([_p("a")], [_p("b")])
    many = [_p(f"{i:03d}") for i in range(30)]
    with pytest.raises(OverlapError, match=r"p019 \.\.\. and 10 more"):
        check_disjoint_problems(many, many)


def test_separate_sources_overlap_by_text_is_detected():
    train = [Problem(id="train/1", prompt="Given  N, print N*2."), _p(2)]
    heldout = [Problem(id="eval/9", prompt="given n, print n*2.", tests=_TESTS), _p(3)]
    with pytest.raises(OverlapError, match=r"share their prompt text.*eval/9 ~ train/1") as info:
        check_disjoint_problems(train, heldout)
    assert info.value.text_pairs == [("eval/9", "train/1")]
    assert info.value.ids == []
    with pytest.raises(OverlapError, match=r"1 id\(s\) in both: p2"):
        check_disjoint_problems(train, [_p(2)])
    check_disjoint_problems(train, [_p(3)])


def test_normalization():
    assert normalize_text("  Ａｂｃ\tDEF\n\n g ") == "abc def g"  # NFKC folds full-width letters


def test_humaneval_split_and_manifest():
    he = load_humaneval()
    s = split(he, SplitConfig(heldout_frac=0.25, seed=0))
    assert 25 <= len(s.heldout) <= 60 and len(s.train) + len(s.heldout) == 164
    m = s.manifest()
    assert m["config"] == {"heldout_frac": 0.25, "heldout_count": None, "seed": 0, "salt": "ssd-split-v1"}
    assert m["heldout_ids"] == s.heldout_ids
    again = split(he, SplitConfig.model_validate(m["config"]))
    assert again.heldout_ids == m["heldout_ids"]


def test_score_follows_the_documented_formula():
    # Changing the rule silently would reshuffle every recorded held-out set.
    import hashlib

    from ssd.split import score

    cfg = SplitConfig(heldout_frac=0.1, seed=5, salt="s")
    digest = hashlib.sha256(b"s\x005\x00HumanEval/0").hexdigest()
    assert score("HumanEval/0", cfg) == int(digest[:16], 16) / 2**64
    held = split([_p(i) for i in range(50)], cfg).heldout_ids
    assert held == [
        f"p{i}" for i in range(50) if int(hashlib.sha256(f"s\x005\x00p{i}".encode()).hexdigest()[:16], 16) / 2**64 < 0.1
    ]
