"""Captured prompts in the daemon's state database (the same SQLite file and ``Store``).

Tables (added to schema version 1: ``Store`` creates tables it lacks at every open, and
``PromptStore`` creates its own, so a version-1 file gains them without a migration):

- ``captured_prompts``: one row per captured or imported prompt. Kept prompts hold their
  redacted messages or text; dropped ones hold only why, when and from which key (no text).
  Never a response, never an API key (only its id, the first 12 hex digits of its sha256).
- ``prompt_uses``: which round trained on (``train``) or checked with (``check``) a prompt.
- ``round_learning``: per round, the mix it drew and its traffic check.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import LargeBinary, delete, func, text
from sqlalchemy import select as sa_select
from sqlmodel import Column, Field, SQLModel, select

from daemon.state import Store, utcnow


class CapturedPromptRow(SQLModel, table=True):
    __tablename__ = "captured_prompts"
    id: str = Field(primary_key=True)  # "cap-<hex>" (endpoint) or "imp-<hex>" (ssdd add-prompts)
    captured_at: str = Field(default_factory=utcnow, index=True)  # the request's time
    key_id: str = Field(index=True)  # "key:<sha256[:12]>", "anonymous", or "import"
    source: str = "capture"  # "capture" | "import"
    route: str = "chat"  # "chat" | "completions" | "import"
    kind: str = "chat"  # "chat": messages; "text": a completions prompt
    status: str = Field(default="kept", index=True)  # "kept" | "dropped"
    reason: str | None = None  # why it was dropped (curate.DROP_REASONS)
    detail: str | None = None
    messages_json: str | None = None  # kept chat prompts: the redacted messages up to the last user turn
    text: str | None = None  # kept prompts: redacted text without system turns (what a person reads)
    content_hash: str | None = Field(default=None, index=True)
    signature: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    tokens: int | None = None
    redactions: int = 0
    split: str | None = None  # kept prompts: "train" or "check" (the traffic check's held-out slice)

    @property
    def messages(self) -> list[dict[str, str]] | None:
        return json.loads(self.messages_json) if self.messages_json else None


class PromptUseRow(SQLModel, table=True):
    __tablename__ = "prompt_uses"
    id: int | None = Field(default=None, primary_key=True)
    prompt_id: str = Field(index=True)
    round_name: str = Field(index=True)
    role: str = "train"  # "train" | "check"


class RoundLearningRow(SQLModel, table=True):
    __tablename__ = "round_learning"
    round_name: str = Field(primary_key=True)
    mix_json: str | None = None
    traffic_json: str | None = None
    updated_at: str = Field(default_factory=utcnow)


PURGE_GENERATION = "learning_purge_generation"  # kv: bumped by every purge, so writers reload their indexes
TABLES = [CapturedPromptRow.__table__, PromptUseRow.__table__, RoundLearningRow.__table__]  # type: ignore[attr-defined]


def new_prompt_id(source: str) -> str:
    """Random, never reused (a purged id must not come back naming another prompt)."""
    return ("imp-" if source == "import" else "cap-") + uuid.uuid4().hex[:16]


class PromptStore:
    """Reads and writes of the prompt tables through a ``Store``'s engine."""

    def __init__(self, store: Store):
        self.store = store
        SQLModel.metadata.create_all(store.engine, tables=TABLES)

    # -- prompts --------------------------------------------------------------------------------
    def add(self, row: CapturedPromptRow) -> CapturedPromptRow:
        return self.store.add(row)

    def get(self, prompt_id: str) -> CapturedPromptRow | None:
        with self.store.session() as s:
            return s.get(CapturedPromptRow, prompt_id)

    def listing(
        self, *, status: str | None = None, key_id: str | None = None, limit: int | None = 50
    ) -> list[CapturedPromptRow]:
        """Newest first."""
        with self.store.session() as s:
            q = select(CapturedPromptRow).order_by(CapturedPromptRow.captured_at.desc(), CapturedPromptRow.id)  # type: ignore[attr-defined]
            if status:
                q = q.where(CapturedPromptRow.status == status)
            if key_id:
                q = q.where(CapturedPromptRow.key_id == key_id)
            if limit:
                q = q.limit(limit)
            return list(s.exec(q))

    def kept_index(self) -> list[tuple[str, str, bytes | None]]:
        """(id, content hash, signature) of every kept prompt, for the curator's indexes."""
        with self.store.session() as s:
            rows = s.exec(
                select(CapturedPromptRow.id, CapturedPromptRow.content_hash, CapturedPromptRow.signature).where(
                    CapturedPromptRow.status == "kept"
                )
            )
            return [(i, h or "", sig) for i, h, sig in rows]

    def kept(self, split: str) -> list[CapturedPromptRow]:
        """Kept prompts of one split, newest first."""
        with self.store.session() as s:
            q = (
                select(CapturedPromptRow)
                .where(CapturedPromptRow.status == "kept", CapturedPromptRow.split == split)
                .order_by(CapturedPromptRow.captured_at.desc(), CapturedPromptRow.id)  # type: ignore[attr-defined]
            )
            return list(s.exec(q))

    def drop(self, prompt_id: str, reason: str, detail: str = "") -> None:
        """Mark a kept prompt dropped and forget its text (e.g. found contaminated later)."""
        with self.store.session() as s:
            row = s.get(CapturedPromptRow, prompt_id)
            if row is None:
                return
            row.status, row.reason, row.detail = "dropped", reason, detail[:500]
            row.messages_json = row.text = None
            row.signature = None
            s.add(row)
            s.commit()

    def counts(self) -> dict[str, Any]:
        """Prompts by source and status: captured, imported, kept (per split), dropped (per reason)."""
        cols: list[Any] = [
            CapturedPromptRow.status,
            CapturedPromptRow.reason,
            CapturedPromptRow.split,
            CapturedPromptRow.source,
        ]
        q = sa_select(*cols, func.count()).group_by(*cols)
        dropped: Counter[str] = Counter()
        out = {"captured": 0, "imported": 0, "kept": 0, "kept_train": 0, "kept_check": 0}
        with self.store.session() as s:
            for status, reason, split, source, n in s.execute(q):
                out["imported" if source == "import" else "captured"] += n
                if status == "kept":
                    out["kept"] += n
                    out[f"kept_{split}"] = out.get(f"kept_{split}", 0) + n
                else:
                    dropped[reason or "unknown"] += n
        return {**out, "dropped": dict(dropped)}

    def window_counts(self, start: str | None, end: str | None) -> dict[str, int]:
        """Prompts captured or imported in [start, end): all, and kept."""
        with self.store.session() as s:
            q = select(CapturedPromptRow.status, func.count()).group_by(CapturedPromptRow.status)
            if start:
                q = q.where(CapturedPromptRow.captured_at >= start)
            if end:
                q = q.where(CapturedPromptRow.captured_at < end)
            by = dict(s.exec(q).all())
        return {"captured": int(sum(by.values())), "kept": int(by.get("kept", 0))}

    def ids_where(self, *, everything: bool = False, before: str | None = None, key_id: str | None = None) -> list[str]:
        with self.store.session() as s:
            q = select(CapturedPromptRow.id)
            if before is not None:
                q = q.where(CapturedPromptRow.captured_at < before)
            if key_id is not None:
                q = q.where(CapturedPromptRow.key_id == key_id)
            if before is None and key_id is None and not everything:
                return []
            return list(s.exec(q))

    def over_retention(self, max_prompts: int, oldest_allowed: str) -> list[str]:
        """Ids older than ``oldest_allowed`` or beyond the newest ``max_prompts``."""
        with self.store.session() as s:
            old = list(s.exec(select(CapturedPromptRow.id).where(CapturedPromptRow.captured_at < oldest_allowed)))
            extra = list(
                s.exec(
                    select(CapturedPromptRow.id)
                    .order_by(CapturedPromptRow.captured_at.desc(), CapturedPromptRow.id)  # type: ignore[attr-defined]
                    .offset(max_prompts)
                )
            )
        return sorted(set(old) | set(extra))

    def delete(self, ids: Sequence[str]) -> int:
        """Delete prompts and their use records in one transaction; returns rows deleted."""
        ids = list(ids)
        n = 0
        with self.store.session() as s:
            # Zero the deleted rows' bytes in the pages this connection writes: without it the
            # text stays in freed space of the database file after the WAL is checkpointed.
            # Per connection, so set on the one that deletes (harmless for its later use).
            s.exec(text("PRAGMA secure_delete=ON"))  # type: ignore[call-overload]
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                s.exec(delete(PromptUseRow).where(PromptUseRow.prompt_id.in_(chunk)))  # type: ignore[call-overload,attr-defined]
                res = s.exec(delete(CapturedPromptRow).where(CapturedPromptRow.id.in_(chunk)))  # type: ignore[call-overload,attr-defined]
                n += res.rowcount or 0
            s.commit()
        return n

    def existing(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        with self.store.session() as s:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                found.update(s.exec(select(CapturedPromptRow.id).where(CapturedPromptRow.id.in_(chunk))))  # type: ignore[attr-defined]
        return found

    # -- uses -----------------------------------------------------------------------------------
    def use_counts(self, role: str = "train") -> dict[str, int]:
        with self.store.session() as s:
            rows = s.exec(
                select(PromptUseRow.prompt_id, func.count())
                .where(PromptUseRow.role == role)
                .group_by(PromptUseRow.prompt_id)
            )
            return {pid: int(n) for pid, n in rows}

    def uses_of(self, prompt_id: str) -> list[PromptUseRow]:
        with self.store.session() as s:
            return list(s.exec(select(PromptUseRow).where(PromptUseRow.prompt_id == prompt_id)))

    def used_in_round(self, round_name: str, role: str = "train") -> int:
        with self.store.session() as s:
            return int(
                s.exec(
                    select(func.count()).where(PromptUseRow.round_name == round_name, PromptUseRow.role == role)
                ).one()
            )

    def record_round_mix(self, round_name: str, ids: Sequence[str], mix: dict[str, Any]) -> None:
        """The round's captured training prompts and its mix, in one transaction (idempotent)."""
        self._record_round_use(round_name, "train", ids, "mix_json", mix)

    def record_round_traffic(self, round_name: str, ids: Sequence[str], report: dict[str, Any]) -> None:
        """The prompts the round's traffic check answered and its report (idempotent)."""
        self._record_round_use(round_name, "check", ids, "traffic_json", report)

    def _record_round_use(
        self, round_name: str, role: str, ids: Sequence[str], field: str, payload: dict[str, Any]
    ) -> None:
        with self.store.session() as s:
            s.exec(delete(PromptUseRow).where(PromptUseRow.round_name == round_name, PromptUseRow.role == role))  # type: ignore[call-overload,arg-type]
            for pid in ids:
                s.add(PromptUseRow(prompt_id=pid, round_name=round_name, role=role))
            row = s.get(RoundLearningRow, round_name) or RoundLearningRow(round_name=round_name)
            setattr(row, field, json.dumps(payload))
            row.updated_at = utcnow()
            s.add(row)
            s.commit()

    def set_round_traffic(self, round_name: str, report: dict[str, Any]) -> None:
        with self.store.session() as s:
            row = s.get(RoundLearningRow, round_name) or RoundLearningRow(round_name=round_name)
            row.traffic_json, row.updated_at = json.dumps(report), utcnow()
            s.add(row)
            s.commit()

    def kept_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        with self.store.session() as s:
            for i in range(0, len(ids), 500):
                q = select(CapturedPromptRow.id).where(
                    CapturedPromptRow.id.in_(ids[i : i + 500]),  # type: ignore[attr-defined]
                    CapturedPromptRow.status == "kept",
                )
                found.update(s.exec(q))
        return found

    def round_learning(self, round_names: Sequence[str]) -> dict[str, RoundLearningRow]:
        with self.store.session() as s:
            rows = s.exec(select(RoundLearningRow).where(RoundLearningRow.round_name.in_(list(round_names))))  # type: ignore[attr-defined]
            return {r.round_name: r for r in rows}
