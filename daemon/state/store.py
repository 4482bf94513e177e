"""The daemon's persistent state: one SQLite file (WAL) through SQLModel (rows in
``daemon.state.tables``, adapter-state moves in ``daemon.state.lifecycle``).

Tables: ``rounds`` (one row a round, its stage and result), ``adapters`` (every version the
daemon knows, with its lineage and lifecycle state), ``events`` (promotions, rejections,
rollbacks, restarts, errors, with their reasons), ``controls`` (requests from the local CLI:
pause, resume, round-now, rollback, submit, reevaluate-now), and ``kv`` (small JSON values:
the schema version, the gate's error-budget ledgers, the pause flag).

Schema version 2 adds ``sequential_tests`` and ``pair_results`` (the sequential gate's plans
and per-problem results, ``daemon.rounds.gate_test``); version 3 adds ``stage_progress`` (a
running stage's progress, ``daemon.rounds.progress``).

Every write is its own committed transaction, so a stage transition is on disk before the
next stage starts. The schema is versioned: a version-1 or version-2 file is upgraded in place
(the upgrade only creates the tables it lacks, then records version 3; it is idempotent, so a
crash half-way through is finished by the next start); a file of any other version is refused
with a clear message, never rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel, create_engine, select

from daemon.state import lifecycle
from daemon.state.tables import (
    SCHEMA_VERSION,
    UPGRADABLE_FROM,
    AdapterRow,
    AdapterState,
    ControlCommand,
    ControlRow,
    EventKind,
    EventRow,
    KVRow,
    PairResultRow,
    RoundRow,
    RoundStatus,
    SequentialKind,
    SequentialTestRow,
    StageProgressRow,
    StateError,
    utcnow,
)
from ssd.file_modes import create_private_file

R = TypeVar("R", bound=SQLModel)
log = structlog.get_logger(__name__)


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
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        if self.path.parent.exists() and not os.access(self.path.parent, os.W_OK) and create:
            raise StateError(f"{self.path.parent} is not writable: the daemon cannot keep its state there")
        if create:
            # 0600 before SQLite opens it, whatever the umask: it holds captured prompts, and
            # SQLite gives the -wal / -shm files the database's own mode.
            try:
                create_private_file(self.path)
            except OSError as exc:
                raise StateError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
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
            if found in UPGRADABLE_FROM:
                self._upgrade(found)
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

    def _upgrade(self, found: int) -> None:
        """Version 1 or 2 -> 3: create the tables added since (``sequential_tests`` and
        ``pair_results`` in 2, ``stage_progress`` in 3) where missing; no existing table or row
        changes. The tables first, the version last: a crash in between leaves the old version
        with extra empty tables, which the next start upgrades the same way."""
        added = (SequentialTestRow, PairResultRow, StageProgressRow)
        new = [SQLModel.metadata.tables[t.__tablename__] for t in added]  # type: ignore[attr-defined]
        SQLModel.metadata.create_all(self.engine, tables=new)
        self.set_kv("schema_version", SCHEMA_VERSION)
        log.warning("state.schema_upgraded", path=str(self.path), from_version=found, to_version=SCHEMA_VERSION)

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
    def add(self, row: R) -> R:
        with self.session() as s:
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    def save(self, row: R) -> R:
        """Commit a changed row (merge: the row may come from another session). An adapter's
        state is not changed here: ``set_adapter_state`` checks the move."""
        with self.session() as s:
            _refuse_state_change(s, row)
            merged = s.merge(row)
            s.commit()
            s.refresh(merged)
            return merged

    def save_with_kv(self, row: R, key: str, value: Any) -> R:
        """Commit a row and a kv value in one transaction."""
        with self.session() as s:
            _refuse_state_change(s, row)
            merged = s.merge(row)
            kv = s.get(KVRow, key) or KVRow(key=key, value_json="null")
            kv.value_json = json.dumps(value)
            s.add(kv)
            s.commit()
            s.refresh(merged)
            return merged

    def save_all(self, rows: Sequence[SQLModel], kv: dict[str, Any] | None = None) -> None:
        """Commit several rows and kv values in one transaction (a decision, its test's row
        and the ledger it spent: all or nothing)."""
        with self.session() as s:
            for row in rows:
                _refuse_state_change(s, row)
                s.merge(row)
            for key, value in (kv or {}).items():
                kvrow = s.get(KVRow, key) or KVRow(key=key, value_json="null")
                kvrow.value_json = json.dumps(value)
                s.add(kvrow)
            s.commit()

    # -- sequential tests ----------------------------------------------------------------------
    def sequential_test(self, name: str, kind: SequentialKind | str) -> SequentialTestRow | None:
        with self.session() as s:
            q = select(SequentialTestRow).where(SequentialTestRow.name == name, SequentialTestRow.kind == kind)
            return s.exec(q).first()

    def sequential_tests(
        self, kind: SequentialKind | str | None = None, *, undecided: bool = False, limit: int | None = None
    ) -> list[SequentialTestRow]:
        """Tests newest first (``undecided``: only those not decided yet)."""
        with self.session() as s:
            q = select(SequentialTestRow).order_by(SequentialTestRow.id.desc())  # type: ignore[union-attr]
            if kind is not None:
                q = q.where(SequentialTestRow.kind == kind)
            if undecided:
                q = q.where(SequentialTestRow.decided_at == None)  # noqa: E711
            if limit:
                q = q.limit(limit)
            return list(s.exec(q))

    def pair_results(self, name: str, kind: SequentialKind | str) -> list[PairResultRow]:
        """A test's committed per-problem results, in commit order."""
        with self.session() as s:
            q = (
                select(PairResultRow)
                .where(PairResultRow.test_name == name, PairResultRow.kind == kind)
                .order_by(PairResultRow.id)  # type: ignore[arg-type]
            )
            return list(s.exec(q))

    def commit_pair_results(self, rows: Sequence[PairResultRow]) -> None:
        """One batch's results in one transaction: a batch is on disk whole or not at all. A
        problem committed twice for one test is refused (the unique key), naming it."""
        from sqlalchemy.exc import IntegrityError

        try:
            with self.session() as s:
                s.add_all(list(rows))
                s.commit()
        except IntegrityError as exc:
            ids = [r.problem_id for r in rows][:10]
            raise StateError(f"{self.path}: a problem of the batch {ids} is already committed for its test") from exc

    # -- stage progress ------------------------------------------------------------------------
    def save_progress(self, row: StageProgressRow) -> StageProgressRow:
        """Write a stage's progress, replacing the row of the same (name, stage): one row per
        stage, whatever the number of attempts (``id`` is looked up, never trusted)."""
        with self.session() as s:
            q = select(StageProgressRow).where(StageProgressRow.name == row.name, StageProgressRow.stage == row.stage)
            stored = s.exec(q).first()
            values = {k: getattr(row, k) for k in StageProgressRow.model_fields if k != "id"}
            if stored is None:
                stored = StageProgressRow(**values)
            else:
                for key, value in values.items():
                    setattr(stored, key, value)
            s.add(stored)
            s.commit()
            s.refresh(stored)
            return stored

    def progress(self, name: str) -> list[StageProgressRow]:
        """The progress rows of a round (or of a re-evaluation test), in the order written."""
        with self.session() as s:
            q = select(StageProgressRow).where(StageProgressRow.name == name).order_by(StageProgressRow.id)  # type: ignore[arg-type]
            return list(s.exec(q))

    def running_rounds(self) -> list[RoundRow]:
        """Unfinished rounds, oldest first (a resumed round goes before a new one)."""
        with self.session() as s:
            return list(s.exec(select(RoundRow).where(RoundRow.status == RoundStatus.RUNNING).order_by(RoundRow.id)))  # type: ignore[arg-type]

    def rounds(self, limit: int | None = None) -> list[RoundRow]:
        with self.session() as s:
            q = select(RoundRow).order_by(RoundRow.id.desc())  # type: ignore[union-attr]
            if limit:
                q = q.limit(limit)
            return list(s.exec(q))

    def unfinished_round(self) -> RoundRow | None:
        with self.session() as s:
            q = select(RoundRow).where(RoundRow.status == RoundStatus.RUNNING)
            return s.exec(q.order_by(RoundRow.id.desc())).first()  # type: ignore[union-attr]

    def next_round_name(self) -> str:
        with self.session() as s:
            last = s.exec(select(RoundRow).order_by(RoundRow.id.desc())).first()  # type: ignore[union-attr]
        return f"r{(last.id or 0) + 1}" if last else "r1"

    def recent_decisions(self, limit: int) -> list[str | None]:
        """Outcomes of the last finished rounds, newest first: promote, reject or failed."""
        out: list[str | None] = []
        for r in self.rounds(limit * 3):
            if r.status == RoundStatus.RUNNING or r.kind != "ssd":  # submissions say nothing of the recipe
                continue
            out.append(r.decision if r.status == RoundStatus.DONE else "failed")
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
        rows = self.adapters([AdapterState.CHAMPION])
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

    def set_champion(self, version: str | None, *, demote_to: AdapterState | str = AdapterState.FORMER) -> None:
        """Make ``version`` (None: the base) the only champion, in one transaction."""
        with self.session() as s:
            lifecycle.crown(s, version, demote_to)
            s.commit()

    def set_adapter_state(self, version: str, state: AdapterState | str, **fields: Any) -> None:
        """Move an adapter to ``state`` (a move ``lifecycle.TRANSITIONS`` has), setting
        ``fields`` on it in the same transaction."""
        with self.session() as s:
            lifecycle.apply(s, version, state, **fields)
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


def _refuse_state_change(session: Session, row: SQLModel) -> None:
    if isinstance(row, AdapterRow):
        stored = session.get(AdapterRow, row.version)
        if stored is not None and stored.state != row.state:
            raise StateError(
                f"adapter {row.version!r}: state {stored.state} -> {row.state} must go through "
                "Store.set_adapter_state (daemon.state.lifecycle)"
            )
