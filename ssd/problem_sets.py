"""The problems a round works on, built one way for ``ssd round`` and the daemon.

``build_split_sets`` loads the configured sources and splits them into training prompts and
held-out problems (checked disjoint at every start); ``build_problem_sets`` partitions the
held-out problems further into the daemon's gate / sealed audit / calibration sets
(``ssd.split.partition_heldout``: a problem's part depends only on its id and the salt).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ssd.config import SSDConfig
from ssd.problems import Problem
from ssd.sources.registry import load_sources
from ssd.split import check_disjoint_problems, partition_heldout, split


class HeldoutConfig(BaseModel):
    """How the held-out problems are partitioned. The gate set decides promotions; the sealed
    audit set is never used for a decision, only to report the champion's pass@1 honestly;
    the calibration set (only when several T_eval are configured) picks the one decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    audit_frac: float = Field(0.25, ge=0.0, lt=0.9)
    calibration_frac: float = Field(0.0, ge=0.0, lt=0.9)
    salt: str = "ssd-heldout-v1"

    @model_validator(mode="after")
    def _room_left(self) -> HeldoutConfig:
        if self.audit_frac + self.calibration_frac >= 0.9:
            raise ValueError("audit_frac + calibration_frac leave less than 10% of the held-out set for the gate")
        return self


class SplitSets(BaseModel):
    """Training prompts and held-out problems (``ssd round`` evaluates on all of the latter)."""

    train: list[Problem]
    heldout: list[Problem]


@dataclass(frozen=True)
class ProblemSets:
    """The daemon's sets: the gate decides promotions, the sealed audit set only reports the
    champion, the calibration set (several T_eval configured) picks the one decoding."""

    train: list[Problem]
    gate: list[Problem]
    audit: list[Problem]
    calibration: list[Problem]


def build_split_sets(cfg: SSDConfig) -> SplitSets:
    pool = load_sources(cfg.data.sources)
    if cfg.data.heldout:
        train, heldout = pool, load_sources(cfg.data.heldout)
    else:
        parts = split(pool, cfg.data.split)
        train, heldout = parts.train, parts.heldout
    if cfg.data.max_train_prompts is not None:
        train = train[: cfg.data.max_train_prompts]
    if cfg.data.max_heldout is not None:
        heldout = heldout[: cfg.data.max_heldout]
    # Checked at every start: a held-out problem seen in training would inflate the gate.
    check_disjoint_problems(train, heldout)
    if not heldout:
        raise ValueError("the held-out set is empty: add data.heldout or raise data.split's held-out share")
    if not train:
        raise ValueError("no training prompts left after the split")
    return SplitSets(train=train, heldout=heldout)


def build_problem_sets(cfg: SSDConfig, heldout: HeldoutConfig) -> ProblemSets:
    sets = build_split_sets(cfg)
    part = partition_heldout(sets.heldout, heldout.audit_frac, heldout.calibration_frac, heldout.salt)
    gate = part.gate
    if cfg.data.gate_pool:
        # Gate-only sources (pre-cutoff allowed), decontaminated against training and the
        # sealed audit / calibration sets; the audit set is unchanged (ssd.gate_pool).
        from ssd.gate_pool import decontaminated_gate_pool

        extra, _report = decontaminated_gate_pool(
            load_sources(cfg.data.gate_pool), train=sets.train, sealed=part.audit + part.calibration, gate=gate
        )
        gate = gate + extra
    if not gate:
        raise ValueError("the gate set is empty: lower heldout.audit_frac / calibration_frac or add held-out problems")
    return ProblemSets(train=sets.train, gate=gate, audit=part.audit, calibration=part.calibration)
