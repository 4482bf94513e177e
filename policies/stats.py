"""Shared statistics for the policies: pure functions over plain numbers, no I/O.

Conventions: "greater" alternatives ask whether the *second* arm (the challenger) is better;
paired differences are challenger minus reference. Every randomised routine takes an explicit
seed so a decision can be replayed exactly from its inputs.

Library code is used where it computes the same thing: the Wilson interval is statsmodels'
`proportion_confint(method="wilson")`, the exact binomial is `scipy.stats.binomtest`, the
percentile bootstrap is `scipy.stats.bootstrap`. The exact sign-flip distribution is a short
dynamic programme kept here (scipy's `permutation_test` enumerates 2^m arrangements or
samples them; a test cross-checks the two).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln
from statsmodels.stats.proportion import proportion_confint

Alternative = Literal["greater", "less", "two-sided"]

# Above this many DP cells (problems x worst-case support width) the exact sign-flip
# distribution is replaced by Monte Carlo; 5e7 float adds take well under a second.
DEFAULT_MAX_EXACT_WORK = 50_000_000
_LN2 = math.log(2.0)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for one binomial proportion (statsmodels `proportion_confint`).

    Good coverage near 0 and 1. The endpoints at 0/trials and trials/trials are set exactly
    to 0 and 1 (rounding can otherwise leave them 1e-17 outside [0, 1]).
    """
    if trials < 1:
        raise ValueError(f"wilson_interval needs trials >= 1, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval needs 0 <= successes <= trials, got {successes}/{trials}")
    _check_confidence(confidence)
    lo, hi = proportion_confint(successes, trials, alpha=1.0 - confidence, method="wilson")
    lo = 0.0 if successes == 0 else max(0.0, float(lo))
    hi = 1.0 if successes == trials else min(1.0, float(hi))
    return lo, hi


def _wilson_pair(
    successes: tuple[int, int], trials: int, confidence: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Both margins' Wilson intervals in one vectorised statsmodels call: ((lo1, lo2), (hi1, hi2))."""
    lo, hi = proportion_confint(np.asarray(successes), trials, alpha=1.0 - confidence, method="wilson")
    los = tuple(0.0 if s == 0 else max(0.0, float(v)) for s, v in zip(successes, lo))
    his = tuple(1.0 if s == trials else min(1.0, float(v)) for s, v in zip(successes, hi))
    return (los[0], los[1]), (his[0], his[1])


def mcnemar_exact(wins: int, losses: int, alternative: Alternative = "greater") -> float:
    """Exact McNemar test: binomial test of the discordant pairs against p = 1/2.

    `wins` are pairs only the challenger solved, `losses` pairs only the reference solved.
    Concordant pairs carry no information about the difference and are ignored. The exact
    binomial is cheap at any size, so it is used always rather than a chi-square
    approximation, which is anti-conservative for the few discordant pairs small models give.
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"mcnemar_exact needs non-negative counts, got {wins}, {losses}")
    if wins + losses == 0:
        return 1.0
    return float(sps.binomtest(wins, wins + losses, 0.5, alternative=alternative).pvalue)


def newcombe_paired_ci(
    both: int, only_reference: int, only_challenger: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe (1998) square-and-add interval (method 10) for paired proportions.

    Interval for p_challenger - p_reference from the paired 2x2 table. Built from the two
    Wilson intervals with the estimated correlation between the margins (with Newcombe's
    n/2 correction for positive association). statsmodels has Newcombe's interval only for
    independent proportions, so the paired version is composed here.
    """
    _check_confidence(confidence)
    counts = (both, only_reference, only_challenger, neither)
    if min(counts) < 0:
        raise ValueError(f"newcombe_paired_ci needs non-negative counts, got {counts}")
    n = sum(counts)
    if n == 0:
        raise ValueError("newcombe_paired_ci needs at least one pair")
    ch_pass = both + only_challenger
    ref_pass = both + only_reference
    p1, p2 = ch_pass / n, ref_pass / n
    (l1, l2), (u1, u2) = _wilson_pair((ch_pass, ref_pass), n, confidence)
    margins = (ch_pass, n - ch_pass, ref_pass, n - ref_pass)
    if 0 in margins:
        phi = 0.0
    else:
        # Table laid out as challenger (rows) by reference (columns).
        a = both * neither - only_challenger * only_reference
        scale = math.sqrt(math.prod(float(m) for m in margins))
        if a > n / 2:
            phi = (a - n / 2) / scale
        elif a >= 0:
            phi = 0.0
        else:
            phi = a / scale
    est = p1 - p2
    d_lo = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    d_hi = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    lo = est - math.sqrt(max(d_lo, 0.0))
    hi = est + math.sqrt(max(d_hi, 0.0))
    return max(-1.0, lo), min(1.0, hi)


def sign_flip_exact_feasible(n_problems: int, denominator: int, max_exact_work: int = DEFAULT_MAX_EXACT_WORK) -> bool:
    """Whether `sign_flip_test` takes the exact path for this design.

    The bound is the worst-case DP work: `n_problems` x (2 * n_problems * denominator + 1)
    cells, with `denominator` the common denominator fixed by the design (the lcm of the
    samples-per-problem n's). It depends on the design only, never on the observed counts,
    so more (or fewer) wins cannot switch the method.
    """
    if n_problems < 0 or denominator < 1:
        raise ValueError(f"need n_problems >= 0 and denominator >= 1, got {n_problems}, {denominator}")
    return n_problems * (2 * n_problems * denominator + 1) <= max_exact_work


def _as_integers(diffs: Sequence[Fraction | float | int], denominator: int) -> np.ndarray:
    out = np.empty(len(diffs), dtype=np.int64)
    for i, d in enumerate(diffs):
        if isinstance(d, float):
            scaled = d * denominator
            k = round(scaled)
            if abs(scaled - k) > 1e-9 * max(1.0, abs(scaled)):
                raise ValueError(f"difference {d!r} is not a multiple of 1/{denominator}")
        else:
            scaled_fr = Fraction(d) * denominator
            if scaled_fr.denominator != 1:
                raise ValueError(f"difference {d!r} is not a multiple of 1/{denominator}")
            k = scaled_fr.numerator
        out[i] = k
    return out


def sign_flip_test(
    diffs: Sequence[Fraction | float | int],
    alternative: Alternative = "greater",
    *,
    denominator: int = 1,
    n_resamples: int = 20_000,
    seed: int = 0,
    max_exact_work: int = DEFAULT_MAX_EXACT_WORK,
) -> tuple[float, bool]:
    """Paired sign-flip (permutation) test of the mean of per-problem differences.

    Under H0 (no difference between arms on each problem) the sign of every problem's
    difference is exchangeable, so the null distribution of sum(d) is that of sum(+-|d_i|).
    Every difference must be a multiple of 1/`denominator` (for c/n differences: the lcm of
    the n's), else ValueError. Returns (p_value, exact).

    Exact vs Monte Carlo is decided by `sign_flip_exact_feasible(len(diffs), denominator)`,
    a function of the design only. The exact path computes the null distribution by dynamic
    programming over integer sums (only positive terms are added, so even tail
    probabilities far below 1e-10 keep full relative precision); the Monte Carlo path draws
    `n_resamples` sign vectors with `seed` and returns p = (1 + hits) / (1 + n_resamples),
    which is never below 1 / (1 + n_resamples). With all n = 1 this is exactly the
    binomial sign test, i.e. the exact McNemar test.
    """
    if denominator < 1:
        raise ValueError(f"denominator must be >= 1, got {denominator}")
    return sign_flip_test_numerators(
        _as_integers(diffs, denominator),
        denominator,
        alternative,
        n_resamples=n_resamples,
        seed=seed,
        max_exact_work=max_exact_work,
    )


def sign_flip_test_numerators(
    numerators: Sequence[int] | np.ndarray,
    denominator: int,
    alternative: Alternative = "greater",
    *,
    n_resamples: int = 20_000,
    seed: int = 0,
    max_exact_work: int = DEFAULT_MAX_EXACT_WORK,
) -> tuple[float, bool]:
    """`sign_flip_test` for differences given as integers over a common `denominator`.

    d_i = numerators[i] / denominator. The p-value does not depend on `denominator` (the
    test is scale free); the exact-vs-Monte-Carlo switch does, through
    `sign_flip_exact_feasible`.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    if denominator < 1:
        raise ValueError(f"denominator must be >= 1, got {denominator}")
    ints = np.asarray(numerators, dtype=np.int64)
    m = len(ints)
    if m == 0:
        return 1.0, True
    if sign_flip_exact_feasible(m, denominator, max_exact_work):
        return _sign_flip_exact(ints, alternative), True
    return _sign_flip_monte_carlo(ints.astype(float), alternative, n_resamples, seed), False


def _sign_flip_exact(ints: np.ndarray, alternative: Alternative) -> float:
    """Exact tail of sum(+-|d_i|) by dynamic programming over integer sums.

    Problems with the same |d| = a are added together: k of them contribute a * (2B - k)
    with B ~ Binomial(k, 1/2), i.e. the binomial pmf (from log-gamma, relative error
    ~1e-13) on a lattice of step 2a. Convolving the
    running distribution with it splits into 2a independent residue classes, each a plain
    `np.convolve` with the pmf. Only non-negative terms are ever added, so tail
    probabilities keep full relative precision.
    """
    abs_vals = np.abs(ints[ints != 0])
    observed = int(ints.sum())
    dist = np.ones(1)  # dist[j] = P(sum of the problems added so far = j - offset)
    for a, k in zip(*(v.tolist() for v in np.unique(abs_vals, return_counts=True))):
        j = np.arange(k + 1)
        pmf = np.exp(gammaln(k + 1) - gammaln(j + 1) - gammaln(k - j + 1) - k * _LN2)
        step = 2 * a
        new = np.zeros(len(dist) + step * k)
        for r in range(min(step, len(dist))):
            new[r::step] = np.convolve(dist[r::step], pmf)
        dist = new
    total = (len(dist) - 1) // 2  # the support is -total..total
    idx = observed + total
    upper = float(dist[idx:].sum())
    lower = float(dist[: idx + 1].sum())
    if alternative == "greater":
        p = upper
    elif alternative == "less":
        p = lower
    else:
        p = 2 * min(upper, lower)
    return min(1.0, p)


def _sign_flip_monte_carlo(diffs: np.ndarray, alternative: Alternative, n_resamples: int, seed: int) -> float:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    observed = diffs.sum()
    abs_d = np.abs(diffs)
    # Tolerance so that float re-summation of an identical arrangement still counts as a hit.
    tol = 1e-9 * max(1.0, float(abs_d.sum()))
    hits_hi = hits_lo = 0
    chunk = max(1, min(n_resamples, 4_000_000 // max(1, len(diffs))))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        signs = rng.integers(0, 2, size=(size, len(diffs)), dtype=np.int8) * 2 - 1
        null = signs @ abs_d
        hits_hi += int((null >= observed - tol).sum())
        hits_lo += int((null <= observed + tol).sum())
        done += size
    p_hi = (1 + hits_hi) / (1 + n_resamples)
    p_lo = (1 + hits_lo) / (1 + n_resamples)
    if alternative == "greater":
        return p_hi
    if alternative == "less":
        return p_lo
    return min(1.0, 2 * min(p_hi, p_lo))


def paired_bootstrap_ci(
    diffs: Sequence[float],
    confidence: float = 0.90,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of per-problem paired differences.

    `scipy.stats.bootstrap(method="percentile")` over the differences: problems are the
    resampling unit (both arms' results on a problem move together), which keeps the pairing
    and the per-problem clustering of the n samples. All-equal differences return the point.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        raise ValueError("paired_bootstrap_ci needs at least one difference")
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    res = sps.bootstrap(
        (d,),
        np.mean,
        n_resamples=n_resamples,
        batch=max(1, min(n_resamples, 4_000_000 // len(d))),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
