"""Promotion gate: does a candidate adapter beat the champion on the held-out set?"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from policies.counts import ProblemCounts
from policies.paired import PairedComparison, PairedTestSettings, compare_paired, describe


class PromotionConfig(PairedTestSettings):
    """alpha: one-sided level of the paired test. min_delta: absolute pass@1 gain the point
    estimate must exceed on top of significance (0.0 = any significant gain)."""

    min_delta: float = Field(0.0, ge=0.0, le=1.0)


class PromotionDecision(BaseModel):
    """The one-round gate's decision (`decide_promotion`)."""

    model_config = ConfigDict(frozen=True)

    promote: bool
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_problems: int
    reason: str
    comparison: PairedComparison


def decide_promotion(
    champion: Sequence[ProblemCounts],
    candidate: Sequence[ProblemCounts],
    cfg: PromotionConfig | None = None,
    *,
    candidate_marked_bad: bool = False,
) -> PromotionDecision:
    """Promote only if the candidate's pass@1 is significantly higher than the champion's.

    H0: candidate pass@1 <= champion pass@1 on these problems; one-sided paired test at
    `cfg.alpha`. Promote iff p < alpha AND delta > min_delta AND enough problems AND the
    candidate was not already rolled back (marked bad). Ties and non-significant gains stay
    with the champion: the cost of a wrong promotion (a regression served) is larger than the
    cost of a missed one (the gain is found again next round).
    Raises ValueError when the problem ids differ between the arms.
    """
    cfg = cfg or PromotionConfig()
    cmp = compare_paired(
        champion,
        candidate,
        cfg,
        alternative="greater",
        reference_name="champion",
        challenger_name="candidate",
    )
    facts = describe(cmp, "champion", "candidate")
    if candidate_marked_bad:
        promote, why = False, "candidate is marked bad (rolled back before); never re-promoted"
    elif cmp.n_problems < cfg.min_problems:
        promote, why = False, f"only {cmp.n_problems} problems < min_problems={cfg.min_problems}"
    elif cmp.delta <= 0.0:
        promote, why = False, "candidate is not better than the champion"
    elif cmp.p_value >= cfg.alpha:
        promote, why = False, f"gain is within noise (p={cmp.p_value:.4g} >= alpha={cfg.alpha})"
    elif cmp.delta <= cfg.min_delta:
        promote, why = False, f"significant but delta {cmp.delta:+.4f} <= min_delta {cfg.min_delta}"
    else:
        promote, why = True, f"significant gain (p={cmp.p_value:.4g} < alpha={cfg.alpha})"
    verdict = "PROMOTE" if promote else "KEEP champion"
    return PromotionDecision(
        promote=promote,
        delta=cmp.delta,
        ci_low=cmp.ci_low,
        ci_high=cmp.ci_high,
        p_value=cmp.p_value,
        n_problems=cmp.n_problems,
        reason=f"{verdict}: {why}. {facts}",
        comparison=cmp,
    )
