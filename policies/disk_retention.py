"""Which adapter folders the daemon may delete from disk."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class StoredAdapter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    state: str  # candidate, champion, former, rolled_back, rejected, deleted, missing
    created_at: str  # ISO time: newer sorts later


class DiskRetentionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    keep_rejected: int = Field(3, ge=0)
    keep_former: int = Field(5, ge=1)
    delete_rolled_back: bool = True


class DiskPlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    delete: list[str]
    reason: str


def plan_disk_retention(
    adapters: Sequence[StoredAdapter], cfg: DiskRetentionConfig, protected: Sequence[str] = ()
) -> DiskPlan:
    """The champion, candidates (a round may still use them) and ``protected`` versions (the
    champion's lineage, pins) always stay. Of the rest, the newest ``keep_former`` former
    champions (rollback targets) and ``keep_rejected`` rejected candidates stay; rolled-back
    versions go when ``delete_rolled_back`` (they can never serve again)."""
    keep = set(protected)
    by_state: dict[str, list[StoredAdapter]] = {}
    for a in sorted(adapters, key=lambda a: a.created_at, reverse=True):
        by_state.setdefault(a.state, []).append(a)
    delete: list[str] = []
    for a in by_state.get("former", [])[cfg.keep_former :]:
        delete.append(a.version)
    for a in by_state.get("rejected", [])[cfg.keep_rejected :]:
        delete.append(a.version)
    if cfg.delete_rolled_back:
        delete += [a.version for a in by_state.get("rolled_back", [])]
    delete = [v for v in delete if v not in keep]
    return DiskPlan(
        delete=delete,
        reason=f"delete {len(delete)}: formers beyond {cfg.keep_former}, rejected "
        f"beyond {cfg.keep_rejected}" + (", rolled back" if cfg.delete_rolled_back else ""),
    )
