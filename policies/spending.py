"""Lifetime error budget over an unlimited sequence of tests: alpha spending with fallback.

The k-th test (k = 1, 2, ...) that is actually run gets the level

    alpha_k = alpha * gamma_k + carry_k,    gamma_k = F(k-1) - F(k),   F(k) = (1 + k/H)^(-s)

with H = `spend_horizon` and s = `spend_shape`. F(0) = 1 and F decreases to 0, so the
gamma_k sum to exactly 1 and alpha * F(k) is the part of the budget not yet scheduled after k
tests. `carry_k` is the online-fallback term (Tian & Ramdas 2021): when test k-1 rejected
(a promotion or a rollback that happened), its whole level alpha_{k-1} is passed to test k
instead of being spent; otherwise carry_k = 0.

Guarantee: the probability of *any* false rejection over the whole (unbounded) sequence is
at most alpha, whatever the dependence between the tests' p-values (they reuse the same
problems), provided each p-value is valid for its own null hypothesis given everything that
happened before it (fresh samples each test make it so). Plain spending is the union bound
over the gamma_k; fallback only re-uses the level of a test whose hypothesis was truly false
until the first false rejection, so the union bound still sums to at most alpha (the
argument is in docs/policies.md). It needs no independence, unlike LORD++ or SAFFRON.

The ledgers built on this (`GateLedger`, `ReevalLedger`) keep
`alpha_spent + carry + alpha * F(tests) == alpha` at all times.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class SpendingSettings(BaseModel):
    """How the lifetime budget `alpha` is spread over tests (mixed into the gate configs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The level decays slowly over the first ~H tests (the first 1 - 2^(-s) of the budget),
    # then like k^-(1+s). Defaults: alpha_1 = 0.0023, alpha_100 = 6.9e-5, alpha_1000 = 2.5e-6
    # at alpha 0.05; 29% of alpha scheduled by test 10, 70% by test 100, 90% by test 1000.
    spend_horizon: float = Field(10.0, gt=0.0)
    spend_shape: float = Field(0.5, gt=0.0, le=4.0)
    # Online fallback: a test that rejects passes its level on to the next test.
    fallback: bool = True


class BudgetTerms(BaseModel):
    """The budget terms a ledger was opened with; they may not change during its life."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float
    spend_horizon: float
    spend_shape: float
    fallback: bool


def budget_terms(alpha: float, settings: SpendingSettings) -> BudgetTerms:
    """The terms a ledger records at its first test, from the config in force."""
    return BudgetTerms(
        alpha=alpha,
        spend_horizon=settings.spend_horizon,
        spend_shape=settings.spend_shape,
        fallback=settings.fallback,
    )


def unscheduled_fraction(tests: int, settings: SpendingSettings) -> float:
    """F(tests) = (1 + tests/H)^(-s): the fraction of alpha not yet given to any test."""
    if tests < 0:
        raise ValueError(f"tests must be >= 0, got {tests}")
    return math.exp(-settings.spend_shape * math.log1p(tests / settings.spend_horizon))


def gamma(k: int, settings: SpendingSettings) -> float:
    """Share gamma_k = F(k-1) - F(k) of the budget for the k-th test (k >= 1); sums to 1.

    Computed as F(k) * expm1(s * log1p(1 / (H + k - 1))) to avoid cancellation at large k.
    """
    if k < 1:
        raise ValueError(f"tests are numbered from 1, got k={k}")
    h, s = settings.spend_horizon, settings.spend_shape
    return unscheduled_fraction(k, settings) * math.expm1(s * math.log1p(1.0 / (h + k - 1)))


def next_level(alpha: float, tests: int, carry: float, settings: SpendingSettings) -> float:
    """Level of the next test after `tests` tests: alpha * gamma_{tests+1} + carry."""
    return alpha * gamma(tests + 1, settings) + (carry if settings.fallback else 0.0)


def check_terms(recorded: BudgetTerms | None, alpha: float, settings: SpendingSettings, what: str) -> None:
    """Raise ValueError if the config's budget terms differ from the ones the ledger opened with.

    Changing alpha or the schedule mid-life would void the lifetime bound; start a new ledger
    (and say so in the report) instead.
    """
    if recorded is None:
        return
    now = budget_terms(alpha, settings)
    if now != recorded:
        diff = [
            f"{name}: ledger {getattr(recorded, name)!r}, config {getattr(now, name)!r}"
            for name in BudgetTerms.model_fields
            if getattr(recorded, name) != getattr(now, name)
        ]
        raise ValueError(
            f"{what}: the budget terms cannot change during a ledger's life ({'; '.join(diff)}); "
            "open a new ledger to change them"
        )


class BudgetAfterTest(BaseModel):
    """A ledger's budget fields after one test run; `passed_on` says whether its level went on to
    the next test (a rejecting test under fallback) instead of being spent."""

    model_config = ConfigDict(frozen=True)

    tests: int
    alpha_spent: float
    carry: float
    terms: BudgetTerms
    passed_on: bool

    def ledger_fields(self) -> dict[str, object]:
        return {"tests": self.tests, "alpha_spent": self.alpha_spent, "carry": self.carry, "terms": self.terms}


def after_test(
    tests: int,
    alpha_spent: float,
    terms: BudgetTerms | None,
    level: float,
    rejected: bool,
    alpha: float,
    settings: SpendingSettings,
) -> BudgetAfterTest:
    """Advance a ledger by one test run at `level`: a rejecting test passes its level on to the
    next (fallback) instead of spending it; the budget terms are fixed at the first test."""
    passed_on = rejected and settings.fallback
    return BudgetAfterTest(
        tests=tests + 1,
        alpha_spent=alpha_spent + (0.0 if passed_on else level),
        carry=level if passed_on else 0.0,
        terms=terms or budget_terms(alpha, settings),
        passed_on=passed_on,
    )
