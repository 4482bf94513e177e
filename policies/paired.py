"""One paired comparison of two arms on the same problems: the core of every gate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policies import stats
from policies.counts import ProblemCounts, align

TestName = Literal["auto", "mcnemar", "signflip"]
_NO_CI = (math.nan, math.nan)


class PairedTestSettings(BaseModel):
    """Settings shared by every gate that compares two arms problem by problem."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    # "auto": exact McNemar when every problem has n = 1 on both arms, else the sign-flip test.
    test: TestName = "auto"
    min_problems: int = Field(20, ge=1)
    # Two-sided CI level; None means 1 - 2*alpha, so each tail of the interval has the nominal
    # level of the one-sided test. The interval is reported, not used to decide, and it is not
    # the inversion of the test (bootstrap or Newcombe vs an exact test): near the boundary the
    # two can disagree.
    ci_confidence: float | None = Field(None, gt=0.0, lt=1.0)
    # False skips the CI (ci_low = ci_high = NaN). It never enters a decision; the simulator
    # switches it off for speed. The daemon keeps it on.
    report_ci: bool = True
    seed: int = 0
    n_permutations: int = Field(20_000, ge=100)
    n_bootstrap: int = Field(10_000, ge=100)
    max_exact_work: int = Field(stats.DEFAULT_MAX_EXACT_WORK, ge=0)

    @property
    def confidence(self) -> float:
        """The two-sided CI level in use: `ci_confidence`, or 1 - 2*alpha."""
        return self.ci_confidence if self.ci_confidence is not None else 1.0 - 2.0 * self.alpha


class PairedComparison(BaseModel):
    """Challenger minus reference on aligned problems, with a one-sided p-value."""

    model_config = ConfigDict(frozen=True)

    n_problems: int
    reference_pass1: float
    challenger_pass1: float
    delta: float
    p_value: float
    alternative: Literal["greater", "less"]
    ci_low: float
    ci_high: float
    ci_confidence: float
    test: Literal["mcnemar", "signflip"]
    exact: bool
    # Problems where the challenger's pass rate is higher / lower / equal.
    wins: int
    losses: int
    ties: int


def _pick_test(
    settings: PairedTestSettings, pairs: list[tuple[ProblemCounts, ProblemCounts]], binary: bool
) -> Literal["mcnemar", "signflip"]:
    """ "auto": McNemar when every n is 1, else sign-flip; McNemar forced on n > 1 is an error."""
    test = settings.test
    if test == "auto":
        return "mcnemar" if binary else "signflip"
    if test == "mcnemar" and not binary:
        bad = [ref.problem_id for ref, ch in pairs if ref.n != 1 or ch.n != 1][:10]
        raise ValueError(f"test='mcnemar' needs n=1 per problem on both arms; n>1 on {bad}")
    return test


def _mcnemar(
    pairs: list[tuple[ProblemCounts, ProblemCounts]],
    wins: int,
    losses: int,
    alternative: Literal["greater", "less"],
    settings: PairedTestSettings,
) -> tuple[float, bool, tuple[float, float]]:
    """Exact McNemar p-value, exactness (always), and the Newcombe CI."""
    p = stats.mcnemar_exact(wins, losses, alternative)
    both = sum(1 for ref, ch in pairs if ref.c == 1 and ch.c == 1)
    neither = len(pairs) - both - wins - losses
    ci = stats.newcombe_paired_ci(both, losses, wins, neither, settings.confidence) if settings.report_ci else _NO_CI
    return p, True, ci


def _sign_flip(
    ints: list[int], scale: int, alternative: Literal["greater", "less"], settings: PairedTestSettings
) -> tuple[float, bool, tuple[float, float]]:
    """Sign-flip p-value (exact when feasible, else Monte Carlo), exactness, and the bootstrap CI."""
    p, exact = stats.sign_flip_test_numerators(
        ints,
        scale,
        alternative,
        n_resamples=settings.n_permutations,
        seed=settings.seed,
        max_exact_work=settings.max_exact_work,
    )
    ci = _NO_CI
    if settings.report_ci:
        ci = stats.paired_bootstrap_ci(
            [d / scale for d in ints], settings.confidence, n_resamples=settings.n_bootstrap, seed=settings.seed
        )
    return p, exact, ci


def compare_paired(
    reference: Sequence[ProblemCounts],
    challenger: Sequence[ProblemCounts],
    settings: PairedTestSettings,
    *,
    alternative: Literal["greater", "less"],
    reference_name: str = "reference",
    challenger_name: str = "challenger",
    allow_reference_superset: bool = False,
) -> PairedComparison:
    """Paired test of challenger vs reference, one-sided in the direction `alternative`.

    Raises ValueError on mismatched problem ids, on an empty set, or when McNemar is forced
    on data with n > 1.
    """
    pairs = align(
        reference,
        challenger,
        reference_name=reference_name,
        challenger_name=challenger_name,
        allow_reference_superset=allow_reference_superset,
    )
    if not pairs:
        raise ValueError("no problems to compare")
    m = len(pairs)
    # Exact integer differences on the common denominator of the design (lcm of the n's):
    # d_i = c_ch/n_ch - c_ref/n_ref = ints[i] / scale.
    scale = math.lcm(*{pc.n for pair in pairs for pc in pair})
    ints: list[int] = []
    ref_sum = ch_sum = 0.0
    for ref, ch in pairs:
        ints.append(ch.c * (scale // ch.n) - ref.c * (scale // ref.n))
        ref_sum += ref.c / ref.n
        ch_sum += ch.c / ch.n
    wins = sum(1 for d in ints if d > 0)
    losses = sum(1 for d in ints if d < 0)
    test = _pick_test(settings, pairs, binary=scale == 1)
    if test == "mcnemar":
        p, exact, (lo, hi) = _mcnemar(pairs, wins, losses, alternative, settings)
    else:
        p, exact, (lo, hi) = _sign_flip(ints, scale, alternative, settings)
    return PairedComparison(
        n_problems=m,
        reference_pass1=ref_sum / m,
        challenger_pass1=ch_sum / m,
        delta=sum(ints) / (scale * m),
        p_value=p,
        alternative=alternative,
        ci_low=lo,
        ci_high=hi,
        ci_confidence=settings.confidence,
        test=test,
        exact=exact,
        wins=wins,
        losses=losses,
        ties=m - wins - losses,
    )


def compare_for_ledger_test(
    reference: Sequence[ProblemCounts],
    challenger: Sequence[ProblemCounts],
    settings: PairedTestSettings,
    tests_so_far: int,
    *,
    alternative: Literal["greater", "less"],
    reference_name: str,
    challenger_name: str,
) -> tuple[PairedComparison, str]:
    """`compare_paired` for the next test of a ledger that has run ``tests_so_far`` tests, with
    fresh, reproducible Monte Carlo / bootstrap draws for every test (seed + tests so far);
    returns the comparison and its one-line description (`describe`)."""
    cmp = compare_paired(
        reference,
        challenger,
        settings.model_copy(update={"seed": settings.seed + tests_so_far}),
        alternative=alternative,
        reference_name=reference_name,
        challenger_name=challenger_name,
    )
    return cmp, describe(cmp, reference_name, challenger_name)


def describe(cmp: PairedComparison, reference_name: str, challenger_name: str) -> str:
    """One line with the numbers behind a comparison, for decision reasons and logs."""
    ci = "" if math.isnan(cmp.ci_low) else f", {cmp.ci_confidence:.0%} CI [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}]"
    return (
        f"{challenger_name} pass@1 {cmp.challenger_pass1:.4f} vs {reference_name} "
        f"{cmp.reference_pass1:.4f} (delta {cmp.delta:+.4f}{ci}) on "
        f"{cmp.n_problems} problems; {cmp.wins} better / {cmp.losses} worse / {cmp.ties} equal; "
        f"{cmp.test}{'' if cmp.exact else ' (Monte Carlo)'} one-sided p={cmp.p_value:.4g}"
    )
