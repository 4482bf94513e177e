"""A round's training prompts: the problem pool and captured prompts, drawn by ``learning.mix``.

Captured (and imported) prompts become ``Problem`` rows without tests whose ``meta`` says how
the endpoint served them (``served_as``: ``chat`` with the ``messages`` up to the last user
turn, or ``text`` for a completions prompt); ``ssd.prompts.render`` then renders them exactly
as served (the model's chat template, no SSD instructions around them), so sampling, the
training file and the endpoint all see the same text.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ssd.problems import Problem
from ssd.traffic.config import MixConfig

PromptKind = Literal["chat", "text"]


class CapturedCandidate(BaseModel):
    """A kept, decontaminated captured prompt a round may train on."""

    model_config = ConfigDict(frozen=True)
    id: str
    uses: int  # rounds that trained on it so far
    captured_at: str  # ISO time; newer sorts later


class MixPlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    total: int  # prompts in the round (may fall short of the target when both sources run dry)
    target: int
    captured_frac: float
    captured_wanted: int
    captured_available: int
    pool_ids: list[str]
    captured_ids: list[str]

    def summary(self) -> dict:
        return {
            "total": self.total,
            "target": self.target,
            "pool": len(self.pool_ids),
            "captured": len(self.captured_ids),
            "captured_wanted": self.captured_wanted,
            "captured_available": self.captured_available,
            "captured_frac": self.captured_frac,
        }


def plan_mix(pool_ids: Sequence[str], captured: Sequence[CapturedCandidate], cfg: MixConfig, seed: int) -> MixPlan:
    """``round(captured_frac * target)`` captured prompts, never-used first, then least used,
    newest first within each; the rest from the pool (all of it, in order, when it fits;
    else a sample drawn with ``seed``, kept in pool order). The pool fills in for missing
    captured prompts. ``target`` is ``prompts_per_round`` or the pool's size."""
    target = cfg.prompts_per_round or len(pool_ids)
    wanted = round(cfg.captured_frac * target)
    order = sorted(captured, key=lambda c: c.id)
    order.sort(key=lambda c: c.captured_at, reverse=True)
    order.sort(key=lambda c: c.uses)  # stable: newest first within each use count
    chosen = [c.id for c in order[:wanted]]
    n_pool = min(len(pool_ids), target - len(chosen))
    if n_pool >= len(pool_ids):
        pool = list(pool_ids)
    else:
        picked = sorted(random.Random(seed).sample(range(len(pool_ids)), n_pool))
        pool = [pool_ids[i] for i in picked]
    return MixPlan(
        total=len(pool) + len(chosen),
        target=target,
        captured_frac=cfg.captured_frac,
        captured_wanted=wanted,
        captured_available=len(captured),
        pool_ids=pool,
        captured_ids=chosen,
    )


def captured_problem(
    prompt_id: str, kind: PromptKind, messages: list[dict[str, str]] | None, text: str, source: str
) -> Problem:
    """A captured prompt as a training problem (no tests). ``text`` is what a person reads
    (the last user turn for a chat); the rendered prompt comes from ``messages``."""
    meta: dict = {"source": source, "served_as": kind}
    if kind == "chat":
        if not messages:
            raise ValueError(f"captured chat prompt {prompt_id!r} has no messages")
        meta["messages"] = messages
    return Problem(id=prompt_id, prompt=text if text.strip() else "(empty)", meta=meta)


def build_round_problems(pool: Sequence[Problem], captured: dict[str, Problem], plan: MixPlan) -> list[Problem]:
    """The round's problems in a fixed order: the plan's pool problems, then its captured ones."""
    by_id = {p.id: p for p in pool}
    return [by_id[i] for i in plan.pool_ids] + [captured[i] for i in plan.captured_ids]
