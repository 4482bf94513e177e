"""The state database's rows (SQLModel tables) and the typed values their columns hold.

``RoundRow.stage`` / ``RoundRow.status`` and ``AdapterRow.state`` are enums in Python and
plain text in SQLite (``EnumText``): the file format is the one schema version 1 always had,
and a value outside the enum is refused when written and when read, naming the column.

Schema version 2 added two tables and changed none: ``sequential_tests`` (one row per
sequential gate or rollback test: its plan, fixed before any result) and ``pair_results``
(one row per problem the test evaluated, committed batch by batch). ``Store`` upgrades a
version-1 file by creating them (``daemon.state.store``).

Schema version 3 added one table and changed none: ``stage_progress`` (a running stage's
progress, rewritten at a bounded rate: what ``ssdd status`` measures its ETA from). ``Store``
upgrades a version-1 or version-2 file by creating the tables it lacks.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 3
# Versions this ssdd opens and upgrades in place (each upgrade only adds tables).
UPGRADABLE_FROM = (1, 2)


class TextEnum(str, Enum):
    """An enum whose members are their text (``enum.StrEnum``, which needs Python 3.11): they compare
    equal to, print as and serialise to their value, so messages and JSON read as before."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class AdapterState(TextEnum):
    """An adapter version's lifecycle state; ``daemon.state.lifecycle`` says which moves exist."""

    CANDIDATE = "candidate"
    CHAMPION = "champion"
    FORMER = "former"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    DELETED = "deleted"
    MISSING = "missing"


class RoundStage(TextEnum):
    """A round's stages, in order (``daemon.rounds.runner`` runs them)."""

    PREPARE = "prepare"
    SAMPLE = "sample"
    DISTILL = "distill"
    EVALUATE = "evaluate"
    DECIDE = "decide"
    PROMOTE = "promote"
    DONE = "done"


class RoundStatus(TextEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SequentialKind(TextEnum):
    """Which sequential test a ``SequentialTestRow`` runs."""

    GATE = "gate"  # a round's promotion test: reference = champion, challenger = candidate
    REEVAL = "reeval"  # the rollback test: reference = the champion's parent, challenger = the champion


class ProgressStage(TextEnum):
    """The stages that report progress while they run (``StageProgressRow.stage``)."""

    SAMPLE = "sample"  # samples generated, of prompts x n
    DISTILL = "distill"  # optimizer steps, of the trainer's max_steps
    EVALUATE = "evaluate"  # a sequential test's problems judged, both arms (a round's gate or a re-evaluation)


class RoundKind(TextEnum):
    SSD = "ssd"  # sample + distill
    SUBMIT = "submit"  # an adapter brought by the user, through the gate
    SUBMIT_SKIP_GATE = "submit-skip-gate"  # the operator's override: promoted whatever the gate says


# health_drift: the sample stage's lineage check found the champion's samples drifted (paused, or warned).
EventKind = Literal[
    "promotion",
    "rejection",
    "rollback",
    "restart",
    "error",
    "submit",
    "backoff",
    "audit",
    "reevaluation",
    "health_drift",
]
ControlCommand = Literal["pause", "resume", "round-now", "rollback", "submit", "reevaluate-now"]


class StateError(RuntimeError):
    """The state database is unusable (unknown schema, unwritable, corrupt) or a write it
    refuses (an adapter-state move the lifecycle does not have)."""


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class EnumText(TypeDecorator[TextEnum]):
    """A TextEnum stored as its text value (the column stays VARCHAR, as in schema version 1)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[TextEnum]):
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        try:
            return str(self.enum(value).value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a valid {self.enum.__name__}: expected one of {[e.value for e in self.enum]}"
            ) from None

    def process_result_value(self, value: Any, dialect: Any) -> TextEnum | None:
        return None if value is None else self.enum(value)


class RoundRow(SQLModel, table=True):
    __tablename__ = "rounds"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)  # "r1", "r2", ... (its folder under runs/)
    kind: str = RoundKind.SSD  # a RoundKind value
    parent: str | None = None  # champion version at the start (None: the base model)
    candidate: str | None = None
    stage: RoundStage = Field(default=RoundStage.PREPARE, sa_type=EnumText(RoundStage))
    status: RoundStatus = Field(default=RoundStatus.RUNNING, sa_type=EnumText(RoundStatus))
    attempts: int = 0
    started_at: str = Field(default_factory=utcnow)
    stage_started_at: str = Field(default_factory=utcnow)
    finished_at: str | None = None
    decoding_json: str | None = None  # the one decoding both arms used
    champion_c: int | None = None
    champion_n: int | None = None
    candidate_c: int | None = None
    candidate_n: int | None = None
    champion_pass_at_1: float | None = None
    candidate_pass_at_1: float | None = None
    p_value: float | None = None
    alpha_level: float | None = None
    decision: str | None = None  # "promote" | "reject"
    reason: str | None = None
    error: str | None = None
    timings_json: str = "{}"

    @property
    def timings(self) -> dict[str, float]:
        timings: dict[str, float] = json.loads(self.timings_json or "{}")
        return timings


class AdapterRow(SQLModel, table=True):
    __tablename__ = "adapters"
    version: str = Field(primary_key=True)
    path: str
    content_hash: str
    parent: str | None = None
    source: str = "ssd"  # "ssd" or "submitted"
    # Written only through daemon.state.lifecycle (Store.set_adapter_state / set_champion).
    state: AdapterState = Field(default=AdapterState.CANDIDATE, sa_type=EnumText(AdapterState))
    round_name: str | None = None
    created_at: str = Field(default_factory=utcnow)
    since: str | None = None  # when it last became champion
    pass_at_1: float | None = None  # its gate-set pass@1 in the round that judged it
    audit_pass_at_1: float | None = None
    audit_n: int | None = None
    audit_problems: int | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    version: str | None = None
    round_name: str | None = None
    at: str = Field(default_factory=utcnow)
    reason: str = ""
    data_json: str = "{}"


class ControlRow(SQLModel, table=True):
    __tablename__ = "controls"
    id: int | None = Field(default=None, primary_key=True)
    command: str
    arg_json: str = "{}"
    created_at: str = Field(default_factory=utcnow)
    done_at: str | None = None
    ok: bool | None = None
    result: str | None = None


class KVRow(SQLModel, table=True):
    __tablename__ = "kv"
    key: str = Field(primary_key=True)
    value_json: str


class SequentialTestRow(SQLModel, table=True):
    """One sequential test (``policies.sequential_gate``): written with its plan before the
    first problem is evaluated, so a resumed test replays the same order, level and bounds.
    ``plan_json`` is None for a test that was not run (``skipped_reason`` says why)."""

    __tablename__ = "sequential_tests"
    __table_args__ = (UniqueConstraint("name", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)  # the round's name, or the re-evaluation's id
    kind: SequentialKind = Field(sa_type=EnumText(SequentialKind))
    reference: str | None = None  # the reference arm's version (None: the base model)
    challenger: str | None = None
    decoding_json: str | None = None  # the one decoding both arms use (EvalProvenance)
    plan_json: str | None = None  # policies.sequential.SequentialPlan
    skipped_reason: str | None = None
    created_at: str = Field(default_factory=utcnow)
    decided_at: str | None = None
    outcome: str | None = None  # efficacy | futility | exhausted | not_run | abandoned
    summary_json: str | None = None  # policies.sequential_gate.TestSummary of the decision


class PairResultRow(SQLModel, table=True):
    """One problem's committed result in a sequential test: c of n passed per arm."""

    __tablename__ = "pair_results"
    __table_args__ = (UniqueConstraint("test_name", "kind", "problem_id"),)
    id: int | None = Field(default=None, primary_key=True)
    test_name: str = Field(index=True)  # SequentialTestRow.name
    kind: SequentialKind = Field(sa_type=EnumText(SequentialKind))
    problem_id: str
    n: int
    reference_c: int
    challenger_c: int
    committed_at: str = Field(default_factory=utcnow)


def utcnow_ms() -> str:
    """``utcnow`` to the millisecond: a rate over a short stage needs more than whole seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StageProgressRow(SQLModel, table=True):
    """One stage's progress in one run of it (``daemon.rounds.progress`` writes it at a
    bounded rate). ``name`` is the round's name, or the re-evaluation test's for its
    ``evaluate`` row. A resumed stage rewrites its row: ``started_at`` is this attempt's start
    and ``start_done`` what earlier attempts had already done, so the rate counts this
    attempt's work only."""

    __tablename__ = "stage_progress"
    __table_args__ = (UniqueConstraint("name", "stage"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    stage: ProgressStage = Field(sa_type=EnumText(ProgressStage))
    unit: str  # "samples" | "steps" | "problems" (evaluate: problem-arms, both arms together)
    done: int = 0
    total: int | None = None  # None until known (distill: the worker's first progress line)
    # The sequential test may stop early: its total is the most it may evaluate, not a promise.
    total_is_max: bool = False
    start_done: int = 0
    started_at: str = Field(default_factory=utcnow_ms)
    updated_at: str = Field(default_factory=utcnow_ms)
    finished_at: str | None = None
    loss: float | None = None  # distill: the latest training loss
    reference_done: int | None = None  # evaluate: problems the reference arm judged
    challenger_done: int | None = None
    arm_total: int | None = None  # evaluate: the test's limit, per arm
