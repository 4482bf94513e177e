"""Child processes that die with their parent, and pidfiles that recognise them later.

``spawn(cmd)`` starts ``cmd`` in its own session (process group), so the whole group
(vLLM and its engine workers) can be signalled at once, with ``PR_SET_PDEATHSIG`` set: when
this process dies, even by SIGKILL, the kernel sends the child ``pdeathsig``. The signal is
set by a tiny exec shim (``python -m ssd.child_process``) rather than a ``preexec_fn``, which
is unsafe in a process with threads; the shim then ``exec``s the real command, so the child's
pid and ``/proc/PID/cmdline`` are the command's own. The kernel tracks the parent *thread*,
so the fork happens on one long-lived spawner thread, never on a short-lived worker thread.

The parent-death signal alone is not enough: a signal can arrive when the child cannot act on
it (vLLM swallows a SIGTERM that lands while its HTTP server starts up, and then runs on as an
orphan: reproduced). So ``spawn`` also starts a watchdog (``python -m ssd.child_process
--watch``), outside the child's group, that polls whether this process is still there; once it
is gone, the watchdog sends the child's whole group SIGTERM, again every 2 s, and SIGKILL after
``kill_after_s``. It exits by itself once the group is empty (e.g. after a normal ``stop``).

``ProcessRecord`` is what a pidfile holds (pid, process group, start time, command line).
``ProcessRecord.is_running()`` is true only for that very process: same pid, same start time
and same command line. Never a match by name, so a reused pid or someone else's server is
never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssd-child-spawner")


def _new_spawner_after_fork() -> None:
    # A forked child has no threads: the inherited executor's worker is gone and a submit
    # would wait for it forever.
    global _spawner
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssd-child-spawner")


os.register_at_fork(after_in_child=_new_spawner_after_fork)


def bound_command(cmd: list[str], pdeathsig: int = signal.SIGTERM) -> list[str]:
    """``cmd`` wrapped in the shim that sets the parent-death signal before it execs."""
    return [sys.executable, "-m", "ssd.child_process", str(int(pdeathsig)), str(os.getpid()), "--", *cmd]


def spawn(
    cmd: list[str], *, pdeathsig: int = signal.SIGTERM, kill_after_s: float = 15.0, **popen_kw
) -> subprocess.Popen:
    """Start ``cmd`` in a new session, bound to this process's life (see the module doc)."""
    popen_kw.setdefault("start_new_session", True)
    full = bound_command(cmd, pdeathsig)
    proc = _spawner.submit(lambda: subprocess.Popen(full, **popen_kw)).result()
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "ssd.child_process", "--watch", str(os.getpid()), str(proc.pid), str(kill_after_s)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    threading.Thread(target=watchdog.wait, name="ssd-child-watchdog-reaper", daemon=True).start()
    return proc


# -- /proc -------------------------------------------------------------------------------------
def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0")[:-1]] if raw else []


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after its last ")".
    return text[text.rindex(")") + 2 :].split()


def proc_start_ticks(pid: int) -> int | None:
    st = _proc_stat(pid)
    return int(st[19]) if st else None  # field 22: start time in clock ticks since boot


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _proc_stat(int(entry.name))
        if st and st[0] != "Z" and int(st[2]) == pgid:
            out.append(int(entry.name))
    return out


def group_alive(pgid: int) -> bool:
    """``group_members(pgid)`` is not empty, without scanning /proc while the group's leader
    lives (the watchdog asks 4 times a second for as long as vLLM runs: a scan costs ~10 ms
    per 100 processes on this machine, a read of the leader's stat ~0.05 ms)."""
    st = _proc_stat(pgid)
    if st and st[0] != "Z" and int(st[2]) == pgid:
        return True
    return bool(group_members(pgid))


def kill_group(pgid: int, grace_s: float = 10.0, proc: subprocess.Popen | None = None) -> bool:
    """SIGTERM the group, SIGKILL what is left after ``grace_s``; True once nobody is left.

    ``proc``, the group leader when it is our child, is reaped so it does not linger as a zombie.
    """

    def gone(deadline: float) -> bool:
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()
            if not group_alive(pgid):
                return True
            time.sleep(0.05)
        return not group_alive(pgid)

    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if sig == signal.SIGTERM and grace_s <= 0:
            continue
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            return False
        if gone(time.monotonic() + wait_s):
            return True
    return False


# -- pidfiles ----------------------------------------------------------------------------------
@dataclass
class ProcessRecord:
    pid: int
    pgid: int
    start_ticks: int | None
    cmdline: list[str]
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, pid: int, cmdline: list[str] | None = None, **extra) -> ProcessRecord:
        return cls(
            pid=pid,
            pgid=os.getpgid(pid),
            start_ticks=proc_start_ticks(pid),
            cmdline=list(cmdline) if cmdline is not None else (proc_cmdline(pid) or []),
            extra=extra,
        )

    def write(self, path: Path) -> None:
        from ssd.atomic_io import write_text_atomic

        write_text_atomic(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> ProcessRecord | None:
        """None when there is no pidfile or it is not one of ours (never an exception)."""
        try:
            data = json.loads(Path(path).read_text())
            rec = cls(
                pid=int(data["pid"]),
                pgid=int(data["pgid"]),
                start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
                cmdline=[str(a) for a in data["cmdline"]],
                extra=dict(data.get("extra") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return rec if rec.pid > 1 and rec.pgid > 1 and rec.cmdline else None

    def is_running(self) -> bool:
        """This very process is alive: pid, start time and full command line all match."""
        if proc_cmdline(self.pid) != self.cmdline:
            return False
        return self.start_ticks is None or proc_start_ticks(self.pid) == self.start_ticks


def _shim(argv: list[str]) -> None:
    """``python -m ssd.child_process SIG PARENT_PID -- cmd...``: set PDEATHSIG, then exec."""
    import ctypes

    sig, parent, sep, cmd = int(argv[0]), int(argv[1]), argv[2], argv[3:]
    if sep != "--" or not cmd:
        sys.exit("usage: python -m ssd.child_process SIG PARENT_PID -- command...")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)
    os.execvp(cmd[0], cmd)


def _watch(parent: int, pgid: int, kill_after_s: float) -> None:
    """``--watch PARENT PGID KILL_AFTER_S``: outlive ``parent``, then take group ``pgid`` down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:
        time.sleep(0.25)
        if not group_alive(pgid):
            return  # stopped normally, or exited on its own
    started = time.monotonic()
    while group_alive(pgid):
        late = time.monotonic() - started >= kill_after_s
        try:
            os.killpg(pgid, signal.SIGKILL if late else signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.2 if late else 2.0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--watch"]:
        _watch(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        _shim(sys.argv[1:])
