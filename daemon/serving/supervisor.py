"""Keeps the vLLM server behind the endpoint alive and its adapters loaded.

A background thread checks ``/health`` every ``health_interval_s``. A server we started that
exited, or that failed ``health_failures`` checks in a row (a hang: e.g. a stopped process
does not answer), is killed (its whole process group: vLLM's engine workers survive their
parent otherwise) and started again with the same command on the same port; then the
champion and pinned adapters are loaded and re-probed before the endpoint forwards requests
again. At most ``max_restarts`` restarts happen per ``restart_window_s``; after that the
supervisor gives up and stays down (``/health`` says why) until the window has room again.
An attached server is never restarted: it is marked down and polled until it answers, then
its adapters are reloaded. While not up, the endpoint answers 503 with Retry-After at once
instead of letting clients hang.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import structlog

from daemon.serving.adapter_registry import AdapterRegistry, RegistryError
from daemon.serving.config import EndpointConfig
from daemon.serving.metrics import ServeMetrics
from ssd.vllm_server import ServerError, VLLMServer

log = structlog.get_logger(__name__, stage="serve")

State = Literal["starting", "up", "down", "recovering", "stopped"]


class Supervisor:
    """Health checks, restarts within a budget, champion-file hand-over; see the module doc."""

    def __init__(
        self,
        registry: AdapterRegistry,
        config: EndpointConfig,
        metrics: ServeMetrics | None = None,
        *,
        champion_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.registry = registry
        self.config = config
        self.metrics = metrics
        self.champion_file = Path(champion_file) if champion_file else None
        self._state: State = "starting"
        self._reason = ""
        self._fails = 0
        self._restarts: deque[float] = deque()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self._seen_champion_file: tuple | None = None
        self.clock = clock  # what the restart window is measured with (tests move it)

    # -- state read by the endpoint on every request -----------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def is_up(self) -> bool:
        return self._state == "up"

    def _set_state(self, state: State, reason: str = "") -> None:
        with self._state_lock:
            if state != self._state:
                log.info("serve.state", state=state, previous=self._state, reason=reason)
            self._state, self._reason = state, reason
        if self.metrics is not None:
            self.metrics.vllm_up.set(1 if state == "up" else 0)

    def report_upstream_error(self) -> None:
        """The endpoint saw vLLM refuse a connection: check now instead of at the next tick."""
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load the persisted adapters (blocking), then supervise in a background thread."""
        self._recover("start")
        self._thread = threading.Thread(target=self._run, name="ssd-serve-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop supervising (a restart in progress is cancelled and its vLLM stopped)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._set_state("stopped")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.health_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception as exc:  # the supervisor must outlive any single failure
                log.exception("serve.supervisor_error", error=str(exc))

    # -- one check ---------------------------------------------------------------------------
    def tick(self) -> None:
        server = self.registry.server
        proc = server.proc
        owned = proc is not None
        exited = proc is not None and proc.poll() is not None
        healthy = False if exited else server.health(timeout_s=self.config.health_timeout_s)
        if not healthy and proc is not None and not exited:
            # It may have died while we asked (a check can take health_timeout_s): act on
            # this tick, not one interval later.
            exited = proc.poll() is not None
        if healthy:
            self._fails = 0
            if self._state != "up":
                self._recover("server answers again")
            else:
                self.registry.reap()
                self._watch_champion_file()
            return
        self._fails += 1
        if not exited and self._fails < self.config.health_failures:
            log.warning("serve.health_failed", fails=self._fails, of=self.config.health_failures)
            return
        reason = (
            f"vLLM exited with code {proc.returncode}"
            if proc is not None and exited
            else f"vLLM failed {self._fails} health checks in a row"
        )
        if owned and self.config.restart_policy == "always":
            self._restart(server, reason)
        else:
            self._set_state("down", reason)

    def _recover(self, why: str) -> None:
        self._set_state("recovering", why)
        if not self.registry.server.health(timeout_s=self.config.health_timeout_s):
            self._set_state("down", f"vLLM does not answer /health ({why})")
            return
        try:
            self.registry.reload_all()
        except Exception as exc:
            self._set_state("down", f"reloading adapters failed: {exc}")
            log.error("serve.recover_failed", error=str(exc))
            return
        self._set_state("up")
        if self.metrics is not None:
            self.metrics.set_champion(self.registry.champion)

    def _restart_budget_left(self) -> bool:
        now = self.clock()
        while self._restarts and now - self._restarts[0] > self.config.restart_window_s:
            self._restarts.popleft()
        return len(self._restarts) < self.config.max_restarts

    def _restart(self, old: VLLMServer, reason: str) -> None:
        if not self._restart_budget_left():
            why = (
                f"{reason}; not restarted: restart budget exhausted ({self.config.max_restarts} restarts "
                f"within {self.config.restart_window_s:.0f}s)"
            )
            if self._reason != why:
                log.error(
                    "serve.restart_budget_exhausted",
                    reason=reason,
                    max=self.config.max_restarts,
                    log_tail=old.log_tail(10),
                )
            self._set_state("down", why)
            return
        self._set_state("down", reason)
        self._restarts.append(self.clock())
        log.warning(
            "serve.vllm_restart", reason=reason, pid=old.proc.pid if old.proc else None, log_tail=old.log_tail(10)
        )
        old.kill()  # SIGKILL to the group: a hung (even stopped) server does not heed SIGTERM
        try:
            new = old.relaunch(cancel=self._stop)
        except ServerError as exc:
            log.error("serve.restart_failed", error=str(exc)[:2000])
            return
        if self.metrics is not None:
            self.metrics.restarts.inc()
        self.registry.set_server(new)
        self._fails = 0
        self._recover(f"restarted after: {reason}")

    def _watch_champion_file(self) -> None:
        """Promote what the daemon wrote to the champion file (cross-process hand-over)."""
        if self.champion_file is None or not self.champion_file.is_file():
            return
        try:
            st = self.champion_file.stat()
            key = (st.st_mtime_ns, st.st_size)
            if key == self._seen_champion_file:
                return
            self._seen_champion_file = key
            data = json.loads(self.champion_file.read_text())
            version, path = str(data["version"]), data.get("path")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("serve.champion_file_invalid", path=str(self.champion_file), error=str(exc))
            return
        if version == self.registry.champion:
            return
        try:
            self.registry.promote(version, path)
        except (RegistryError, ServerError) as exc:
            log.error("serve.promote_failed", version=version, error=str(exc))
