"""Docker backend: a pool of warm, hardened containers; one `docker exec` of the harness per
program. A container is reused only when the harness reports it verifiably clean; after a
kill, a protocol error or any doubt it is replaced by a fresh one."""

from __future__ import annotations

import atexit
import json
import os
import queue
import socket
import struct
import threading
import time
import uuid
from collections.abc import Sequence

import structlog

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxUnavailable
from sandbox.image import check_image, docker_client
from sandbox.session import ChannelError, ChannelTimeout, LineChannel, Outcome, build_job, run_job, sandbox_error
from sandbox.tests_spec import Judgeable
from sandbox.verdict import Verdict

log = structlog.get_logger(__name__).bind(stage="sandbox")

LABEL = "ssd-sandbox"
POOL_LABEL = "ssd-sandbox.pool"
OWNER_LABEL = "ssd-sandbox.owner"
SANDBOX_UID = 65534
# The assert kind's judge (the test's process) runs as JUDGE_UID: the program's uid cannot
# ptrace, signal or read it, so it cannot reach the verdict pipe or the nonce.
JUDGE_UID = 65533
HARNESS_CMD = [
    "python3",
    "-I",
    "/opt/ssd/harness.py",
    "--uid",
    str(SANDBOX_UID),
    "--judge-uid",
    str(JUDGE_UID),
    "--sweep",
    "uid",
    "--workdir",
    "/tmp",
]
# Headroom over the program's address-space limit for init, the idle process and the harness.
HARNESS_MEMORY_MB = 64
MAX_RUNS_PER_CONTAINER = 500


def _process_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def owner_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start_time(pid)}"


def parse_owner(owner: str) -> tuple[str, int, str] | None:
    """``owner_id()``'s ``host:pid:start``, or None for a label that is not one."""
    try:
        host, pid, start = owner.rsplit(":", 2)
        return host, int(pid), start
    except ValueError:
        return None


def _owner_alive(owner: str) -> bool:
    parsed = parse_owner(owner)
    if parsed is None:
        return False
    host, pid, start = parsed
    if host != socket.gethostname():
        return True  # not ours to judge
    return _process_start_time(pid) == start


def reap_orphans(client) -> int:
    """Remove sandbox containers whose owning process is gone (e.g. it was SIGKILLed)."""
    removed = 0
    for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        if not _owner_alive(c.labels.get(OWNER_LABEL, "")):
            try:
                c.remove(force=True)
                removed += 1
            except Exception:  # noqa: BLE001 - another process may be removing it too
                pass
    if removed:
        log.info("reaped orphan sandbox containers", count=removed)
    return removed


class DockerChannel(LineChannel):
    """The demultiplexed stdout of one `docker exec` of the harness, with deadlines and caps."""

    def __init__(self, api, container_id: str):
        exec_id = api.exec_create(
            container_id, HARNESS_CMD, stdin=True, stdout=True, stderr=True, user="0", workdir="/"
        )["Id"]
        resp = api.exec_start(exec_id, socket=True)
        self._sock = getattr(resp, "_sock", resp)
        self._resp = resp
        self._buf = bytearray()
        self.stderr = bytearray()

    def send(self, data: bytes) -> None:
        try:
            self._sock.settimeout(30)
            self._sock.sendall(data)
        except OSError as exc:
            raise ChannelError(f"cannot write to the harness: {exc}") from exc

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        out = bytearray()
        while len(out) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout("harness did not answer in time")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(min(n - len(out), 1 << 20))
            except TimeoutError as exc:
                raise ChannelTimeout("harness did not answer in time") from exc
            except OSError as exc:
                raise ChannelError(f"harness stream broke: {exc}") from exc
            if not chunk:
                raise ChannelError("harness ended without a complete answer")
            out += chunk
        return bytes(out)

    def _fill(self, deadline: float, max_bytes: int) -> bytes:
        # Docker multiplexes the exec's stdout and stderr in frames: 8-byte header, payload.
        while True:
            stream, size = struct.unpack(">BxxxL", self._recv_exact(8, deadline))
            if size > max_bytes + (1 << 20):
                raise ChannelError("harness frame over the size limit")
            payload = self._recv_exact(size, deadline)
            if stream == 1:
                if payload:
                    return payload
            elif len(self.stderr) < 16384:
                self.stderr += payload[: 16384 - len(self.stderr)]

    def close(self) -> None:
        for closer in (self._sock.close, self._resp.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - already closed
                pass


class _Slot:
    """A pool slot: a container and the long-lived harness exec'd into it (None: make anew)."""

    def __init__(self) -> None:
        self.container_id: str | None = None
        self.channel: DockerChannel | None = None
        self.runs = 0


class DockerSandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.client = docker_client()
        check_image(self.client, config.image)
        self.pool_id = uuid.uuid4().hex[:12]
        self._owner = owner_id()
        self._closed = False
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Slot] = queue.Queue()
        reap_orphans(self.client)
        atexit.register(self.close)
        try:
            for _ in range(config.workers):
                slot = _Slot()
                self._start(slot)
                self._idle.put(slot)
        except Exception:
            self.close()
            raise
        log.info("docker sandbox ready", pool=self.pool_id, workers=config.workers, image=config.image)

    # --- containers -------------------------------------------------------------------------
    def _create_container(self) -> str:
        from docker.errors import DockerException
        from docker.types import LogConfig, Ulimit

        lim = self.config.limits
        mem = f"{lim.memory_mb + HARNESS_MEMORY_MB}m"
        fsize = lim.file_size_mb << 20
        try:
            container = self.client.containers.run(
                self.config.image,
                command=["sleep", "infinity"],
                detach=True,
                # The harness needs SETUID/SETGID to start the program as 65534 and the assert
                # kind's judge as 65533 (two uids: only root with CAP_SETUID can), KILL to kill
                # the program's leftovers; nothing else (sandbox/README.md).
                user="0:0",
                network_mode="none",
                ipc_mode="none",  # no /dev/shm to leave state in between programs
                read_only=True,
                tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={lim.tmpfs_mb}m,nr_inodes=16384,mode=1777"},
                pids_limit=lim.pids,
                mem_limit=mem,
                memswap_limit=mem,
                nano_cpus=int(lim.cpus * 1e9),
                cap_drop=["ALL"],
                cap_add=["SETUID", "SETGID", "KILL"],
                security_opt=["no-new-privileges"],
                init=True,
                ulimits=[
                    Ulimit(name="fsize", soft=fsize, hard=fsize),
                    Ulimit(name="nofile", soft=lim.open_files + 64, hard=lim.open_files + 64),
                    Ulimit(name="core", soft=0, hard=0),
                ],
                log_config=LogConfig(type="none"),
                labels={LABEL: "1", POOL_LABEL: self.pool_id, OWNER_LABEL: self._owner},
                hostname="sandbox",
                working_dir="/tmp",
                stop_signal="SIGKILL",
            )
        except DockerException as exc:
            raise SandboxUnavailable(f"cannot start a sandbox container from {self.config.image!r}: {exc}") from exc
        return container.id

    def _start(self, slot: _Slot) -> None:
        """Give the slot a fresh container with its harness running and ready."""
        slot.container_id = self._create_container()
        slot.runs = 0
        try:
            slot.channel = DockerChannel(self.client.api, slot.container_id)
            ready = json.loads(slot.channel.read_line(time.monotonic() + 60, 1 << 16))
            if ready.get("type") != "ready":
                raise ChannelError(f"harness did not start cleanly: {ready}")
        except Exception as exc:
            self._stop(slot)
            raise SandboxUnavailable(f"sandbox harness failed to start in {self.config.image!r}: {exc}") from exc

    def _stop(self, slot: _Slot) -> None:
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None
        if slot.container_id:
            try:
                self.client.api.remove_container(slot.container_id, force=True)
            except Exception as exc:  # noqa: BLE001 - already gone is fine; close() reaps by label
                log.warning("could not remove sandbox container", container=slot.container_id[:12], error=str(exc))
        slot.container_id = None

    # --- judging ------------------------------------------------------------------------------
    def judge(self, problem: Judgeable, program: str) -> Verdict:
        job = build_job(problem, program, self.config.limits)
        if self._closed:
            raise RuntimeError("sandbox is closed")
        slot = self._idle.get()
        reusable = False
        try:
            if slot.channel is None:
                try:
                    self._start(slot)
                except SandboxUnavailable as exc:
                    return sandbox_error(problem, str(exc))
            channel = slot.channel
            assert channel is not None  # _start sets it or raises
            outcome: Outcome = run_job(channel, problem, job, self.config.limits)
            if channel.stderr:
                log.warning(
                    "harness stderr",
                    problem_id=problem.id,
                    stderr=channel.stderr[:2000].decode("utf-8", "replace"),
                )
                channel.stderr.clear()
            slot.runs += 1
            reusable = outcome.reusable and slot.runs < MAX_RUNS_PER_CONTAINER
            return outcome.verdict
        finally:
            if not reusable:
                # Removing the container is also the hard outer kill of a hung harness.
                self._stop(slot)
                if not self._closed:
                    try:
                        self._start(slot)
                    except SandboxUnavailable as exc:
                        log.error("cannot replace sandbox container; retrying on next use", error=str(exc))
            self._idle.put(slot)

    def judge_many(self, jobs: Sequence[tuple[Judgeable, str]], progress: bool = False) -> list[Verdict]:
        from sandbox.parallel import judge_all

        return judge_all(self.judge, jobs, self.config.workers, progress)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        while True:
            try:
                self._stop(self._idle.get_nowait())
            except queue.Empty:
                break
        try:
            # Slots busy in other threads (or lost to errors) are removed by label.
            for c in self.client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={self.pool_id}"}):
                c.remove(force=True)
        except Exception as exc:  # noqa: BLE001 - engine gone: nothing left to clean
            log.warning("could not list sandbox containers at close", error=str(exc))

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
