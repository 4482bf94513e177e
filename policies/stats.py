"""Shared statistics for the policies: pure functions over plain numbers, no I/O.

Conventions: "greater" alternatives ask whether the *second* arm (the challenger) is better;
paired differences are challenger minus reference. Every randomised routine takes an explicit
seed so a decision can be replayed exactly from its inputs.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, Sequence

import numpy as np
from scipy import stats as sps

Alternative = Literal["greater", "less", "two-sided"]

# Above this many DP cells (problems x support width) the exact sign-flip distribution is
# replaced by Monte Carlo; 5e7 float adds take well under a second.
DEFAULT_MAX_EXACT_WORK = 50_000_000


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    Computed as a running product so that large n does not overflow.
    """
    if n < 1 or k < 1:
        raise ValueError(f"pass_at_k needs n >= 1 and k >= 1, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got c={c}, n={n}")
    if k > n:
        raise ValueError(f"pass_at_k needs k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for one binomial proportion (good coverage near 0 and 1)."""
    if trials < 1:
        raise ValueError(f"wilson_interval needs trials >= 1, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval needs 0 <= successes <= trials, got {successes}/{trials}")
    _check_confidence(confidence)
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # Clamp the exact endpoints: rounding can leave 1e-17 outside [0, 1] at p = 0 or 1.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


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


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def newcombe_paired_ci(
    both: int, only_reference: int, only_challenger: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe (1998) square-and-add interval (method 10) for paired proportions.

    Interval for p_challenger - p_reference from the paired 2x2 table. Built from the two
    Wilson intervals with the estimated correlation between the margins (with Newcombe's
    n/2 correction for positive association).
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
    l1, u1 = wilson_interval(ch_pass, n, confidence)
    l2, u2 = wilson_interval(ref_pass, n, confidence)
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


def _integer_scale(values: Sequence[Fraction]) -> int:
    scale = 1
    for v in values:
        scale = math.lcm(scale, v.denominator)
    return scale


def sign_flip_test(
    diffs: Sequence[Fraction | float | int],
    alternative: Alternative = "greater",
    *,
    n_resamples: int = 20_000,
    seed: int = 0,
    max_exact_work: int = DEFAULT_MAX_EXACT_WORK,
) -> tuple[float, bool]:
    """Paired sign-flip (permutation) test of the mean of per-problem differences.

    Under H0 (no difference between arms on each problem) the sign of every problem's
    difference is exchangeable, so the null distribution of sum(d) is that of sum(+-|d_i|).
    Returns (p_value, exact). When the differences are rationals with a small common
    denominator (e.g. c/n with few distinct n), the null distribution is computed exactly by
    dynamic programming over integer sums; otherwise by Monte Carlo with `seed`, using
    p = (1 + hits) / (1 + n_resamples) so the p-value is never 0. With all n = 1 this is
    exactly the two-sided-binomial sign test, i.e. the exact McNemar test.

    Whether the exact path is used depends only on the denominators and the number of
    problems, never on the observed counts, so adding wins cannot switch method.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    fr = [Fraction(d).limit_denominator(10**6) if isinstance(d, float) else Fraction(d) for d in diffs]
    m = len(fr)
    if m == 0:
        return 1.0, True
    scale = _integer_scale(fr)
    width_bound = 2 * m * scale + 1
    if m * width_bound <= max_exact_work:
        ints = [int(d * scale) for d in fr]
        return _sign_flip_exact(ints, alternative), True
    arr = np.array([float(d) for d in fr])
    return _sign_flip_monte_carlo(arr, alternative, n_resamples, seed), False


def _sign_flip_exact(ints: list[int], alternative: Alternative) -> float:
    abs_vals = [abs(v) for v in ints if v != 0]
    total = sum(abs_vals)
    observed = sum(ints)
    dist = np.zeros(2 * total + 1)
    dist[total] = 1.0
    for a in abs_vals:
        new = np.zeros_like(dist)
        new[a:] += 0.5 * dist[: len(dist) - a]
        new[: len(dist) - a] += 0.5 * dist[a:]
        dist = new
    upper = float(dist[observed + total :].sum())
    lower = float(dist[: observed + total + 1].sum())
    if alternative == "greater":
        p = upper
    elif alternative == "less":
        p = lower
    else:
        p = 2 * min(upper, lower)
    return min(1.0, p)


def _sign_flip_monte_carlo(
    diffs: np.ndarray, alternative: Alternative, n_resamples: int, seed: int
) -> float:
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

    Problems are the resampling unit (both arms' results on a problem move together), which
    keeps the pairing and the per-problem clustering of the n samples.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    d = np.asarray(diffs, dtype=float)
    m = len(d)
    if m == 0:
        raise ValueError("paired_bootstrap_ci needs at least one difference")
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 4_000_000 // m))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        idx = rng.integers(0, m, size=(size, m))
        means[done : done + size] = d[idx].mean(axis=1)
        done += size
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)
