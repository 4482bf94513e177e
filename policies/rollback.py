"""Rollback gate: has the serving champion regressed, and to which version do we go back?"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policies.counts import ProblemCounts
from policies.paired import PairedComparison, PairedTestSettings, compare_paired, describe


class ChampionRecord(BaseModel):
    """One version that has served as champion, with its recorded held-out counts.

    `is_base` marks the base model (no adapter): the rollback target of last resort.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    counts: list[ProblemCounts] = Field(min_length=1)
    marked_bad: bool = False
    is_base: bool = False

    @model_validator(mode="after")
    def _base_is_never_bad(self) -> "ChampionRecord":
        if self.is_base and self.marked_bad:
            raise ValueError(f"{self.version!r}: the base model cannot be marked bad; it is the last fallback")
        return self


class RollbackConfig(PairedTestSettings):
    """alpha: one-sided level per comparison. min_regression: absolute pass@1 drop the point
    estimate must exceed on top of significance. compare_to_base: also test against the base."""

    min_regression: float = Field(0.0, ge=0.0, le=1.0)
    compare_to_base: bool = True


class RollbackComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference_version: str
    significant_regression: bool
    comparison: PairedComparison


class RollbackDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    rollback: bool
    current_version: str
    target_version: str | None
    # The version the caller must mark bad so it is never promoted again.
    mark_bad: str | None
    comparisons: list[RollbackComparison]
    reason: str


def _validate_history(history: Sequence[ChampionRecord]) -> None:
    if not history:
        raise ValueError("history is empty: it must start with the base model record")
    if not history[0].is_base:
        raise ValueError(f"history[0] ({history[0].version!r}) must be the base model (is_base=True)")
    extra_base = [r.version for r in history[1:] if r.is_base]
    if extra_base:
        raise ValueError(f"only history[0] may be the base model; also marked base: {extra_base}")
    seen: set[str] = set()
    dups = []
    for r in history:
        if r.version in seen:
            dups.append(r.version)
        seen.add(r.version)
    if dups:
        raise ValueError(f"duplicate versions in history: {dups}")


def bad_versions(history: Sequence[ChampionRecord]) -> frozenset[str]:
    """Versions that must never be promoted again."""
    return frozenset(r.version for r in history if r.marked_bad)


def decide_rollback(
    history: Sequence[ChampionRecord],
    latest_eval: Sequence[ProblemCounts],
    cfg: RollbackConfig | None = None,
) -> RollbackDecision:
    """Decide whether the current champion (history[-1]) must be rolled back.

    `history` is oldest first, history[0] the base model. `latest_eval` is the current
    champion's fresh re-evaluation; each reference's recorded counts must cover its problem
    ids (extra reference problems are ignored), else ValueError naming the ids.

    Rolls back when the champion is already marked bad, or when `latest_eval` is
    significantly worse (one-sided paired test, p < alpha, and drop > min_regression) than
    the previous good champion (most recent earlier record not marked bad) or than the base.
    Target: the previous good champion if the regression is against it; the base if the
    champion is only significantly worse than the base (the previous one was indistinguishable
    from the failing champion, so it is no safe harbour). Noise never triggers a rollback,
    and the rolled-back version is reported in `mark_bad` so it is not promoted again: both
    keep the champion from flapping.
    """
    cfg = cfg or RollbackConfig()
    _validate_history(history)
    current = history[-1]
    if current.is_base:
        return RollbackDecision(
            rollback=False,
            current_version=current.version,
            target_version=None,
            mark_bad=None,
            comparisons=[],
            reason="KEEP: the champion is the base model; there is nothing to roll back to",
        )
    earlier_good = [r for r in history[:-1] if not r.marked_bad]
    previous = earlier_good[-1]  # never empty: history[0] is the base and is never bad
    base = history[0]
    if current.marked_bad:
        return RollbackDecision(
            rollback=True,
            current_version=current.version,
            target_version=previous.version,
            mark_bad=current.version,
            comparisons=[],
            reason=f"ROLLBACK to {previous.version!r}: champion {current.version!r} is marked bad",
        )

    references = [previous] + ([base] if cfg.compare_to_base and base is not previous else [])
    results: list[RollbackComparison] = []
    lines: list[str] = []
    for ref in references:
        cmp = compare_paired(
            ref.counts,
            latest_eval,
            cfg,
            alternative="less",
            reference_name=f"{ref.version!r} (recorded)",
            challenger_name=f"{current.version!r} (latest)",
            allow_reference_superset=True,
        )
        significant = (
            cmp.n_problems >= cfg.min_problems
            and cmp.delta < 0.0
            and -cmp.delta > cfg.min_regression
            and cmp.p_value < cfg.alpha
        )
        results.append(
            RollbackComparison(reference_version=ref.version, significant_regression=significant, comparison=cmp)
        )
        lines.append(describe(cmp, repr(ref.version), repr(current.version)))

    facts = " | ".join(lines)
    n = results[0].comparison.n_problems
    hit = next((r for r in results if r.significant_regression), None)
    if hit is None:
        if n < cfg.min_problems:
            why = f"only {n} problems < min_problems={cfg.min_problems}; no rollback on thin evidence"
        else:
            why = f"no significant regression (alpha={cfg.alpha}, min_regression={cfg.min_regression})"
        return RollbackDecision(
            rollback=False,
            current_version=current.version,
            target_version=None,
            mark_bad=None,
            comparisons=results,
            reason=f"KEEP {current.version!r}: {why}. {facts}",
        )
    target = hit.reference_version
    return RollbackDecision(
        rollback=True,
        current_version=current.version,
        target_version=target,
        mark_bad=current.version,
        comparisons=results,
        reason=(
            f"ROLLBACK to {target!r}: {current.version!r} is significantly worse than {target!r} "
            f"(p={hit.comparison.p_value:.4g} < alpha={cfg.alpha}). {facts}"
        ),
    )
