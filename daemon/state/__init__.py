"""The daemon's persistent state: one SQLite file.

Owns: ``store`` (engine, pragmas, schema-version check, kv, every query), ``tables`` (the rows
and the enums their stage / status / state columns hold), ``lifecycle`` (the adapter-state
transition table: the only writer of ``AdapterRow.state``).

May import: ``sqlmodel`` / ``sqlalchemy`` and the standard library; nothing else of ours
(every other part of the daemon imports this package, never the other way round).
The names below are re-exported so callers write ``from daemon.state import Store``.
"""

from daemon.state.store import Store
from daemon.state.tables import (
    SCHEMA_VERSION,
    AdapterRow,
    AdapterState,
    ControlCommand,
    ControlRow,
    EventKind,
    EventRow,
    KVRow,
    PairResultRow,
    ProgressStage,
    RoundKind,
    RoundRow,
    RoundStage,
    RoundStatus,
    SequentialKind,
    SequentialTestRow,
    StageProgressRow,
    StateError,
    utcnow,
    utcnow_ms,
)

__all__ = [
    "SCHEMA_VERSION",
    "AdapterRow",
    "AdapterState",
    "ControlCommand",
    "ControlRow",
    "EventKind",
    "EventRow",
    "KVRow",
    "PairResultRow",
    "ProgressStage",
    "RoundKind",
    "RoundRow",
    "RoundStage",
    "RoundStatus",
    "SequentialTestRow",
    "StageProgressRow",
    "StateError",
    "Store",
    "SequentialKind",
    "utcnow",
    "utcnow_ms",
]
