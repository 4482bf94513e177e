"""The adapter-state transition table and the only code that writes ``AdapterRow.state``.

``Store.set_adapter_state`` and ``Store.set_champion`` call ``apply`` / ``crown`` inside
their own transaction; ``Store.save`` refuses a row whose state differs from the stored one,
so no other path can move an adapter between states.

Who moves what (each move names where it happens):

- candidate -> champion: a promotion (``rounds.runner``), a rollback target (``jobs.reevaluate``)
- candidate -> rejected: the gate said no, or the round was closed as failed (``rounds``)
- champion -> former: another version became champion (``crown``)
- champion -> former -> rolled_back: re-evaluation or ``ssdd rollback`` (``jobs.reevaluate``:
  the new champion is crowned first, then the old one marked)
- former -> champion: a rollback to it
- former / rejected / rolled_back -> deleted: the disk sweep (``jobs.maintenance``)
- any live state -> missing: its folder vanished (``app.reconcile``)
- champion -> former | missing: the recorded champion failed to load at restart (``app.reconcile``)

A move to the state it is already in is a no-op (a resumed stage repeats its write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from daemon.state.tables import AdapterRow, AdapterState, StateError, utcnow

S = AdapterState
TRANSITIONS: Mapping[AdapterState, frozenset[AdapterState]] = {
    S.CANDIDATE: frozenset({S.CHAMPION, S.REJECTED, S.MISSING}),
    S.CHAMPION: frozenset({S.FORMER, S.ROLLED_BACK, S.MISSING}),
    S.FORMER: frozenset({S.CHAMPION, S.ROLLED_BACK, S.DELETED, S.MISSING}),
    S.REJECTED: frozenset({S.DELETED, S.MISSING}),
    S.ROLLED_BACK: frozenset({S.DELETED, S.MISSING}),
    S.DELETED: frozenset(),
    S.MISSING: frozenset(),
}
# States a rollback may not return to: never promoted again, or not on disk.
NOT_A_ROLLBACK_TARGET = frozenset({S.ROLLED_BACK, S.REJECTED, S.DELETED, S.MISSING})
# States whose folder should exist (reconcile marks them missing when it does not).
ON_DISK = (S.CANDIDATE, S.CHAMPION, S.FORMER, S.REJECTED)


def check(version: str, current: AdapterState | str, to: AdapterState | str) -> AdapterState:
    """``to`` as an AdapterState when ``current -> to`` is a move the table has, else StateError."""
    try:
        src, dst = AdapterState(current), AdapterState(to)
    except ValueError as exc:
        raise StateError(f"adapter {version!r}: {exc}") from None
    if src != dst and dst not in TRANSITIONS[src]:
        allowed = sorted(s.value for s in TRANSITIONS[src]) or ["nothing"]
        raise StateError(f"adapter {version!r}: no move from {src.value} to {dst.value} (allowed: {allowed})")
    return dst


def apply(session: Session, version: str, to: AdapterState | str, **fields: Any) -> AdapterRow:
    """Move one adapter (and set ``fields`` on it) in the caller's transaction."""
    row = session.get(AdapterRow, version)
    if row is None:
        raise StateError(f"unknown adapter version {version!r}")
    row.state = check(version, row.state, to)
    for key, value in fields.items():
        setattr(row, key, value)
    session.add(row)
    return row


def crown(session: Session, version: str | None, demote_to: AdapterState | str = S.FORMER) -> None:
    """Make ``version`` (None: the base) the only champion; the others move to ``demote_to``."""
    for row in session.exec(select(AdapterRow).where(AdapterRow.state == S.CHAMPION)):
        if row.version != version:
            row.state = check(row.version, row.state, demote_to)
            session.add(row)
    if version is not None:
        apply(session, version, S.CHAMPION, since=utcnow())
