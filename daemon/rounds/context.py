"""What a round works with (``RoundDeps``) and the small helpers every stage and job shares:
the round's seed, serving a version for a while (``served_name`` / ``release``) and the
provenance both arms of a comparison record."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.config import DaemonConfig
from daemon.metrics import DaemonMetrics
from daemon.rounds.errors import PermanentRoundError
from daemon.serving.adapter_registry import AdapterRegistry
from daemon.state import Store
from policies.provenance import EvalProvenance
from sandbox import Sandbox
from ssd.evaluate import EvalConfig, EvalReport, evaluate
from ssd.gate_eval import arm_provenance
from ssd.model_store import ModelInfo
from ssd.problem_sets import ProblemSets, build_problem_sets
from ssd.problems import Problem

__all__ = [
    "ProblemSets",
    "RoundDeps",
    "build_sets",
    "fault_point",
    "provenance",
    "release",
    "round_seed",
    "served_name",
]


@dataclass
class RoundDeps:
    """What a round works with; the daemon owns each of these for its whole life."""

    cfg: DaemonConfig
    store: Store
    registry: AdapterRegistry
    sandbox: Sandbox
    model: ModelInfo
    sets: ProblemSets
    metrics: DaemonMetrics
    stopping: threading.Event = field(default_factory=threading.Event)
    paused: Callable[[], bool] = lambda: False
    sandbox_image: str = "unknown"
    vllm_version: str = "unknown"
    champion_lock: threading.RLock = field(default_factory=threading.RLock)
    # One arm on one batch of the sequential gate (``ssd.gate_eval.evaluate_pair_batch`` calls
    # it): ``ssd.evaluate.evaluate`` (vLLM + sandbox); the fast tests replace it at that boundary.
    evaluate: Callable[..., EvalReport] = evaluate
    # ``ssdd run`` on a terminal: draw each stage's progress bar (journald gets the log lines).
    progress_bar: bool = False

    @property
    def base_url(self) -> str:
        return self.registry.server.base_url


def build_sets(cfg: DaemonConfig) -> ProblemSets:
    """The daemon's train / gate / audit / calibration sets from the config."""
    return build_problem_sets(cfg, cfg.heldout)


def fault_point(point: str, daemon_dir: Path) -> None:
    """Fault injection for the crash tests: with ``SSDD_FAULT_KILL_AT=<point>`` the daemon
    SIGKILLs itself once at that point: a stage's start; ``gate_arm``, between a gate batch's two
    arms; ``gate_batch``, right after the sequential gate committed a batch;
    ``promote_registry``, after the live swap and before the champion row. A marker file makes
    it once. The real kill cannot be timed into a stage that lasts milliseconds from outside."""
    import os
    import signal

    if os.environ.get("SSDD_FAULT_KILL_AT") != point:
        return
    marker = daemon_dir / f".fault-{point}"
    if marker.exists():
        return
    marker.write_text("killed once")
    os.kill(os.getpid(), signal.SIGKILL)


def round_seed(name: str) -> int:
    """Fresh seeds each round, reproducible from the round's name."""
    return int(hashlib.sha256(f"ssd-round\x00{name}".encode()).hexdigest()[:8], 16)


def served_name(deps: RoundDeps, version: str | None) -> str:
    """The vLLM model name of a version (None: the base), loading and probing it if needed.
    Versions other than the champion are pinned while a round uses them."""
    if version is None:
        return deps.registry.base_model
    snap = deps.registry.snapshot()
    entry = snap.adapters.get(version)
    if entry is None or not entry.loaded:
        row = deps.store.adapter(version)
        if row is None:
            raise PermanentRoundError(f"adapter {version!r} is not in the state database")
        deps.registry.pin(version, row.path)
        entry = deps.registry.snapshot().adapters[version]
    return entry.vllm_name


def release(deps: RoundDeps, version: str | None) -> None:
    """Undo ``served_name``'s pin; the registry then unloads what is no longer needed."""
    if version is not None and version in deps.registry.snapshot().pinned:
        deps.registry.unpin(version)


def provenance(deps: RoundDeps, ev: EvalConfig, problems: list[Problem]) -> EvalProvenance:
    """How an arm was evaluated: the gate refuses to compare arms whose provenance differs."""
    return arm_provenance(
        ev,
        sandbox_image=deps.sandbox_image,
        vllm_version=deps.vllm_version,
        model_hash=deps.model.content_hash,
        problems=problems,
    )
