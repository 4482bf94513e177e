"""pass@k estimator against brute-force enumeration of k-subsets."""

from __future__ import annotations

import itertools

import pytest

from ssd.passk import bootstrap_ci, ks_for, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_1_is_fraction_correct():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(200, 199, 1) == pytest.approx(0.995)


def test_edges_and_errors():
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 1, 4) == 1.0
    bad_c = r"need 0 <= c <= n and n >= 1"
    bad_k = r"need 1 <= k <= n"
    for bad, why in [
        ((0, 0, 1), bad_c),
        ((3, 4, 1), bad_c),
        ((3, 1, 0), bad_k),
        ((3, 1, 4), bad_k),
        ((3, -1, 1), bad_c),
    ]:
        with pytest.raises(ValueError, match=why):
            pass_at_k(*bad)


def test_ks_for():
    assert ks_for(1) == [1]
    assert ks_for(4) == [1, 2, 4]
    assert ks_for(10) == [1, 2, 4, 8, 10]


def test_bootstrap_ci_brackets_mean_and_is_deterministic():
    vals = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(vals)
    assert lo < 0.3 < hi
    assert 0.18 < lo and hi < 0.42  # binomial sd ~0.046: the interval is about +-0.09
    assert bootstrap_ci(vals) == (lo, hi)
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
