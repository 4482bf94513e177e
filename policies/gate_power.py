"""Honest power and cost of the sequential gate for the actual design.

Everything here is computed by simulating the *same* e-process (`sequential.wealth_path`
and the boundaries of `SequentialPlan`) on synthetic pools whose per-problem pass rates
come from the champion's own observed results (`rates_from_counts`), at the actual pool
size, n, decoding, level alpha_k and stopping rules; no assumed base rate or problem count.
A better candidate has every problem's rate moved by one logit shift so the mean pass@1
rises by exactly `delta` (gains concentrate on mid-difficulty problems; none leaves [0, 1]).

`design_point` gives P(promote), P(stopped for futility), and the expected problems and
generations per decision at one gain; `min_detectable_gain` the smallest gain promoted with
the target power (bisection with common random numbers, so the power curve is monotone in
the gain); both are cached (`functools.lru_cache`), keyed on a compact summary of the rates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps
from scipy.optimize import brentq
from scipy.special import expit, logit

from policies.counts import ProblemCounts
from policies.sequential import SequentialPlan, SequentialSettings, thresholds, wealth_path

_EPS = 1e-9
_QUANTILES = 200  # the rates are summarised by this many quantiles for the cache key


class Design(BaseModel):
    """One test's design: what the power depends on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_problems: int
    n: int
    greedy: bool = False
    level: float
    min_problems: int = 20
    min_effect: float = 0.0
    prior_m2: float = 0.1
    settings: SequentialSettings = SequentialSettings()

    def plan(self) -> SequentialPlan:
        """A plan with this design (the order is irrelevant to the simulation)."""
        limit = self.pool_problems
        if self.settings.max_problems is not None:
            limit = min(limit, self.settings.max_problems)
        return SequentialPlan(
            direction="greater",
            order=[f"p{i}" for i in range(self.pool_problems)],
            seed=0,
            level=self.level,
            n=self.n,
            limit=max(limit, min(self.min_problems, self.pool_problems)),
            min_problems=self.min_problems,
            min_effect=self.min_effect,
            prior_m2=self.prior_m2,
            settings=self.settings,
        )


class DesignPoint(BaseModel):
    """The design's behaviour at one true gain, by simulation."""

    model_config = ConfigDict(frozen=True)

    delta: float
    sims: int
    p_promote: float
    p_futility: float
    p_exhausted: float
    mean_problems: float
    mean_generations: float  # both arms, n samples each (1 at greedy decoding)
    mc_se: float  # of p_promote


def shift_rates(rates: np.ndarray, delta: float) -> np.ndarray:
    """Rates moved by one common logit shift so that their mean moves by exactly `delta`."""
    if delta == 0.0:
        return rates.copy()
    base = float(rates.mean())
    if not -base < delta < 1.0 - base:
        raise ValueError(f"cannot move mean pass@1 {base:.4f} by {delta:+.4f}")
    lg = logit(np.clip(rates, _EPS, 1 - _EPS))
    s = brentq(lambda v: float(expit(lg + v).mean()) - base - delta, -60.0, 60.0, xtol=1e-12)
    return np.clip(expit(lg + s), _EPS, 1 - _EPS)


def rates_from_counts(counts: Sequence[ProblemCounts], greedy: bool, size: int | None = None) -> np.ndarray:
    """Per-problem pass rates of a pool like the one `counts` were measured on (`size`
    problems, default as many as counts): the Beta fitted to the counts by the method of
    moments of the beta-binomial (n > 1 at T > 0), taken at evenly spaced quantiles. With one
    sample per problem (or greedy decoding) the spread is not identifiable from the counts:
    a Beta with the observed mean and a + b = 1 (U-shaped: most problems almost never or
    almost always solved, as with code models) is used, and said so in `describe_rates`."""
    if not counts:
        raise ValueError("rates_from_counts needs at least one problem")
    ns = {pc.n for pc in counts}
    if len(ns) != 1:
        raise ValueError(f"rates_from_counts needs one n per problem, got {sorted(ns)}")
    n = ns.pop()
    m = size or len(counts)
    p = np.array([pc.c / n for pc in counts])
    mean = float(np.clip(p.mean(), 0.005, 0.995))
    a = b = None
    if n > 1 and not greedy:
        var = float(p.var(ddof=1)) if len(p) > 1 else 0.0
        # Var(c/n) = mu(1-mu)/n * (1 + (n-1) rho), rho = 1/(a+b+1)
        base = mean * (1 - mean)
        rho = (var / base * n - 1) / (n - 1) if base > 0 else 1.0
        rho = min(max(rho, 1e-3), 0.999)
        s = 1 / rho - 1
        a, b = mean * s, (1 - mean) * s
    if a is None or b is None:
        a, b = mean, 1 - mean
    qs = (np.arange(m) + 0.5) / m
    return np.clip(sps.beta.ppf(qs, a, b), _EPS, 1 - _EPS)


def _outcomes(design: Design, nums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outcome code, problems evaluated) per row of `nums` (sims x pool, integer numerators
    in evaluation order): 1 efficacy, -1 futility, 0 exhausted; the same rule as `advance`."""
    plan = design.plan()
    sims = nums.shape[0]
    nums = nums[:, : plan.limit]
    zeros = np.zeros(sims, dtype=np.int64)
    log_e, log_f = wealth_path(
        nums, plan.n, zeros, zeros, zeros, np.zeros(sims), np.zeros(sims), plan.prior_m2, plan.settings
    )
    thr_e, thr_f = thresholds(plan)
    csum = np.cumsum(nums, axis=1)
    code = np.zeros(sims, dtype=np.int64)
    used = np.full(sims, plan.limit, dtype=np.int64)
    open_ = np.ones(sims, dtype=bool)
    for b in plan.boundaries():
        j = b - 1
        mean = csum[:, j] / (plan.n * b)
        eff = open_ & (log_e[:, j] >= thr_e) & (mean > plan.min_effect)
        fut = open_ & ~eff & (log_f[:, j] >= thr_f)
        code[eff], code[fut] = 1, -1
        used[eff | fut] = b
        open_ &= ~(eff | fut)
    return code, used


class _Draws:
    """Common random numbers: the pool's rates, per sim a random order of the pool and
    uniforms per sample of each arm."""

    def __init__(self, design: Design, rates: np.ndarray, sims: int, seed: int):
        rng = np.random.default_rng(seed)
        m = design.pool_problems
        if len(rates) != m:
            rates = np.quantile(rates, (np.arange(m) + 0.5) / m)
        self.rates = np.asarray(rates, dtype=float)
        self.order = np.argsort(rng.random((sims, m)), axis=1)
        k = 1 if design.greedy else design.n
        self.u = rng.random((2, sims, m, k))


def _point(design: Design, draws: _Draws, delta: float) -> DesignPoint:
    sims = draws.order.shape[0]
    cand = shift_rates(draws.rates, delta) if delta else draws.rates
    ref_c = (draws.u[0] < draws.rates[draws.order][..., None]).sum(-1)
    ch_c = (draws.u[1] < cand[draws.order][..., None]).sum(-1)
    scale = design.n if design.greedy else 1  # greedy: one sample repeated n times
    nums = (ch_c - ref_c) * scale
    code, used = _outcomes(design, nums)
    per = 2 * (1 if design.greedy else design.n)
    p = float((code == 1).mean())
    return DesignPoint(
        delta=delta,
        sims=sims,
        p_promote=p,
        p_futility=float((code == -1).mean()),
        p_exhausted=float((code == 0).mean()),
        mean_problems=float(used.mean()),
        mean_generations=float(used.mean() * per),
        mc_se=math.sqrt(p * (1 - p) / sims),
    )


def _key(rates: np.ndarray) -> tuple[float, ...]:
    q = np.quantile(rates, (np.arange(_QUANTILES) + 0.5) / _QUANTILES)
    return tuple(np.round(q, 4).tolist())


@functools.lru_cache(maxsize=256)
def _cached_point(design: Design, key: tuple[float, ...], delta: float, sims: int, seed: int) -> DesignPoint:
    return _point(design, _Draws(design, np.array(key), sims, seed), delta)


def design_point(design: Design, rates: np.ndarray, delta: float, *, sims: int = 400, seed: int = 0) -> DesignPoint:
    """P(promote), P(futility), expected problems and generations at true gain `delta`."""
    return _cached_point(design, _key(rates), round(delta, 6), sims, seed)


class DetectableGain(BaseModel):
    """The smallest gain the design promotes with `power`, and what a decision costs."""

    model_config = ConfigDict(frozen=True)

    power: float
    min_gain: float | None  # None: not even the largest possible gain reaches the power
    at_min_gain: DesignPoint | None
    at_null: DesignPoint
    at_loss: DesignPoint  # a clear loser: -5 points (or as far as the base allows)
    sims: int


@functools.lru_cache(maxsize=128)
def _cached_mdg(design: Design, key: tuple[float, ...], power: float, sims: int, seed: int) -> DetectableGain:
    draws = _Draws(design, np.array(key), sims, seed)
    base = float(draws.rates.mean())
    top = min(0.5, 1.0 - base - 1e-3)
    null = _point(design, draws, 0.0)
    loss = _point(design, draws, -min(0.05, base * 0.9))
    hi = _point(design, draws, top)
    if hi.p_promote < power:
        return DetectableGain(power=power, min_gain=None, at_min_gain=None, at_null=null, at_loss=loss, sims=sims)
    lo_d, hi_d, best = 0.0, top, hi
    for _ in range(14):  # to ~3e-5 of the range: far below the MC error
        mid = (lo_d + hi_d) / 2
        pt = _point(design, draws, mid)
        if pt.p_promote >= power:
            hi_d, best = mid, pt
        else:
            lo_d = mid
    return DetectableGain(power=power, min_gain=hi_d, at_min_gain=best, at_null=null, at_loss=loss, sims=sims)


def min_detectable_gain(
    design: Design, rates: np.ndarray, *, power: float = 0.8, sims: int = 300, seed: int = 0
) -> DetectableGain:
    """The smallest logit-shift gain in mean pass@1 promoted with probability >= `power` in
    one test of this design, with the expected cost at that gain, at no gain and at a clear
    loss. Monte Carlo with `sims` draws (s.e. of a power near 0.8: 0.023 at 300)."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    return _cached_mdg(design, _key(rates), power, sims, seed)


class GateDesignStatus(BaseModel):
    """What `ssdd status` shows about the next promotion test's power and cost."""

    model_config = ConfigDict(frozen=True)

    pool_problems: int | None
    n: int
    greedy: bool
    level: float
    champion_pass1: float | None  # measured, on the last gate evaluation
    min_detectable_delta: float | None  # 80% power, one test; None: unknown or unreachable
    power: float
    expected_generations: dict[str, float]  # per decision: "null", "loss_5", "at_min_gain"
    design_effect: float | None
    basis: str  # where the figures come from, in words


def design_status(
    level: float,
    settings: SequentialSettings,
    *,
    n: int,
    greedy: bool,
    min_problems: int,
    min_effect: float,
    champion_counts: Sequence[ProblemCounts] | None,
    pool_problems: int | None,
    power: float = 0.8,
    sims: int = 200,
) -> GateDesignStatus:
    """The next test's minimum detectable gain and expected cost, simulated for the actual
    design: the gate pool's size and the champion's per-problem results measured on it (the
    last gate evaluation), n, the decoding, the level alpha_k and the stopping rules. Before
    any gate evaluation nothing is assumed: the figures are None and `basis` says why."""
    from policies.sequential import design_effect_of, prior_second_moment

    if not champion_counts or not pool_problems:
        return GateDesignStatus(
            pool_problems=pool_problems,
            n=n,
            greedy=greedy,
            level=level,
            champion_pass1=None,
            min_detectable_delta=None,
            power=power,
            expected_generations={},
            design_effect=None,
            basis="unknown until the first gate evaluation (no pool size or pass rates are assumed)",
        )
    rates = rates_from_counts(champion_counts, greedy, size=pool_problems)
    cn = champion_counts[0].n
    design = Design(
        pool_problems=pool_problems,
        n=cn,
        greedy=greedy,
        level=level,
        min_problems=min(min_problems, pool_problems),
        min_effect=min_effect,
        prior_m2=prior_second_moment(list(champion_counts), cn, greedy),
        settings=settings,
    )
    mdg = min_detectable_gain(design, rates, power=power, sims=sims)
    cost = {"null": mdg.at_null.mean_generations, "loss_5": mdg.at_loss.mean_generations}
    if mdg.at_min_gain is not None:
        cost["at_min_gain"] = mdg.at_min_gain.mean_generations
    deff = design_effect_of(np.array([pc.c for pc in champion_counts]), cn, greedy).deff
    spread = (
        "Beta fitted to the champion's per-problem counts"
        if cn > 1 and not greedy
        else "observed mean, U-shaped spread (one sample per problem cannot show the spread)"
    )
    return GateDesignStatus(
        pool_problems=pool_problems,
        n=cn,
        greedy=greedy,
        level=level,
        champion_pass1=sum(pc.c for pc in champion_counts) / (cn * len(champion_counts)),
        min_detectable_delta=mdg.min_gain,
        power=power,
        expected_generations=cost,
        design_effect=deff,
        basis=(
            f"simulated sequential test ({sims} draws): {pool_problems} gate problems x n={cn}"
            f"{' (greedy)' if greedy else ''}, level {level:.3g}, {spread}"
        ),
    )


def _table_row(label: str, design: Design, rates: np.ndarray, sims: int) -> str:
    mdg = min_detectable_gain(design, rates, sims=sims)
    pts = {d: design_point(design, rates, d, sims=sims) for d in (0.02, 0.05, 0.10)}
    per = 2 * (1 if design.greedy else design.n)
    mg = "n/a" if mdg.min_gain is None else f"+{100 * mdg.min_gain:.1f}"
    cost = " / ".join(f"{x.mean_generations:.0f}" for x in (mdg.at_loss, mdg.at_null, pts[0.05], pts[0.10]))
    return (
        f"| {label} | {design.level:.3g} | {mg} | "
        + " / ".join(f"{pts[d].p_promote:.2f}" for d in (0.02, 0.05, 0.10))
        + f" | {cost} | {per * design.plan().limit} |"
    )


def main() -> int:
    """Print the power tables of docs/policies.md (CPU default and GPU example designs)."""
    import yaml

    from policies import spending
    from policies.gate import GateConfig
    from policies.simulate import REALISTIC, draw_rates

    here = __import__("pathlib").Path(__file__).resolve().parents[1] / "deploy" / "config"
    print(
        "| design | level | min gain at 80% | power +2 / +5 / +10 | generations per decision: loser -5 / "
        "null / +5 / +10 | fixed-size gate on the same problems |"
    )
    print("|---|---|---|---|---|---|")
    for name, pool, n, greedy, rates in (
        (
            "cpu-default",
            220,
            1,
            True,
            rates_from_counts([ProblemCounts(problem_id=f"p{i}", n=1, c=int(i < 8)) for i in range(220)], True),
        ),
        ("gpu-example", 900, 4, False, draw_rates(np.random.default_rng(0), 9000, REALISTIC)),
    ):
        raw = yaml.safe_load((here / f"{name}.yaml").read_text())
        cfg = GateConfig.model_validate(raw.get("gate", {}))
        for k in (1, 10, 100):
            level = cfg.alpha * spending.gamma(k, cfg)
            d = Design(
                pool_problems=pool,
                n=n,
                greedy=greedy,
                level=level,
                min_problems=min(cfg.min_problems, pool),
                min_effect=cfg.min_delta,
                settings=cfg,
                prior_m2=0.1,
            )
            print(_table_row(f"{name}, {pool} x n={n}{' greedy' if greedy else ''}, test {k}", d, rates, 300))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
