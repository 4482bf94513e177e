"""An always-valid sequential paired test: a betting e-process over per-problem differences.

Both arms are evaluated on the gate pool in batches, in an order fixed by the round's seed
before any result is seen. Problem t of that order contributes one paired difference

    x_t = s * (c_challenger - c_reference) / n   in [-1, 1]

(`s` = +1 when the question is "is the challenger better?", -1 for "is it worse?"), so the
problem is the unit, whatever the n samples within it share (clustering costs nothing in
validity; `design_effect` says what it costs in information).

**Efficacy.** The e-process is a betting wealth K_t = prod_{u <= t} (1 + lambda_u x_u) with
0 <= lambda_u <= `bet_cap` < 1 chosen from x_1..x_{u-1} only (aGRAPA, Waudby-Smith & Ramdas
2023: lambda = running mean / running second moment, both shrunk toward a prior worth
`prior_weight` problems). Under H0 "the challenger is not better on any problem" every fresh
x_u has conditional mean <= 0 given the past (fresh samples, problems fixed before their
results), so K is a non-negative supermartingale and, by Ville's inequality,
P(K ever reaches 1/level) <= level: the test may look after every batch, stop at any time
for any reason, and still has level `level`. This covers the composite null "not better on
any problem" (the sharp null of the exact tests in `paired.py` included); a mean-zero mix of
better and worse problems is covered only approximately, as before (docs/policies.md).

**Futility.** A second wealth F_t = prod (1 - nu_u (x_u - g)) bets that the mean gain is
below `futility_gain` = g; reaching 1/`futility_error` stops the test and keeps the champion.
Stopping to keep the null never costs validity. A candidate truly better by g or more is
dropped this way with probability about `futility_error` (exactly so when the problems in
the order are exchangeable); losers are dropped after a few batches.

**Exact replay.** Sums run over integers (numerators over n) and the log-wealth is
accumulated left to right with `numpy.cumsum`, which adds sequentially, so the state after
any sequence of batches equals the state of one replay of all committed results: a round
killed mid-test resumes (`replay`) with the same decision rule and the same numbers.
Stopping is checked only at prefix lengths that are multiples of `batch_size` (and at the
last problem), so the decision does not depend on where a crash split a batch.

**Use of the champion's earlier results.** Earlier per-problem pass rates of the champion
(any evaluation before this round's fresh samples) are independent of the fresh samples,
so they may shape the test: they set the prior of the bet's second moment (what E[x^2] to
expect: problems the champion always passes or always fails add ties, which leave the wealth
unchanged, so they count but carry little information) and they stratify the order so every
prefix is a cross-section of the pool's difficulty.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from policies.counts import ProblemCounts

Direction = Literal["greater", "less"]
Outcome = Literal["running", "efficacy", "futility", "exhausted"]

DEFAULT_PRIOR_M2 = 0.1  # E[x^2] assumed without earlier results: a 135M-to-4B model at n = 1-4
_MIN_PRIOR_M2 = 0.01  # floor: a pool the champion always passed earlier must not make bets huge


class SequentialSettings(BaseModel):
    """How the sequential test runs (mixed into `GateConfig` and `ReevalConfig`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(25, ge=1)  # problems per batch; stops are checked between batches
    # At most this many problems per test (None: the whole pool); a cap on a round's cost.
    max_problems: int | None = Field(None, ge=1)
    bet_cap: float = Field(0.75, gt=0.0, lt=1.0)
    prior_weight: float = Field(10.0, gt=0.0)  # pseudo-problems behind the bet's prior
    futility_gain: float = Field(0.02, ge=0.0, lt=1.0)
    futility_error: float = Field(0.1, gt=0.0, lt=1.0)
    order_strata: bool = True  # stratify the order by the champion's earlier pass rates


class PairResult(BaseModel):
    """One problem's committed result: c of n passed per arm (reference = champion/parent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    problem_id: str = Field(min_length=1)
    n: int = Field(ge=1)
    reference_c: int = Field(ge=0)
    challenger_c: int = Field(ge=0)

    @model_validator(mode="after")
    def _within_n(self) -> PairResult:
        if self.reference_c > self.n or self.challenger_c > self.n:
            raise ValueError(
                f"problem {self.problem_id!r}: passes ({self.reference_c}, {self.challenger_c}) exceed n={self.n}"
            )
        return self

    @classmethod
    def of(cls, reference: ProblemCounts, challenger: ProblemCounts) -> PairResult:
        if reference.problem_id != challenger.problem_id or reference.n != challenger.n:
            raise ValueError(
                f"a pair needs one problem and one n: {reference.problem_id!r} n={reference.n} vs "
                f"{challenger.problem_id!r} n={challenger.n}"
            )
        return cls(problem_id=reference.problem_id, n=reference.n, reference_c=reference.c, challenger_c=challenger.c)


class SequentialPlan(BaseModel):
    """Everything fixed before the first result: order, level, boundaries. Persist it with
    the round (or rebuild it with `make_plan` from the same inputs: it is deterministic)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: Direction
    order: list[str] = Field(min_length=1)
    seed: int
    level: float = Field(gt=0.0, lt=1.0)
    test_index: int = Field(1, ge=1)  # k: the ledger's test this plan runs (level alpha_k)
    n: int = Field(ge=1)
    limit: int = Field(ge=1)  # problems the test may evaluate at most
    min_problems: int = Field(ge=1)  # no stop before this many
    min_effect: float = Field(0.0, ge=0.0)  # efficacy also needs mean x above this
    prior_m2: float = Field(gt=0.0)
    settings: SequentialSettings

    @model_validator(mode="after")
    def _consistent(self) -> SequentialPlan:
        if len(set(self.order)) != len(self.order):
            raise ValueError("the order lists a problem twice")
        if self.limit > len(self.order):
            raise ValueError(f"limit {self.limit} exceeds the pool of {len(self.order)} problems")
        return self

    def boundaries(self) -> list[int]:
        """Prefix lengths at which a stop is checked."""
        b = self.settings.batch_size
        out = [t for t in range(b, self.limit + 1, b) if t >= self.min_problems]
        if not out or out[-1] != self.limit:
            out.append(self.limit)
        return out


class SequentialState(BaseModel):
    """The test after the results committed so far; `replay(plan, results)` rebuilds it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    results: dict[str, PairResult] = Field(default_factory=dict)
    evaluated: int = 0  # prefix of the order folded into the wealth
    batches: int = 0  # boundaries passed
    sum_num: int = 0  # sum of s * (c_ch - c_ref): x_t = num_t / n
    sum_num2: int = 0
    log_e: float = 0.0  # efficacy log-wealth
    log_f: float = 0.0  # futility log-wealth
    max_log_e: float = 0.0  # over the boundaries passed
    wins: int = 0  # x > 0
    losses: int = 0
    outcome: Outcome = "running"

    @property
    def done(self) -> bool:
        return self.outcome != "running"

    @property
    def e_value(self) -> float:
        return math.exp(self.log_e)

    @property
    def p_value(self) -> float:
        """Anytime-valid p-value: 1 / the largest wealth at a checked boundary."""
        return min(1.0, math.exp(-self.max_log_e))

    def mean_effect(self, n: int) -> float:
        """Mean x over the evaluated prefix (0.0 before any)."""
        return self.sum_num / (n * self.evaluated) if self.evaluated else 0.0


# ---------------------------------------------------------------------------------------
# The bets: one implementation, on numpy arrays, used by the decider and by the power
# simulation alike (last axis = problems in order).


def wealth_path(
    nums: np.ndarray,
    n: int,
    start_t: int | np.ndarray,
    start_sum: int | np.ndarray,
    start_sum2: int | np.ndarray,
    start_log_e: float | np.ndarray,
    start_log_f: float | np.ndarray,
    prior_m2: float,
    settings: SequentialSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-wealths after each problem of `nums` (integer numerators of x over n, last axis in
    order), continuing from a state with `start_t` problems folded in. Returns (log_e, log_f)
    of the same shape as `nums`."""
    nums = np.asarray(nums, dtype=np.int64)
    k = nums.shape[-1]
    sq = nums * nums
    prev = np.cumsum(nums, axis=-1) - nums + _along_last(start_sum)
    prev2 = np.cumsum(sq, axis=-1) - sq + _along_last(start_sum2)
    t = _along_last(start_t) + np.arange(k)  # problems before this one
    w = settings.prior_weight
    mean = prev / (n * (t + w))
    m2 = (prev2 / (n * n) + w * prior_m2) / (t + w)
    x = nums / n
    cap = settings.bet_cap
    # maximum/minimum rather than np.clip: the same values (m2 > 0, so no NaN), at a fraction
    # of np.clip's per-call overhead, which dominates on the short arrays a batch gives.
    lam = np.minimum(np.maximum(mean / m2, 0.0), cap)
    g = settings.futility_gain
    nu = np.minimum(np.maximum((g - mean) / m2, 0.0), cap)
    inc_e = np.log1p(lam * x)
    inc_f = np.log1p(-nu * (x - g))
    # Sequential accumulation (np.cumsum adds left to right) from the stored value: the same
    # floats whatever the chunking, so a replay reproduces the state exactly.
    log_e = np.cumsum(np.concatenate([np.expand_dims(np.asarray(start_log_e, float), -1), inc_e], axis=-1), axis=-1)
    log_f = np.cumsum(np.concatenate([np.expand_dims(np.asarray(start_log_f, float), -1), inc_f], axis=-1), axis=-1)
    return log_e[..., 1:], log_f[..., 1:]


def _along_last(v: int | float | np.ndarray) -> int | float | np.ndarray:
    """A per-row start value broadcast along the problems axis (a scalar broadcasts as it is)."""
    return v if np.ndim(v) == 0 else np.expand_dims(v, -1)


def thresholds(plan: SequentialPlan) -> tuple[float, float]:
    """log(1/level) for efficacy and log(1/futility_error) for futility."""
    return -math.log(plan.level), -math.log(plan.settings.futility_error)


# ---------------------------------------------------------------------------------------
# Plans


def _stratum(c: int, n: int) -> int:
    """0: never passed earlier, 1: below half, 2: half or more, 3: always passed."""
    if c == 0:
        return 0
    if c == n:
        return 3
    return 1 if 2 * c < n else 2


def _order(pool: Sequence[str], seed: int, earlier: Mapping[str, ProblemCounts], stratify: bool) -> list[str]:
    """A seeded permutation of the pool; stratified, every prefix is a cross-section of the
    champion's earlier difficulty (strata interleaved in proportion). Depends on the pool
    as a set, the seed and the earlier counts only."""
    ids = sorted(pool)
    digest = hashlib.sha256("\n".join(ids).encode()).digest()
    rng = np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])
    perm = [ids[i] for i in rng.permutation(len(ids))]
    if not stratify or not earlier:
        return perm
    strata: dict[int, list[str]] = {}
    for pid in perm:
        pc = earlier.get(pid)
        strata.setdefault(-1 if pc is None else _stratum(pc.c, pc.n), []).append(pid)
    keyed = []
    for members in strata.values():
        size = len(members)
        # As Python floats: the same values (and so the same order) as the numpy scalars,
        # without a numpy scalar operation per problem in every plan.
        offs = rng.random(size).tolist()
        keyed += [((i + offs[i]) / size, pid) for i, pid in enumerate(members)]
    return [pid for _, pid in sorted(keyed)]


def prior_second_moment(earlier: Sequence[ProblemCounts], n: int, greedy: bool) -> float:
    """E[x^2] expected under H0 from the champion's earlier per-problem rates q_i:
    mean of 2 q_i (1 - q_i) / n (n samples per arm; one at greedy decoding, where the n
    samples repeat one). Earlier rates are shrunk a little toward 1/2 (a problem passed 0 of
    1 times earlier is not certainly unsolvable). `DEFAULT_PRIOR_M2` without results."""
    if not earlier:
        return DEFAULT_PRIOR_M2
    per = 1 if greedy else n
    # Elementwise in numpy, in the same order of operations as per problem in Python: the
    # same floats, without a Python loop in every plan.
    q = (np.array([pc.c for pc in earlier]) + 0.25) / (np.array([pc.n for pc in earlier]) + 0.5)
    return max(_MIN_PRIOR_M2, float(np.mean(2.0 * q * (1.0 - q) / per)))


def make_plan(
    pool: Sequence[str],
    *,
    direction: Direction,
    seed: int,
    level: float,
    n: int,
    settings: SequentialSettings,
    min_problems: int,
    test_index: int = 1,
    min_effect: float = 0.0,
    earlier: Sequence[ProblemCounts] = (),
    greedy: bool = False,
) -> SequentialPlan:
    """The plan of one test over `pool` (problem ids), before any fresh result.

    `earlier`: the champion's counts from evaluations before this one (may cover part of the
    pool or none); they shape the order and the bet's prior only. ValueError on an empty or
    duplicated pool, or a pool smaller than `min_problems`.
    """
    if len(set(pool)) != len(pool):
        raise ValueError("the gate pool lists a problem twice")
    if len(pool) < min_problems:
        raise ValueError(f"the gate pool has {len(pool)} problems < min_problems={min_problems}")
    inside = set(pool)
    early = {pc.problem_id: pc for pc in earlier if pc.problem_id in inside}
    # Only the sequential fields (the caller may pass a whole GateConfig): the persisted plan
    # then round-trips through JSON to an equal plan.
    settings = SequentialSettings.model_validate(settings.model_dump(include=set(SequentialSettings.model_fields)))
    limit = len(pool) if settings.max_problems is None else min(len(pool), settings.max_problems)
    return SequentialPlan(
        direction=direction,
        order=_order(pool, seed, early, settings.order_strata),
        seed=seed,
        level=level,
        test_index=test_index,
        n=n,
        limit=max(limit, min(min_problems, len(pool))),
        min_problems=min_problems,
        min_effect=min_effect,
        prior_m2=prior_second_moment(list(early.values()), n, greedy),
        settings=settings,
    )


# ---------------------------------------------------------------------------------------
# Advancing the test


def next_batch(plan: SequentialPlan, state: SequentialState) -> list[str]:
    """The problems to evaluate next (both arms): the rest of the current batch, in order;
    empty when the test is done."""
    if state.done:
        return []
    nxt = next(t for t in plan.boundaries() if t > state.evaluated)
    return [pid for pid in plan.order[state.evaluated : nxt] if pid not in state.results]


def _check_new(plan: SequentialPlan, state: SequentialState, new: Sequence[PairResult]) -> dict[str, PairResult]:
    allowed = set(plan.order[: plan.limit])
    merged = dict(state.results)
    for r in new:
        if r.problem_id not in allowed:
            raise ValueError(f"problem {r.problem_id!r} is not among the plan's first {plan.limit} problems")
        if r.n != plan.n:
            raise ValueError(f"problem {r.problem_id!r}: n={r.n}, but the plan samples n={plan.n} per arm")
        old = merged.get(r.problem_id)
        if old is not None and old != r:
            raise ValueError(f"problem {r.problem_id!r} was committed with another result: {old} vs {r}")
        merged[r.problem_id] = r
    return merged


def advance(plan: SequentialPlan, state: SequentialState, new: Sequence[PairResult]) -> SequentialState:
    """Fold newly committed results into the test. Results may arrive in any order and in
    any grouping; only the in-order prefix of the plan's order enters the wealth, and a stop
    is checked at each boundary the prefix passes. Results after a stop are recorded but
    change nothing. ValueError on a problem outside the plan, a wrong n, or a problem
    committed twice with different results."""
    merged = _check_new(plan, state, new)
    if state.done:
        return state.model_copy(update={"results": merged})
    end = state.evaluated
    while end < plan.limit and plan.order[end] in merged:
        end += 1
    if end == state.evaluated:
        return state.model_copy(update={"results": merged})
    sign = 1 if plan.direction == "greater" else -1
    ids = plan.order[state.evaluated : end]
    nums = np.array([sign * (merged[p].challenger_c - merged[p].reference_c) for p in ids], dtype=np.int64)
    log_e, log_f = wealth_path(
        nums,
        plan.n,
        state.evaluated,
        state.sum_num,
        state.sum_num2,
        state.log_e,
        state.log_f,
        plan.prior_m2,
        plan.settings,
    )
    thr_e, thr_f = thresholds(plan)
    csum = np.cumsum(nums) + state.sum_num
    stop_at, outcome = end, "running"
    batches, max_log_e = state.batches, state.max_log_e
    for b in plan.boundaries():
        if b <= state.evaluated or b > end:
            continue
        j = b - state.evaluated - 1
        batches += 1
        max_log_e = max(max_log_e, float(log_e[j]))
        mean = float(csum[j]) / (plan.n * b)
        if log_e[j] >= thr_e and mean > plan.min_effect:
            stop_at, outcome = b, "efficacy"
        elif log_f[j] >= thr_f:
            stop_at, outcome = b, "futility"
        elif b == plan.limit:
            stop_at, outcome = b, "exhausted"
        if outcome != "running":
            break
    k = stop_at - state.evaluated
    used = nums[:k]
    # Built from checked parts: model_construct skips re-validating every stored result.
    return SequentialState.model_construct(
        results=merged,
        evaluated=stop_at,
        batches=batches,
        sum_num=state.sum_num + int(used.sum()),
        sum_num2=state.sum_num2 + int((used * used).sum()),
        log_e=float(log_e[k - 1]),
        log_f=float(log_f[k - 1]),
        max_log_e=max_log_e,
        wins=state.wins + int((used > 0).sum()),
        losses=state.losses + int((used < 0).sum()),
        outcome=outcome,  # type: ignore[arg-type]
    )


def run_test(
    plan: SequentialPlan,
    evaluate_batch: Callable[[list[str]], Sequence[PairResult]],
    state: SequentialState | None = None,
) -> SequentialState:
    """Drive a test to its end: ask `evaluate_batch` for both arms' results on `next_batch`
    until the test stops. This is the round's loop in pure form; the round commits each
    result before `advance` sees it, and after a restart passes `replay(plan, committed)`
    as `state`."""
    state = state or SequentialState()
    while not state.done:
        ids = next_batch(plan, state)
        got = list(evaluate_batch(ids))
        missing = set(ids) - {r.problem_id for r in got}
        if missing:
            raise ValueError(f"the batch came back without {sorted(missing)[:10]}")
        state = advance(plan, state, got)
    return state


def replay(plan: SequentialPlan, results: Sequence[PairResult]) -> SequentialState:
    """The state after `results` (all committed per-problem results of this test): what a
    resumed round starts from. Equal to the state the live test reached on the same results."""
    return advance(plan, SequentialState(), results)


# ---------------------------------------------------------------------------------------
# Design effect


class DesignEffect(BaseModel):
    """What n samples per problem are worth: DEFF = 1 + (n - 1) * ICC, so m problems x n
    samples carry the information of m * n / DEFF independent samples."""

    model_config = ConfigDict(frozen=True)

    problems: int
    n: int
    icc: float | None  # intra-problem correlation of sample outcomes (ANOVA estimator); None at n = 1
    deff: float
    effective_samples: float


def design_effect(counts: Sequence[ProblemCounts], greedy: bool = False) -> DesignEffect:
    """Design effect of clustered binary samples (one arm's counts, equal n). Greedy decoding
    repeats one sample, ICC 1 by construction. ValueError on mixed n or an empty set."""
    if not counts:
        raise ValueError("design_effect needs at least one problem")
    ns = {pc.n for pc in counts}
    if len(ns) != 1:
        raise ValueError(f"design_effect needs one n per problem, got {sorted(ns)}")
    return design_effect_of(np.array([pc.c for pc in counts]), ns.pop(), greedy)


def design_effect_of(cs: np.ndarray, n: int, greedy: bool = False) -> DesignEffect:
    """`design_effect` from the passes `cs` of m problems, n samples each."""
    m = len(cs)
    if n == 1:
        return DesignEffect(problems=m, n=1, icc=None, deff=1.0, effective_samples=float(m))
    if greedy:
        return DesignEffect(problems=m, n=n, icc=1.0, deff=float(n), effective_samples=float(m))
    p = np.asarray(cs, dtype=float) / n
    pbar = float(p.mean())
    msw = float((n * p * (1 - p)).sum() / (m * (n - 1)))
    msb = float(n * ((p - pbar) ** 2).sum() / (m - 1)) if m > 1 else 0.0
    denom = msb + (n - 1) * msw
    icc = 0.0 if denom <= 0 else min(1.0, max(0.0, (msb - msw) / denom))
    deff = 1.0 + (n - 1) * icc
    return DesignEffect(problems=m, n=n, icc=icc, deff=deff, effective_samples=m * n / deff)
