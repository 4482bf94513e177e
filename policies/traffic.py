"""The label-free traffic check: is the candidate significantly worse on real prompts?

The held-out gate with tests stays the promotion rule. Beside it, champion and candidate
answer the same held-out slice of captured prompts (one answer each, same decoding), and each
answer is marked on two things that need no labels: whether its code parses and compiles, and
whether it is degenerate (empty, looping). A candidate that is significantly *worse* on either
is not promoted, even when it wins on the tests.

The test is paired (the same prompts on both arms): a one-sided exact McNemar test (the
binomial test of the discordant pairs, ``scipy.stats.binomtest``) per measure, at ``alpha / 2``
each (Bonferroni over the two measures), so a candidate that is no worse is vetoed with
probability at most ``alpha`` per round. A false veto only keeps the champion a round longer,
so a per-round level is enough here (no lifetime budget, unlike the gate).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from policies.stats import mcnemar_exact, newcombe_paired_ci


class TrafficPolicyConfig(BaseModel):
    """alpha: the probability of vetoing a candidate that is no worse, per round.
    min_prompts: below this many prompts the check does not run (it cannot veto).
    min_drop: the share must also drop by more than this (a practical margin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    min_prompts: int = Field(10, ge=1)
    min_drop: float = Field(0.0, ge=0.0, lt=1.0)


class AnswerOutcome(BaseModel):
    """One answer, marked without labels."""

    model_config = ConfigDict(frozen=True)
    prompt_id: str
    code_ok: bool  # it holds Python code, and every Python block parses and compiles
    degenerate: bool  # empty or looping


class MeasureComparison(BaseModel):
    """Champion vs candidate on one measure where larger is better (``code_ok``) or worse
    (``degenerate``): the shares, the discordant pairs, the one-sided p-value that the
    candidate is worse, and a 95% paired interval of candidate minus champion."""

    model_config = ConfigDict(frozen=True)
    measure: str
    champion_share: float
    candidate_share: float
    only_champion: int  # prompts where only the champion has the property
    only_candidate: int
    p_worse: float
    ci: tuple[float, float]
    worse: bool


class TrafficDecision(BaseModel):
    model_config = ConfigDict(frozen=True)
    run: bool  # False: too few prompts; nothing can be vetoed
    block: bool  # True: do not promote the candidate
    prompts: int
    level: float  # the level of each of the two tests (alpha / 2)
    code_ok: MeasureComparison | None
    degenerate: MeasureComparison | None
    reason: str


def _compare(
    measure: str,
    champion: Sequence[bool],
    candidate: Sequence[bool],
    higher_is_better: bool,
    level: float,
    cfg: TrafficPolicyConfig,
) -> MeasureComparison:
    n = len(champion)
    only_ch = sum(1 for a, b in zip(champion, candidate) if a and not b)
    only_ca = sum(1 for a, b in zip(champion, candidate) if b and not a)
    both = sum(1 for a, b in zip(champion, candidate) if a and b)
    ch_share, ca_share = sum(champion) / n, sum(candidate) / n
    # "Worse" means fewer prompts with a good property, or more with a bad one.
    wins_for_champion = only_ch if higher_is_better else only_ca
    wins_for_candidate = only_ca if higher_is_better else only_ch
    p = mcnemar_exact(wins_for_champion, wins_for_candidate, alternative="greater")
    drop = (ch_share - ca_share) if higher_is_better else (ca_share - ch_share)
    ci = newcombe_paired_ci(both, only_ch, only_ca, n - both - only_ch - only_ca, 0.95)
    return MeasureComparison(
        measure=measure,
        champion_share=ch_share,
        candidate_share=ca_share,
        only_champion=only_ch,
        only_candidate=only_ca,
        p_worse=p,
        ci=ci,
        worse=p <= level and drop > cfg.min_drop,
    )


def decide_traffic(
    champion: Sequence[AnswerOutcome], candidate: Sequence[AnswerOutcome], cfg: TrafficPolicyConfig
) -> TrafficDecision:
    """Veto the candidate iff it is significantly worse on code that compiles or on
    degenerate answers (see the module docstring). Both arms must have answered the same
    prompts in the same order (ValueError otherwise)."""
    if [a.prompt_id for a in champion] != [b.prompt_id for b in candidate]:
        raise ValueError("the traffic check's arms answered different prompts")
    n, level = len(champion), cfg.alpha / 2
    if n < cfg.min_prompts:
        return TrafficDecision(
            run=False,
            block=False,
            prompts=n,
            level=level,
            code_ok=None,
            degenerate=None,
            reason=f"traffic check not run: {n} held-out captured prompts, fewer than min_prompts {cfg.min_prompts}",
        )
    code = _compare("code_ok", [a.code_ok for a in champion], [b.code_ok for b in candidate], True, level, cfg)
    degen = _compare(
        "degenerate", [a.degenerate for a in champion], [b.degenerate for b in candidate], False, level, cfg
    )
    worse = [m for m in (code, degen) if m.worse]

    def describe(m: MeasureComparison) -> str:
        return f"{m.measure} {m.champion_share:.1%} -> {m.candidate_share:.1%} (p={m.p_worse:.3g})"

    if worse:
        reason = (
            f"candidate significantly worse on {n} held-out captured prompts: "
            + "; ".join(describe(m) for m in worse)
            + f" at level {level:.3g} each"
        )
    else:
        reason = f"candidate not significantly worse on {n} captured prompts: {describe(code)}; {describe(degen)}"
    return TrafficDecision(
        run=True, block=bool(worse), prompts=n, level=level, code_ok=code, degenerate=degen, reason=reason
    )
