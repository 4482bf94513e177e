"""Decoding policy: the one evaluation temperature T_eval both arms of a comparison use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from statsmodels.stats.multitest import multipletests

from policies.counts import ProblemCounts, pass_at_1
from policies.paired import PairedComparison, PairedTestSettings, compare_paired

_T_TOL = 1e-9


class TemperatureResult(BaseModel):
    """One model's counts on a problem set at sampling temperature `t`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    t: float = Field(ge=0.0)
    counts: list[ProblemCounts] = Field(min_length=1)


class TEvalConfig(PairedTestSettings):
    """incumbent_t: the T_eval in use now (or the configured default); kept unless beaten.
    correction: multiple-comparison correction over the non-incumbent temperatures (Holm by
    default, via statsmodels `multipletests`; Holm is never less powerful than Bonferroni and
    controls the same family-wise error under any dependence)."""

    incumbent_t: float = Field(ge=0.0)
    min_delta: float = Field(0.0, ge=0.0, le=1.0)
    correction: Literal["holm", "bonferroni", "none"] = "holm"


class TemperatureSummary(BaseModel):
    """One temperature of a sweep: pass@1 and, except for the incumbent, its test against it."""

    model_config = ConfigDict(frozen=True)

    t: float
    pass1: float
    # Against the incumbent; None for the incumbent itself.
    comparison: PairedComparison | None
    p_adjusted: float | None
    significant: bool


class TEvalDecision(BaseModel):
    """The evaluation temperature chosen by `choose_t_eval`, with the whole sweep."""

    model_config = ConfigDict(frozen=True)

    t_eval: float
    changed: bool
    incumbent_t: float
    best_t: float
    incumbent_pass1: float
    chosen_pass1: float
    per_temperature: list[TemperatureSummary]
    reason: str


def _incumbent_and_others(
    results: Sequence[TemperatureResult], cfg: TEvalConfig
) -> tuple[TemperatureResult, list[TemperatureResult]]:
    """The incumbent's result and the others by temperature; ValueError on a bad sweep."""
    if not results:
        raise ValueError("empty temperature sweep")
    ts = sorted(r.t for r in results)
    dups = sorted({a for a, b in zip(ts, ts[1:]) if abs(a - b) < _T_TOL})
    if dups:
        raise ValueError(f"temperatures repeat in the sweep: {dups}")
    incumbent = next((r for r in results if abs(r.t - cfg.incumbent_t) < _T_TOL), None)
    if incumbent is None:
        raise ValueError(f"incumbent T_eval {cfg.incumbent_t} is not in the sweep {ts}")
    return incumbent, sorted((r for r in results if r is not incumbent), key=lambda r: r.t)


def _sweep_summaries(
    incumbent: TemperatureResult, others: list[TemperatureResult], cfg: TEvalConfig
) -> list[TemperatureSummary]:
    """The incumbent first, then each other temperature tested against it, p-values adjusted."""
    comparisons: list[PairedComparison] = []
    for r in others:
        try:
            comparisons.append(
                compare_paired(
                    incumbent.counts,
                    r.counts,
                    cfg,
                    alternative="greater",
                    reference_name=f"T={incumbent.t}",
                    challenger_name=f"T={r.t}",
                )
            )
        except ValueError as exc:
            raise ValueError(f"temperature {r.t}: {exc}") from exc
    raw = [c.p_value for c in comparisons]
    if comparisons and cfg.correction != "none":
        adjusted = [float(p) for p in multipletests(raw, alpha=cfg.alpha, method=cfg.correction)[1]]
    else:
        adjusted = raw
    inc_p1 = pass_at_1(incumbent.counts)
    summaries = [TemperatureSummary(t=incumbent.t, pass1=inc_p1, comparison=None, p_adjusted=None, significant=False)]
    for r, cmp, p_adj in zip(others, comparisons, adjusted):
        sig = cmp.n_problems >= cfg.min_problems and cmp.delta > cfg.min_delta and p_adj < cfg.alpha
        summaries.append(
            TemperatureSummary(t=r.t, pass1=cmp.challenger_pass1, comparison=cmp, p_adjusted=p_adj, significant=sig)
        )
    return summaries


def choose_t_eval(results: Sequence[TemperatureResult], cfg: TEvalConfig) -> TEvalDecision:
    """Keep the incumbent T_eval unless another temperature is significantly better.

    Every other temperature is compared with the incumbent by the one-sided paired test on
    the same problems; p-values are adjusted over the K comparisons (Holm by default), since
    picking the best of K noisy estimates would otherwise "win" by chance about K*alpha of
    the time. Among significant winners (adjusted p < alpha, delta > min_delta) the highest
    pass@1 is chosen, ties going to the lower temperature (less randomness at equal score).
    Raises ValueError when the incumbent is not in the sweep, a temperature repeats, or the
    problem sets differ.
    """
    incumbent, others = _incumbent_and_others(results, cfg)
    summaries = _sweep_summaries(incumbent, others, cfg)
    inc_p1 = summaries[0].pass1
    # Lower temperature first, so max() keeps the lowest among equal pass@1.
    by_t = sorted(summaries, key=lambda s: s.t)
    best = max(by_t, key=lambda s: s.pass1)
    winners = [s for s in by_t if s.significant]
    table = ", ".join(
        f"T={s.t:g}: {s.pass1:.4f}"
        + ("" if s.comparison is None else f" (p={s.comparison.p_value:.3g}, adj {s.p_adjusted:.3g})")
        for s in by_t
    )
    if winners:
        chosen = max(winners, key=lambda s: s.pass1)
        why = (
            f"T={chosen.t:g} beats incumbent T={incumbent.t:g} significantly "
            f"({chosen.pass1:.4f} vs {inc_p1:.4f}, adjusted p={chosen.p_adjusted:.3g} < alpha={cfg.alpha})"
        )
    else:
        chosen = summaries[0]
        if abs(best.t - incumbent.t) < _T_TOL or best.pass1 <= inc_p1:
            why = f"incumbent T={incumbent.t:g} has the best pass@1"
        else:
            why = (
                f"best T={best.t:g} ({best.pass1:.4f} vs {inc_p1:.4f}) is not significantly better "
                f"than incumbent T={incumbent.t:g} after {cfg.correction} correction over {max(1, len(others))}"
            )
    changed = abs(chosen.t - incumbent.t) >= _T_TOL
    return TEvalDecision(
        t_eval=chosen.t,
        changed=changed,
        incumbent_t=incumbent.t,
        best_t=best.t,
        incumbent_pass1=inc_p1,
        chosen_pass1=chosen.pass1,
        per_temperature=by_t,
        reason=f"{'CHANGE' if changed else 'KEEP'} T_eval={chosen.t:g}: {why}. Sweep: {table}",
    )


class GateDecoding(BaseModel):
    """The one decoding temperature both arms of a gate comparison are evaluated at."""

    model_config = ConfigDict(frozen=True)

    t_eval: float
    tuned: bool  # chosen by a calibration sweep; False: a single configured temperature
    n_calibration_problems: int
    decision: TEvalDecision | None  # the calibration sweep's decision, when tuned
    reason: str


def choose_gate_decoding(
    calibration_results: Sequence[TemperatureResult],
    configured_temperatures: Sequence[float],
    cfg: TEvalConfig,
    *,
    gate_problem_ids: Iterable[str],
) -> GateDecoding:
    """Pick the single T_eval of this round's gate comparison on a calibration split.

    `calibration_results`: one model (the champion) evaluated at each configured temperature
    on calibration problems that must be disjoint from the gate set (`gate_problem_ids`);
    `choose_t_eval` then keeps the incumbent (`cfg.incumbent_t`) unless another temperature
    is significantly better. Because the choice sees no gate-set data, the gate test at that
    temperature stays exact; tuning on the gate set itself, or per arm, does not (see
    docs/policies.md). With one configured temperature there is nothing to tune and
    `calibration_results` may be empty.

    Raises ValueError when the calibration and gate problems overlap, when the sweep's
    temperatures are not exactly the configured ones, or when the incumbent is not configured.
    """
    temps = sorted(configured_temperatures)
    if not temps:
        raise ValueError("no configured temperatures")
    dups = sorted({a for a, b in zip(temps, temps[1:]) if abs(a - b) < _T_TOL})
    if dups:
        raise ValueError(f"configured temperatures repeat: {dups}")
    if not any(abs(t - cfg.incumbent_t) < _T_TOL for t in temps):
        raise ValueError(f"incumbent T_eval {cfg.incumbent_t} is not among the configured temperatures {temps}")
    gate_ids = set(gate_problem_ids)
    cal_ids = {pc.problem_id for r in calibration_results for pc in r.counts}
    overlap = sorted(cal_ids & gate_ids)
    if overlap:
        more = f" (+{len(overlap) - 10} more)" if len(overlap) > 10 else ""
        raise ValueError(f"calibration and gate problems overlap: {overlap[:10]}{more}")
    swept = sorted(r.t for r in calibration_results)
    missing = [t for t in temps if not any(abs(t - s) < _T_TOL for s in swept)]
    extra = [s for s in swept if not any(abs(t - s) < _T_TOL for t in temps)]
    if len(temps) == 1:
        if extra:
            raise ValueError(f"calibration temperatures {extra} are not configured {temps}")
        return GateDecoding(
            t_eval=temps[0],
            tuned=False,
            n_calibration_problems=len(cal_ids),
            decision=None,
            reason=f"T_eval={temps[0]:g}: the only configured temperature; nothing to tune",
        )
    if missing or extra:
        raise ValueError(
            f"calibration sweep {swept} must cover exactly the configured temperatures {temps}"
            f" (missing {missing}, not configured {extra})"
        )
    decision = choose_t_eval(calibration_results, cfg)
    return GateDecoding(
        t_eval=decision.t_eval,
        tuned=True,
        n_calibration_problems=len(cal_ids),
        decision=decision,
        reason=(
            f"T_eval={decision.t_eval:g} for both arms, tuned on {len(cal_ids)} calibration problems "
            f"disjoint from the {len(gate_ids)} gate problems: {decision.reason}"
        ),
    )
