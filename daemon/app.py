"""``ssdd run``: the composition root. It builds the parts, starts and stops them, handles
signals and talks to systemd; every decision and every job lives elsewhere.

Start-up: open the state DB (schema checked) -> start or attach vLLM -> endpoint up with the
registry's adapters reloaded and probed -> reconcile DB, disk and the live server -> open the
sandbox -> scheduler (unfinished rounds resume first) -> systemd READY. SIGTERM and SIGINT
stop it within a bounded time: the scheduler stops taking work, the running stage is left at
its committed stage (it resumes on the next start), vLLM and every child stop.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import IO

import structlog

from daemon.config import DaemonConfig
from daemon.jobs.maintenance import DAEMON_KEY, Controls, disk_sweep, heartbeat
from daemon.jobs.reevaluate import Reevaluation
from daemon.jobs.scheduler import DaemonScheduler, Jobs
from daemon.metrics import DaemonMetrics
from daemon.reconcile import reconcile
from daemon.rounds.attempts import RoundAttempts
from daemon.rounds.context import ProblemSets, RoundDeps, build_sets, release
from daemon.rounds.progress import wants_bar
from daemon.rounds.runner import RoundRunner
from daemon.serving.capture import PromptCapture
from daemon.serving.serve import ServingStack
from daemon.state import StateError, Store, utcnow
from sandbox import Sandbox
from ssd.model_store import ModelInfo

log = structlog.get_logger(__name__)

__all__ = ["Daemon", "hold_instance_lock", "run_daemon", "sd_notify"]


def sd_notify(message: str) -> bool:
    """systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1); a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(message.encode())
    return True


def hold_instance_lock(path: Path) -> IO[str]:
    """One daemon per data_dir: a second one would interleave rounds in the same DB and folders.
    The kernel drops the lock when the process dies, however it dies."""
    fh = path.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise StateError(f"another ssdd run (pid {holder}) already uses {path.parent}; stop it first") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def sandbox_image_id(cfg: DaemonConfig) -> str:
    if cfg.sandbox.backend != "docker":
        return cfg.sandbox.backend
    from sandbox.image import docker_client

    try:
        return str(docker_client().images.get(cfg.sandbox.image).id)
    except Exception as exc:  # provenance only: a missing image fails later, loudly
        return f"unknown ({type(exc).__name__})"


def check_gpu_plan(cfg: DaemonConfig) -> None:
    from daemon.gpu import check_gpu_plan as check
    from daemon.gpu import device_memory_gib, visible

    plan = cfg.gpu
    assert plan is not None
    problems = check(
        plan.serve_devices,
        plan.train_devices,
        cfg.server.gpu_memory_utilization,
        plan.train_memory_gib,
        cfg.server.tensor_parallel_size,
        device_memory_gib(),
    )
    if problems:
        raise ValueError("the GPU plan does not fit: " + "; ".join(problems))
    # vLLM is started by this process and inherits this; the distillation worker gets its
    # own devices through its launcher (daemon.gpu.train_launcher).
    os.environ["CUDA_VISIBLE_DEVICES"] = visible(plan.serve_devices)


class Daemon:
    # Set by start(); stop() copes with a start that failed half way.
    stack: ServingStack | None = None
    sandbox: Sandbox | None = None
    scheduler: DaemonScheduler | None = None
    capture: PromptCapture | None = None  # when learning.capture is on
    deps: RoundDeps
    attempts: RoundAttempts
    reevaluation: Reevaluation

    def __init__(self, cfg: DaemonConfig):
        from ssd.file_modes import private_dir

        self.cfg = cfg
        # The daemon's folder (state DB, adapters, rounds, registry, vLLM's log) is entered by
        # its owner only, also when an older version created it 0755.
        try:
            private_dir(cfg.daemon_dir)
        except OSError as exc:  # a file where a folder should be, no permission: the user's to fix
            raise StateError(f"cannot create {cfg.daemon_dir}: {exc.strerror or exc}") from exc
        self.store = Store(cfg.db_path)
        self._instance_lock = hold_instance_lock(cfg.db_path.with_name("ssdd.lock"))
        self.stopping = threading.Event()
        self.champion_lock = threading.RLock()  # promotion and rollback never interleave

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> Daemon:
        from ssd.model_store import resolve

        cfg = self.cfg
        if cfg.endpoint.champion_file is not None:
            raise ValueError("endpoint.champion_file is for ssdd serve only: ssdd run promotes its own champions")
        sets = build_sets(cfg)
        model = resolve(cfg.data_dir, cfg.model)
        stack = self._start_serving(sets, model)
        self.deps = self._round_deps(stack, sets, model)
        self.attempts = RoundAttempts(
            self.store,
            cfg.schedule,
            self.deps.metrics,
            run_round=lambda row: RoundRunner(self.deps).run(row),
            server_down=self._inference_server_down,
            close_candidate=lambda version: release(self.deps, version),
            stopping=self.stopping,
            paused=self.paused,
        )
        self.reevaluation = Reevaluation(self.deps)
        self.reconcile()
        self.scheduler = self._start_jobs(stack)
        self.store.set_kv(
            DAEMON_KEY, {"pid": os.getpid(), "started_at": utcnow(), "heartbeat_at": utcnow(), "endpoint": stack.url}
        )
        sd_notify("READY=1")
        log.info(
            "daemon.ready",
            endpoint=stack.url,
            train=len(sets.train),
            gate=len(sets.gate),
            audit=len(sets.audit),
            calibration=len(sets.calibration),
        )
        return self

    def _start_serving(self, sets: ProblemSets, model: ModelInfo) -> ServingStack:
        from daemon.learning.ingest import open_capture
        from daemon.serving.metrics import ServeMetrics
        from daemon.serving.serve import open_vllm_server

        if self.cfg.gpu is not None:
            check_gpu_plan(self.cfg)
        serve_cfg = self.cfg.serve_config()
        server = open_vllm_server(serve_cfg)
        metrics = ServeMetrics()
        # -- learning (issue 11): opt-in capture of the endpoint's prompts (learning.capture) --
        self.capture = open_capture(self.cfg, self.store, metrics.registry, model.path, sets)
        self.stack = ServingStack(
            server,
            self.cfg.endpoint,
            serve_cfg.resolved_state_path(),
            own_server=server.proc is not None,
            metrics=metrics,
            capture=self.capture,
        )
        self.stack.start_in_thread()
        return self.stack

    def _round_deps(self, stack: ServingStack, sets: ProblemSets, model: ModelInfo) -> RoundDeps:
        from sandbox import open_sandbox

        cfg = self.cfg
        self.sandbox = open_sandbox(cfg.sandbox)
        return RoundDeps(
            cfg=cfg,
            store=self.store,
            registry=stack.registry,
            sandbox=self.sandbox,
            model=model,
            sets=sets,
            metrics=DaemonMetrics(stack.metrics.registry),
            stopping=self.stopping,
            paused=self.paused,
            sandbox_image=sandbox_image_id(cfg),
            vllm_version=self._vllm_version(stack),
            champion_lock=self.champion_lock,
            progress_bar=wants_bar(),
        )

    def _start_jobs(self, stack: ServingStack) -> DaemonScheduler:
        # The scheduler runs plain callables; those that steer it (controls, the heartbeat's
        # next-round time) get it through ``sched``, bound once it exists.
        sched: list[DaemonScheduler] = []

        def resume_rounds() -> None:
            sched[0].schedule_round(0.0, reason="resumed")

        controls = Controls(
            store=self.store,
            resume_rounds=resume_rounds,
            round_now=lambda new_round: sched[0].round_now(new_round=new_round),
            round_running=self.attempts.running.is_set,
            reevaluate_now=lambda: sched[0].reevaluate_now(),
            rollback=self.reevaluation.rollback,
        )
        jobs = Jobs(
            round=self.attempts.run_job,
            reevaluate=self.reevaluation.run,
            disk_sweep=lambda forced: disk_sweep(self.cfg, self.store, stack.registry),
            control=controls.poll,
            heartbeat=lambda: heartbeat(self.store, sched[0].next_round_at(), stack.url, sd_notify),
        )
        sched.append(DaemonScheduler(self.store, self.cfg.schedule, jobs, self.stopping, self.attempts.running))
        sched[0].start()
        return sched[0]

    @staticmethod
    def _vllm_version(stack: ServingStack) -> str:
        try:
            import httpx

            from ssd.vllm_auth import auth_headers  # vLLM wants its bearer token on every route but /health

            base = stack.registry.server.base_url
            return str(httpx.get(base + "/version", timeout=5, headers=auth_headers(base)).json()["version"])
        except Exception:
            return "unknown"

    def paused(self) -> bool:
        return bool(self.store.get_kv("paused", False))

    def _inference_server_down(self) -> bool:
        assert self.stack is not None
        if not self.stack.supervisor.is_up:  # down, or being restarted
            return True
        try:
            return not self.stack.registry.server.health(timeout_s=5.0)
        except RuntimeError:  # a server the supervisor has just killed: its client is closed
            return True

    # -- reconciliation ------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Make DB, disk and the live server agree after any stop (daemon.reconcile)."""
        reconcile(self.store, self.deps.registry, self.cfg.adapters_dir, self.cfg.daemon_dir / "quarantine")

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        sd_notify("STOPPING=1")
        log.info("daemon.stopping")
        # Recorded first: a stop cut short by its time bound still leaves the DB saying so.
        info = self.store.get_kv(DAEMON_KEY) or {}
        info.update(stopped_at=utcnow(), pid=None)
        self.store.set_kv(DAEMON_KEY, info)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.stack is not None:
            self.stack.close()  # endpoint, supervisor, and vLLM when we started it
        if self.capture is not None:  # learning: store what is queued, then stop
            self.capture.close(timeout_s=5.0)
        if self.sandbox is not None:
            try:
                self.sandbox.close()
            except Exception as exc:
                log.warning("daemon.sandbox_close_failed", error=str(exc))
        log.info("daemon.stopped")


def run_daemon(cfg: DaemonConfig) -> None:
    """Blocks until SIGTERM/SIGINT; then stops within a bounded time and exits the process."""
    daemon = Daemon(cfg)
    done = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.signal", signal=signal.Signals(signum).name)
        done.set()

    def _stop_overdue() -> None:
        # Stages are committed as they finish and children die with us (PDEATHSIG plus a
        # watchdog), so leaving now loses nothing; hanging past systemd's bound would get us
        # SIGKILLed anyway.
        log.warning("daemon.stop_overdue", bound_s=cfg.schedule.stop_timeout_s)
        os._exit(0)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        daemon.start()
        while not done.wait(1.0):
            pass
    finally:
        overdue = threading.Timer(cfg.schedule.stop_timeout_s, _stop_overdue)
        overdue.daemon = True
        overdue.start()
        daemon.stop()
        daemon.store.close()
    # A round thread may still be inside a long stage (its state is committed per stage, and
    # children die with us): do not wait for it.
    os._exit(0)
