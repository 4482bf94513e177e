"""Round health: what a model's outputs look like, and the guard against collapse.

Iterated self-training on unverified outputs can collapse (shorter, more repetitive, more
confident outputs) before pass@1 on a small gate set moves. ``HealthSignals`` summarises one
set of outputs (a round's SSD samples, or one arm's gate-set outputs); ``ssd.health`` computes
it. Two pure checks use it:

* ``check_candidate``: the candidate's gate outputs against the champion's, drawn in the same
  round with the same decoding on the same problems (a paired comparison). A drift past a
  threshold refuses the promotion, whatever pass@1 says.
* ``check_lineage``: the current round's samples (drawn from the current champion) against a
  baseline, the median of the first rounds' samples. Collapse is gradual, so comparing only
  with the previous round would let it through one small step at a time; a drift past a
  threshold asks the daemon to pause rounds.

Every threshold can be switched off with ``null``. Directions are those of collapse only
(length and diversity drop, truncation, repetition and confidence rise, fewer parseable
programs): a change the other way is not refused here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NGRAM_ORDERS = (1, 2, 3, 4)


class HealthSignals(BaseModel):
    """Summary of one set of model outputs. Lengths are in tokens when every output carries
    its token count (``length_unit``), else in characters; the two are never compared."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    outputs: int = Field(ge=0)
    length_unit: Literal["tokens", "chars"]
    length_mean: float = Field(ge=0)
    length_std: float = Field(ge=0)
    truncated_frac: float = Field(ge=0, le=1, description="share that stopped at the token limit")
    empty_frac: float = Field(ge=0, le=1)
    # distinct-n over all outputs together (unique n-grams / n-grams, words and symbols as
    # tokens): falls when outputs become alike across prompts.
    distinct: dict[int, float]
    # mean over outputs of the share of repeated 4-grams inside one output: rises when an
    # output loops on itself.
    repetition_rate: float = Field(ge=0, le=1)
    code_outputs: int = Field(ge=0, description="outputs of code prompts (the parse share's denominator)")
    parse_frac: float | None = Field(None, ge=0, le=1, description="share of code outputs whose program parses")
    # mean log-prob per sampled token as the server reported it; None when it did not
    mean_logprob: float | None = None
    logprob_outputs: int = Field(0, ge=0)


class HealthGuardConfig(BaseModel):
    """Thresholds of the collapse guard (``health`` in the config). Absolute thresholds are
    differences of shares (0.15 = 15 percentage points); relative ones a fraction of the
    baseline's value. ``null`` switches a threshold off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    # What a lineage drift does: pause rounds (the operator resumes) or only log a warning.
    on_lineage_drift: Literal["pause", "warn"] = "pause"
    baseline_rounds: int = Field(3, ge=1, description="first rounds whose median is the lineage baseline")
    min_outputs: int = Field(20, ge=1, description="fewer outputs than this: too noisy, not checked")
    max_length_drop: float | None = Field(0.35, gt=0, lt=1, description="relative drop of mean length")
    max_spread_drop: float | None = Field(0.6, gt=0, lt=1, description="relative drop of the length spread")
    max_truncated_rise: float | None = Field(0.2, gt=0, le=1)
    max_distinct_drop: float | None = Field(0.3, gt=0, lt=1, description="relative drop of distinct-n")
    distinct_n: int = Field(2, ge=1, le=4)
    max_repetition_rise: float | None = Field(0.15, gt=0, le=1)
    max_parse_drop: float | None = Field(0.2, gt=0, le=1)
    max_logprob_rise: float | None = Field(0.5, gt=0, description="rise of mean log-prob per token, nats")


class HealthTrip(BaseModel):
    model_config = ConfigDict(frozen=True)
    signal: str
    baseline: float
    value: float
    limit: float
    message: str


class HealthVerdict(BaseModel):
    """``ok`` False: the check refuses (promotion) or asks to pause (lineage); ``reason`` says why."""

    model_config = ConfigDict(frozen=True)
    ok: bool
    checked: bool  # False: disabled or too few outputs, nothing was compared
    trips: list[HealthTrip] = Field(default_factory=list)
    reason: str


def _rel_drop(base: float, value: float) -> float:
    return (base - value) / base if base > 0 else 0.0


def _compare(base: HealthSignals, cur: HealthSignals, cfg: HealthGuardConfig) -> list[HealthTrip]:
    trips: list[HealthTrip] = []

    def trip(signal: str, b: float, v: float, limit: float, what: str) -> None:
        trips.append(
            HealthTrip(signal=signal, baseline=b, value=v, limit=limit, message=f"{what} ({b:.3g} -> {v:.3g})")
        )

    if base.length_unit == cur.length_unit:
        if cfg.max_length_drop is not None and _rel_drop(base.length_mean, cur.length_mean) > cfg.max_length_drop:
            drop = _rel_drop(base.length_mean, cur.length_mean)
            trip(
                "length_mean",
                base.length_mean,
                cur.length_mean,
                cfg.max_length_drop,
                f"mean length fell {drop:.0%} (limit {cfg.max_length_drop:.0%}, {cur.length_unit})",
            )
        if cfg.max_spread_drop is not None and _rel_drop(base.length_std, cur.length_std) > cfg.max_spread_drop:
            drop = _rel_drop(base.length_std, cur.length_std)
            trip(
                "length_std",
                base.length_std,
                cur.length_std,
                cfg.max_spread_drop,
                f"length spread fell {drop:.0%} (limit {cfg.max_spread_drop:.0%})",
            )
    rise = cur.truncated_frac - base.truncated_frac
    if cfg.max_truncated_rise is not None and rise > cfg.max_truncated_rise:
        trip(
            "truncated_frac",
            base.truncated_frac,
            cur.truncated_frac,
            cfg.max_truncated_rise,
            f"share hitting the token limit rose {rise:+.0%} (limit {cfg.max_truncated_rise:+.0%})",
        )
    n = cfg.distinct_n
    if cfg.max_distinct_drop is not None and n in base.distinct and n in cur.distinct:
        drop = _rel_drop(base.distinct[n], cur.distinct[n])
        if drop > cfg.max_distinct_drop:
            trip(
                f"distinct_{n}",
                base.distinct[n],
                cur.distinct[n],
                cfg.max_distinct_drop,
                f"distinct-{n} fell {drop:.0%} (limit {cfg.max_distinct_drop:.0%})",
            )
    rise = cur.repetition_rate - base.repetition_rate
    if cfg.max_repetition_rise is not None and rise > cfg.max_repetition_rise:
        trip(
            "repetition_rate",
            base.repetition_rate,
            cur.repetition_rate,
            cfg.max_repetition_rise,
            f"repetition rate rose {rise:+.0%} (limit {cfg.max_repetition_rise:+.0%})",
        )
    if cfg.max_parse_drop is not None and base.parse_frac is not None and cur.parse_frac is not None:
        drop = base.parse_frac - cur.parse_frac
        if drop > cfg.max_parse_drop:
            trip(
                "parse_frac",
                base.parse_frac,
                cur.parse_frac,
                cfg.max_parse_drop,
                f"share of programs that parse fell {drop:.0%} (limit {cfg.max_parse_drop:.0%})",
            )
    if cfg.max_logprob_rise is not None and base.mean_logprob is not None and cur.mean_logprob is not None:
        rise = cur.mean_logprob - base.mean_logprob
        if rise > cfg.max_logprob_rise:
            trip(
                "mean_logprob",
                base.mean_logprob,
                cur.mean_logprob,
                cfg.max_logprob_rise,
                f"mean token log-prob rose {rise:+.2f} nats (limit {cfg.max_logprob_rise:+.2f}): "
                "more confident outputs",
            )
    return trips


def _verdict(what: str, base: HealthSignals, cur: HealthSignals, cfg: HealthGuardConfig) -> HealthVerdict:
    if not cfg.enabled:
        return HealthVerdict(ok=True, checked=False, reason="health guard disabled")
    small = min(base.outputs, cur.outputs)
    if small < cfg.min_outputs:
        return HealthVerdict(
            ok=True, checked=False, reason=f"{what}: {small} outputs < min_outputs {cfg.min_outputs}, not checked"
        )
    trips = _compare(base, cur, cfg)
    if not trips:
        return HealthVerdict(ok=True, checked=True, reason=f"{what}: no health signal drifted past its threshold")
    return HealthVerdict(ok=False, checked=True, trips=trips, reason=f"{what}: " + "; ".join(t.message for t in trips))


def check_candidate(champion: HealthSignals, candidate: HealthSignals, cfg: HealthGuardConfig) -> HealthVerdict:
    """The candidate's gate-set outputs against the champion's from the same round: not ok
    means the promotion is refused, with ``reason`` for the rejection event."""
    return _verdict("candidate outputs vs champion's", champion, candidate, cfg)


def lineage_baseline(history: Sequence[HealthSignals], cfg: HealthGuardConfig) -> HealthSignals | None:
    """The median, signal by signal, of the first ``baseline_rounds`` rounds' sample signals
    (oldest first): a fixed anchor, so small steps cannot add up unseen. None without history."""
    first = list(history[: cfg.baseline_rounds])
    if not first:
        return None
    units = {h.length_unit for h in first}

    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    orders = set.intersection(*(set(h.distinct) for h in first))
    return HealthSignals(
        outputs=min(h.outputs for h in first),
        length_unit=first[0].length_unit if len(units) == 1 else "chars",
        length_mean=statistics.median(h.length_mean for h in first) if len(units) == 1 else 0.0,
        length_std=statistics.median(h.length_std for h in first) if len(units) == 1 else 0.0,
        truncated_frac=statistics.median(h.truncated_frac for h in first),
        empty_frac=statistics.median(h.empty_frac for h in first),
        distinct={n: statistics.median(h.distinct[n] for h in first) for n in sorted(orders)},
        repetition_rate=statistics.median(h.repetition_rate for h in first),
        code_outputs=min(h.code_outputs for h in first),
        parse_frac=med([h.parse_frac for h in first]),
        mean_logprob=med([h.mean_logprob for h in first]),
        logprob_outputs=min(h.logprob_outputs for h in first),
    )


def check_lineage(history: Sequence[HealthSignals], current: HealthSignals, cfg: HealthGuardConfig) -> HealthVerdict:
    """This round's samples (from the current champion) against the lineage baseline built from
    ``history``, the earlier rounds' sample signals oldest first. Not ok: pause rounds (or warn,
    per ``on_lineage_drift``) with ``reason``. No history yet: nothing to compare, ok."""
    base = lineage_baseline(history, cfg)
    if base is None:
        return HealthVerdict(ok=True, checked=False, reason="no earlier rounds: nothing to compare")
    return _verdict(f"samples vs the first {min(len(history), cfg.baseline_rounds)} round(s)", base, current, cfg)
