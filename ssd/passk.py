"""pass@k: the unbiased estimator, and a confidence interval for pass@1 over problems."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn without replacement from n, c of them correct, is
    correct) = 1 - C(n-c, k) / C(n, k). Exact integer arithmetic: n is small, and the float
    product form loses digits when c is close to n."""
    if not (0 <= c <= n) or n < 1:
        raise ValueError(f"need 0 <= c <= n and n >= 1, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def ks_for(n: int) -> list[int]:
    """The k reported for n samples per problem: 1, then powers of two and n itself, up to n."""
    ks = {1, n}
    k = 2
    while k < n:
        ks.add(k)
        k *= 2
    return sorted(ks)


def bootstrap_ci(
    values: Sequence[float], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap of the mean over problems. Chosen over Wilson because per-problem
    pass@1 is a fraction c/n when n > 1, not a Bernoulli outcome; resampling problems captures
    the between-problem variance that dominates on small held-out sets. Seeded: the same
    report always shows the same interval."""
    m = len(values)
    if m == 0:
        return (0.0, 0.0)
    if m == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    means = sorted(sum(values[rng.randrange(m)] for _ in range(m)) / m for _ in range(resamples))
    lo_i = int(math.floor((1 - level) / 2 * resamples))
    hi_i = min(resamples - 1, int(math.ceil((1 + level) / 2 * resamples)) - 1)
    return (means[lo_i], means[hi_i])
