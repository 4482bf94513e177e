"""Purge and retention of captured prompts: from the DB and from every derived file.

A purge deletes the prompts' rows (and their use records), then removes every line that names
one of them from every JSONL file under the rounds folder (the round's prompt mix, its
samples, its training file, the traffic check's answers). Prompt ids are random 16-hex
strings, so "names one of them" is a plain substring test, which also catches a torn last
line. Files are rewritten atomically under the same ``flock`` the sampler holds while it
appends; a file being sampled into right now is left for later (its ids are kept in
``kv.learning_pending_scrub`` and retried at the next purge, retention sweep or round stage),
and a round never trains on a purged prompt anyway (``daemon.rounds.learning.without_purged``).

An adapter already trained on a prompt is not retrained: a purge removes text, not what a
past round learned from it (README, "Learning from your own prompts").
"""

from __future__ import annotations

import fcntl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import structlog
from pydantic import BaseModel, Field

from daemon.config import DaemonConfig
from daemon.learning.store import PURGE_GENERATION, PromptStore
from daemon.state import Store
from ssd.atomic_io import write_text_atomic

log = structlog.get_logger(__name__)

PENDING_SCRUB = "learning_pending_scrub"


class PurgeReport(BaseModel):
    prompts: int = 0  # rows deleted from the DB
    files: int = 0  # files rewritten
    lines: int = 0  # lines removed from them
    pending: list[str] = Field(default_factory=list)  # files busy now, scrubbed later
    # The WAL was checkpointed into the (securely zeroed) database file and truncated to zero
    # bytes; False: a reader held it past the busy timeout (the next purge checkpoints again).
    wal_truncated: bool = True

    def describe(self) -> str:
        text = f"purged {self.prompts} prompts from the DB and {self.lines} lines from {self.files} derived files"
        if self.pending:
            text += f"; {len(self.pending)} file(s) being written by a running round are scrubbed when it lets go"
        if not self.wal_truncated:
            text += "; the database's write-ahead log was busy and still holds deleted bytes until the next purge"
        return text


def scrub_file(path: Path, ids: set[str]) -> int | None:
    """Lines removed from ``path`` (0: none named an id), or None when the file is locked."""
    with path.open("rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        data = fh.read().decode("utf-8", errors="replace")
        lines = data.splitlines(keepends=True)
        kept = [line for line in lines if not any(i in line for i in ids)]
        if len(kept) != len(lines):
            write_text_atomic(path, "".join(kept))
        return len(lines) - len(kept)


def scrub_files(root: Path, ids: set[str]) -> PurgeReport:
    report = PurgeReport()
    if not ids or not root.is_dir():
        return report
    for path in sorted(root.rglob("*.jsonl")):
        removed = scrub_file(path, ids)
        if removed is None:
            report.pending.append(str(path))
        elif removed:
            report.files += 1
            report.lines += removed
    return report


def truncate_wal(store: Store, attempts: int = 3) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes, so the frames that
    still hold deleted rows (every insert left one) are gone from disk. TRUNCATE waits for
    readers up to the connection's busy timeout; True when it completed."""
    for _ in range(attempts):
        with store.engine.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if not busy:
            return True
    log.warning("prompts.wal_busy", db=str(store.path), attempts=attempts)
    return False


def purge(cfg: DaemonConfig, store: Store, ids: list[str]) -> PurgeReport:
    """Delete ``ids`` from the DB and scrub them (and any earlier pending ids) from the files."""
    pstore = PromptStore(store)
    pending = set(store.get_kv(PENDING_SCRUB) or [])
    deleted = pstore.delete(ids)
    store.set_kv(PURGE_GENERATION, int(store.get_kv(PURGE_GENERATION, 0) or 0) + 1)
    todo = set(ids) | pending
    report = scrub_files(cfg.rounds_dir, todo)
    store.set_kv(PENDING_SCRUB, sorted(todo) if report.pending else [])
    report.prompts = deleted
    # Last, after every write of the purge: the rows were deleted with secure_delete on, so the
    # checkpoint writes zeroed pages into the database file, and the truncation drops the old
    # WAL frames that still held the text.
    report.wal_truncated = truncate_wal(store)
    log.info(
        "prompts.purged",
        prompts=deleted,
        files=report.files,
        lines=report.lines,
        pending=len(report.pending),
        wal_truncated=report.wal_truncated,
    )
    return report


def retry_pending_scrub(cfg: DaemonConfig, store: Store) -> None:
    pending = set(store.get_kv(PENDING_SCRUB) or [])
    if pending:
        report = scrub_files(cfg.rounds_dir, pending)
        store.set_kv(PENDING_SCRUB, sorted(pending) if report.pending else [])


def cutoff(days: float, now: datetime | None = None) -> str:
    return ((now or datetime.now(timezone.utc)) - timedelta(days=days)).isoformat(timespec="seconds")


def enforce_prompt_limits(cfg: DaemonConfig, store: Store) -> PurgeReport:
    """Purge prompts past ``learning.retention`` (age or count); retry pending scrubs."""
    r = cfg.learning.retention
    ids = PromptStore(store).over_retention(r.max_prompts, cutoff(r.max_age_days))
    if not ids:
        retry_pending_scrub(cfg, store)
        return PurgeReport()
    return purge(cfg, store, ids)


def parse_before(text: str) -> str:
    """``--before`` (an ISO date or date-time; UTC unless it says otherwise) as the DB's format."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--before {text!r}: expected a date like 2026-05-01 or 2026-05-01T12:00:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")
