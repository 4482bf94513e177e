"""Monte Carlo of the daemon's judgement calls, through the same functions the daemon calls.

Synthetic held-out sets: per-problem pass rates p_i ~ Beta(a, b) (default Beta(0.5, 1):
mean 1/3, many problems almost never or almost always solved, as with small code models).
A "better" model has every problem's rate shifted by the same amount on the logit scale,
the shift chosen so that the mean pass@1 rises by exactly `delta` on that set (gains
concentrate on mid-difficulty problems, and no rate leaves [0, 1]). Counts are drawn with
numpy; each round is then decided by `decide_gate` / `decide_reevaluation` /
`choose_gate_decoding` with the ledger carried from round to round, exactly as the daemon
does (a promotion makes the candidate the champion). `decide_promotion` and `choose_t_eval`
per arm reproduce the *old* round for comparison.

Every function is pure given its `seed` (simulation i uses `numpy.random.default_rng([seed,
i])`) and returns plain pydantic results with a Monte Carlo standard error. The CIs the
deciders report do not enter any decision, so the simulations run them with the smallest
bootstrap (`n_bootstrap=100`).

`python -m policies.simulate` prints the tables quoted in docs/policies.md, the sequential
gate's included (about eleven CPU-minutes; `--jobs 2` uses two processes, `--quick` is a 10x
smaller smoke run, about a minute on one core).
"""

from __future__ import annotations

import argparse
import functools
import gc
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple, TextIO

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as sps
from scipy.optimize import brentq
from scipy.special import expit, logit

from policies import gate as gate_mod
from policies import rollback as rollback_mod
from policies import spending
from policies.counts import ProblemCounts
from policies.decoding import TemperatureResult, TEvalConfig, choose_gate_decoding, choose_t_eval
from policies.gate import GateConfig, GateLedger
from policies.promotion import PromotionConfig, decide_promotion
from policies.provenance import EvalProvenance, ProvenanceMismatch, hash_problem_ids
from policies.rollback import ReevalConfig, ReevalLedger

_EPS = 1e-9
# The CIs are reported, never decided on: simulations skip them (`report_ci=False`).
SIM_GATE = GateConfig(report_ci=False)
SIM_REEVAL = ReevalConfig(report_ci=False)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the garbage collector, unfreeze on exit.

    statsmodels' Holm correction (`multipletests(method="holm")`, called by `choose_t_eval`)
    runs `gc.collect()` on every call, about 0.2 s once scipy and statsmodels are loaded;
    with the heap frozen it scans only what the simulation itself allocates. No effect on
    any result.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _with_frozen_heap(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with frozen_heap():
            return fn(*args, **kwargs)

    return wrapper


class Population(BaseModel):
    """Per-problem pass rates of the reference model: Beta(beta_a, beta_b)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    beta_a: float = Field(0.5, gt=0.0)
    beta_b: float = Field(1.0, gt=0.0)


class BetaMixture(BaseModel):
    """Per-problem pass rates from a mixture of Betas: the realistic spread of a code model's
    pool, with many problems almost never and many almost always solved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: list[float] = [0.45, 0.15, 0.40]
    beta_a: list[float] = [0.3, 4.0, 1.0]
    beta_b: list[float] = [4.0, 0.3, 1.0]

    @property
    def mean(self) -> float:
        return sum(w * a / (a + b) for w, a, b in zip(self.weights, self.beta_a, self.beta_b)) / sum(self.weights)


# Default of the sequential-gate simulations: 45% hard (Beta(0.3, 4), mean 0.07), 15% easy
# (Beta(4, 0.3), mean 0.93), 40% uniform; mean pass@1 0.37.
REALISTIC = BetaMixture()


def draw_rates(
    rng: np.random.Generator, n_problems: int, population: Population | BetaMixture = Population()
) -> np.ndarray:
    """Per-problem pass rates of one held-out set, kept away from exactly 0 and 1."""
    if isinstance(population, BetaMixture):
        w = np.asarray(population.weights) / sum(population.weights)
        comp = rng.choice(len(w), size=n_problems, p=w)
        a, b = np.asarray(population.beta_a)[comp], np.asarray(population.beta_b)[comp]
        return np.clip(rng.beta(a, b), _EPS, 1 - _EPS)
    return np.clip(rng.beta(population.beta_a, population.beta_b, n_problems), _EPS, 1 - _EPS)


def shift_rates(rates: np.ndarray, delta: float) -> np.ndarray:
    """Rates moved by one common logit shift so that their mean moves by exactly `delta`."""
    if delta == 0.0:
        return rates.copy()
    base = float(rates.mean())
    if not -base < delta < 1.0 - base:
        raise ValueError(f"cannot move mean pass@1 {base:.4f} by {delta:+.4f}")
    lg = logit(rates)
    shift = brentq(lambda s: float(expit(lg + s).mean()) - base - delta, -60.0, 60.0, xtol=1e-12)
    return np.clip(expit(lg + shift), _EPS, 1 - _EPS)


class CountsTable:
    """Every `ProblemCounts(id, n, c)` of a problem set, built once: the models are frozen, so
    a simulated evaluation can share them instead of validating thousands per round."""

    def __init__(self, ids: Sequence[str]):
        self.ids = list(ids)
        self._by_n: dict[int, list[list[ProblemCounts]]] = {}

    def row(self, n: int) -> list[list[ProblemCounts]]:
        """table[i][c] = ProblemCounts(ids[i], n, c), built on first use."""
        if n not in self._by_n:
            self._by_n[n] = [[ProblemCounts(problem_id=pid, n=n, c=c) for c in range(n + 1)] for pid in self.ids]
        return self._by_n[n]


def draw_counts(
    rng: np.random.Generator, rates: np.ndarray, n: int, ids: Sequence[str] | CountsTable
) -> list[ProblemCounts]:
    """One evaluation: c_i ~ Binomial(n, rates_i) on each problem."""
    cs = rng.binomial(n, rates).tolist()
    if isinstance(ids, CountsTable):
        table = ids.row(n)
        return [table[i][c] for i, c in enumerate(cs)]
    return [ProblemCounts(problem_id=pid, n=n, c=c) for pid, c in zip(ids, cs)]


def provenance(t: float, n: int, seed: int, problem_set_hash: str) -> EvalProvenance:
    """The provenance both arms of one simulated run share."""
    return EvalProvenance(
        temperature=t,
        top_p=1.0,
        top_k=-1,
        n=n,
        max_tokens=1024,
        seed=seed,
        sandbox_image="sim",
        vllm_version="sim",
        model_hash="sim",
        problem_set_hash=problem_set_hash,
    )


def _ids(prefix: str, m: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(m)]


class Estimate(BaseModel):
    """A simulated probability: `events` of `sims`, its Monte Carlo s.e. and a 95% upper bound."""

    model_config = ConfigDict(frozen=True)

    label: str
    sims: int
    events: int
    rate: float
    mc_se: float  # sqrt(rate (1 - rate) / sims)
    upper95: float  # one-sided 95% Clopper-Pearson upper bound on the rate
    bound: float | None  # what the scheme guarantees (None: no guarantee)
    mean_tests: float  # tests run per simulation (budget use)
    refused: bool = False  # the deciders refused the comparison (ProvenanceMismatch)


def _estimate(label: str, events: int, sims: int, bound: float | None, tests: int, refused: bool = False) -> Estimate:
    rate = events / sims
    upper = 1.0 if events == sims else float(sps.beta.ppf(0.95, events + 1, sims - events))
    return Estimate(
        label=label,
        sims=sims,
        events=events,
        rate=rate,
        mc_se=math.sqrt(rate * (1 - rate) / sims),
        upper95=upper,
        bound=bound,
        mean_tests=tests / sims,
        refused=refused,
    )


class NullCase(BaseModel):
    """A useless adapter: the candidate's per-problem rates equal the champion's at every T.

    `t_gains`: pass@1 points every model gains at a temperature relative to the first
    configured one (the decoding matters, the adapter does not). `calibration_problems` > 0
    tunes T_eval each round with `choose_gate_decoding` on that many disjoint problems.
    `n_champion` != `n_candidate` reproduces the unequal-n design (the gate refuses it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    n_problems: int = 100
    n_champion: int = 1
    n_candidate: int = 1
    rounds: int = 100
    temperatures: list[float] = [0.6]
    t_gains: dict[float, float] = {}
    calibration_problems: int = 0


@_with_frozen_heap
def null_gate_fwer(
    case: NullCase,
    cfg: GateConfig = SIM_GATE,
    *,
    sims: int,
    seed: int = 0,
    population: Population | BetaMixture = Population(),
    decide: Callable[..., gate_mod.GateDecision] | None = None,
) -> Estimate:
    """P(at least one false promotion over `case.rounds` null rounds) through `decide_gate`.

    Each simulation draws one held-out set (and calibration split), starts from
    `GateLedger()`, and runs the daemon's round `case.rounds` times: optional T_eval tuning on
    the calibration split, both arms at that T on the gate set, `decide_gate` with the
    carried ledger. A promotion is false by construction; the simulation stops at the first.
    `decide` replaces `gate.decide_gate` (tests use it to check that a broken gate fails).
    """
    decide = decide or gate_mod.decide_gate
    gate_ids = _ids("g", case.n_problems)
    gate_tab, cal_tab = CountsTable(gate_ids), CountsTable(_ids("c", case.calibration_problems))
    set_hash = hash_problem_ids(gate_ids)
    t0 = case.temperatures[0]
    tcfg = TEvalConfig(incumbent_t=t0, report_ci=False, seed=cfg.seed)
    events = tests = 0
    refused = False
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        base = draw_rates(rng, case.n_problems, population)
        base_cal = draw_rates(rng, case.calibration_problems, population)
        at_t = {t: shift_rates(base, case.t_gains.get(t, 0.0)) for t in case.temperatures}
        cal_at_t = {t: shift_rates(base_cal, case.t_gains.get(t, 0.0)) for t in case.temperatures}
        ledger = GateLedger()
        for r in range(case.rounds):
            if case.calibration_problems:
                cal = [
                    TemperatureResult(t=t, counts=draw_counts(rng, cal_at_t[t], case.n_champion, cal_tab))
                    for t in case.temperatures
                ]
                t_eval = choose_gate_decoding(cal, case.temperatures, tcfg, gate_problem_ids=gate_ids).t_eval
            else:
                t_eval = t0
            rates = at_t[t_eval]
            champ = draw_counts(rng, rates, case.n_champion, gate_tab)
            cand = draw_counts(rng, rates, case.n_candidate, gate_tab)
            try:
                d = decide(
                    champ,
                    cand,
                    ledger,
                    cfg,
                    champion_provenance=provenance(t_eval, case.n_champion, r, set_hash),
                    candidate_provenance=provenance(t_eval, case.n_candidate, r, set_hash),
                )
            except ProvenanceMismatch:
                refused = True
                break
            ledger = d.ledger_after
            if d.promote:
                events += 1
                break
        tests += ledger.tests
        if refused:
            break
    done = sims if not refused else 1
    return _estimate(case.label, events, done, cfg.alpha, tests, refused)


class OldCase(BaseModel):
    """The round before this change: each arm's T_eval picked by `choose_t_eval` on the gate
    set itself (as `ssd/round.py` did), then `decide_promotion` at a fixed alpha per round."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    n_problems: int = 100
    n_champion: int = 1
    n_candidate: int = 1
    rounds: int = 1
    temperatures: list[float] = [0.0, 0.6, 1.0]
    t_gains: dict[float, float] = {}


@_with_frozen_heap
def old_round_false_promotions(
    case: OldCase,
    cfg: PromotionConfig = PromotionConfig(report_ci=False),
    *,
    sims: int,
    seed: int = 0,
    population: Population | BetaMixture = Population(),
) -> Estimate:
    """P(at least one false promotion over `case.rounds` rounds) of the old per-round gate."""
    ids = CountsTable(_ids("g", case.n_problems))
    tcfg = TEvalConfig(
        incumbent_t=case.temperatures[0], alpha=cfg.alpha, min_problems=1, report_ci=False, seed=cfg.seed
    )
    events = tests = 0
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        base = draw_rates(rng, case.n_problems, population)
        at_t = {t: shift_rates(base, case.t_gains.get(t, 0.0)) for t in case.temperatures}
        for _ in range(case.rounds):
            tests += 1
            arms = []
            for n in (case.n_champion, case.n_candidate):
                sweep = [TemperatureResult(t=t, counts=draw_counts(rng, at_t[t], n, ids)) for t in case.temperatures]
                if len(sweep) == 1:
                    arms.append(sweep[0].counts)
                else:
                    t_eval = choose_t_eval(sweep, tcfg).t_eval
                    arms.append(next(s.counts for s in sweep if s.t == t_eval))
            if decide_promotion(arms[0], arms[1], cfg).promote:
                events += 1
                break
    return _estimate(case.label, events, sims, None, tests)


class PowerRow(BaseModel):
    """P(a truly better candidate is promoted within 1 / 5 / 20 rounds), fresh ledger."""

    model_config = ConfigDict(frozen=True)

    delta: float
    n_problems: int
    n_samples: int
    sims: int
    start_tests: int  # tests already on the ledger when the better candidates arrive
    within: dict[int, float]  # rounds -> probability
    mc_se: dict[int, float]


@_with_frozen_heap
def power_within(
    delta: float,
    n_problems: int,
    n_samples: int,
    cfg: GateConfig = SIM_GATE,
    *,
    sims: int,
    horizons: Sequence[int] = (1, 5, 20),
    start_tests: int = 0,
    seed: int = 0,
    population: Population | BetaMixture = Population(),
) -> PowerRow:
    """Each round a fresh candidate `delta` better than the champion (same rates each round)
    meets the gate; the first promotion ends the simulation. `start_tests` null tests are
    assumed already run (ledger of a daemon that has spent that much)."""
    ids = _ids("g", n_problems)
    set_hash = hash_problem_ids(ids)
    tab = CountsTable(ids)
    horizon = max(horizons)
    first: list[int | None] = []
    start = GateLedger(
        tests=start_tests,
        alpha_spent=cfg.alpha * (1 - spending.unscheduled_fraction(start_tests, cfg)),
        problem_set_hash=set_hash,
        tests_on_set=start_tests,
        terms=spending.budget_terms(cfg.alpha, cfg) if start_tests else None,
    )
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        champ_rates = draw_rates(rng, n_problems, population)
        cand_rates = shift_rates(champ_rates, delta)
        ledger = start
        hit = None
        for r in range(1, horizon + 1):
            prov = provenance(0.6, n_samples, r, set_hash)
            d = gate_mod.decide_gate(
                draw_counts(rng, champ_rates, n_samples, tab),
                draw_counts(rng, cand_rates, n_samples, tab),
                ledger,
                cfg,
                champion_provenance=prov,
                candidate_provenance=prov,
            )
            ledger = d.ledger_after
            if d.promote:
                hit = r
                break
        first.append(hit)
    within = {h: sum(1 for f in first if f is not None and f <= h) / sims for h in horizons}
    return PowerRow(
        delta=delta,
        n_problems=n_problems,
        n_samples=n_samples,
        sims=sims,
        start_tests=start_tests,
        within=within,
        mc_se={h: math.sqrt(p * (1 - p) / sims) for h, p in within.items()},
    )


@_with_frozen_heap
def false_rollbacks(
    n_problems: int,
    n_samples: int,
    cfg: ReevalConfig = SIM_REEVAL,
    *,
    reevaluations: int = 100,
    sims: int,
    seed: int = 0,
    population: Population | BetaMixture = Population(),
) -> Estimate:
    """P(at least one rollback over `reevaluations` re-evaluations of a champion exactly as
    good as its parent), through `decide_reevaluation` with the carried `ReevalLedger`."""
    ids = _ids("g", n_problems)
    set_hash = hash_problem_ids(ids)
    tab = CountsTable(ids)
    events = tests = 0
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        rates = draw_rates(rng, n_problems, population)
        ledger = ReevalLedger()
        for r in range(reevaluations):
            prov = provenance(0.6, n_samples, r, set_hash)
            d = rollback_mod.decide_reevaluation(
                draw_counts(rng, rates, n_samples, tab),
                draw_counts(rng, rates, n_samples, tab),
                ledger,
                cfg,
                parent_provenance=prov,
                champion_provenance=prov,
                rounds_since_promotion=cfg.cooldown_rounds + r,
            )
            ledger = d.ledger_after
            if d.rollback:
                events += 1
                break
        tests += ledger.tests
    label = f"equal champion and parent, {n_problems} problems x n={n_samples}, {reevaluations} re-evaluations"
    return _estimate(label, events, sims, cfg.alpha, tests)


# ---------------------------------------------------------------------------------------
# The sequential gate (`policies.sequential_gate`) through its real code path: plan ->
# batches of both arms -> commit -> advance (with crash-and-replay) -> decide -> ledger.


class SeqCase(BaseModel):
    """One simulated design for the sequential gate. `crash_prob`: after each batch the
    round is killed with this probability and resumes by `replay` from the committed
    results (the decision must not change; `seq_gate_test` checks it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    n_problems: int = 400
    n: int = 4
    n_candidate: int | None = None  # != n: the unequal-n design, refused
    temperature: float = 0.6
    rounds: int = 100
    crash_prob: float = 0.1
    population: BetaMixture = REALISTIC
    # T_eval tuned each round on a disjoint calibration split (`choose_gate_decoding`) among
    # `temperatures` (the first is the incumbent), every model `t_gains` better at some T.
    temperatures: list[float] = []
    t_gains: dict[float, float] = {}
    calibration_problems: int = 0


class SeqStats(BaseModel):
    """A simulated probability with the decisions' cost."""

    model_config = ConfigDict(frozen=True)

    estimate: Estimate
    decisions: int  # tests decided
    mean_problems: float  # per decision
    mean_generations: float  # per decision, both arms
    resumed: int  # tests that were killed mid-test and resumed by replay


# Every PairResult a simulation has drawn, by (problem id, n, reference c, challenger c). The
# results are frozen, and a problem has only (n + 1)^2 of them, so lives of thousands of tests
# share them instead of building one per problem per test (the largest cost of a simulated
# batch otherwise).
_PAIRS: dict[tuple[str, int, int, int], Any] = {}


def _pair(pid: str, n: int, x: int, y: int) -> Any:
    from policies.sequential import PairResult

    key = (pid, n, x, y)
    r = _PAIRS.get(key)
    if r is None:
        r = _PAIRS[key] = PairResult.model_construct(problem_id=pid, n=n, reference_c=x, challenger_c=y)
    return r


def _draw_pairs(
    rng: np.random.Generator, ref: np.ndarray, ch: np.ndarray, n: int, greedy: bool, ids: list[str], index: dict
) -> Callable[[list[str]], list]:
    k = 1 if greedy else n

    def evaluate_batch(batch: list[str]) -> list:
        where = np.array([index[p] for p in batch], dtype=np.int64)
        a = rng.binomial(k, ref[where]) * (n // k)
        b = rng.binomial(k, ch[where]) * (n // k)
        get = _PAIRS.get
        return [get((p, n, x, y)) or _pair(p, n, x, y) for p, x, y in zip(batch, a.tolist(), b.tolist())]

    return evaluate_batch


def seq_gate_test(
    rng: np.random.Generator,
    ref_rates: np.ndarray,
    ch_rates: np.ndarray,
    ids: list[str],
    ledger: Any,
    cfg: Any,
    *,
    prov_ref: EvalProvenance,
    prov_ch: EvalProvenance,
    seed: int,
    earlier: Sequence[ProblemCounts] = (),
    crash_prob: float = 0.0,
    kind: str = "gate",
    rounds_since_promotion: int = 0,
) -> tuple[Any, bool]:
    """One sequential test, as the round runs it: plan, then batch by batch both arms'
    results are "committed" and folded in; with probability `crash_prob` after a batch the
    round dies and the state is rebuilt by `replay` from the committed results. Returns
    (decision, resumed). kind "gate": `start_gate_test`/`decide_gate_test`; "reeval": the
    rollback test (ref = parent, ch = champion)."""
    from policies import sequential as seq
    from policies import sequential_gate as sg

    if kind == "gate":
        start: Any = sg.start_gate_test(
            ids, ledger, cfg, champion_provenance=prov_ref, candidate_provenance=prov_ch, seed=seed, earlier=earlier
        )
    else:
        start = sg.start_reevaluation_test(
            ids,
            ledger,
            cfg,
            parent_provenance=prov_ref,
            champion_provenance=prov_ch,
            seed=seed,
            rounds_since_promotion=rounds_since_promotion,
            earlier=earlier,
        )
    if start.plan is None:
        return start.skipped, False
    plan = start.plan
    index = {p: i for i, p in enumerate(ids)}
    evaluate_batch = _draw_pairs(rng, ref_rates, ch_rates, prov_ref.n, prov_ref.temperature == 0.0, ids, index)
    committed: list = []
    state = seq.SequentialState()
    resumed = False
    while not state.done:
        got = evaluate_batch(seq.next_batch(plan, state))
        committed += got
        state = seq.advance(plan, state, got)
        if crash_prob and not state.done and rng.random() < crash_prob:
            rebuilt = seq.replay(plan, committed)  # a new process: only the DB rows survive
            if rebuilt != state:
                raise AssertionError("replay after a crash changed the test's state")
            state, resumed = rebuilt, True
    if kind == "gate":
        return sg.decide_gate_test(plan, state, ledger, cfg, provenance=prov_ref), resumed
    return sg.decide_reevaluation_test(plan, state, ledger, cfg, provenance=prov_ref), resumed


def _earlier(rng: np.random.Generator, rates: np.ndarray, n: int, greedy: bool, ids: list[str]) -> list[ProblemCounts]:
    """The champion's evaluation before this round (independent samples)."""
    k = 1 if greedy else n
    cs = (rng.binomial(k, rates) * (n // k)).tolist()
    return [ProblemCounts.model_construct(problem_id=p, n=n, c=c) for p, c in zip(ids, cs)]


def _seq_stats(
    label: str,
    events: int,
    sims: int,
    bound: float | None,
    tests: int,
    gens: list,
    probs: list,
    resumed: int,
    refused: bool = False,
) -> SeqStats:
    return SeqStats(
        estimate=_estimate(label, events, sims, bound, tests, refused),
        decisions=len(gens),
        mean_problems=float(np.mean(probs)) if probs else 0.0,
        mean_generations=float(np.mean(gens)) if gens else 0.0,
        resumed=resumed,
    )


class _Life(NamedTuple):
    """One simulated life of sequential tests on one ledger."""

    hit: int | None  # the round of the first promotion (gate) or rollback (reeval); None: none
    ledger: Any  # after the last test
    generations: list[int]  # per decided test
    problems: list[int]
    outcomes: list[str]
    resumed: int  # tests killed mid-test and resumed by replay
    refused: bool  # the deciders refused the comparison (ProvenanceMismatch)


def _seq_life(
    rng: np.random.Generator,
    ids: list[str],
    ledger: Any,
    cfg: Any,
    *,
    rounds: Iterable[int],
    arms: Arms,
    n: int,
    n_candidate: int,
    set_hash: str,
    earlier: Sequence[ProblemCounts],
    crash_prob: float,
    kind: str = "gate",
) -> _Life:
    """Round after round, `arms(r)` gives (reference rates, challenger rates, T_eval) and one
    sequential test decides with the carried ledger, until the first promotion / rollback.
    `arms` runs before each test, so a T_eval tuned there draws from `rng` first, as the
    round does."""
    gens: list[int] = []
    probs: list[int] = []
    outcomes: list[str] = []
    resumed = 0
    for r in rounds:
        ref, ch, t_eval = arms(r)
        try:
            d, res = seq_gate_test(
                rng,
                ref,
                ch,
                ids,
                ledger,
                cfg,
                prov_ref=provenance(t_eval, n, r, set_hash),
                prov_ch=provenance(t_eval, n_candidate, r, set_hash),
                seed=r,
                earlier=earlier,
                crash_prob=crash_prob,
                kind=kind,
                rounds_since_promotion=cfg.cooldown_rounds + r if kind == "reeval" else 0,
            )
        except ProvenanceMismatch:
            return _Life(None, ledger, gens, probs, outcomes, resumed, True)
        resumed += int(res)
        ledger = d.ledger_after
        gens.append(d.summary.generations)
        probs.append(d.summary.problems_evaluated)
        outcomes.append(d.summary.outcome)
        if d.promote if kind == "gate" else d.rollback:
            return _Life(r, ledger, gens, probs, outcomes, resumed, False)
    return _Life(None, ledger, gens, probs, outcomes, resumed, False)


Arms = Callable[[int], tuple[np.ndarray, np.ndarray, float]]


def _fixed_arms(ref: np.ndarray, ch: np.ndarray, t: float) -> Arms:
    return lambda r: (ref, ch, t)


def _tuned_arms(
    rng: np.random.Generator,
    case: SeqCase,
    at_t: dict[float, np.ndarray],
    cal_at_t: dict[float, np.ndarray],
    cal_tab: CountsTable,
    tcfg: TEvalConfig | None,
    ids: list[str],
) -> Arms:
    """Each round's T_eval chosen on a fresh calibration sweep (`choose_gate_decoding`); both
    arms at that T (a useless adapter)."""

    def arms(r: int) -> tuple[np.ndarray, np.ndarray, float]:
        cal = [TemperatureResult(t=t, counts=draw_counts(rng, cal_at_t[t], case.n, cal_tab)) for t in case.temperatures]
        assert tcfg is not None
        t_eval = choose_gate_decoding(cal, case.temperatures, tcfg, gate_problem_ids=ids).t_eval
        return at_t[t_eval], at_t[t_eval], t_eval

    return arms


@_with_frozen_heap
def seq_null_fwer(case: SeqCase, cfg: GateConfig = SIM_GATE, *, sims: int, seed: int = 0) -> SeqStats:
    """P(at least one false promotion over `case.rounds` null rounds) of the sequential gate:
    each round a candidate exactly as good as the champion (same per-problem rates) meets
    `start_gate_test` -> batches -> `decide_gate_test` with the ledger carried over."""
    ids = _ids("g", case.n_problems)
    set_hash = hash_problem_ids(ids)
    greedy = case.temperature == 0.0
    events = tests = resumed = 0
    gens: list[int] = []
    probs: list[int] = []
    refused = False
    cal_tab = CountsTable(_ids("c", case.calibration_problems))
    tuned = bool(case.calibration_problems and case.temperatures)
    tcfg = TEvalConfig(incumbent_t=case.temperatures[0], report_ci=False) if tuned else None
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        base = draw_rates(rng, case.n_problems, case.population)
        at_t = {t: shift_rates(base, case.t_gains.get(t, 0.0)) for t in case.temperatures} or {case.temperature: base}
        base_cal = draw_rates(rng, case.calibration_problems, case.population)
        cal_at_t = {t: shift_rates(base_cal, case.t_gains.get(t, 0.0)) for t in case.temperatures}
        earlier = _earlier(rng, at_t[case.temperatures[0] if tuned else case.temperature], case.n, greedy, ids)
        life = _seq_life(
            rng,
            ids,
            GateLedger(),
            cfg,
            rounds=range(case.rounds),
            arms=_tuned_arms(rng, case, at_t, cal_at_t, cal_tab, tcfg, ids)
            if tuned
            else _fixed_arms(at_t[case.temperature], at_t[case.temperature], case.temperature),
            n=case.n,
            n_candidate=case.n_candidate or case.n,
            set_hash=set_hash,
            earlier=earlier,
            crash_prob=case.crash_prob,
        )
        resumed += life.resumed
        gens += life.generations
        probs += life.problems
        events += int(life.hit is not None)
        tests += life.ledger.tests
        if life.refused:
            refused = True
            break
    done = sims if not refused else 1
    return _seq_stats(case.label, events, done, cfg.alpha, tests, gens, probs, resumed, refused)


@_with_frozen_heap
def seq_false_rollbacks(case: SeqCase, cfg: ReevalConfig = SIM_REEVAL, *, sims: int, seed: int = 0) -> SeqStats:
    """P(at least one rollback over `case.rounds` re-evaluations of a champion exactly as
    good as its parent), through the sequential rollback test with its own ledger."""
    ids = _ids("g", case.n_problems)
    set_hash = hash_problem_ids(ids)
    greedy = case.temperature == 0.0
    events = tests = resumed = 0
    gens: list[int] = []
    probs: list[int] = []
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        rates = draw_rates(rng, case.n_problems, case.population)
        earlier = _earlier(rng, rates, case.n, greedy, ids)
        life = _seq_life(
            rng,
            ids,
            ReevalLedger(),
            cfg,
            rounds=range(case.rounds),
            arms=_fixed_arms(rates, rates, case.temperature),
            n=case.n,
            n_candidate=case.n,
            set_hash=set_hash,
            earlier=earlier,
            crash_prob=case.crash_prob,
            kind="reeval",
        )
        resumed += life.resumed
        gens += life.generations
        probs += life.problems
        events += int(life.hit is not None)
        tests += life.ledger.tests
    return _seq_stats(case.label, events, sims, cfg.alpha, tests, gens, probs, resumed)


class SeqPower(BaseModel):
    """P(a truly better candidate is promoted within h rounds) and the first round's cost."""

    model_config = ConfigDict(frozen=True)

    delta: float
    n_problems: int
    n: int
    sims: int
    within: dict[int, float]
    mc_se: dict[int, float]
    first_round_problems: float
    first_round_generations: float
    first_round_futility: float  # P(round 1 stopped for futility)


@_with_frozen_heap
def seq_power_within(
    delta: float,
    case: SeqCase,
    cfg: GateConfig = SIM_GATE,
    *,
    sims: int,
    horizons: Sequence[int] = (1, 10),
    seed: int = 0,
) -> SeqPower:
    """Each round a fresh candidate `delta` better (logit shift, same rates each round) meets
    the sequential gate with the carried ledger; the first promotion ends the simulation.
    A negative `delta` measures how fast a loser is rejected."""
    ids = _ids("g", case.n_problems)
    set_hash = hash_problem_ids(ids)
    greedy = case.temperature == 0.0
    horizon = max(horizons)
    first: list[int | None] = []
    gens1: list[int] = []
    probs1: list[int] = []
    fut1 = 0
    for i in range(sims):
        rng = np.random.default_rng([seed, i])
        rates = draw_rates(rng, case.n_problems, case.population)
        cand = shift_rates(rates, delta)
        earlier = _earlier(rng, rates, case.n, greedy, ids)
        life = _seq_life(
            rng,
            ids,
            GateLedger(),
            cfg,
            rounds=range(1, horizon + 1),
            arms=_fixed_arms(rates, cand, case.temperature),
            n=case.n,
            n_candidate=case.n,
            set_hash=set_hash,
            earlier=earlier,
            crash_prob=case.crash_prob,
        )
        gens1.append(life.generations[0])
        probs1.append(life.problems[0])
        fut1 += int(life.outcomes[0] == "futility")
        first.append(life.hit)
    within = {h: sum(1 for f in first if f is not None and f <= h) / sims for h in horizons}
    return SeqPower(
        delta=delta,
        n_problems=case.n_problems,
        n=case.n,
        sims=sims,
        within=within,
        mc_se={h: math.sqrt(p * (1 - p) / sims) for h, p in within.items()},
        first_round_problems=float(np.mean(probs1)),
        first_round_generations=float(np.mean(gens1)),
        first_round_futility=fut1 / sims,
    )


def fixed_gate_problems_at_power(
    target: float,
    delta: float,
    n: int,
    *,
    sims: int,
    seed: int = 0,
    population: BetaMixture = REALISTIC,
    lo: int = 20,
    hi: int = 4000,
) -> tuple[int, float]:
    """The smallest fixed gate size m (today's `decide_gate`, first test of a fresh ledger)
    whose one-round power at `delta` reaches `target` (at most `hi`), by doubling m from `lo`
    and then bisecting with `power_within`; returns (m, its simulated power). Its cost per
    decision is 2 n m generations whatever the candidate, loser or winner."""
    cache: dict[int, float] = {}

    def pw(m: int) -> float:
        if m not in cache:
            cache[m] = power_within(
                delta, m, n, SIM_GATE, sims=sims, horizons=(1,), seed=seed, population=population
            ).within[1]
        return cache[m]

    # Doubling up to the first size with the power, not starting from `hi`: sizes far past
    # the answer are never simulated, and the largest ones cost the most by far (beyond the
    # exact sign-flip's reach, e.g. 4000 x 4, each test is a 20 000-draw Monte Carlo).
    top = lo
    while pw(top) < target:
        if top >= hi:
            return hi, pw(hi)
        lo, top = top, min(2 * top, hi)
    hi = top
    while hi - lo > max(5, lo // 20):
        mid = (lo + hi) // 2
        if pw(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi, pw(hi)


# ---------------------------------------------------------------------------------------
# The report printed by `python -m policies.simulate`.

NULL_CASES = [
    NullCase(label="fixed T, 100 problems, n=1", n_problems=100),
    NullCase(label="fixed T, 100 problems, n=4", n_problems=100, n_champion=4, n_candidate=4),
    NullCase(label="fixed T, 400 problems, n=4", n_problems=400, n_champion=4, n_candidate=4),
    NullCase(
        label="T tuned on 100 calibration problems, T 0.6 +8 points, n=1",
        temperatures=[0.0, 0.6, 1.0],
        t_gains={0.6: 0.08},
        calibration_problems=100,
    ),
    NullCase(
        label="T tuned on 100 calibration problems, T 0.6 +12 points, n=1",
        temperatures=[0.0, 0.6, 1.0],
        t_gains={0.6: 0.12},
        calibration_problems=100,
    ),
    NullCase(
        label="T tuned on 100 calibration problems, T 0.6 +8 points, n=4",
        temperatures=[0.0, 0.6, 1.0],
        t_gains={0.6: 0.08},
        calibration_problems=100,
        n_champion=4,
        n_candidate=4,
    ),
    NullCase(label="unequal n: champion n=1, candidate n=4", n_champion=1, n_candidate=4),
]

OLD_CASES = [
    OldCase(label="old: per-arm T on the gate set, T 0.6 +8 points", t_gains={0.6: 0.08}),
    OldCase(label="old: per-arm T on the gate set, T 0.6 +12 points", t_gains={0.6: 0.12}),
    OldCase(label="old: one fixed T", temperatures=[0.6]),
    OldCase(label="old: one fixed T, champion n=1 vs candidate n=4", temperatures=[0.6], n_candidate=4),
    OldCase(label="old: one fixed T, over 10 rounds", temperatures=[0.6], rounds=10),
    OldCase(label="old: one fixed T, over 100 rounds", temperatures=[0.6], rounds=100),
    OldCase(label="old: per-arm T, T 0.6 +8 points, over 100 rounds", t_gains={0.6: 0.08}, rounds=100),
]


# The sequential gate: the GPU-sized design of the fixed-gate tables above (400 problems x
# n=4) with the realistic spread of pass rates, every test killed after a batch with
# probability 0.1 and resumed by replay.
SEQ_DESIGN = SeqCase(label="400 problems x n=4", n_problems=400, n=4, rounds=100, crash_prob=0.1)
SEQ_NULL_CASES = [
    SEQ_DESIGN,
    SeqCase(label="100 problems x n=1, greedy", n_problems=100, n=1, temperature=0.0, rounds=100),
    SEQ_DESIGN.model_copy(
        update={
            "label": "400 problems x n=4, T tuned on 100 calibration problems, T 0.8 +8 points",
            "temperatures": [0.6, 0.8, 1.0],
            "t_gains": {0.8: 0.08},
            "calibration_problems": 100,
        }
    ),
    SeqCase(label="unequal n: champion n=1, candidate n=4", n_problems=100, n=1, n_candidate=4, rounds=100),
]
SEQ_ROLLBACK_CASES = [
    SEQ_DESIGN.model_copy(update={"label": "equal champion and parent, 400 problems x n=4, 100 re-evaluations"}),
    SeqCase(
        label="equal champion and parent, 100 problems x n=1 greedy, 100 re-evaluations",
        n_problems=100,
        n=1,
        temperature=0.0,
        rounds=100,
    ),
]
SEQ_HORIZONS = (1, 10)
SEQ_COST_GAINS = (-0.05, 0.0)  # a clear loser and a useless candidate: their first test's cost
SEQ_MATCH_GAIN = 0.05  # the fixed-size gate is sized for the sequential gate's power at this gain


def _run(job: tuple) -> Any:
    kind, args, kwargs = job
    fn = {
        "null": null_gate_fwer,
        "old": old_round_false_promotions,
        "power": power_within,
        "rollback": false_rollbacks,
        "seq_null": seq_null_fwer,
        "seq_rollback": seq_false_rollbacks,
        "seq_power": seq_power_within,
    }[kind]
    return fn(*args, **kwargs)


def _fmt_p(e: Estimate) -> str:
    if e.refused:
        return "refused: `ProvenanceMismatch` (n differs); no test run"
    return f"{e.rate:.4f} ± {e.mc_se:.4f} (95% upper {e.upper95:.4f})"


POWER_GAINS = (0.02, 0.05, 0.10)
POWER_GRID = [(d, m, n) for d in POWER_GAINS for m in (76, 400, 1000) for n in (1, 4, 8)]
POWER_LATE = [(d, 400, 4) for d in POWER_GAINS]  # after 100 tests already run
ROLLBACK_CASES = ((100, 1), (400, 4))


class SimulationResults(BaseModel):
    """Everything the report prints, in the order of the case lists above."""

    null: list[Estimate]
    old: list[Estimate]
    power: list[PowerRow]
    power_late: list[PowerRow]
    rollback: list[Estimate]
    power_sims: int
    seq_null: list[SeqStats]
    seq_rollback: list[SeqStats]
    seq_power: list[SeqPower]  # POWER_GAINS, within SEQ_HORIZONS
    seq_cost: list[SeqPower]  # SEQ_COST_GAINS, first test only
    fixed_match: tuple[int, float]  # fixed-size gate: problems for the sequential power at SEQ_MATCH_GAIN, its power


def run_simulations(quick: bool, seed: int, jobs: int) -> SimulationResults:
    """Every row of the report, over `jobs` worker processes (about 10x fewer with `quick`)."""
    q = 10 if quick else 1
    # Simulations per row; T-tuned rows cost three comparisons per round.
    s_null = {c.label: (200 if c.calibration_problems else 400) // q for c in NULL_CASES}
    s_old = {c.label: (1000 if c.rounds == 1 else 400) // q for c in OLD_CASES}
    s_power, s_rb = 300 // q, 400 // q
    work: list[tuple] = []
    work += [("null", (c,), dict(sims=s_null[c.label], seed=seed)) for c in NULL_CASES]
    work += [("old", (c,), dict(sims=s_old[c.label], seed=seed)) for c in OLD_CASES]
    work += [("power", (d, m, n), dict(sims=s_power, seed=seed)) for d, m, n in POWER_GRID]
    work += [("power", (d, m, n), dict(sims=s_power, seed=seed, start_tests=100)) for d, m, n in POWER_LATE]
    work += [("rollback", (m, n), dict(sims=s_rb, seed=seed)) for m, n in ROLLBACK_CASES]
    s_seq = {c.label: (200 if c.calibration_problems else 400) // q for c in SEQ_NULL_CASES}
    work += [("seq_null", (c,), dict(sims=s_seq[c.label], seed=seed)) for c in SEQ_NULL_CASES]
    work += [("seq_rollback", (c,), dict(sims=s_rb, seed=seed)) for c in SEQ_ROLLBACK_CASES]
    seq_power = dict(sims=s_power, seed=seed, horizons=SEQ_HORIZONS)
    work += [("seq_power", (d, SEQ_DESIGN), seq_power) for d in POWER_GAINS]
    work += [("seq_power", (d, SEQ_DESIGN), dict(sims=s_power, seed=seed, horizons=(1,))) for d in SEQ_COST_GAINS]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_run, work))
    else:
        results = [_run(j) for j in work]
    it = iter(results)
    res: dict[str, Any] = dict(
        null=[next(it) for _ in NULL_CASES],
        old=[next(it) for _ in OLD_CASES],
        power=[next(it) for _ in POWER_GRID],
        power_late=[next(it) for _ in POWER_LATE],
        rollback=[next(it) for _ in ROLLBACK_CASES],
        power_sims=s_power,
        seq_null=[next(it) for _ in SEQ_NULL_CASES],
        seq_rollback=[next(it) for _ in SEQ_ROLLBACK_CASES],
        seq_power=[next(it) for _ in POWER_GAINS],
        seq_cost=[next(it) for _ in SEQ_COST_GAINS],
    )
    # Needs the sequential gate's power first: the fixed-size gate is sized to match it.
    match = next(p for p in res["seq_power"] if p.delta == SEQ_MATCH_GAIN)
    res["fixed_match"] = fixed_gate_problems_at_power(
        match.within[1], SEQ_MATCH_GAIN, SEQ_DESIGN.n, sims=s_power, seed=seed, population=SEQ_DESIGN.population
    )
    return SimulationResults(**res)


def _write_schedule(out: TextIO, cfg: GateConfig) -> None:
    out.write("### Spending schedule (lifetime alpha 0.05)\n\n| test k | alpha_k | scheduled by k |\n|---|---|---|\n")
    for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        lvl = cfg.alpha * spending.gamma(k, cfg)
        out.write(f"| {k} | {lvl:.3g} | {cfg.alpha * (1 - spending.unscheduled_fraction(k, cfg)):.4f} |\n")


def _write_false_promotions(out: TextIO, res: SimulationResults) -> None:
    out.write("\n### P(at least one false promotion), new gate (bound 0.05)\n\n")
    out.write(
        "| case | rounds | simulations | P(any false promotion) ± MC s.e. | tests run per simulation |\n"
        "|---|---|---|---|---|\n"
    )
    for c, e in zip(NULL_CASES, res.null):
        out.write(f"| {c.label} | {c.rounds} | {e.sims} | {_fmt_p(e)} | {e.mean_tests:.1f} |\n")
    out.write("\n### The old round, for comparison (100 problems, alpha 0.05 per round)\n\n")
    out.write("| case | rounds | simulations | P(any false promotion) ± MC s.e. |\n|---|---|---|---|\n")
    for oc, e in zip(OLD_CASES, res.old):
        out.write(f"| {oc.label} | {oc.rounds} | {e.sims} | {_fmt_p(e)} |\n")


def _write_power(out: TextIO, res: SimulationResults) -> None:
    s_power = res.power_sims
    out.write(
        f"\n### Power: P(a truly better candidate is promoted within 1 / 5 / 20 rounds), fresh ledger "
        f"({s_power} simulations per cell; MC s.e. <= {0.5 / math.sqrt(s_power):.3f})\n\n"
    )
    out.write("| gain | problems | n=1 | n=4 | n=8 |\n|---|---|---|---|---|\n")
    for d in POWER_GAINS:
        for m in (76, 400, 1000):
            cells = [p for p in res.power if p.delta == d and p.n_problems == m]
            txt = [
                " / ".join(f"{p.within[h]:.2f}" for h in (1, 5, 20)) for p in sorted(cells, key=lambda p: p.n_samples)
            ]
            out.write(f"| +{d * 100:.0f} points | {m} | " + " | ".join(txt) + " |\n")
    out.write(
        "\nAfter 100 tests already run (400 problems, n=4): "
        + "; ".join(
            f"+{p.delta * 100:.0f} points {' / '.join(f'{p.within[h]:.2f}' for h in (1, 5, 20))}"
            for p in res.power_late
        )
        + "\n"
    )


def _write_min_detectable(out: TextIO, cfg: GateConfig) -> None:
    out.write("\n### Minimum detectable gain (80% power, base pass@1 0.3, `budget_status`)\n\n")
    out.write("| problems x n | test 1 | test 10 | test 100 | test 1000 |\n|---|---|---|---|---|\n")
    for m in (76, 400, 1000):
        for n in (1, 4, 8):
            row = []
            for k in (1, 10, 100, 1000):
                led = GateLedger(tests=k - 1, alpha_spent=cfg.alpha * (1 - spending.unscheduled_fraction(k - 1, cfg)))
                st = gate_mod.budget_status(led, cfg, n_problems=m, n_samples=n)
                row.append("n/a" if st.min_detectable_delta is None else f"{st.min_detectable_delta:+.3f}")
            out.write(f"| {m} x {n} | " + " | ".join(row) + " |\n")


def _write_rollbacks(out: TextIO, res: SimulationResults) -> None:
    out.write("\n### False rollbacks (bound 0.05)\n\n")
    out.write("| case | simulations | P(any false rollback) ± MC s.e. | tests per simulation |\n|---|---|---|---|\n")
    for e in res.rollback:
        out.write(f"| {e.label} | {e.sims} | {_fmt_p(e)} | {e.mean_tests:.1f} |\n")


def _fmt_seq(e: Estimate) -> str:
    return "refused: `ProvenanceMismatch` (n differs); no test run" if e.refused else _fmt_p(e)


def _write_sequential(out: TextIO, res: SimulationResults) -> None:
    d = SEQ_DESIGN
    resumed = sum(st.resumed for st in res.seq_null + res.seq_rollback)
    out.write(
        "\n### The sequential gate (`sequential_gate.py`), through its real code path\n\n"
        f"Difficulties: the realistic mixture (mean pass@1 {d.population.mean:.2f}); batches of "
        f"{SIM_GATE.batch_size}; every test killed after a batch with probability {d.crash_prob:g} and "
        f"resumed by replay ({resumed:,} resumes in the error-rate rows); lifetime alpha {SIM_GATE.alpha}.\n"
    )
    out.write("\n#### P(at least one false promotion), sequential gate (bound 0.05)\n\n")
    out.write(
        "| case | rounds | simulations | P(any false promotion) ± MC s.e. | tests run per simulation "
        "| problems per decision |\n|---|---|---|---|---|---|\n"
    )
    for c, st in zip(SEQ_NULL_CASES, res.seq_null):
        e = st.estimate
        out.write(
            f"| {c.label} | {c.rounds} | {e.sims} | {_fmt_seq(e)} | {e.mean_tests:.1f} | {st.mean_problems:.0f} |\n"
        )
    out.write("\n#### False rollbacks, sequential rollback test (bound 0.05)\n\n")
    out.write(
        "| case | simulations | P(any false rollback) ± MC s.e. | tests per simulation | problems per decision |\n"
        "|---|---|---|---|---|\n"
    )
    for st in res.seq_rollback:
        e = st.estimate
        out.write(f"| {e.label} | {e.sims} | {_fmt_p(e)} | {e.mean_tests:.1f} | {st.mean_problems:.0f} |\n")
    out.write(
        f"\n#### Power, sequential gate ({d.n_problems} problems x n={d.n}, fresh ledger, "
        f"{res.power_sims} simulations per row)\n\n"
    )
    out.write("| gain | one round | within 10 rounds | problems in round 1 | generations in round 1 |\n")
    out.write("|---|---|---|---|---|\n")
    for p in res.seq_power:
        out.write(
            f"| +{p.delta * 100:.0f} points | {p.within[1]:.2f} | {p.within[10]:.2f} | "
            f"{p.first_round_problems:.0f} | {p.first_round_generations:.0f} |\n"
        )
    _write_sequential_cost(out, res)


def _write_sequential_cost(out: TextIO, res: SimulationResults) -> None:
    d = SEQ_DESIGN
    match = next(p for p in res.seq_power if p.delta == SEQ_MATCH_GAIN)
    m_fixed, fixed_power = res.fixed_match
    fixed_gens = 2 * d.n * m_fixed
    out.write(
        "\n#### Generations per decision against the fixed-size gate at equal power\n\n"
        f"The fixed-size gate (`decide_gate`, test 1) needs {m_fixed} problems x n={d.n} = {fixed_gens:,} "
        f"generations for the sequential gate's one-round power at +{SEQ_MATCH_GAIN * 100:.0f} points "
        f"({match.within[1]:.2f}; the fixed gate's simulated power at that size {fixed_power:.2f}), "
        "whatever the candidate.\n\n"
    )
    out.write(
        "| candidate | sequential: problems / generations per decision | P(stopped for futility) "
        "| fixed-size gate: generations | fixed / sequential |\n|---|---|---|---|---|\n"
    )
    for p in sorted(res.seq_cost + res.seq_power, key=lambda p: p.delta):
        name = {-0.05: "clear loser -5 points", 0.0: "useless (no gain)"}.get(p.delta, f"+{p.delta * 100:.0f} points")
        g = p.first_round_generations
        ratio = f"{fixed_gens / g:.1f}x" if g else "n/a"
        out.write(
            f"| {name} | {p.first_round_problems:.0f} / {g:,.0f} | {p.first_round_futility:.2f} | "
            f"{fixed_gens:,} | {ratio} |\n"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the markdown tables of docs/policies.md (sizes scaled down by --quick)."""
    ap = argparse.ArgumentParser(prog="python -m policies.simulate", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about 10x fewer simulations (smoke run)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    res = run_simulations(args.quick, args.seed, args.jobs)
    cfg = GateConfig()
    out = sys.stdout
    out.write(
        f"Simulations: seed {args.seed}; difficulties Beta(0.5, 1); gains are logit shifts; "
        f"defaults alpha {cfg.alpha}, spend_horizon {cfg.spend_horizon:g}, spend_shape {cfg.spend_shape:g}, "
        f"fallback {cfg.fallback}.\n\n"
    )
    _write_schedule(out, cfg)
    _write_false_promotions(out, res)
    _write_power(out, res)
    _write_min_detectable(out, cfg)
    _write_rollbacks(out, res)
    _write_sequential(out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
