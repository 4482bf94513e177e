"""Rollback on equal terms: re-evaluate the champion and its parent together, then decide.

The champion won its promotion on an evaluation selected for being high; comparing a later
evaluation of it with those recorded counts would find "regressions" that are only regression
to the mean, and counts from another decoding, seed, sandbox or vLLM would compare different
experiments. So a rollback test always uses a *fresh* evaluation of both the champion and its
parent (the champion it replaced) in one run, with equal `EvalProvenance`, and is one-sided:
"is the champion worse than its parent?". It has its own lifetime budget, spent by the same
schedule as the promotion gate (`policies.spending`), and a cooldown after each promotion so
the same pair cannot flap; the rolled-back champion is marked bad and never promoted again.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from policies import spending
from policies.counts import ProblemCounts
from policies.paired import PairedComparison, PairedTestSettings, compare_for_ledger_test
from policies.provenance import EvalProvenance, check_comparable, check_counts_match
from policies.sequential import SequentialSettings
from policies.spending import BudgetTerms, SpendingSettings


class ReevalConfig(PairedTestSettings, SpendingSettings, SequentialSettings):
    """alpha: the rollback test's own *lifetime* budget (probability of ever rolling back a
    champion that is not worse than its parent). min_regression: the point estimate's drop
    must exceed this too. cooldown_rounds: no re-evaluation of a champion promoted fewer than
    this many rounds ago (hysteresis against promote/rollback cycles)."""

    min_regression: float = Field(0.0, ge=0.0, le=1.0)
    cooldown_rounds: int = Field(3, ge=0)


class ReevalLedger(BaseModel):
    """The rollback test's persistent state; `ReevalLedger()` is the fresh state.

    Invariant: alpha_spent + carry + alpha * F(tests) == alpha (see `policies.spending`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tests: int = Field(0, ge=0)
    alpha_spent: float = Field(0.0, ge=0.0)
    rollbacks: int = Field(0, ge=0)
    carry: float = Field(0.0, ge=0.0)
    terms: BudgetTerms | None = None


class ReevalDecision(BaseModel):
    """One re-evaluation's decision; the daemon persists `ledger_after` with it."""

    model_config = ConfigDict(frozen=True)

    rollback: bool  # True: serve the parent again and mark the champion bad
    run: bool  # False: no test was run (cooldown, too few problems) and nothing was spent
    p_value: float | None
    alpha_level: float | None  # the level the test was run at; None when not run
    delta: float | None  # champion minus parent pass@1
    reason: str
    ledger_after: ReevalLedger
    comparison: PairedComparison | None


def reevaluation_due(cfg: ReevalConfig, rounds_since_promotion: int) -> bool:
    """Whether the champion may be re-evaluated: at least `cooldown_rounds` rounds since its
    promotion (or since it was restored by a rollback)."""
    if rounds_since_promotion < 0:
        raise ValueError(f"rounds_since_promotion must be >= 0, got {rounds_since_promotion}")
    return rounds_since_promotion >= cfg.cooldown_rounds


def _not_run(reason: str, ledger: ReevalLedger, cmp: PairedComparison | None = None) -> ReevalDecision:
    return ReevalDecision(
        rollback=False,
        run=False,
        p_value=cmp.p_value if cmp else None,
        alpha_level=None,
        delta=cmp.delta if cmp else None,
        reason=reason,
        ledger_after=ledger,
        comparison=cmp,
    )


def _verdict(cmp: PairedComparison, level: float, k: int, cfg: ReevalConfig) -> tuple[bool, str]:
    """Roll back iff worse, significant at alpha_k and by more than min_regression; and why."""
    if cmp.delta >= 0.0:
        return False, "champion is not worse than its parent"
    if cmp.p_value > level:
        return False, f"drop is within noise (p={cmp.p_value:.4g} > alpha_{k}={level:.4g})"
    if -cmp.delta <= cfg.min_regression:
        return False, f"significant but drop {-cmp.delta:.4f} <= min_regression {cfg.min_regression}"
    return True, f"significant regression (p={cmp.p_value:.4g} <= alpha_{k}={level:.4g})"


def decide_reevaluation(
    parent: Sequence[ProblemCounts],
    champion: Sequence[ProblemCounts],
    ledger: ReevalLedger,
    cfg: ReevalConfig,
    *,
    parent_provenance: EvalProvenance,
    champion_provenance: EvalProvenance,
    rounds_since_promotion: int,
) -> ReevalDecision:
    """Roll back iff the champion is significantly worse than its parent, both freshly evaluated.

    H0: the champion is not worse than the parent (per-problem pass rates equal, or better);
    one-sided paired test at the level alpha_k of this ledger's k-th test. Roll back iff
    p <= alpha_k AND the champion's pass@1 is lower by more than `min_regression`.

    Not run, nothing spent: within the cooldown (`reevaluation_due` is False; then the counts
    are not even compared) or with fewer than `min_problems` problems. Otherwise the ledger
    advances by one test; a rollback passes its level on to the next test (fallback). On a
    rollback the daemon serves the parent again, marks the champion bad, and counts the
    parent's rounds_since_promotion from 0 (so the pair cannot flap back at once).

    Raises `ProvenanceMismatch` when the provenances differ, ValueError when a count's n
    differs from its provenance's n, when the problem ids differ, or when `cfg` changes the
    budget terms the ledger was opened with.
    """
    check_comparable(parent_provenance, champion_provenance)
    check_counts_match(parent, parent_provenance, "parent")
    check_counts_match(champion, champion_provenance, "champion")
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "re-evaluation ledger")
    left = cfg.alpha - ledger.alpha_spent
    budget = f"lifetime alpha {cfg.alpha:g}: {ledger.tests} tests run, {ledger.alpha_spent:.4g} spent, {left:.4g} left"
    if not reevaluation_due(cfg, rounds_since_promotion):
        return _not_run(
            f"KEEP champion, not re-evaluated, nothing spent: promoted {rounds_since_promotion} rounds ago "
            f"< cooldown_rounds={cfg.cooldown_rounds} ({budget})",
            ledger,
        )
    cmp, facts = compare_for_ledger_test(
        parent, champion, cfg, ledger.tests, alternative="less", reference_name="parent", challenger_name="champion"
    )
    if cmp.n_problems < cfg.min_problems:
        return _not_run(
            f"KEEP champion, test not run, nothing spent: only {cmp.n_problems} problems "
            f"< min_problems={cfg.min_problems}; no rollback on thin evidence ({budget}). {facts}",
            ledger,
            cmp,
        )
    k = ledger.tests + 1
    level = spending.next_level(cfg.alpha, ledger.tests, ledger.carry, cfg)
    rollback, why = _verdict(cmp, level, k, cfg)
    budget_after = spending.after_test(ledger.tests, ledger.alpha_spent, ledger.terms, level, rollback, cfg.alpha, cfg)
    after = ReevalLedger(**budget_after.ledger_fields(), rollbacks=ledger.rollbacks + int(rollback))
    verdict = "ROLLBACK to parent, mark champion bad" if rollback else "KEEP champion"
    kept = "passed on to the next test" if budget_after.passed_on else "spent"
    return ReevalDecision(
        rollback=rollback,
        run=True,
        p_value=cmp.p_value,
        alpha_level=level,
        delta=cmp.delta,
        reason=f"{verdict}: {why}. Test {k} at alpha_{k}={level:.4g} ({kept}); {budget} before it. {facts}",
        ledger_after=after,
        comparison=cmp,
    )
