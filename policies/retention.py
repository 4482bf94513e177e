"""Retention: which adapter versions stay loaded in the inference server and on disk."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field


class AdapterInfo(BaseModel):
    """One adapter version. `seq` orders versions by creation (e.g. round id): older = smaller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    seq: int
    loaded: bool = False
    on_disk: bool = True
    marked_bad: bool = False


class RetentionState(BaseModel):
    """What exists now. champion None means the base model serves (it needs no LoRA slot).
    champion_history lists earlier champions oldest first, excluding the current one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapters: list[AdapterInfo]
    champion: str | None = None
    champion_history: list[str] = Field(default_factory=list)
    in_flight: list[str] = Field(default_factory=list)
    pinned: list[str] = Field(default_factory=list)


class RetentionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The server's --max-loras: LoRA slots available at once.
    max_loras: int = Field(ge=1)
    # Disk budget in adapter versions; None = unlimited (only bad adapters get deleted).
    max_on_disk: int | None = Field(None, ge=1)
    # How many earlier good champions stay on disk as rollback targets.
    keep_rollback_chain: int = Field(2, ge=1)
    # Keep the rollback target loaded when a slot is free, so a rollback is instant.
    preload_rollback_target: bool = True
    # Bad adapters can never be promoted again; keeping them only costs space.
    delete_bad: bool = True


class RetentionPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    keep_loaded: list[str]
    load: list[str]
    unload: list[str]
    delete_from_disk: list[str]
    error: str | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.error is None


def _unique(seq: list[str]) -> list[str]:
    return list(dict.fromkeys(seq))


def _validate(state: RetentionState) -> dict[str, AdapterInfo]:
    dups = [v for v, k in Counter(a.version for a in state.adapters).items() if k > 1]
    if dups:
        raise ValueError(f"duplicate adapter versions in state: {sorted(dups)}")
    by_version = {a.version: a for a in state.adapters}
    refs = {
        "champion": [state.champion] if state.champion else [],
        "champion_history": state.champion_history,
        "in_flight": state.in_flight,
        "pinned": state.pinned,
    }
    for field, versions in refs.items():
        unknown = [v for v in versions if v not in by_version]
        if unknown:
            raise ValueError(f"{field} names unknown adapter versions {unknown}")
    return by_version


def _optional_loaded(
    state: RetentionState,
    cfg: RetentionConfig,
    by_version: dict[str, AdapterInfo],
    required: list[str],
    rollback_target: str | None,
) -> list[str]:
    """What else stays loaded in the free slots: the rollback target, then other loaded good
    adapters, newest first."""
    free = cfg.max_loras - len(required)
    optional: list[str] = []
    target = by_version[rollback_target] if rollback_target else None
    if cfg.preload_rollback_target and target and (target.on_disk or target.loaded):
        optional.append(target.version)
    others = sorted(
        (a for a in state.adapters if a.loaded and not a.marked_bad and a.version not in required),
        key=lambda a: a.seq,
        reverse=True,
    )
    optional += [a.version for a in others]
    return [v for v in _unique(optional) if v not in required][:free]


def _plan_disk(state: RetentionState, cfg: RetentionConfig, protected: set[str], errors: list[str]) -> list[str]:
    """Folders to delete: bad ones (if `delete_bad`), then the oldest unprotected ones until
    within `max_on_disk`. Appends to `errors` when the protected ones alone exceed it."""
    on_disk = sorted((a for a in state.adapters if a.on_disk), key=lambda a: a.seq)
    delete: list[str] = []
    if cfg.delete_bad:
        delete += [a.version for a in on_disk if a.marked_bad and a.version not in protected]
    if cfg.max_on_disk is not None:
        remaining = [a for a in on_disk if a.version not in delete]
        excess = len(remaining) - cfg.max_on_disk
        for a in remaining:  # oldest first
            if excess <= 0:
                break
            if a.version not in protected:
                delete.append(a.version)
                excess -= 1
        if excess > 0:
            n_protected = sum(1 for a in remaining if a.version in protected)
            errors.append(
                f"disk budget max_on_disk={cfg.max_on_disk} is below the {n_protected} protected "
                f"versions; kept them all"
            )
    return delete


def plan_retention(state: RetentionState, cfg: RetentionConfig) -> RetentionPlan:
    """Plan loads, unloads and deletions within `cfg.max_loras` slots and the disk budget.

    Must stay loaded: the champion, in-flight candidates, pinned versions. Then, while slots
    remain: the rollback target (most recent earlier champion not marked bad), then other
    already-loaded good adapters, newest first, so the oldest are evicted first. Bad adapters
    are unloaded unless pinned. When the must-stay set does not fit, nothing required is
    evicted: the plan carries an `error`, loads nothing, and only unloads optional adapters.
    On disk: everything kept loaded plus the rollback chain is protected; bad adapters are
    deleted (if `delete_bad`), then the oldest unprotected ones until within `max_on_disk`.
    """
    by_version = _validate(state)
    errors: list[str] = []
    notes: list[str] = []

    required = _unique(([state.champion] if state.champion else []) + state.in_flight + state.pinned)
    missing = [v for v in required if not by_version[v].loaded and not by_version[v].on_disk]
    if missing:
        errors.append(f"required adapters are neither loaded nor on disk: {missing}")

    good_history = [v for v in reversed(state.champion_history) if not by_version[v].marked_bad and v != state.champion]
    rollback_target = good_history[0] if good_history else None
    rollback_chain = good_history[: cfg.keep_rollback_chain]

    if len(required) > cfg.max_loras:
        errors.append(
            f"{len(required)} adapters must stay loaded (champion, in-flight, pinned: {required}) "
            f"but max_loras={cfg.max_loras}; nothing required was evicted"
        )
        keep_loaded = [v for v in required if by_version[v].loaded]
        load: list[str] = []
    else:
        keep_loaded = required + _optional_loaded(state, cfg, by_version, required, rollback_target)
        load = [v for v in keep_loaded if not by_version[v].loaded and by_version[v].on_disk]
    unload = [a.version for a in state.adapters if a.loaded and a.version not in keep_loaded]
    if unload:
        notes.append(f"unload {unload}")
    if load:
        notes.append(f"load {load}")
    delete = _plan_disk(state, cfg, set(required) | set(keep_loaded) | set(rollback_chain), errors)
    if delete:
        notes.append(f"delete from disk {delete}")

    error = "; ".join(errors) if errors else None
    summary = (
        f"champion={state.champion or 'base'}, rollback target={rollback_target or 'base'}, "
        f"slots {len(keep_loaded)}/{cfg.max_loras}"
    )
    reason = summary + ("; " + "; ".join(notes) if notes else "; no change")
    if error:
        reason = f"ERROR: {error}. {reason}"
    return RetentionPlan(
        keep_loaded=keep_loaded,
        load=load,
        unload=unload,
        delete_from_disk=delete,
        error=error,
        reason=reason,
    )
