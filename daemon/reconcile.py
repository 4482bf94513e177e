"""Start-up reconciliation: make the state DB, the adapter folders and the live endpoint agree
after any stop, clean or not (docs/architecture.md, "Crash safety").

- a row whose folder vanished is marked ``missing``;
- a folder under ``adapters/`` the DB does not know (and no running round owns) is moved to
  ``quarantine/`` rather than deleted: it may be the only copy of something;
- the endpoint is switched to the recorded champion; if that no longer loads, the registry's
  own fallback (the newest former champion that loads, else the base) is recorded as champion,
  the old one marked ``former`` (or ``missing`` when its folder is gone), with an ``error`` event.

Owns no decision: it only makes the three places agree on what the DB already says.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import structlog

from daemon.serving.adapter_registry import AdapterRegistry
from daemon.state import AdapterState, Store
from daemon.state.lifecycle import ON_DISK

log = structlog.get_logger(__name__)


def reconcile(store: Store, registry: AdapterRegistry, adapters_dir: Path, quarantine_dir: Path) -> list[str]:
    """Reconcile and record a ``restart`` event; returns the notes it recorded."""
    notes: list[str] = []
    for a in store.adapters(ON_DISK):
        if not Path(a.path).is_dir():
            store.set_adapter_state(a.version, AdapterState.MISSING)
            notes.append(f"{a.version}: folder {a.path} missing, marked missing")
    notes += quarantine_orphans(store, adapters_dir, quarantine_dir)
    notes += serve_recorded_champion(store, registry)
    for row in store.running_rounds():
        notes.append(f"round {row.name} resumes at stage {row.stage}")
    store.event("restart", "; ".join(notes) or "clean start", version=registry.champion)
    log.info("daemon.reconciled", stage="reconcile", notes=notes)
    return notes


def serve_recorded_champion(store: Store, registry: AdapterRegistry) -> list[str]:
    champion = store.champion()
    want = champion.version if champion else None
    if registry.champion == want:
        return []
    try:
        if want is None:
            registry.demote_to_base()
        else:
            registry.promote(want, champion.path if champion else None)
        return [f"endpoint switched to the recorded champion {want or 'base'}"]
    except Exception as exc:  # any load failure: fall back, never stay without a champion
        fallback = registry.champion
        if fallback is not None and store.adapter(fallback) is None:
            registry.demote_to_base()  # the registry's fallback is unknown to the DB
            fallback = None
        store.set_champion(fallback)
        if champion is not None:
            gone = not Path(champion.path).is_dir()
            store.set_adapter_state(champion.version, AdapterState.MISSING if gone else AdapterState.FORMER)
        store.event("error", f"champion {want} failed to load at restart: {exc}", version=want)
        return [f"champion {want} failed to load ({exc}); serving {fallback or 'base'}"]


def quarantine_orphans(store: Store, adapters_dir: Path, quarantine_dir: Path) -> list[str]:
    known = {Path(a.path).name for a in store.adapters()}
    running = {r.name for r in store.running_rounds()}
    notes: list[str] = []
    if not adapters_dir.is_dir():
        return notes
    for d in adapters_dir.iterdir():
        if d.name.startswith(".") or d.name in known or d.name in running:
            continue
        dest = quarantine_dir / f"{d.name}-{int(time.time())}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(d), dest)
        notes.append(f"orphan folder {d} quarantined to {dest}")
    return notes
