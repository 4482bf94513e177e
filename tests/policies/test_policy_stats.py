from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

from policies import stats


def test_pass_at_k_matches_combinatorial_formula():
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
                assert stats.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_the_pass_rate():
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert stats.pass_at_k(200, 0, 50) == 0.0
    assert stats.pass_at_k(200, 200, 50) == 1.0


@pytest.mark.parametrize("args", [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_bad_input(args):
    with pytest.raises(ValueError):
        stats.pass_at_k(*args)


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 10, confidence=1.0)


def test_mcnemar_exact_is_binomial_test_on_discordant_pairs():
    assert stats.mcnemar_exact(32, 2) == pytest.approx(sps.binomtest(32, 34, 0.5, "greater").pvalue)
    assert stats.mcnemar_exact(5, 16, "less") == pytest.approx(sps.binomtest(5, 21, 0.5, "less").pvalue)
    assert stats.mcnemar_exact(0, 0) == 1.0
    # SmolLM2 pattern (30/500 -> 19/500): two-sided p ~ 0.03 as measured.
    assert stats.mcnemar_exact(5, 16, "two-sided") == pytest.approx(0.0266, abs=1e-3)


@pytest.mark.parametrize("alt", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("wins,losses,ties", [(0, 0, 10), (5, 16, 479), (32, 2, 66), (7, 7, 3), (1, 0, 0)])
def test_sign_flip_on_binary_diffs_equals_exact_mcnemar(alt, wins, losses, ties):
    diffs = [1] * wins + [-1] * losses + [0] * ties
    p, exact = stats.sign_flip_test(diffs, alt)
    assert exact
    assert p == pytest.approx(stats.mcnemar_exact(wins, losses, alt), rel=1e-9, abs=1e-12)


def _brute_force_sign_flip(diffs, alt):
    obs = sum(diffs)
    hi = lo = 0
    for signs in itertools.product((1, -1), repeat=len(diffs)):
        s = sum(sg * abs(d) for sg, d in zip(signs, diffs))
        hi += s >= obs
        lo += s <= obs
    total = 2 ** len(diffs)
    return {"greater": hi / total, "less": lo / total}[alt]


def test_sign_flip_exact_matches_brute_force_enumeration():
    rng = np.random.default_rng(1)
    for _ in range(30):
        m = int(rng.integers(1, 11))
        n_ref, n_ch = 4, 5
        diffs = [
            Fraction(int(rng.integers(0, n_ch + 1)), n_ch) - Fraction(int(rng.integers(0, n_ref + 1)), n_ref)
            for _ in range(m)
        ]
        for alt in ("greater", "less"):
            p, exact = stats.sign_flip_test(diffs, alt)
            assert exact
            assert p == pytest.approx(_brute_force_sign_flip(diffs, alt), abs=1e-12)


def test_sign_flip_monte_carlo_agrees_with_exact_and_is_seeded():
    rng = np.random.default_rng(2)
    diffs = [Fraction(int(a), 10) - Fraction(int(b), 10) for a, b in rng.integers(0, 11, size=(60, 2))]
    diffs += [Fraction(3, 10)] * 8  # push the mean up so p is mid-range, not 0 or 1
    p_exact, exact = stats.sign_flip_test(diffs, "greater")
    assert exact
    p_mc, exact_mc = stats.sign_flip_test(diffs, "greater", max_exact_work=0, n_resamples=20_000, seed=7)
    assert not exact_mc
    assert abs(p_mc - p_exact) < 0.01 + 3 * math.sqrt(p_exact * (1 - p_exact) / 20_000)
    assert stats.sign_flip_test(diffs, "greater", max_exact_work=0, seed=7) == (p_mc, False)


def test_sign_flip_empty_and_all_zero():
    assert stats.sign_flip_test([], "greater") == (1.0, True)
    assert stats.sign_flip_test([0, 0, 0], "greater")[0] == 1.0
    with pytest.raises(ValueError):
        stats.sign_flip_test([1], "bigger")  # type: ignore[arg-type]


def test_newcombe_matches_published_example():
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8
    # (Cavo et al. 2012 table [[59, 6], [16, 80]]): -0.0621 (95% CI -0.1186 to -0.0046).
    lo, hi = stats.newcombe_paired_ci(both=59, only_reference=16, only_challenger=6, neither=80)
    assert (lo, hi) == pytest.approx((-0.1186, -0.0046), abs=1e-4)


def test_newcombe_degenerate_tables_stay_in_range():
    assert stats.newcombe_paired_ci(0, 0, 0, 50)[0] < 0 < stats.newcombe_paired_ci(0, 0, 0, 50)[1]
    lo, hi = stats.newcombe_paired_ci(0, 0, 50, 0)
    assert -1 <= lo <= hi <= 1 and hi == pytest.approx(1.0)
    with pytest.raises(ValueError):
        stats.newcombe_paired_ci(0, 0, 0, 0)


def test_newcombe_coverage_is_close_to_nominal():
    rng = np.random.default_rng(3)
    m, sims, covered = 100, 1500, 0
    true_p = np.array([0.45, 0.10, 0.20, 0.25])  # both, only_ref, only_ch, neither
    true_delta = true_p[2] - true_p[1]
    for _ in range(sims):
        t = rng.multinomial(m, true_p)
        lo, hi = stats.newcombe_paired_ci(*map(int, t), confidence=0.95)
        covered += lo <= true_delta <= hi
    assert 0.93 <= covered / sims <= 0.985


def test_paired_bootstrap_ci():
    rng = np.random.default_rng(4)
    d = rng.normal(0.1, 0.3, 200)
    lo, hi = stats.paired_bootstrap_ci(d, 0.9, n_resamples=4000, seed=1)
    assert lo < d.mean() < hi
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert (hi - lo) == pytest.approx(2 * 1.645 * se, rel=0.15)
    assert stats.paired_bootstrap_ci(d, 0.9, n_resamples=4000, seed=1) == (lo, hi)
    assert stats.paired_bootstrap_ci([0.2, 0.2], 0.9) == (0.2, 0.2)
    with pytest.raises(ValueError):
        stats.paired_bootstrap_ci([], 0.9)
