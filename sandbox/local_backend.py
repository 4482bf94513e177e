"""Local backend (explicit opt-in): the same harness as Docker, run as a host subprocess.

Each program gets a fresh harness in its own session, a private temp work dir, and -- where
`unshare` is permitted -- private network and pid namespaces (the harness is pid 1 there, so
killing it kills everything the program started). When run as root the test children also drop
to uid 65534 with RLIMIT_NPROC. It does NOT isolate the filesystem: see sandbox/README.md.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import structlog

from sandbox.config import SandboxConfig
from sandbox.session import ChannelError, ChannelTimeout, LineChannel, build_job, run_job, sandbox_error
from sandbox.tests_spec import Judgeable
from sandbox.verdict import Verdict

log = structlog.get_logger(__name__).bind(stage="sandbox")

HARNESS = Path(__file__).resolve().parent / "harness.py"
SANDBOX_UID = 65534
JUDGE_UID = 65533  # the assert kind's judge: see docker_backend.JUDGE_UID
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def _world_executable(path: str) -> bool:
    """Whether another uid can run this interpreter (every directory on the way searchable)."""
    real = Path(os.path.realpath(path))
    try:
        if not real.stat().st_mode & 0o001:
            return False
        return all(p.stat().st_mode & 0o001 for p in real.parents)
    except OSError:
        return False


def _child_python() -> str | None:
    for cand in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if cand and _world_executable(cand):
            return cand
    return None


def _unshare_prefix() -> list[str] | None:
    prefix = list(UNSHARE)
    if os.geteuid() != 0:
        prefix += ["--user", "--map-root-user"]
    if shutil.which("unshare") is None:
        return None
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None


class LocalChannel(LineChannel):
    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are PIPEs
        self._stdin, self._stdout = self.proc.stdin, self.proc.stdout
        self._buf = bytearray()

    def send(self, data: bytes) -> None:
        try:
            self._stdin.write(data)
            self._stdin.flush()
        except OSError as exc:
            raise ChannelError(f"cannot write to the harness: {exc}") from exc

    def _fill(self, deadline: float, max_bytes: int) -> bytes:
        fd = self._stdout.fileno()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout("harness did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ChannelError("harness ended without a complete answer")
            return chunk

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self.proc.wait()


class LocalSandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self._prefix = _unshare_prefix()
        if self._prefix is None:
            log.warning(
                "unshare not permitted: local sandbox runs WITHOUT private network/pid namespaces; "
                "processes that leave the program's process group may survive a test"
            )
        self._python = sys.executable
        self._root = False
        if os.geteuid() == 0:
            # Drop test children to an unprivileged uid: that needs an interpreter it can run.
            python = _child_python()
            if python is None:
                log.warning("no world-executable python found: local sandbox children run as root")
            else:
                self._python, self._root = python, True
        log.info("local sandbox ready", namespaces=self._prefix is not None, drop_uid=self._root)

    def _command(self, workdir: str) -> list[str]:
        cmd = [sys.executable, "-I", str(HARNESS), "--workdir", workdir]
        cmd += ["--sweep", "pidns" if self._prefix else "pgroup"]
        if self._root:
            cmd += ["--uid", str(SANDBOX_UID), "--judge-uid", str(JUDGE_UID)]
            cmd += ["--nproc", str(self.config.limits.pids), "--python", self._python]
        return (self._prefix or []) + cmd

    def judge(self, problem: Judgeable, program: str) -> Verdict:
        job = build_job(problem, program, self.config.limits)
        workdir = tempfile.mkdtemp(prefix="ssd-sandbox-")
        try:
            if self._root:
                os.chown(workdir, SANDBOX_UID, SANDBOX_UID)
            channel = LocalChannel(self._command(workdir))
            try:
                ready = channel.read_line(time.monotonic() + 30, 1 << 16)
                if b'"ready"' not in ready:
                    raise ChannelError(f"harness did not start: {ready[:200]!r}")
                return run_job(channel, problem, job, self.config.limits).verdict
            except ChannelError as exc:
                return sandbox_error(problem, str(exc))
            finally:
                channel.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def judge_many(self, jobs: Sequence[tuple[Judgeable, str]], progress: bool = False) -> list[Verdict]:
        from sandbox.parallel import judge_all

        return judge_all(self.judge, jobs, self.config.workers, progress)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
