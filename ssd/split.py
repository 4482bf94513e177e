"""Deterministic split of a problem pool into training prompts and a held-out set.

Rule (also in docs/sources.md):

* Every problem gets a score ``u = int(sha256(f"{salt}\\x00{seed}\\x00{key}")[:16], 16) / 2**64``
  in [0, 1), where ``key`` is the problem id. The score depends on nothing else, so adding,
  removing or reordering other problems never changes it.
* Only problems with tests are eligible for the held-out set; the rest always train.
* ``heldout_frac=f``: an eligible problem is held out iff ``u < f``. Its side is a pure
  function of (salt, seed, id): adding problems never moves an existing one.
* ``heldout_count=k``: the k eligible problems with the smallest ``u`` are held out. Adding
  problems can push a held-out problem into training but never the other way, so a prompt
  that was trained on never becomes an evaluation problem.
* Problems whose prompts are the same text after normalization (Unicode NFKC, case folding,
  whitespace collapsed) form one group that lands on one side; otherwise the same question
  under two ids could be trained on and evaluated. A group is held out only if every member
  has tests, and is scored by its members' *largest* ``u``: with ``heldout_frac`` it is held
  out iff every member would be on its own; with ``heldout_count`` iff at most k problems with
  tests in the pool score at or below it. A new member can thus only move a group into
  training. (Scoring by the smallest id, as before, let a new duplicate with a smaller id move
  a trained group into the held-out set, and a new duplicate without tests free a slot that a
  trained problem then took: both found by tests/test_split_properties.py.)
"""

from __future__ import annotations

import bisect
import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ssd.problems import Problem

_SHOW = 20  # overlapping ids listed in an error message before "... and N more"


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    heldout_frac: float | None = Field(default=None, gt=0.0, lt=1.0)
    heldout_count: int | None = Field(default=None, ge=1)
    seed: int = 0
    salt: str = "ssd-split-v1"

    @model_validator(mode="after")
    def _exactly_one(self) -> SplitConfig:
        if (self.heldout_frac is None) == (self.heldout_count is None):
            raise ValueError("give exactly one of heldout_frac and heldout_count")
        return self


@dataclass(frozen=True)
class Split:
    train: list[Problem]
    heldout: list[Problem]
    config: SplitConfig
    # diagnostics, e.g. heldout_short_by: how far heldout_count could not be met
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def train_ids(self) -> list[str]:
        return [p.id for p in self.train]

    @property
    def heldout_ids(self) -> list[str]:
        return [p.id for p in self.heldout]

    def manifest(self) -> dict:
        """What a run records so the split can be audited and reproduced."""
        return {
            "config": self.config.model_dump(),
            "train_ids": self.train_ids,
            "heldout_ids": self.heldout_ids,
            **self.notes,
        }


class OverlapError(ValueError):
    """Training and held-out sets share problems (by id or by normalized prompt text)."""

    def __init__(self, ids: Sequence[str], text_pairs: Sequence[tuple[str, str]]):
        self.ids = list(ids)
        self.text_pairs = list(text_pairs)
        parts = []
        if self.ids:
            parts.append(f"{len(self.ids)} id(s) in both: {_listing(self.ids)}")
        if self.text_pairs:
            pairs = [f"{a} ~ {b}" for a, b in self.text_pairs]
            parts.append(
                f"{len(pairs)} held-out problem(s) share their prompt text with a training "
                f"problem (held-out ~ train): {_listing(pairs)}"
            )
        super().__init__("training and held-out sets overlap: " + "; ".join(parts))


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f" ... and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def normalize_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def score(key: str, cfg: SplitConfig) -> float:
    digest = hashlib.sha256(f"{cfg.salt}\x00{cfg.seed}\x00{key}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def split(problems: Sequence[Problem], cfg: SplitConfig) -> Split:
    """Assign each problem to training or held-out by the rule in this module's docstring.

    Both output lists keep the input order.
    """
    seen: set[str] = set()
    groups: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        if p.id in seen:
            raise ValueError(f"duplicate problem id {p.id!r} in the pool to split")
        seen.add(p.id)
        groups[text_fingerprint(p.prompt)].append(p)

    # (score, members) for each text group that may be held out; the score is the largest of
    # the members' own, so adding a member can only raise it (see the module docstring).
    eligible = []
    for members in groups.values():
        if all(m.has_tests for m in members):
            eligible.append((max(score(m.id, cfg) for m in members), members))

    held: set[str] = set()
    notes: dict[str, int] = {}
    if cfg.heldout_frac is not None:
        for u, members in eligible:
            if u < cfg.heldout_frac:
                held.update(m.id for m in members)
    else:
        assert cfg.heldout_count is not None
        # Every problem with tests takes a place in the ranking, in an eligible group or not:
        # a group losing its eligibility (a new member without tests) then frees no place that a
        # trained problem could take. Growth only adds problems at or below a score.
        tested = sorted(score(p.id, cfg) for p in problems if p.has_tests)
        for u, members in eligible:
            if bisect.bisect_right(tested, u) <= cfg.heldout_count:
                held.update(m.id for m in members)
        if len(held) < cfg.heldout_count:
            notes["heldout_short_by"] = cfg.heldout_count - len(held)

    train = [p for p in problems if p.id not in held]
    heldout = [p for p in problems if p.id in held]
    check_disjoint_problems(train, heldout)
    return Split(train=train, heldout=heldout, config=cfg, notes=notes)


def check_disjoint_problems(train: Iterable[Problem], heldout: Iterable[Problem]) -> None:
    """Ids must not overlap, nor may a held-out prompt equal a training prompt after
    normalization (the same question published under two ids). Used when a run starts with
    separately specified training and held-out sources."""
    train = list(train)
    heldout = list(heldout)
    train_ids = {p.id for p in train}
    ids = sorted({p.id for p in heldout if p.id in train_ids})
    by_text: dict[str, str] = {}
    for p in train:
        by_text.setdefault(text_fingerprint(p.prompt), p.id)
    pairs = []
    for p in heldout:
        other = by_text.get(text_fingerprint(p.prompt))
        if other is not None and other != p.id:
            pairs.append((p.id, other))
    if ids or pairs:
        raise OverlapError(ids, sorted(pairs))


@dataclass(frozen=True)
class HeldoutPartition:
    """The held-out problems in three disjoint parts: ``gate`` decides promotions and
    rollbacks, ``audit`` is sealed (only reported, never decides), ``calibration`` picks T_eval."""

    gate: list[Problem]
    audit: list[Problem]
    calibration: list[Problem]


def partition_heldout(
    heldout: Sequence[Problem], audit_frac: float, calibration_frac: float, salt: str = "ssd-heldout-v1"
) -> HeldoutPartition:
    """Salted-hash partition, independent of the train/held-out split's own hash (other salt):
    a problem's part depends only on (salt, id), so adding problems never moves one."""
    cfg = SplitConfig(heldout_frac=0.5, salt=salt)
    audit, calibration, gate = [], [], []
    for p in heldout:
        u = score(p.id, cfg)
        if u < audit_frac:
            audit.append(p)
        elif u < audit_frac + calibration_frac:
            calibration.append(p)
        else:
            gate.append(p)
    return HeldoutPartition(gate=gate, audit=audit, calibration=calibration)


def problem_set_hash(problems: Sequence[Problem]) -> str:
    """Identity of an evaluation set (ids, prompts and tests): evaluations on sets with
    different hashes are never compared."""
    h = hashlib.sha256()
    for p in sorted(problems, key=lambda p: p.id):
        h.update(p.model_dump_json().encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]
