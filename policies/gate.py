"""The promotion gate over the daemon's whole life: one paired test per round, a lifetime budget.

Each round the daemon evaluates the champion and a candidate in one run (same problems,
decoding, n, seed: equal `EvalProvenance`) and calls `decide_gate` with the ledger it
persisted after the previous round. The k-th test run is made at level alpha_k from
`policies.spending` (alpha spending with online fallback), so the probability of *ever*
promoting a candidate that is not better than the champion it replaced is at most `alpha`,
however many rounds the daemon runs and however the rounds' p-values depend on each other.
A round that does not run the test (too few problems, candidate marked bad, held-out set due
for a refresh) spends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as sps
from scipy.optimize import brentq

from policies import spending, stats
from policies.counts import ProblemCounts
from policies.paired import PairedComparison, PairedTestSettings, compare_for_ledger_test
from policies.provenance import EvalProvenance, check_comparable, check_counts_match
from policies.sequential import SequentialSettings
from policies.spending import BudgetTerms, SpendingSettings


class GateConfig(PairedTestSettings, SpendingSettings, SequentialSettings):
    """alpha: the *lifetime* budget (probability of ever promoting a candidate that is not
    better). min_delta: the point estimate must exceed this pass@1 gain too (a swap must be
    worth it). refresh_after: if set, the gate refuses to run (spending nothing) after this
    many tests on one held-out set (`problem_set_hash`) until the set is refreshed.
    The reported CI is two-sided at `ci_confidence` (default 1 - 2*alpha): descriptive, not
    at the test's level alpha_k and not the test's inversion. The `SequentialSettings`
    fields configure the sequential test of `policies.sequential_gate`."""

    min_delta: float = Field(0.0, ge=0.0, le=1.0)
    refresh_after: int | None = Field(None, ge=1)


class GateLedger(BaseModel):
    """The gate's persistent state; `GateLedger()` is the fresh state of a new daemon.

    Invariant: alpha_spent + carry + alpha * F(tests) == alpha (see `policies.spending`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tests: int = Field(0, ge=0)  # promotion tests run so far
    alpha_spent: float = Field(0.0, ge=0.0)  # levels of tests that did not promote
    promotions: int = Field(0, ge=0)
    carry: float = Field(0.0, ge=0.0)  # level passed on by a promoting last test (fallback)
    problem_set_hash: str | None = None  # held-out set of the last test
    tests_on_set: int = Field(0, ge=0)  # tests run on that set
    terms: BudgetTerms | None = None  # budget terms fixed at the first test


class GateDecision(BaseModel):
    """One round's gate decision; the daemon persists `ledger_after` with it."""

    model_config = ConfigDict(frozen=True)

    promote: bool
    run: bool  # False: the test was not run and nothing was spent
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha_level: float  # the level this test was run at; 0.0 when not run
    n_problems: int
    reason: str
    comparison: PairedComparison
    ledger_after: GateLedger


class BudgetStatus(BaseModel):
    """What the status page shows about the gate's lifetime budget (`budget_status`)."""

    model_config = ConfigDict(frozen=True)

    alpha: float
    alpha_spent: float
    alpha_left: float
    next_alpha: float
    tests: int
    promotions: int
    tests_on_set: int
    refresh_due: bool
    tests_until_refresh: int | None
    # Smallest true pass@1 gain found with probability `power` by the next test; None when
    # not even a jump to pass@1 = 1 would be.
    min_detectable_delta: float | None
    power: float
    reason: str


def _level_and_left(ledger: GateLedger, cfg: GateConfig) -> tuple[float, float]:
    nxt = spending.next_level(cfg.alpha, ledger.tests, ledger.carry, cfg)
    return nxt, cfg.alpha - ledger.alpha_spent


def _monte_carlo_note(n_problems: int, denominator: int, level: float, cfg: PairedTestSettings) -> str:
    """A warning when the test would run by Monte Carlo with too few resamples to reach `level`."""
    if denominator == 1 or stats.sign_flip_exact_feasible(n_problems, denominator, cfg.max_exact_work):
        return ""
    floor = 1.0 / (cfg.n_permutations + 1)
    if floor <= level:
        return ""
    return (
        f" WARNING: {n_problems} problems x n={denominator} exceed max_exact_work, and Monte Carlo "
        f"p-values cannot go below {floor:.3g} > level {level:.3g}: raise max_exact_work or n_permutations"
    )


def _skip_reason(
    cmp: PairedComparison, cfg: GateConfig, candidate_marked_bad: bool, set_hash: str, on_set: int
) -> str | None:
    """Why the test is not run (all known before the outcome), or None when it runs."""
    if candidate_marked_bad:
        return "candidate is marked bad (rolled back before); never re-promoted"
    if cmp.n_problems < cfg.min_problems:
        return f"only {cmp.n_problems} problems < min_problems={cfg.min_problems}"
    if cfg.refresh_after is not None and on_set >= cfg.refresh_after:
        return (
            f"held-out set {set_hash} has served {on_set} tests (refresh_after={cfg.refresh_after}); "
            "refresh it before the next test"
        )
    return None


def _verdict(cmp: PairedComparison, level: float, k: int, cfg: GateConfig) -> tuple[bool, str]:
    """Promote iff better, significant at alpha_k and above min_delta; and why."""
    if cmp.delta <= 0.0:
        return False, "candidate is not better than the champion"
    if cmp.p_value > level:
        return False, f"gain is within noise (p={cmp.p_value:.4g} > alpha_{k}={level:.4g})"
    if cmp.delta <= cfg.min_delta:
        return False, f"significant but delta {cmp.delta:+.4f} <= min_delta {cfg.min_delta}"
    return True, f"significant gain (p={cmp.p_value:.4g} <= alpha_{k}={level:.4g})"


def _gate_decision(
    cmp: PairedComparison, *, promote: bool, level: float | None, reason: str, ledger_after: GateLedger
) -> GateDecision:
    """level None: the test was not run."""
    return GateDecision(
        promote=promote,
        run=level is not None,
        delta=cmp.delta,
        ci_low=cmp.ci_low,
        ci_high=cmp.ci_high,
        p_value=cmp.p_value,
        alpha_level=level or 0.0,
        n_problems=cmp.n_problems,
        reason=reason,
        comparison=cmp,
        ledger_after=ledger_after,
    )


def decide_gate(
    champion: Sequence[ProblemCounts],
    candidate: Sequence[ProblemCounts],
    ledger: GateLedger,
    cfg: GateConfig,
    *,
    champion_provenance: EvalProvenance,
    candidate_provenance: EvalProvenance,
    candidate_marked_bad: bool = False,
) -> GateDecision:
    """Promote the candidate over the champion only if it is better at the lifetime budget.

    H0: the candidate is not better than the champion (per-problem pass rates equal, or
    worse) at this decoding; one-sided paired test (exact McNemar at n = 1, exact sign-flip
    at n > 1) at level alpha_k = `spending.next_level(...)`. Promote iff p <= alpha_k AND
    delta > 0 AND delta > min_delta.

    The test is not run, and no budget is spent, when the candidate is marked bad, when
    there are fewer than `min_problems` problems, or when the held-out set is due for a
    refresh (`refresh_after`): all known before the outcome. Otherwise the ledger advances
    by one test whatever the outcome; a promotion passes its level on to the next test
    (fallback) instead of spending it. The daemon persists `ledger_after`.

    Raises `ProvenanceMismatch` when the two evaluations' provenance differs, ValueError
    when a count's n differs from its provenance's n, when problem ids differ between the
    arms, or when `cfg` changes the budget terms the ledger was opened with.
    """
    check_comparable(champion_provenance, candidate_provenance)
    check_counts_match(champion, champion_provenance, "champion")
    check_counts_match(candidate, candidate_provenance, "candidate")
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "gate ledger")
    cmp, facts = compare_for_ledger_test(
        champion,
        candidate,
        cfg,
        ledger.tests,
        alternative="greater",
        reference_name="champion",
        challenger_name="candidate",
    )
    set_hash = champion_provenance.problem_set_hash
    on_set = ledger.tests_on_set if ledger.problem_set_hash == set_hash else 0
    level, left = _level_and_left(ledger, cfg)
    budget = f"lifetime alpha {cfg.alpha:g}: {ledger.tests} tests run, {ledger.alpha_spent:.4g} spent, {left:.4g} left"

    skip = _skip_reason(cmp, cfg, candidate_marked_bad, set_hash, on_set)
    if skip is not None:
        reason = f"KEEP champion, test not run, nothing spent: {skip} ({budget}). {facts}"
        return _gate_decision(cmp, promote=False, level=None, reason=reason, ledger_after=ledger)

    k = ledger.tests + 1
    promote, why = _verdict(cmp, level, k, cfg)
    budget_after = spending.after_test(ledger.tests, ledger.alpha_spent, ledger.terms, level, promote, cfg.alpha, cfg)
    after = GateLedger(
        **budget_after.ledger_fields(),
        promotions=ledger.promotions + int(promote),
        problem_set_hash=set_hash,
        tests_on_set=on_set + 1,
    )
    kept = "passed on to the next test" if budget_after.passed_on else "spent"
    verdict = "PROMOTE" if promote else "KEEP champion"
    note = _monte_carlo_note(cmp.n_problems, math.lcm(champion_provenance.n, candidate_provenance.n), level, cfg)
    reason = f"{verdict}: {why}. Test {k} at alpha_{k}={level:.4g} ({kept}); {budget} before it.{note} {facts}"
    return _gate_decision(cmp, promote=promote, level=level, reason=reason, ledger_after=after)


def min_detectable_delta(
    level: float, n_problems: int, n_samples: int, base_rate: float, power: float = 0.8
) -> float | None:
    """Smallest true pass@1 gain the one-sided paired test at `level` finds with `power`.

    Normal approximation for the mean of d_i with every problem at pass rate `base_rate`
    (champion) and `base_rate + delta` (candidate), n independent samples per problem per
    arm: delta = z_(1-level) * sd0 + z_power * sd1. Equal difficulty gives the largest
    per-problem variance at a given mean, so with the usual spread of difficulties the true
    power at this delta is higher (conservative). Greedy decoding with n > 1 repeats one
    sample: pass n_samples=1 for it. None when not even pass@1 = 1 would be detected.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not 0.0 < base_rate < 1.0:
        raise ValueError(f"base_rate must be in (0, 1), got {base_rate}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if n_problems < 1 or n_samples < 1:
        raise ValueError(f"need n_problems >= 1 and n_samples >= 1, got {n_problems}, {n_samples}")
    p = base_rate
    za, zb = float(sps.norm.isf(level)), float(sps.norm.ppf(power))
    nm = n_samples * n_problems
    sd0 = math.sqrt(2 * p * (1 - p) / nm)

    def gap(d: float) -> float:
        q = p + d
        return d - za * sd0 - zb * math.sqrt((p * (1 - p) + q * (1 - q)) / nm)

    top = 1.0 - p
    if gap(top) < 0:
        return None
    if gap(0.0) >= 0:
        return 0.0
    return float(brentq(gap, 0.0, top, xtol=1e-10))


def budget_status(
    ledger: GateLedger,
    cfg: GateConfig,
    *,
    n_problems: int,
    n_samples: int,
    base_rate: float = 0.3,
    power: float = 0.8,
) -> BudgetStatus:
    """What the status page shows: budget spent and left, the next test's level, whether the
    held-out set is due for a refresh, and the minimum detectable improvement at 80% power
    (`min_detectable_delta`) for the next test at the current held-out size and n.

    Raises ValueError when `cfg` changes the budget terms the ledger was opened with.
    """
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "gate ledger")
    level, left = _level_and_left(ledger, cfg)
    refresh_due = cfg.refresh_after is not None and ledger.tests_on_set >= cfg.refresh_after
    until = None if cfg.refresh_after is None else max(0, cfg.refresh_after - ledger.tests_on_set)
    mdd = min_detectable_delta(level, n_problems, n_samples, base_rate, power)
    parts = [
        f"{ledger.tests} tests run ({ledger.promotions} promotions), {ledger.alpha_spent:.4g} of lifetime "
        f"alpha {cfg.alpha:g} spent, {left:.4g} left",
        f"next test at alpha_{ledger.tests + 1}={level:.4g}",
    ]
    if mdd is None:
        parts.append(
            f"no gain is detectable with {power:.0%} power at {n_problems} problems x n={n_samples} "
            f"(base pass@1 {base_rate:g})"
        )
    else:
        parts.append(
            f"min detectable gain {mdd:+.4f} pass@1 at {power:.0%} power ({n_problems} problems x "
            f"n={n_samples}, base pass@1 {base_rate:g}, normal approximation)"
        )
    if refresh_due:
        parts.append(f"held-out set REFRESH DUE ({ledger.tests_on_set} tests on it, refresh_after={cfg.refresh_after})")
    elif until is not None:
        parts.append(f"held-out set refresh after {until} more tests")
    note = _monte_carlo_note(n_problems, n_samples, level, cfg)
    return BudgetStatus(
        alpha=cfg.alpha,
        alpha_spent=ledger.alpha_spent,
        alpha_left=left,
        next_alpha=level,
        tests=ledger.tests,
        promotions=ledger.promotions,
        tests_on_set=ledger.tests_on_set,
        refresh_due=refresh_due,
        tests_until_refresh=until,
        min_detectable_delta=mdd,
        power=power,
        reason="; ".join(parts) + "." + note,
    )
