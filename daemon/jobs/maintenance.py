"""The daemon's light upkeep: the disk sweep, the local control channel and the heartbeat.

- ``disk_sweep``: deletes adapter folders ``policies.disk_retention`` no longer keeps (the
  ``retention:`` config section: rejected / former / rolled-back versions, never the
  champion's lineage or a pinned one) and the samples files of old rounds.
- ``Controls``: requests the local CLI queued in the state database (``ssdd pause`` ...).
- ``heartbeat``: the daemon's liveness record in ``kv.daemon`` and the systemd watchdog ping.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from daemon.config import DaemonConfig
from daemon.serving.adapter_registry import AdapterRegistry
from daemon.state import AdapterState, RoundStatus, Store, utcnow
from policies.disk_retention import DiskRetentionConfig, StoredAdapter, plan_disk_retention

log = structlog.get_logger(__name__)

DAEMON_KEY = "daemon"


def disk_sweep(cfg: DaemonConfig, store: Store, registry: AdapterRegistry) -> None:
    """Adapter folders past ``retention.keep_*`` and old rounds' samples files go."""
    champion = store.champion()
    lineage = store.lineage(champion.version) if champion else []
    r = cfg.retention
    plan = plan_disk_retention(
        [StoredAdapter(version=x.version, state=x.state, created_at=x.created_at) for x in store.adapters()],
        DiskRetentionConfig(
            keep_rejected=r.keep_rejected, keep_former=r.keep_former, delete_rolled_back=r.delete_rolled_back
        ),
        protected=lineage + list(registry.snapshot().pinned),
    )
    for version in plan.delete:
        row = store.adapter(version)
        if row is None:
            continue
        shutil.rmtree(row.path, ignore_errors=True)
        store.set_adapter_state(version, AdapterState.DELETED)
        log.info("disk_sweep.deleted", version=version, path=row.path)
    done = [x for x in store.rounds() if x.status != RoundStatus.RUNNING][r.keep_round_files :]
    for x in done:
        for f in (cfg.rounds_dir / x.name).glob("*.samples.jsonl"):
            f.unlink(missing_ok=True)


@dataclass(frozen=True)
class Controls:
    """Answers the control requests of ``ssdd pause | resume | round-now | submit |
    reevaluate-now | rollback`` (queued in the ``controls`` table by ``daemon.cli``)."""

    store: Store
    resume_rounds: Callable[[], None]  # schedule a round now, after a pause
    round_now: Callable[[bool], None]  # new_round: a new round too, else only pending ones
    round_running: Callable[[], bool]
    reevaluate_now: Callable[[], None]
    rollback: Callable[[str | None], str]

    def poll(self) -> None:
        for c in self.store.pending_controls():
            arg = json.loads(c.arg_json or "{}")
            try:
                result = self.handle(c.command, arg)
                self.store.finish_control(c, True, result)
            except Exception as exc:
                self.store.finish_control(c, False, f"{type(exc).__name__}: {exc}")

    def handle(self, command: str, arg: dict[str, Any]) -> str:
        if command == "pause":
            self.store.set_kv("paused", True)
            return "paused: the running round stops after its current stage"
        if command == "resume":
            self.store.set_kv("paused", False)
            self.resume_rounds()
            return "resumed"
        if command in ("round-now", "submit"):
            self.round_now(command == "round-now")
            return "a round starts now" if not self.round_running() else "a round starts after the running one"
        if command == "reevaluate-now":
            self.reevaluate_now()
            return "re-evaluation queued"
        if command == "rollback":
            return f"rolled back; now serving {self.rollback(arg.get('version'))}"
        raise ValueError(f"unknown control command {command!r}")


def heartbeat(store: Store, next_round_at: str | None, endpoint: str, notify: Callable[[str], bool]) -> None:
    info = store.get_kv(DAEMON_KEY) or {}
    info.update(pid=os.getpid(), heartbeat_at=utcnow(), next_round_at=next_round_at, endpoint=endpoint)
    store.set_kv(DAEMON_KEY, info)
    notify("WATCHDOG=1")
