"""The lifetime gate and the rollback test, run as sequential always-valid tests.

Same lifetime guarantees as `policies.gate` / `policies.rollback`: the k-th test of a ledger
runs at level alpha_k from `policies.spending` (alpha spending with online fallback), and a
sequential e-process test (`policies.sequential`) at level alpha_k rejects its null with
probability <= alpha_k however often it looks and wherever it stops. So P(ever promoting a
candidate that is not better) <= `gate.alpha` and P(ever rolling back a champion that is not
worse) <= `reevaluation.alpha`, each over an unlimited number of tests, as before.

The round calls, for a promotion test:

1. ``start = start_gate_test(pool_ids, ledger, cfg, champion_provenance=..., candidate_provenance=...,
   seed=..., earlier=...)``. ``start.skipped`` is a final decision when the test is not run
   (nothing spent); otherwise persist ``start.plan`` (JSON) with the round.
2. ``state = replay(plan, committed_results)`` (empty on a fresh round), then while not
   ``state.done``: evaluate both arms on ``next_batch(plan, state)``, commit every
   `PairResult` as it arrives, ``state = advance(plan, state, results)``.
3. ``decision = decide_gate_test(plan, state, ledger, cfg, provenance=...)``; persist
   ``decision.ledger_after`` in the same transaction as the decision.

The rollback test is the same with `start_reevaluation_test` / `decide_reevaluation_test`
(reference = the parent, challenger = the champion, direction "less").

A test run on its own, outside any lifetime (``ssd round``: one manual round is one test),
is `start_single_test` / `decide_single_test`: the same plan, batches and stopping rules at
the level ``cfg.alpha`` itself, with no ledger to spend from or to carry.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from policies import spending
from policies.counts import ProblemCounts
from policies.gate import GateConfig, GateLedger
from policies.provenance import EvalProvenance, check_comparable
from policies.rollback import ReevalConfig, ReevalLedger, reevaluation_due
from policies.sequential import (
    DesignEffect,
    Direction,
    SequentialPlan,
    SequentialState,
    design_effect_of,
    make_plan,
)


class TestSummary(BaseModel):
    """The numbers of a finished (or skipped) sequential test."""

    model_config = ConfigDict(frozen=True)

    run: bool
    outcome: str  # efficacy | futility | exhausted | not_run
    test_index: int | None
    alpha_level: float  # 0.0 when not run
    e_value: float
    p_value: float  # anytime-valid: 1 / the largest wealth at a checked boundary
    pool_problems: int
    problems_evaluated: int
    generations: int  # samples drawn, both arms
    reference_pass1: float
    challenger_pass1: float
    delta: float  # challenger - reference pass@1 on the evaluated problems
    ci_low: float  # descriptive (problems as the unit, normal), NaN with < 2 problems
    ci_high: float
    wins: int
    losses: int
    ties: int
    design_effect: DesignEffect | None


class GateTestDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    promote: bool
    summary: TestSummary
    reason: str
    ledger_after: GateLedger


class ReevalTestDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    rollback: bool
    summary: TestSummary
    reason: str
    ledger_after: ReevalLedger


class GateStart(BaseModel):
    """Either a plan to run, or the final decision of a test that is not run."""

    model_config = ConfigDict(frozen=True)

    plan: SequentialPlan | None
    skipped: GateTestDecision | None


class ReevalStart(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: SequentialPlan | None
    skipped: ReevalTestDecision | None


def _not_run(pool: int) -> TestSummary:
    nan = math.nan
    return TestSummary(
        run=False,
        outcome="not_run",
        test_index=None,
        alpha_level=0.0,
        e_value=1.0,
        p_value=1.0,
        pool_problems=pool,
        problems_evaluated=0,
        generations=0,
        reference_pass1=nan,
        challenger_pass1=nan,
        delta=nan,
        ci_low=nan,
        ci_high=nan,
        wins=0,
        losses=0,
        ties=0,
        design_effect=None,
    )


@functools.lru_cache(maxsize=4096)
def _t_quantile(q: float, df: int) -> float:
    """Student t quantile, cached: scipy's ppf costs about as much as the rest of a test's
    summary, and a simulation asks for the same few (confidence, problems) pairs again and
    again."""
    from scipy import stats as sps

    return float(sps.t.ppf(q, df))


def summarize(plan: SequentialPlan, state: SequentialState, confidence: float, greedy: bool) -> TestSummary:
    """The finished test's numbers; the interval is descriptive at `confidence`."""
    ids = plan.order[: state.evaluated]
    res = [state.results[p] for p in ids]
    m, n = len(res), plan.n
    ref = sum(r.reference_c for r in res) / (n * m) if m else math.nan
    ch = sum(r.challenger_c for r in res) / (n * m) if m else math.nan
    d = [(r.challenger_c - r.reference_c) / n for r in res]
    lo = hi = math.nan
    if m >= 2:
        mean = sum(d) / m
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (m - 1))
        half = _t_quantile(0.5 + confidence / 2, m - 1) * sd / math.sqrt(m)
        lo, hi = max(-1.0, mean - half), min(1.0, mean + half)
    deff = design_effect_of(np.array([r.reference_c for r in res]), n, greedy) if m else None
    sign_wins = state.wins if plan.direction == "greater" else state.losses
    sign_losses = state.losses if plan.direction == "greater" else state.wins
    return TestSummary(
        run=True,
        outcome=state.outcome,
        test_index=plan.test_index,
        alpha_level=plan.level,
        e_value=state.e_value,
        p_value=state.p_value,
        pool_problems=len(plan.order),
        problems_evaluated=m,
        generations=2 * n * m,
        reference_pass1=ref,
        challenger_pass1=ch,
        delta=(ch - ref) if m else math.nan,
        ci_low=lo,
        ci_high=hi,
        wins=sign_wins,
        losses=sign_losses,
        ties=m - state.wins - state.losses,
        design_effect=deff,
    )


def _facts(s: TestSummary, ref: str, ch: str) -> str:
    ci = "" if math.isnan(s.ci_low) else f", descriptive CI [{s.ci_low:+.4f}, {s.ci_high:+.4f}]"
    deff = "" if s.design_effect is None else f"; design effect {s.design_effect.deff:.2f}"
    return (
        f"{ch} pass@1 {s.challenger_pass1:.4f} vs {ref} {s.reference_pass1:.4f} (delta {s.delta:+.4f}{ci}) on "
        f"{s.problems_evaluated} of {s.pool_problems} problems ({s.generations} generations); {s.wins} better / "
        f"{s.losses} worse / {s.ties} equal; e-value {s.e_value:.4g}, anytime p={s.p_value:.4g}{deff}"
    )


def _greedy(prov: EvalProvenance) -> bool:
    return prov.temperature == 0.0


# -- the promotion gate ---------------------------------------------------------------------


def start_gate_test(
    pool: Sequence[str],
    ledger: GateLedger,
    cfg: GateConfig,
    *,
    champion_provenance: EvalProvenance,
    candidate_provenance: EvalProvenance,
    seed: int,
    earlier: Sequence[ProblemCounts] = (),
    candidate_marked_bad: bool = False,
) -> GateStart:
    """Plan the next promotion test over the gate `pool` (problem ids), or skip it (nothing
    spent) for reasons known before any result: a candidate marked bad, a pool smaller than
    `min_problems`, a gate set due for a refresh. `seed` fixes the order (record it with the
    round); `earlier`: the champion's counts from before this round (order and prior only).

    Raises `ProvenanceMismatch` when the arms' provenance differs (unequal n included), and
    ValueError when `cfg` changes the ledger's budget terms or the pool repeats a problem."""
    check_comparable(champion_provenance, candidate_provenance)
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "gate ledger")
    set_hash = champion_provenance.problem_set_hash
    on_set = ledger.tests_on_set if ledger.problem_set_hash == set_hash else 0
    skip = _skip_reason(pool, cfg, candidate_marked_bad)
    if skip is None and cfg.refresh_after is not None and on_set >= cfg.refresh_after:
        skip = f"gate set {set_hash} has served {on_set} tests (refresh_after={cfg.refresh_after}); refresh it"
    if skip is not None:
        dec = GateTestDecision(
            promote=False,
            summary=_not_run(len(pool)),
            reason=f"KEEP champion, test not run, nothing spent: {skip}",
            ledger_after=ledger,
        )
        return GateStart(plan=None, skipped=dec)
    plan = _next_plan(pool, "greater", ledger, cfg, champion_provenance, cfg.min_delta, seed, earlier)
    return GateStart(plan=plan, skipped=None)


def _skip_reason(pool: Sequence[str], cfg: GateConfig, candidate_marked_bad: bool) -> str | None:
    """Why a promotion test is not run, from what is known before any result (None: run it)."""
    if candidate_marked_bad:
        return "candidate is marked bad (rolled back before); never re-promoted"
    if len(pool) < cfg.min_problems:
        return f"only {len(pool)} problems in the gate pool < min_problems={cfg.min_problems}"
    return None


def _gate_why(plan: SequentialPlan, outcome: str, cfg: GateConfig, level_name: str) -> str:
    return {
        "efficacy": f"e-value reached 1/{level_name} = {1 / plan.level:.4g}",
        "futility": (
            f"futility: the gain is below {cfg.futility_gain:g} (futility wealth >= {1 / cfg.futility_error:.4g})"
        ),
        "exhausted": f"no decision before the limit of {plan.limit} problems; e-value below 1/{level_name}",
    }[outcome]


def _check_position(plan: SequentialPlan, tests: int, state: SequentialState, what: str) -> None:
    if plan.test_index != tests + 1:
        raise ValueError(
            f"{what}: the plan runs test {plan.test_index}, but the ledger has {tests} tests run; "
            "the ledger moved since the plan was made"
        )
    if not state.done:
        raise ValueError(f"{what}: the test has not stopped ({state.evaluated} problems evaluated)")


def decide_gate_test(
    plan: SequentialPlan,
    state: SequentialState,
    ledger: GateLedger,
    cfg: GateConfig,
    *,
    provenance: EvalProvenance,
) -> GateTestDecision:
    """Promote iff the test stopped for efficacy (wealth >= 1/alpha_k with the evaluated
    delta above `min_delta`). The ledger advances by one test whatever the outcome; a
    promotion passes its level on (fallback). ValueError when the test has not stopped or
    the ledger is not where the plan was made."""
    _check_position(plan, ledger.tests, state, "gate")
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "gate ledger")
    promote = state.outcome == "efficacy"
    s = summarize(plan, state, cfg.confidence, _greedy(provenance))
    set_hash = provenance.problem_set_hash
    on_set = ledger.tests_on_set if ledger.problem_set_hash == set_hash else 0
    after_budget = spending.after_test(
        ledger.tests, ledger.alpha_spent, ledger.terms, plan.level, promote, cfg.alpha, cfg
    )
    after = GateLedger(
        **after_budget.ledger_fields(),
        promotions=ledger.promotions + int(promote),
        problem_set_hash=set_hash,
        tests_on_set=on_set + 1,
    )
    k = plan.test_index
    why = _gate_why(plan, state.outcome, cfg, f"alpha_{k}")
    kept = "passed on to the next test" if after_budget.passed_on else "spent"
    verdict = "PROMOTE" if promote else "KEEP champion"
    left = cfg.alpha - ledger.alpha_spent
    reason = (
        f"{verdict}: {why}. Sequential test {k} at alpha_{k}={plan.level:.4g} ({kept}); lifetime alpha "
        f"{cfg.alpha:g}, {left:.4g} left before it. {_facts(s, 'champion', 'candidate')}"
    )
    return GateTestDecision(promote=promote, summary=s, reason=reason, ledger_after=after)


# -- one test on its own, at a fixed level -------------------------------------------------


class SingleTestDecision(BaseModel):
    """The verdict of a promotion test run on its own at level ``cfg.alpha``: no ledger, so
    nothing is spent or carried."""

    model_config = ConfigDict(frozen=True)

    promote: bool
    summary: TestSummary
    reason: str


class SingleTestStart(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: SequentialPlan | None
    skipped: SingleTestDecision | None


def start_single_test(
    pool: Sequence[str],
    cfg: GateConfig,
    *,
    champion_provenance: EvalProvenance,
    candidate_provenance: EvalProvenance,
    seed: int,
    earlier: Sequence[ProblemCounts] = (),
    candidate_marked_bad: bool = False,
) -> SingleTestStart:
    """Plan one promotion test at level ``cfg.alpha`` (the whole alpha: this test is the only
    one it covers), or skip it as `start_gate_test` does (a candidate marked bad, a pool
    below `min_problems`). The spending schedule and `refresh_after` belong to a ledger's
    life and do not apply. Raises `ProvenanceMismatch` when the arms' provenance differs."""
    check_comparable(champion_provenance, candidate_provenance)
    skip = _skip_reason(pool, cfg, candidate_marked_bad)
    if skip is not None:
        dec = SingleTestDecision(
            promote=False, summary=_not_run(len(pool)), reason=f"KEEP champion, test not run: {skip}"
        )
        return SingleTestStart(plan=None, skipped=dec)
    plan = _plan(pool, "greater", cfg.alpha, 1, cfg, champion_provenance, cfg.min_delta, seed, earlier)
    return SingleTestStart(plan=plan, skipped=None)


def decide_single_test(
    plan: SequentialPlan, state: SequentialState, cfg: GateConfig, *, provenance: EvalProvenance
) -> SingleTestDecision:
    """Promote iff the test stopped for efficacy (wealth >= 1/alpha with the evaluated delta
    above `min_delta`). ValueError when the test has not stopped."""
    if not state.done:
        raise ValueError(f"single test: the test has not stopped ({state.evaluated} problems evaluated)")
    promote = state.outcome == "efficacy"
    s = summarize(plan, state, cfg.confidence, _greedy(provenance))
    verdict = "PROMOTE" if promote else "KEEP champion"
    reason = (
        f"{verdict}: {_gate_why(plan, state.outcome, cfg, 'alpha')}. One sequential test at alpha={plan.level:g} "
        f"(a single round: no lifetime budget). {_facts(s, 'champion', 'candidate')}"
    )
    return SingleTestDecision(promote=promote, summary=s, reason=reason)


# -- rollback on equal terms ----------------------------------------------------------------


def start_reevaluation_test(
    pool: Sequence[str],
    ledger: ReevalLedger,
    cfg: ReevalConfig,
    *,
    parent_provenance: EvalProvenance,
    champion_provenance: EvalProvenance,
    seed: int,
    rounds_since_promotion: int,
    earlier: Sequence[ProblemCounts] = (),
) -> ReevalStart:
    """Plan the next rollback test (is the champion worse than its parent, both fresh?), or
    skip it (cooldown, pool below `min_problems`; nothing spent). `earlier`: the parent's
    earlier counts (order and prior only)."""
    check_comparable(parent_provenance, champion_provenance)
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "re-evaluation ledger")
    skip = None
    if not reevaluation_due(cfg, rounds_since_promotion):
        skip = f"promoted {rounds_since_promotion} rounds ago < cooldown_rounds={cfg.cooldown_rounds}"
    elif len(pool) < cfg.min_problems:
        skip = f"only {len(pool)} problems < min_problems={cfg.min_problems}; no rollback on thin evidence"
    if skip is not None:
        dec = ReevalTestDecision(
            rollback=False,
            summary=_not_run(len(pool)),
            reason=f"KEEP champion, not re-evaluated, nothing spent: {skip}",
            ledger_after=ledger,
        )
        return ReevalStart(plan=None, skipped=dec)
    plan = _next_plan(pool, "less", ledger, cfg, parent_provenance, cfg.min_regression, seed, earlier)
    return ReevalStart(plan=plan, skipped=None)


def _next_plan(
    pool: Sequence[str],
    direction: Direction,
    ledger: GateLedger | ReevalLedger,
    cfg: GateConfig | ReevalConfig,
    provenance: EvalProvenance,
    min_effect: float,
    seed: int,
    earlier: Sequence[ProblemCounts],
) -> SequentialPlan:
    """The plan of the ledger's next test, at the level its spending schedule gives it."""
    level = spending.next_level(cfg.alpha, ledger.tests, ledger.carry, cfg)
    return _plan(pool, direction, level, ledger.tests + 1, cfg, provenance, min_effect, seed, earlier)


def _plan(
    pool: Sequence[str],
    direction: Direction,
    level: float,
    test_index: int,
    cfg: GateConfig | ReevalConfig,
    provenance: EvalProvenance,
    min_effect: float,
    seed: int,
    earlier: Sequence[ProblemCounts],
) -> SequentialPlan:
    return make_plan(
        pool,
        direction=direction,
        seed=seed,
        level=level,
        n=provenance.n,
        settings=cfg,
        min_problems=cfg.min_problems,
        min_effect=min_effect,
        earlier=earlier,
        greedy=_greedy(provenance),
        test_index=test_index,
    )


def decide_reevaluation_test(
    plan: SequentialPlan,
    state: SequentialState,
    ledger: ReevalLedger,
    cfg: ReevalConfig,
    *,
    provenance: EvalProvenance,
) -> ReevalTestDecision:
    """Roll back iff the test stopped for efficacy (the champion is worse than its parent at
    alpha_k, by more than `min_regression`). Ledger and fallback as for the gate."""
    _check_position(plan, ledger.tests, state, "re-evaluation")
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "re-evaluation ledger")
    rollback = state.outcome == "efficacy"
    s = summarize(plan, state, cfg.confidence, _greedy(provenance))
    after_budget = spending.after_test(
        ledger.tests, ledger.alpha_spent, ledger.terms, plan.level, rollback, cfg.alpha, cfg
    )
    after = ReevalLedger(**after_budget.ledger_fields(), rollbacks=ledger.rollbacks + int(rollback))
    k = plan.test_index
    verdict = "ROLLBACK to parent, mark champion bad" if rollback else "KEEP champion"
    why = {
        "efficacy": f"the drop's e-value reached 1/alpha_{k} = {1 / plan.level:.4g}",
        "futility": "futility: the champion is not worse by the futility margin",
        "exhausted": f"no decision before the limit of {plan.limit} problems",
    }[state.outcome]
    kept = "passed on to the next test" if after_budget.passed_on else "spent"
    reason = f"{verdict}: {why}. Sequential test {k} at alpha_{k}={plan.level:.4g} ({kept}). " + _facts(
        s, "parent", "champion"
    )
    return ReevalTestDecision(rollback=rollback, summary=s, reason=reason, ledger_after=after)


# -- tests abandoned before they stopped ----------------------------------------------------


def abandon_gate_test(plan: SequentialPlan, ledger: GateLedger, cfg: GateConfig) -> GateLedger:
    """The ledger after a promotion test that was planned (and perhaps partly run) but will
    never decide (its round was closed as failed): counted as a test that did not promote, at
    its level. Not counting it would let the next test run again at alpha_k, so the levels of
    abandoned tests would add to the lifetime bound. A plan whose position the ledger already
    passed (or has not reached) changes nothing."""
    if plan.test_index != ledger.tests + 1:
        return ledger
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "gate ledger")
    b = spending.after_test(ledger.tests, ledger.alpha_spent, ledger.terms, plan.level, False, cfg.alpha, cfg)
    return ledger.model_copy(update=b.ledger_fields())


def abandon_reevaluation_test(plan: SequentialPlan, ledger: ReevalLedger, cfg: ReevalConfig) -> ReevalLedger:
    """As `abandon_gate_test`, for a rollback test that will never decide (the champion it
    tested stopped being champion meanwhile): counted as a test that did not roll back."""
    if plan.test_index != ledger.tests + 1:
        return ledger
    spending.check_terms(ledger.terms, cfg.alpha, cfg, "re-evaluation ledger")
    b = spending.after_test(ledger.tests, ledger.alpha_spent, ledger.terms, plan.level, False, cfg.alpha, cfg)
    return ledger.model_copy(update=b.ledger_fields())
