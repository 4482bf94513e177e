"""``ssdd run``: one process with the supervised vLLM server, the OpenAI endpoint and the
round scheduler, all on one config.

Start-up: open the state DB (schema checked) -> start or attach vLLM -> endpoint up with the
registry's adapters reloaded and probed -> reconcile DB, disk and the live server -> open the
sandbox -> scheduler (unfinished rounds resume first) -> systemd READY. SIGTERM and SIGINT
stop it within a bounded time: the scheduler stops taking work, the running stage is left at
its committed stage (it resumes on the next start), vLLM and every child stop.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any

import structlog

from daemon.config import DaemonConfig
from daemon.metrics import DaemonMetrics
from daemon.rounds import ProblemSets, RoundDeps, RoundInterrupted, RoundRunner, counts_of, round_seed
from daemon.scheduler import DaemonScheduler
from daemon.serving.serve import ServingStack
from daemon.state import RoundRow, StateError, Store, utcnow
from policies.disk_retention import DiskRetentionConfig, StoredAdapter, plan_disk_retention
from policies.rollback import ReevalLedger, decide_reevaluation, reevaluation_due
from policies.schedule import retry_delay

log = structlog.get_logger(__name__)

REEVAL_LEDGER = "reeval_ledger"
DAEMON_KEY = "daemon"


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


def build_sets(cfg: DaemonConfig) -> ProblemSets:
    from ssd.round import build_problem_sets
    from ssd.split import partition_heldout

    sets = build_problem_sets(cfg)
    part = partition_heldout(sets.heldout, cfg.heldout.audit_frac, cfg.heldout.calibration_frac, cfg.heldout.salt)
    if not part.gate:
        raise ValueError("the gate set is empty: lower heldout.audit_frac / calibration_frac or add held-out problems")
    return ProblemSets(train=sets.train, gate=part.gate, audit=part.audit, calibration=part.calibration)


def sandbox_image_id(cfg: DaemonConfig) -> str:
    if cfg.sandbox.backend != "docker":
        return cfg.sandbox.backend
    from sandbox.image import docker_client

    try:
        return str(docker_client().images.get(cfg.sandbox.image).id)
    except Exception as exc:  # provenance only: a missing image fails later, loudly
        return f"unknown ({type(exc).__name__})"


class Daemon:
    # Set by start(); stop() copes with a start that failed half way.
    stack: ServingStack
    sandbox: Any
    scheduler: DaemonScheduler
    deps: RoundDeps
    capture: Any = None  # daemon.serving.capture.PromptCapture when learning.capture is on

    def __init__(self, cfg: DaemonConfig):
        self.cfg = cfg
        self.store = Store(cfg.db_path)
        self._instance_lock = hold_instance_lock(cfg.db_path.with_name("ssdd.lock"))
        self.stopping = threading.Event()
        self.round_running = threading.Event()
        self.champion_lock = threading.RLock()  # promotion and rollback never interleave

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> Daemon:
        from daemon.serving.serve import open_vllm_server
        from sandbox import open_sandbox
        from ssd.model_store import resolve

        cfg = self.cfg
        sets = build_sets(cfg)
        model = resolve(cfg.data_dir, cfg.model)
        if cfg.gpu is not None:
            self._check_gpu_plan()
        serve_cfg = cfg.serve_config()
        server = open_vllm_server(serve_cfg)
        self.stack = ServingStack(
            server, cfg.endpoint, serve_cfg.resolved_state_path(), own_server=server.proc is not None
        )
        self.stack.start_in_thread()
        metrics = DaemonMetrics(self.stack.metrics.registry)
        # -- learning (issue 11): opt-in capture of the endpoint's prompts (learning.capture) --
        from daemon.prompt_ingest import start_capture

        self.capture = start_capture(cfg, self.store, self.stack, model.path, sets)
        self.sandbox = open_sandbox(cfg.sandbox)
        self.deps = RoundDeps(
            cfg=cfg,
            store=self.store,
            registry=self.stack.registry,
            sandbox=self.sandbox,
            model=model,
            sets=sets,
            metrics=metrics,
            stopping=self.stopping,
            paused=self.paused,
            sandbox_image=sandbox_image_id(cfg),
            vllm_version=self._vllm_version(),
            champion_lock=self.champion_lock,
        )
        self.reconcile()
        self.scheduler = DaemonScheduler(self)
        self.scheduler.start()
        self.store.set_kv(
            DAEMON_KEY,
            {"pid": os.getpid(), "started_at": utcnow(), "heartbeat_at": utcnow(), "endpoint": self.stack.url},
        )
        sd_notify("READY=1")
        log.info(
            "daemon.ready",
            endpoint=self.stack.url,
            train=len(sets.train),
            gate=len(sets.gate),
            audit=len(sets.audit),
            calibration=len(sets.calibration),
        )
        return self

    def _check_gpu_plan(self) -> None:
        from daemon.gpu import check_gpu_plan, device_memory_gib, visible

        cfg, plan = self.cfg, self.cfg.gpu
        assert plan is not None
        problems = check_gpu_plan(
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

    def _vllm_version(self) -> str:
        try:
            import httpx

            return str(httpx.get(self.stack.registry.server.base_url + "/version", timeout=5).json()["version"])
        except Exception:
            return "unknown"

    def paused(self) -> bool:
        return bool(self.store.get_kv("paused", False))

    # -- reconciliation ------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Make DB, disk and the live server agree after any stop, clean or not."""
        store, registry = self.store, self.stack.registry
        notes: list[str] = []
        for a in store.adapters(["candidate", "champion", "former", "rejected"]):
            if not Path(a.path).is_dir():
                store.set_adapter_state(a.version, "missing")
                notes.append(f"{a.version}: folder {a.path} missing, marked missing")
        notes += self._quarantine_orphans()
        champion = store.champion()
        want = champion.version if champion else None
        if registry.champion != want:
            try:
                if want is None:
                    registry.demote_to_base()
                else:
                    registry.promote(want, champion.path if champion else None)
                notes.append(f"endpoint switched to the recorded champion {want or 'base'}")
            except Exception as exc:
                fallback = registry.champion
                if fallback is not None and store.adapter(fallback) is None:
                    registry.demote_to_base()  # the registry's fallback is unknown to the DB
                    fallback = None
                store.set_champion(fallback)
                if champion is not None:
                    store.set_adapter_state(
                        champion.version, "missing" if not Path(champion.path).is_dir() else "former"
                    )
                notes.append(f"champion {want} failed to load ({exc}); serving {fallback or 'base'}")
                store.event("error", f"champion {want} failed to load at restart: {exc}", version=want)
        for row in store.running_rounds():
            notes.append(f"round {row.name} resumes at stage {row.stage}")
        store.event("restart", "; ".join(notes) or "clean start", version=registry.champion)
        log.info("daemon.reconciled", notes=notes)

    def _quarantine_orphans(self) -> list[str]:
        known = {Path(a.path).name for a in self.store.adapters()}
        running = {r.name for r in self.store.running_rounds()}
        root = self.cfg.adapters_dir
        notes: list[str] = []
        if not root.is_dir():
            return notes
        for d in root.iterdir():
            if d.name.startswith(".") or d.name in known or d.name in running:
                continue
            dest = self.cfg.daemon_dir / "quarantine" / f"{d.name}-{int(time.time())}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(d), dest)
            notes.append(f"orphan folder {d} quarantined to {dest}")
        return notes

    # -- jobs ----------------------------------------------------------------------------------
    def round_job(self, new_round: bool = True) -> None:
        """Unfinished rounds first (resumed, or submitted), then one new SSD round."""
        if self.stopping.is_set() or self.paused():
            log.info("round.skipped", stopping=self.stopping.is_set(), paused=self.paused())
            return
        if self._inference_server_down():  # nothing a round does works without it: wait, quietly
            wait_s = max(10.0, self.cfg.schedule.retry_backoff_s[0])
            self.scheduler.after_round = (wait_s, "the inference server is down; the round waits for it", new_round)
            return
        self.round_running.set()
        self.deps.metrics.round_running.set(1)
        try:
            closed_failed = False
            while not self.stopping.is_set() and not self.paused():
                pending = self.store.running_rounds()
                if not pending:
                    break
                closed_failed |= not self._run_one(pending[0])
            # After a round closed as failed the next one waits for the schedule (and its
            # back-off on failures) instead of starting into the same fault at once.
            if new_round and not closed_failed and not self.stopping.is_set() and not self.paused():
                self._run_one(self.store.add(RoundRow(name=self.store.next_round_name())))
            if not self.stopping.is_set() and self.scheduler.sched.get_job("round") is None:
                self.scheduler.schedule_next_round()
        except _RetryLater as retry:  # the retry finishes this round; the schedule says when a new one runs
            self.scheduler.after_round = (retry.delay_s, retry.reason, False)
        except RoundInterrupted as exc:
            log.info("round.interrupted", reason=str(exc))
        finally:
            self.round_running.clear()
            self.deps.metrics.round_running.set(0)
            structlog.contextvars.unbind_contextvars("round_id", "stage")

    def _run_one(self, row: RoundRow) -> bool:
        """Run or resume one round; False when it was closed as failed."""
        row.attempts += 1
        row = self.store.save(row)
        try:
            RoundRunner(self.deps).run(row)
        except RoundInterrupted:
            self._not_an_attempt(row)
            raise
        except Exception as exc:
            if self.stopping.is_set():  # e.g. vLLM stopped under a running request
                self._not_an_attempt(row)
                raise RoundInterrupted(f"stopping ({exc})") from exc
            # A stage that failed while the inference server was down (the supervisor is
            # restarting it) is retried without using up the round: the fault was not the round's.
            server_down = self._inference_server_down()
            if server_down:
                log.warning("round.failed", round_id=row.name, error=str(exc), server_down=True)
            else:
                log.exception("round.failed", round_id=row.name, attempt=row.attempts, error=str(exc))
            current = self.store_round(row.name)
            current.error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= self.cfg.schedule.max_attempts_per_round and not server_down:
                current.status, current.finished_at = "failed", utcnow()
                self.store.save(current)
                self.store.event(
                    "error",
                    f"round {row.name} failed at stage {current.stage} after {row.attempts} attempts: {current.error}",
                    round_name=row.name,
                    version=current.candidate,
                )
                self.deps.metrics.rounds.labels(decision="failed").inc()
                self._close_failed_candidate(current)
                return False
            self.store.save(current)
            if server_down:
                self._not_an_attempt(row)
            delay = retry_delay(row.attempts, self.cfg.schedule.retry_backoff_s)
            why = "the inference server is down: not counted, " if server_down else ""
            raise _RetryLater(
                delay,
                f"round {row.name} failed at {current.stage} (attempt {row.attempts}, {why}retry in {delay:.0f}s)",
            ) from exc
        return True

    def _inference_server_down(self) -> bool:
        if not self.stack.supervisor.is_up:  # down, or being restarted
            return True
        try:
            return not self.stack.registry.server.health(timeout_s=5.0)
        except RuntimeError:  # a server the supervisor has just killed: its client is closed
            return True

    def _not_an_attempt(self, row: RoundRow) -> None:
        """A stop, a pause or a server that was down is not a failed attempt."""
        current = self.store_round(row.name)
        self.store.save(current.model_copy(update={"attempts": max(0, current.attempts - 1)}))

    def _close_failed_candidate(self, row: RoundRow) -> None:
        from daemon.rounds import release

        if row.candidate and (a := self.store.adapter(row.candidate)) and a.state == "candidate":
            try:
                release(self.deps, row.candidate)
            except Exception as exc:
                log.warning("round.release_failed", error=str(exc))
            self.store.set_adapter_state(row.candidate, "rejected")

    def store_round(self, name: str) -> RoundRow:
        return next(r for r in self.store.rounds() if r.name == name)

    def reevaluate_job(self, forced: bool = False) -> None:
        """Champion vs its parent, both fresh, same run, same decoding; roll back on a
        significant regression (``policies.rollback.decide_reevaluation``)."""
        from daemon.rounds import release, served_name
        from ssd.evaluate import evaluate
        from ssd.split import problem_set_hash

        if self.stopping.is_set() or self.paused():
            return
        champion = self.store.champion()
        if champion is None:
            return
        since = champion.since or champion.created_at
        rounds_since = sum(1 for r in self.store.rounds() if r.status == "done" and (r.finished_at or "") > since)
        if not forced and not reevaluation_due(self.cfg.reevaluation, rounds_since):
            return
        structlog.contextvars.bind_contextvars(round_id=f"reeval-{champion.version}", stage="reevaluate")
        deps, ev_cfg = self.deps, self.cfg.evaluation
        n_done = len(self.store.events(1000, ["rollback", "reevaluation"]))
        ev = ev_cfg.model_copy(
            update={
                "t_eval": [ev_cfg.t_eval[0]],
                "seed": ev_cfg.seed + round_seed(f"reeval-{champion.version}-{n_done}"),
            }
        )
        reports = {}
        try:
            for label, version in (("parent", champion.parent), ("champion", champion.version)):
                name = served_name(deps, version)
                reports[label] = evaluate(
                    deps.base_url,
                    name,
                    deps.sets.gate,
                    deps.model.path,
                    deps.sandbox,
                    ev,
                    progress=False,
                    round_id=f"reeval-{champion.version}",
                )
            if champion.parent is not None and champion.parent != self.stack.registry.champion:
                release(deps, champion.parent)
            with self.champion_lock:
                if (self.store.champion() or champion).version != champion.version:
                    return  # the champion changed meanwhile (a promotion or manual rollback)
                t = ev.t_eval[0]
                from daemon.rounds import RoundRunner

                prov = RoundRunner(deps).provenance(ev, deps.sets.gate)
                ledger = ReevalLedger.model_validate(self.store.get_kv(REEVAL_LEDGER) or {})
                d = decide_reevaluation(
                    counts_of(reports["parent"], t),
                    counts_of(reports["champion"], t),
                    ledger,
                    self.cfg.reevaluation,
                    parent_provenance=prov,
                    champion_provenance=prov,
                    rounds_since_promotion=rounds_since if not forced else 10**6,
                )
                self.store.set_kv(REEVAL_LEDGER, d.ledger_after.model_dump(mode="json"))
                data = dict(
                    p_value=d.p_value,
                    alpha=d.alpha_level,
                    delta=d.delta,
                    problems=len(deps.sets.gate),
                    problem_set=problem_set_hash(deps.sets.gate),
                    parent_pass_at_1=reports["parent"].at(t).pass_at_k[1],
                    champion_pass_at_1=reports["champion"].at(t).pass_at_k[1],
                )
                if d.rollback:
                    self._rollback_to(champion.parent, f"re-evaluation: {d.reason}", result=data)
                else:
                    self.store.event("reevaluation", d.reason, version=champion.version, result=data)
        finally:
            structlog.contextvars.unbind_contextvars("round_id", "stage")

    def _rollback_to(self, target: str | None, reason: str, **data: Any) -> None:
        """Alias -> ``target`` (None: the base); the current champion is marked rolled back
        and is never promoted again."""
        with self.champion_lock:
            current = self.store.champion()
            if target is None:
                self.stack.registry.demote_to_base()
            else:
                t = self.store.adapter(target)
                if t is None or t.state in ("rolled_back", "rejected", "deleted", "missing"):
                    raise ValueError(f"cannot roll back to {target!r}: it is {t.state if t else 'unknown'}")
                self.stack.registry.promote(target, t.path)
            self.store.set_champion(target)
            if current is not None and current.version != target:
                self.store.set_adapter_state(current.version, "rolled_back")
            last = next((r.name for r in self.store.rounds(5) if r.status != "running"), None)
            self.store.event(
                "rollback",
                reason,
                version=current.version if current else None,
                round_name=last,
                to_version=target,
                **data,
            )
            self.deps.metrics.rollbacks.inc()
            log.warning("daemon.rollback", from_version=current.version if current else None, to_version=target)

    def rollback(self, version: str | None = None) -> str:
        current = self.store.champion()
        if current is None:
            raise ValueError("the base model serves: there is nothing to roll back")
        target = version if version is not None else current.parent
        if target == "base":
            target = None
        self._rollback_to(target, f"manual rollback (ssdd rollback) from {current.version} to {target or 'base'}")
        return target or "base"

    def retention_job(self, forced: bool = False) -> None:
        champion = self.store.champion()
        lineage = self.store.lineage(champion.version) if champion else []
        r = self.cfg.retention
        plan = plan_disk_retention(
            [StoredAdapter(version=x.version, state=x.state, created_at=x.created_at) for x in self.store.adapters()],
            DiskRetentionConfig(
                keep_rejected=r.keep_rejected, keep_former=r.keep_former, delete_rolled_back=r.delete_rolled_back
            ),
            protected=lineage + list(self.stack.registry.snapshot().pinned),
        )
        for version in plan.delete:
            row = self.store.adapter(version)
            if row is None:
                continue
            shutil.rmtree(row.path, ignore_errors=True)
            self.store.set_adapter_state(version, "deleted")
            log.info("retention.deleted", version=version, path=row.path)
        done = [x for x in self.store.rounds() if x.status != "running"][r.keep_round_files :]
        for x in done:
            for f in (self.cfg.rounds_dir / x.name).glob("*.samples.jsonl"):
                f.unlink(missing_ok=True)

    def control_job(self) -> None:
        for c in self.store.pending_controls():
            import json

            arg = json.loads(c.arg_json or "{}")
            try:
                result = self._control(c.command, arg)
                self.store.finish_control(c, True, result)
            except Exception as exc:
                self.store.finish_control(c, False, f"{type(exc).__name__}: {exc}")

    def _control(self, command: str, arg: dict) -> str:
        if command == "pause":
            self.store.set_kv("paused", True)
            return "paused: the running round stops after its current stage"
        if command == "resume":
            self.store.set_kv("paused", False)
            self.scheduler.schedule_round(0.0, reason="resumed")
            return "resumed"
        if command in ("round-now", "submit"):
            self.scheduler.run_now("round", new_round=command == "round-now")
            return "a round starts now" if not self.round_running.is_set() else "a round starts after the running one"
        if command == "reevaluate-now":
            self.scheduler.run_now("reevaluate")
            return "re-evaluation queued"
        if command == "rollback":
            return f"rolled back; now serving {self.rollback(arg.get('version'))}"
        raise ValueError(f"unknown control command {command!r}")

    def heartbeat_job(self) -> None:
        info = self.store.get_kv(DAEMON_KEY) or {}
        info.update(
            pid=os.getpid(),
            heartbeat_at=utcnow(),
            next_round_at=self.scheduler.next_round_at(),
            endpoint=self.stack.url,
        )
        self.store.set_kv(DAEMON_KEY, info)
        sd_notify("WATCHDOG=1")

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
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.shutdown()
        if getattr(self, "stack", None) is not None:
            self.stack.close()  # endpoint, supervisor, and vLLM when we started it
        if getattr(self, "capture", None) is not None:  # learning: store what is queued, then stop
            self.capture.close(timeout_s=5.0)
        if getattr(self, "sandbox", None) is not None:
            try:
                self.sandbox.close()
            except Exception as exc:
                log.warning("daemon.sandbox_close_failed", error=str(exc))
        log.info("daemon.stopped")


class _RetryLater(Exception):
    def __init__(self, delay_s: float, reason: str):
        super().__init__(reason)
        self.delay_s, self.reason = delay_s, reason


def run_daemon(cfg: DaemonConfig) -> None:
    """Blocks until SIGTERM/SIGINT; then stops within a bounded time and exits the process."""
    daemon = Daemon(cfg)
    done = threading.Event()

    def _on_signal(signum, _frame):
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
