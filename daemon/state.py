"""The daemon's persistent state: one SQLite file (WAL) through SQLModel.

Tables: ``rounds`` (one row a round, its stage and result), ``adapters`` (every version the
daemon knows, with its lineage and lifecycle state), ``events`` (promotions, rejections,
rollbacks, restarts, errors, with their reasons), ``controls`` (requests from the local CLI:
pause, resume, round-now, rollback, submit, reevaluate-now), and ``kv`` (small JSON values:
the schema version, the gate's error-budget ledgers, the pause flag).

Every write is its own committed transaction, so a stage transition is on disk before the
next stage starts. The schema is versioned: a file written by another schema version is
refused with a clear message, never rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.exc import DatabaseError
from sqlmodel import Field, Session, SQLModel, create_engine, select

SCHEMA_VERSION = 1

AdapterState = Literal["candidate", "champion", "former", "rolled_back", "rejected", "deleted", "missing"]
EventKind = Literal[
    "promotion", "rejection", "rollback", "restart", "error", "submit", "backoff", "audit", "reevaluation"
]
RoundStage = Literal["prepare", "sample", "distill", "evaluate", "decide", "promote", "done"]
RoundStatus = Literal["running", "done", "failed"]
ControlCommand = Literal["pause", "resume", "round-now", "rollback", "submit", "reevaluate-now"]


class StateError(RuntimeError):
    """The state database is unusable: unknown schema, unwritable, corrupt."""


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RoundRow(SQLModel, table=True):
    __tablename__ = "rounds"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)  # "r1", "r2", ... (its folder under runs/)
    kind: str = "ssd"  # "ssd": sample + distill; "submit": an adapter brought by the user
    parent: str | None = None  # champion version at the start (None: the base model)
    candidate: str | None = None
    stage: str = "prepare"
    status: str = "running"
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
        return json.loads(self.timings_json or "{}")


class AdapterRow(SQLModel, table=True):
    __tablename__ = "adapters"
    version: str = Field(primary_key=True)
    path: str
    content_hash: str
    parent: str | None = None
    source: str = "ssd"  # "ssd" or "submitted"
    state: str = "candidate"
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


def _set_sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store:
    """All reads and writes of the state database. Thread-safe: one short session per call."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StateError(f"{self.path}: no state database (the daemon has not run with this data_dir yet)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        if self.path.parent.exists() and not os.access(self.path.parent, os.W_OK) and create:
            raise StateError(f"{self.path.parent} is not writable: the daemon cannot keep its state there")
        self.engine = create_engine(f"sqlite:///{self.path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _set_sqlite_pragmas)
        event.listen(self.engine, "handle_error", self._storage_error)
        try:
            self._check_schema(create)
        except DatabaseError as exc:
            raise StateError(f"{self.path}: not a usable SQLite database: {exc.orig}") from exc
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: not a usable SQLite database: {exc}") from exc

    def _storage_error(self, ctx: Any) -> None:
        """A full disk or a read-only file is the operator's to fix: say so plainly. SQLite has
        rolled the transaction back, so nothing stored before is lost."""
        msg = str(ctx.original_exception)
        if "disk is full" in msg or "readonly" in msg or "disk I/O error" in msg:
            try:
                free = shutil.disk_usage(self.path.parent).free
            except OSError:
                free = -1
            raise StateError(
                f"{self.path}: cannot write the state database ({msg}; {free} bytes free on its disk); "
                "nothing was changed: free space or fix permissions, then the daemon goes on"
            ) from ctx.original_exception

    def _check_schema(self, create: bool) -> None:
        with self.engine.connect() as conn:
            tables = set(self.engine.dialect.get_table_names(conn))
        if "kv" in tables:
            found = self.get_kv("schema_version")
            if found != SCHEMA_VERSION:
                raise StateError(
                    f"{self.path}: state schema version {found!r}, this ssdd understands {SCHEMA_VERSION}; "
                    "refusing to touch it (run the ssdd version that wrote it, or move the file away)"
                )
            SQLModel.metadata.create_all(self.engine)  # tables added later in the same version
            return
        if tables:
            raise StateError(
                f"{self.path}: a database without ssdd's schema marker (tables {sorted(tables)}); refusing to touch it"
            )
        if not create:
            raise StateError(f"{self.path}: empty state database")
        SQLModel.metadata.create_all(self.engine)
        self.set_kv("schema_version", SCHEMA_VERSION)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- kv -----------------------------------------------------------------------------------
    def get_kv(self, key: str, default: Any = None) -> Any:
        with self.session() as s:
            row = s.get(KVRow, key)
            return json.loads(row.value_json) if row is not None else default

    def set_kv(self, key: str, value: Any) -> None:
        with self.session() as s:
            row = s.get(KVRow, key) or KVRow(key=key, value_json="null")
            row.value_json = json.dumps(value)
            s.add(row)
            s.commit()

    # -- rounds --------------------------------------------------------------------------------
    def add(self, row: SQLModel) -> Any:
        with self.session() as s:
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    def save(self, row: SQLModel) -> Any:
        """Commit a changed row (merge: the row may come from another session)."""
        with self.session() as s:
            merged = s.merge(row)
            s.commit()
            s.refresh(merged)
            return merged

    def save_with_kv(self, row: SQLModel, key: str, value: Any) -> Any:
        """Commit a row and a kv value in one transaction."""
        with self.session() as s:
            merged = s.merge(row)
            kv = s.get(KVRow, key) or KVRow(key=key, value_json="null")
            kv.value_json = json.dumps(value)
            s.add(kv)
            s.commit()
            s.refresh(merged)
            return merged

    def running_rounds(self) -> list[RoundRow]:
        """Unfinished rounds, oldest first (a resumed round goes before a new one)."""
        with self.session() as s:
            return list(s.exec(select(RoundRow).where(RoundRow.status == "running").order_by(RoundRow.id)))  # type: ignore[arg-type]

    def rounds(self, limit: int | None = None) -> list[RoundRow]:
        with self.session() as s:
            q = select(RoundRow).order_by(RoundRow.id.desc())  # type: ignore[union-attr]
            if limit:
                q = q.limit(limit)
            return list(s.exec(q))

    def unfinished_round(self) -> RoundRow | None:
        with self.session() as s:
            return s.exec(select(RoundRow).where(RoundRow.status == "running").order_by(RoundRow.id.desc())).first()  # type: ignore[union-attr]

    def next_round_name(self) -> str:
        with self.session() as s:
            last = s.exec(select(RoundRow).order_by(RoundRow.id.desc())).first()  # type: ignore[union-attr]
        return f"r{(last.id or 0) + 1}" if last else "r1"

    def recent_decisions(self, limit: int) -> list[str | None]:
        """Outcomes of the last finished rounds, newest first: promote, reject or failed."""
        out: list[str | None] = []
        for r in self.rounds(limit * 3):
            if r.status == "running" or r.kind != "ssd":  # submissions say nothing of the recipe
                continue
            out.append(r.decision if r.status == "done" else "failed")
            if len(out) >= limit:
                break
        return out

    # -- adapters ------------------------------------------------------------------------------
    def adapter(self, version: str) -> AdapterRow | None:
        with self.session() as s:
            return s.get(AdapterRow, version)

    def adapters(self, states: Sequence[str] | None = None) -> list[AdapterRow]:
        with self.session() as s:
            q = select(AdapterRow).order_by(AdapterRow.created_at)
            if states:
                q = q.where(AdapterRow.state.in_(list(states)))  # type: ignore[attr-defined]
            return list(s.exec(q))

    def champion(self) -> AdapterRow | None:
        rows = self.adapters(["champion"])
        if len(rows) > 1:
            raise StateError(f"{self.path}: {len(rows)} adapters marked champion: {[r.version for r in rows]}")
        return rows[0] if rows else None

    def lineage(self, version: str, limit: int = 1000) -> list[str]:
        """Ancestors of ``version``, parent first (the base model is not listed)."""
        out: list[str] = []
        row = self.adapter(version)
        while row is not None and row.parent and len(out) < limit and row.parent not in out:
            out.append(row.parent)
            row = self.adapter(row.parent)
        return out

    def set_champion(self, version: str | None, *, demote_to: str = "former") -> None:
        """Make ``version`` (None: the base) the only champion, in one transaction."""
        with self.session() as s:
            for row in s.exec(select(AdapterRow).where(AdapterRow.state == "champion")):
                if row.version != version:
                    row.state = demote_to
                    s.add(row)
            if version is not None:
                new = s.get(AdapterRow, version)
                if new is None:
                    raise StateError(f"unknown adapter version {version!r}")
                row = new
                row.state = "champion"
                row.since = utcnow()
                s.add(row)
            s.commit()

    def set_adapter_state(self, version: str, state: str) -> None:
        with self.session() as s:
            row = s.get(AdapterRow, version)
            if row is None:
                raise StateError(f"unknown adapter version {version!r}")
            row.state = state
            s.add(row)
            s.commit()

    # -- events --------------------------------------------------------------------------------
    def event(
        self, kind: EventKind, reason: str, *, version: str | None = None, round_name: str | None = None, **data: Any
    ) -> EventRow:
        return self.add(
            EventRow(
                kind=kind,
                version=version,
                round_name=round_name,
                reason=reason,
                data_json=json.dumps(data, default=str),
            )
        )

    def events(self, limit: int = 50, kinds: Sequence[str] | None = None) -> list[EventRow]:
        with self.session() as s:
            q = select(EventRow).order_by(EventRow.id.desc())  # type: ignore[union-attr]
            if kinds:
                q = q.where(EventRow.kind.in_(list(kinds)))  # type: ignore[attr-defined]
            return list(s.exec(q.limit(limit)))

    # -- controls ------------------------------------------------------------------------------
    def request(self, command: ControlCommand, **arg: Any) -> ControlRow:
        return self.add(ControlRow(command=command, arg_json=json.dumps(arg)))

    def pending_controls(self) -> list[ControlRow]:
        with self.session() as s:
            return list(
                s.exec(
                    select(ControlRow)
                    .where(ControlRow.done_at == None)  # noqa: E711
                    .order_by(ControlRow.id)  # type: ignore[arg-type]
                )
            )

    def finish_control(self, row: ControlRow, ok: bool, result: str) -> None:
        row.done_at, row.ok, row.result = utcnow(), ok, result
        self.save(row)

    def control(self, control_id: int) -> ControlRow | None:
        with self.session() as s:
            return s.get(ControlRow, control_id)

    def iter_all(self) -> Iterator[SQLModel]:  # for reconciliation and tests
        with self.session() as s:
            for model in (RoundRow, AdapterRow, EventRow):
                yield from s.exec(select(model))
