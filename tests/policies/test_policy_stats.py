"""The statistics under the gates: Wilson, exact McNemar and the sign-flip test against library references."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from policies import stats


def test_pass_at_k_duplicate_is_gone():
    # ssd/passk.py is the one pass@k estimator.
    assert not hasattr(stats, "pass_at_k")


def test_wilson_interval_is_statsmodels_wilson():
    for s, t in [(0, 10), (5, 10), (10, 10), (3, 7), (1, 1), (17, 500)]:
        lo, hi = stats.wilson_interval(s, t, 0.9)
        ref_lo, ref_hi = proportion_confint(s, t, alpha=0.1, method="wilson")
        assert (lo, hi) == pytest.approx((ref_lo, ref_hi), abs=1e-15)
    assert stats.wilson_interval(5, 10) == pytest.approx((0.236593090512564, 0.7634069094874361), abs=1e-12)
    assert stats.wilson_interval(0, 10)[0] == 0.0 and stats.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="needs 0 <= successes <= trials, got 11/10"):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.0"):
        stats.wilson_interval(1, 10, confidence=1.0)


# Worked examples of docs/policies.md, as exact binomial tails (k of w + l discordant pairs).
@pytest.mark.parametrize(
    "wins,losses,alt,exact",
    [
        (5, 16, "greater", Fraction(2**21 - 7547, 2**21)),  # 0.99640131...: SmolLM2 30/500 -> 19/500
        (5, 16, "less", Fraction(27896, 2**21)),  # 0.01330185
        (5, 16, "two-sided", Fraction(55792, 2**21)),  # 0.02660370
        (32, 2, "greater", Fraction(596, 2**34)),  # 3.4692e-8: 30/100 -> 60/100
        (5, 3, "greater", Fraction(93, 256)),  # 0.36328: 30/100 -> 32/100
        (9, 1, "greater", Fraction(11, 1024)),  # 0.010742: the Holm example
    ],
)
def test_mcnemar_worked_examples_are_exact(wins, losses, alt, exact):
    assert stats.mcnemar_exact(wins, losses, alt) == pytest.approx(float(exact), rel=1e-12)
    diffs = [1] * wins + [-1] * losses + [0] * 7
    assert stats.sign_flip_test(diffs, alt)[0] == pytest.approx(float(exact), rel=1e-12)


def test_mcnemar_no_discordant_pairs():
    assert stats.mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError, match="needs non-negative counts, got -1, 2"):
        stats.mcnemar_exact(-1, 2)


@pytest.mark.parametrize("alt", ["greater", "less", "two-sided"])
@pytest.mark.parametrize(
    "wins,losses,ties", [(0, 0, 10), (5, 16, 479), (32, 2, 66), (7, 7, 3), (1, 0, 0), (700, 640, 10)]
)
def test_sign_flip_on_binary_diffs_equals_exact_mcnemar(alt, wins, losses, ties):
    diffs = [1] * wins + [-1] * losses + [0] * ties
    p, exact = stats.sign_flip_test(diffs, alt)
    assert exact
    assert p == pytest.approx(stats.mcnemar_exact(wins, losses, alt), rel=1e-9, abs=1e-15)


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
            p, exact = stats.sign_flip_test(diffs, alt, denominator=20)
            assert exact
            assert p == pytest.approx(_brute_force_sign_flip(diffs, alt), abs=1e-12)


def test_sign_flip_exact_matches_scipy_permutation_test():
    """The DP against scipy's paired permutation test (exact enumeration for m <= 12)."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        m = int(rng.integers(3, 13))
        n = int(rng.choice([1, 4, 8]))
        ref = rng.binomial(n, 0.4, m) / n
        ch = rng.binomial(n, 0.5, m) / n
        for alt in ("greater", "less", "two-sided"):
            res = sps.permutation_test(
                (ch, ref),
                lambda x, y, axis: np.mean(x - y, axis=axis),
                permutation_type="samples",
                alternative=alt,
                n_resamples=np.inf,
                vectorized=True,
            )
            ours, exact = stats.sign_flip_test(list(ch - ref), alt, denominator=n)
            assert exact
            assert ours == pytest.approx(res.pvalue, abs=1e-12), (trial, alt)


def test_sign_flip_large_sample_agrees_with_scipy_permutation_monte_carlo():
    rng = np.random.default_rng(12)
    ref = rng.binomial(4, 0.40, 150) / 4
    ch = rng.binomial(4, 0.43, 150) / 4
    ours, exact = stats.sign_flip_test(list(ch - ref), "greater", denominator=4)
    assert exact
    res = sps.permutation_test(
        (ch, ref),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        alternative="greater",
        n_resamples=5_000,
        vectorized=True,
        rng=np.random.default_rng(0),
    )
    assert abs(ours - res.pvalue) < 4 * math.sqrt(ours * (1 - ours) / 5_000) + 1e-4


def test_sign_flip_monte_carlo_agrees_with_exact_and_is_seeded():
    rng = np.random.default_rng(2)
    diffs = [Fraction(int(a), 10) - Fraction(int(b), 10) for a, b in rng.integers(0, 11, size=(60, 2))]
    diffs += [Fraction(3, 10)] * 8  # push the mean up so p is mid-range, not 0 or 1
    p_exact, exact = stats.sign_flip_test(diffs, "greater", denominator=10)
    assert exact
    p_mc, exact_mc = stats.sign_flip_test(
        diffs, "greater", denominator=10, max_exact_work=0, n_resamples=20_000, seed=7
    )
    assert not exact_mc
    assert abs(p_mc - p_exact) < 0.01 + 3 * math.sqrt(p_exact * (1 - p_exact) / 20_000)
    assert stats.sign_flip_test(diffs, "greater", denominator=10, max_exact_work=0, seed=7) == (p_mc, False)


def test_exact_switch_depends_on_the_design_not_on_the_counts():
    """n = 10 with only even counts reduces to fifths; the method must not change with it."""
    m, n = 50, 10
    budget = m * (2 * m * n + 1)
    rng = np.random.default_rng(3)
    even = [Fraction(2 * int(a), n) - Fraction(2 * int(b), n) for a, b in rng.integers(0, 6, size=(m, 2))]
    mixed = [Fraction(int(a), n) - Fraction(int(b), n) for a, b in rng.integers(0, 11, size=(m, 2))]
    for diffs in (even, mixed, [Fraction(0)] * m):
        assert stats.sign_flip_test(diffs, "greater", denominator=n, max_exact_work=budget)[1]
        assert not stats.sign_flip_test(diffs, "greater", denominator=n, max_exact_work=budget - 1)[1]
    assert stats.sign_flip_exact_feasible(m, n, budget) and not stats.sign_flip_exact_feasible(m, n, budget - 1)


def test_sign_flip_rejects_differences_off_the_denominator():
    with pytest.raises(ValueError, match="multiple of 1/4"):
        stats.sign_flip_test([Fraction(1, 3)], "greater", denominator=4)
    with pytest.raises(ValueError, match="multiple of 1/1"):
        stats.sign_flip_test([0.5], "greater")
    assert stats.sign_flip_test([0.25, 0.5], "greater", denominator=4)[1]


def test_sign_flip_tiny_tails_keep_relative_precision():
    # 60 wins, 0 losses: p = 2^-60 exactly; Monte Carlo could never show it.
    p, exact = stats.sign_flip_test([1] * 60, "greater")
    assert exact and p == pytest.approx(2.0**-60, rel=1e-12)


def test_sign_flip_empty_and_all_zero():
    assert stats.sign_flip_test([], "greater") == (1.0, True)
    assert stats.sign_flip_test([0, 0, 0], "greater")[0] == 1.0
    with pytest.raises(ValueError, match="unknown alternative 'bigger'"):
        stats.sign_flip_test([1], "bigger")  # type: ignore[arg-type]


def test_newcombe_matches_published_example():
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8
    # (Cavo et al. 2012 table [[59, 6], [16, 80]]): -0.0621 (95% CI -0.1186 to -0.0046).
    lo, hi = stats.newcombe_paired_ci(both=59, only_reference=16, only_challenger=6, neither=80)
    assert (lo, hi) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


def test_newcombe_degenerate_tables_stay_in_range():
    assert stats.newcombe_paired_ci(0, 0, 0, 50)[0] < 0 < stats.newcombe_paired_ci(0, 0, 0, 50)[1]
    lo, hi = stats.newcombe_paired_ci(0, 0, 50, 0)
    assert -1 <= lo <= hi <= 1 and hi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs at least one pair"):
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


def test_paired_bootstrap_ci_is_scipy_percentile_bootstrap():
    rng = np.random.default_rng(4)
    d = rng.normal(0.1, 0.3, 200)
    lo, hi = stats.paired_bootstrap_ci(d, 0.9, n_resamples=4000, seed=1)
    ref = sps.bootstrap(
        (d,),
        np.mean,
        n_resamples=4000,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(1),
        vectorized=True,
    )
    assert (lo, hi) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), abs=1e-12)
    assert lo < d.mean() < hi
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert (hi - lo) == pytest.approx(2 * 1.645 * se, rel=0.15)
    assert stats.paired_bootstrap_ci(d, 0.9, n_resamples=4000, seed=1) == (lo, hi)
    assert stats.paired_bootstrap_ci([0.2, 0.2], 0.9) == (0.2, 0.2)
    with pytest.raises(ValueError, match="needs at least one difference"):
        stats.paired_bootstrap_ci([], 0.9)
