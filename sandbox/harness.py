"""Supervisor that runs one program's tests, one child process per test (stdlib only).

Runs inside the sandbox container (as uid 0 with only CAP_SETUID/SETGID/KILL) or, for the
local backend, inside a private pid/net namespace. Each test's child drops to an unprivileged
uid, gets rlimits, and has its stdout/stderr captured through pipes read with caps. The harness
reports on its own stdout, which only the host reads; a child with another uid cannot reach
that stream (/proc/<harness>/fd needs ptrace access), so it cannot forge a report. An assert
test runs in a judge (a fork of this harness under --judge-uid) that calls the program's
functions in the program's child over two pipes; only the judge holds the test, the nonce and
the result pipe (see run_assert_test).

Protocol (stdin, from the host): messages framed as 8-byte big-endian length + JSON.
  1. header  {"mode", "program", "limits", "fn_name"?, "entry_point"?, "test"?}
  2. then repeatedly {"op": "run", "input": str} (stdio) / {"op": "run", "args": [...]} (call)
     / {"op": "run"} (assert), each answered by one record line; or {"op": "end"}.
  3. the next program's header, and so on until stdin ends.
Records (stdout): one JSON object per line: {"type": "ready"} once at start, then
{"type": "result", ...} per run and {"type": "end", "clean"} per program.
Expected outputs never come here: the harness returns raw output and the host compares.
"""

import argparse
import base64
import json
import os
import resource
import selectors
import signal
import struct
import sys
import time

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
OOM_CONTROL = "/sys/fs/cgroup/memory/memory.oom_control"
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        b = os.read(0, n - len(buf))
        if not b:
            return None
        buf += b
    return bytes(buf)


def read_message():
    head = read_exact(8)
    if head is None:
        return None
    (n,) = struct.unpack(">Q", head)
    body = read_exact(n)
    if body is None:
        return None
    return json.loads(body)


def emit(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        n = os.write(1, data)
        data = data[n:]


def oom_kills():
    try:
        with open(OOM_CONTROL) as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Sweeper:
    """Kills every process the program may have left behind and wipes the work dir.

    uid mode (container): a helper drops to the sandbox uid and kill(-1)s until nothing is left
    -- only sandbox processes share that uid, setsid daemons included. pidns mode (local): the
    harness is pid 1 of its own pid namespace, so its kill(-1) reaches exactly the program's
    processes. pgroup mode: best effort, only the child's process group (documented weakness).
    """

    def __init__(self, mode, uid, workdir):
        self.mode = mode
        self.uid = uid
        self.workdir = workdir

    def sweep(self, child_pgid=None):
        if self.mode == "uid":
            # Kill from here (CAP_KILL) rather than from a forked helper: a fork bomb may have
            # used up the pids limit, so no fork is possible until its processes are gone.
            _kill_uid_processes(self.uid)
            ok = True
            if _listdir_or_none(self.workdir) != []:
                ok = self._wipe_as_uid()
        elif self.mode == "pidns":
            _kill_all_signalable()
            _reap_all()
            ok = wipe(self.workdir)
        else:
            if child_pgid:
                try:
                    os.killpg(child_pgid, signal.SIGKILL)
                except OSError:
                    pass
            ok = wipe(self.workdir)
        return ok and self.is_clean()

    def _wipe_as_uid(self):
        # The work dir is sticky and the program may have made dirs unreadable: only its own
        # uid can remove what it created (the harness holds no CAP_DAC_OVERRIDE/FOWNER).
        try:
            pid = os.fork()
        except OSError:
            return False
        if pid == 0:
            code = 1
            try:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
                code = 0 if wipe(self.workdir) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def is_clean(self):
        try:
            if os.listdir(self.workdir):
                return False
        except OSError:
            return False
        if self.mode == "uid":
            if _live_uid_processes(self.uid):
                return False
            # IPC objects survive their creator: a reused container must not carry them over.
            for path in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"):
                try:
                    with open(path) as fh:
                        if len(fh.read().strip().splitlines()) > 1:
                            return False
                except OSError:
                    pass
            try:
                if os.listdir("/dev/mqueue"):
                    return False
            except OSError:
                pass
        return True


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _kill_all_signalable():
    # kill(-1) skips the caller and pid 1; one pass can miss a child forked mid-pass, so repeat
    # until the kernel says nothing was left to signal.
    for _ in range(500):
        try:
            os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.0005)


def _kill_uid_processes(uid):
    # Repeat scan+kill: a process forked between the scan and the kill shows up next round.
    for _ in range(500):
        pids = _live_uid_processes(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _listdir_or_none(path):
    try:
        return os.listdir(path)
    except OSError:
        return None


def _live_uid_processes(uid, exclude=None):
    found = []
    for pid in _pids():
        if pid == exclude:
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found.append(pid)
    return found


def _reap_all():
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.001)


def wipe(root):
    ok = True
    try:
        entries = os.listdir(root)
    except OSError:
        return False
    for name in entries:
        ok = _remove(os.path.join(root, name)) and ok
    return ok


def _remove(path):
    try:
        os.unlink(path)
        return True
    except IsADirectoryError:
        pass
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.chmod(path, 0o700)  # the program may have made its own dirs unreadable
    except OSError:
        pass
    try:
        names = os.listdir(path)
    except OSError:
        return False
    ok = True
    for name in names:
        ok = _remove(os.path.join(path, name)) and ok
    try:
        os.rmdir(path)
    except OSError:
        return False
    return ok


def _child_setup(args, limits, fds, uid, workdir, default_sigpipe=True):
    """In a fresh fork: own session, ``fds`` as 0..n-1 and nothing else, rlimits, ``uid``."""
    os.setsid()
    # dup() first: a plain dup2 onto 0..n-1 could clobber a source fd still to be moved.
    moved = [os.dup(fd) for fd in fds]
    for target, fd in enumerate(moved):
        os.dup2(fd, target)
    os.closerange(len(fds), 1 << 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        if sig != signal.SIGPIPE or default_sigpipe:
            signal.signal(sig, signal.SIG_DFL)
    os.chdir(workdir)
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    mem = limits["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    stack = min(64 << 20, mem // 4)
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    if args.nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.nproc, args.nproc))
    try:
        # Make the child, not the harness, the cgroup OOM killer's first choice.
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def spawn_child(args, limits, fds):
    """Fork the program's child (fds: stdin, stdout, stderr, payload, result[, requests] as
    0..), set it up, and exec the runner."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        _child_setup(args, limits, fds, args.uid, args.workdir)
        env = dict(CHILD_ENV, HOME=args.workdir)
        python = args.python or sys.executable
        os.execve(python, [python, "-I", RUNNER, "3", "4"], env)
    except BaseException as exc:  # noqa: BLE001 - report and die; never return into the harness
        try:
            os.write(2, f"harness: child setup failed: {exc!r}\n".encode())
        finally:
            os._exit(127)


def spawn_judge(args, limits, fds, header, nonce):
    """Fork the assert kind's judge (fds: stdin, stdout, stderr, result, to-program,
    from-program as 0..5): it runs the test, with the program's functions as proxies, under
    ``--judge-uid``, which the program's uid cannot ptrace, signal or read. No exec: it is
    this harness's own (trusted) code, and a fork costs far less than an interpreter start."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        # SIGPIPE stays ignored: a write to a program that died is an error, handled.
        _child_setup(args, limits, fds, args.judge_uid, "/", default_sigpipe=False)
        runner = _load_runner()
        runner.judge(header["test"], header.get("entry_point"), nonce, 3, 4, 5)
    except BaseException as exc:  # noqa: BLE001 - report and die; never return into the harness
        try:
            os.write(2, f"harness: judge failed: {exc!r}\n".encode())
        finally:
            os._exit(127)
    os._exit(127)


_runner_module = None


def _load_runner():
    """runner.py as a module of this process (the judge's code); loaded once, before any fork."""
    global _runner_module
    if _runner_module is None:
        # What the judge imports, imported here: after the fork it runs as another uid that
        # may not be able to read this interpreter's library (the local backend's venv).
        import ast  # noqa: F401
        import importlib.util
        import traceback  # noqa: F401

        spec = importlib.util.spec_from_file_location("ssd_sandbox_runner", RUNNER)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {RUNNER}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _runner_module = module
    return _runner_module


def _test_input(header, msg):
    """What a stdio/call child gets for one run: the runner's payload (fd 3) and its stdin."""
    mode = header["mode"]
    payload = {"mode": mode, "program": header["program"]}
    if mode == "call":
        payload.update(fn_name=header["fn_name"], args=msg["args"])
    stdin_bytes = msg.get("input", "").encode() if mode == "stdio" else b""
    return json.dumps(payload).encode(), stdin_bytes


class _ChildPipes:
    """The harness's ends of one test child's pipes, non-blocking on one selector: stdin and
    the payload are written as the child reads them; stdout, stderr and the runner's report are
    read under their caps."""

    def __init__(self, limits, readers, writes):
        self.stdout_r, self.stderr_r, self.result_r = readers
        self.err_keep = limits["stderr_bytes"]
        out_cap = limits["output_bytes"]
        self.sel = selectors.DefaultSelector()
        self.bufs = {fd: bytearray() for fd in readers}
        self.totals = dict.fromkeys(self.bufs, 0)
        # stderr is not capped: only its tail is kept and the wall limit bounds the time spent.
        self.caps = {self.stdout_r: out_cap, self.stderr_r: float("inf"), self.result_r: out_cap + 4096}
        self.open_readers = set(self.bufs)
        self.writers = {}
        for fd in self.bufs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ)
        for fd, data in writes:
            os.set_blocking(fd, False)
            if data:
                self.writers[fd] = memoryview(data)
                self.sel.register(fd, selectors.EVENT_WRITE)
            else:
                os.close(fd)

    def take(self, fd, chunk):
        """Store a chunk; False once the stream went over its cap."""
        self.totals[fd] += len(chunk)
        buf = self.bufs[fd]
        if fd == self.stderr_r:
            buf += chunk
            if len(buf) > 2 * self.err_keep + 4096:
                del buf[: len(buf) - self.err_keep]  # keep the tail: tracebacks end there
        elif self.totals[fd] <= self.caps[fd]:
            buf += chunk
        return self.totals[fd] <= self.caps[fd]

    def write_some(self, fd):
        view = self.writers[fd]
        try:
            n = os.write(fd, view[: 1 << 16])
        except BlockingIOError:
            n = 0
        except OSError:
            n = len(view)  # reader gone: the program stopped reading, fine
        if n == len(view):
            self.sel.unregister(fd)
            os.close(fd)
            del self.writers[fd]
        else:
            self.writers[fd] = view[n:]

    def read_some(self, fd):
        """Read what is there; False once the stream went over its cap."""
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            self.sel.unregister(fd)
            self.open_readers.discard(fd)
            return True
        return self.take(fd, chunk)

    def close_writers(self):
        for fd in list(self.writers):
            os.close(fd)

    def drain(self):
        """Read what is left in the pipes after the sweep; False if a stream went over its cap."""
        within = True
        for fd in list(self.open_readers):
            try:
                while True:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    if not self.take(fd, chunk):
                        within = False
                        break
            except OSError:
                pass
        return within

    def close(self, pidfd):
        for fd in list(self.bufs) + [pidfd]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.sel.close()


def _supervise(pid, pidfd, pipes, deadline):
    """Feed and read the child until it exited and its output pipes closed, or a limit hit.

    Returns (status, rusage, exited_at, reason): status is None while the child still runs;
    reason is why the harness stopped it ("timeout" | "output_limit"), else None."""
    pipes.sel.register(pidfd, selectors.EVENT_READ)
    reason = None
    status = rusage = exited_at = None
    while pipes.open_readers or status is None:
        now = time.monotonic()
        if now >= deadline:
            if status is None:
                reason = "timeout"
            break
        for key, _ in pipes.sel.select(deadline - now):
            fd = key.fd
            if fd == pidfd:
                pipes.sel.unregister(pidfd)
                _, status, rusage = os.wait4(pid, 0)
                exited_at = time.monotonic()
                # Pipes still held by grandchildren get a moment, then the sweep closes them.
                deadline = min(deadline, exited_at + 0.2)
            elif fd in pipes.writers:
                pipes.write_some(fd)
            elif fd in pipes.open_readers and not pipes.read_some(fd):
                reason = "output_limit"
        if reason:
            break
    return status, rusage, exited_at, reason


def _kill_child(pid):
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def run_test(args, header, msg, sweeper):
    """Run one test in a fresh child, then sweep; returns the result record for the host."""
    if header["mode"] == "assert":
        return run_assert_test(args, header, sweeper)
    limits = header["limits"]
    payload_bytes, stdin_bytes = _test_input(header, msg)
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    payload_r, payload_w = os.pipe()
    result_r, result_w = os.pipe()
    oom_before = oom_kills()
    t0 = time.monotonic()
    pid = spawn_child(args, limits, (stdin_r, stdout_w, stderr_w, payload_r, result_w))
    for fd in (stdin_r, stdout_w, stderr_w, payload_r, result_w):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    pipes = _ChildPipes(limits, (stdout_r, stderr_r, result_r), ((stdin_w, stdin_bytes), (payload_w, payload_bytes)))
    status, rusage, exited_at, reason = _supervise(pid, pidfd, pipes, t0 + limits["timeout_s"])
    if status is None:
        _kill_child(pid)
    wall = (exited_at or time.monotonic()) - t0
    pipes.close_writers()
    if status is None:
        # Reap before sweeping: a pid-namespace sweep reaps every child, this one included.
        _, status, rusage = os.wait4(pid, 0)
    clean = sweeper.sweep(child_pgid=pid)
    # What the program wrote before a sweep killed its stragglers is still in the pipes.
    if reason is None and not pipes.drain():
        reason = "output_limit"
    pipes.close(pidfd)
    err_keep = limits["stderr_bytes"]
    rec = {
        "type": "result",
        "wall_s": round(wall, 4),
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 4) if rusage else 0.0,
        "exit": os.waitstatus_to_exitcode(status),
        "stderr": base64.b64encode(bytes(pipes.bufs[stderr_r][-err_keep:]) if err_keep else b"").decode(),
        "clean": clean,
    }
    mode = header["mode"]
    rec.update(classify(mode, rec, reason, limits, oom_before, pipes.bufs[result_r]))
    if rec["status"] == "done" and mode == "stdio":
        rec["stdout"] = base64.b64encode(bytes(pipes.bufs[stdout_r])).decode()
    return rec


def run_assert_test(args, header, sweeper):
    """The assert kind: the program runs in a fresh child (runner "serve" mode, uid --uid) and
    the test in the judge (a fork of this harness, uid --judge-uid) that calls the program's
    functions over two pipes. Only the judge holds the result pipe and knows the nonce."""
    limits = header["limits"]
    nonce = base64.b16encode(os.urandom(16)).decode()
    payload_bytes = json.dumps({"mode": "serve", "program": header["program"]}).encode()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    payload_r, payload_w = os.pipe()
    result_r, result_w = os.pipe()  # judge -> harness: the verdict
    ask_r, ask_w = os.pipe()  # judge -> program: calls
    answer_r, answer_w = os.pipe()  # program -> judge: answers
    oom_before = oom_kills()
    t0 = time.monotonic()
    # The judge first: a fork bomb of the program's cannot then keep it from being forked.
    judge = spawn_judge(args, limits, (stdin_r, stdout_w, stderr_w, result_w, ask_w, answer_r), header, nonce)
    prog = spawn_child(args, limits, (stdin_r, stdout_w, stderr_w, payload_r, answer_w, ask_r))
    for fd in (stdin_r, stdout_w, stderr_w, payload_r, result_w, ask_r, ask_w, answer_r, answer_w):
        os.close(fd)
    pidfd, prog_pidfd = os.pidfd_open(judge), os.pidfd_open(prog)
    pipes = _ChildPipes(limits, (stdout_r, stderr_r, result_r), ((stdin_w, b""), (payload_w, payload_bytes)))
    status, rusage, exited_at, reason = _supervise(judge, pidfd, pipes, t0 + limits["timeout_s"])
    if status is None:
        _kill_child(judge)
    wall = (exited_at or time.monotonic()) - t0
    pipes.close_writers()
    if status is None:
        _, status, rusage = os.wait4(judge, 0)
    # The program exits once the judge has closed its end; one that died made the judge stop,
    # and its own status says why (e.g. its CPU limit). Reaped before the sweep (see run_test).
    prog_status = prog_rusage = None
    try:
        ready = selectors.DefaultSelector()
        ready.register(prog_pidfd, selectors.EVENT_READ)
        ready.select(0 if reason else 0.2)
        ready.close()
        pid, st, ru = os.wait4(prog, os.WNOHANG)
        if pid == prog:
            prog_status, prog_rusage = st, ru
    except ChildProcessError:
        pass
    if prog_status is None:
        _kill_child(prog)
        _, prog_status, prog_rusage = os.wait4(prog, 0)
    os.close(prog_pidfd)
    clean = sweeper.sweep(child_pgid=prog)
    if reason is None and not pipes.drain():
        reason = "output_limit"
    pipes.close(pidfd)
    err_keep = limits["stderr_bytes"]
    judge_cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
    prog_cpu = prog_rusage.ru_utime + prog_rusage.ru_stime if prog_rusage else 0.0
    rec = {
        "type": "result",
        "wall_s": round(wall, 4),
        "cpu_s": round(judge_cpu + prog_cpu, 4),
        "exit": os.waitstatus_to_exitcode(status),
        "stderr": base64.b64encode(bytes(pipes.bufs[stderr_r][-err_keep:]) if err_keep else b"").decode(),
        "clean": clean,
    }
    program = (os.waitstatus_to_exitcode(prog_status), prog_cpu)
    rec.update(classify_assert(rec, reason, limits, oom_before, pipes.bufs[result_r], nonce, judge_cpu, program))
    return rec


def _cpu_limit(code, cpu_s, limits):
    # SIGXCPU comes from RLIMIT_CPU, which the kernel checks against its precise runtime while
    # rusage is tick-sampled (seen: SIGXCPU at a reported 2.86 of 3 s). Sent by the program
    # itself it is still no pass. SIGKILL is the hard limit only when the CPU time shows it.
    return code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu_s >= limits["cpu_s"] - 0.05)


def _report_of(result_bytes):
    try:
        line = bytes(result_bytes).split(b"\n", 1)[0]
        report = json.loads(line) if line else {}
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def classify_assert(rec, reason, limits, oom_before, result_bytes, nonce, judge_cpu, program):
    """The assert kind's status, from the judge's report and exit, and the program's exit and
    CPU time (``program``) when the judge says the program stopped answering."""
    code = rec["exit"]
    if reason == "output_limit":
        return {"status": "output_limit", "detail": "output over the limit"}
    if reason == "timeout":
        return {"status": "timeout", "detail": "wall-clock limit"}
    if _cpu_limit(code, judge_cpu, limits):
        return {"status": "timeout", "detail": "CPU limit"}
    report = _report_of(result_bytes)
    after = oom_kills()
    if (oom_before is not None and after is not None and after > oom_before) or report.get("exc") == "MemoryError":
        return {"status": "memory_exceeded", "detail": "memory limit"}
    if code == 127 and not report:
        return {"status": "sandbox_error", "detail": "judge setup failed"}
    fail = report.get("fail")
    if fail == "gone":
        prog_code, prog_cpu = program
        if _cpu_limit(prog_code, prog_cpu, limits):
            return {"status": "timeout", "detail": "CPU limit"}
        if prog_code < 0:
            return {"status": "runtime_error", "detail": f"killed by signal {-prog_code}"}
        return {"status": "runtime_error", "detail": f"the program {report.get('exc')} (exit code {prog_code})"}
    if code < 0:
        return {"status": "runtime_error", "detail": f"killed by signal {-code}"}
    if fail == "nonplain":
        return {"status": "wrong_answer", "detail": f"candidate returned a non-builtin {report.get('exc')}"}
    if fail == "assertion":
        return {"status": "wrong_answer", "detail": "assertion failed"}
    if fail == "exc":
        return {"status": "runtime_error", "detail": f"{report.get('exc')} raised"}
    if code == 0 and report.get("passed") == nonce:
        return {"status": "ok"}
    return {"status": "runtime_error", "detail": f"no completion signal (exit code {code})"}


def classify(mode, rec, reason, limits, oom_before, result_bytes, nonce=None):
    """Harness-side status of a stdio or call test. "done" means: ran to completion, the host
    compares the output. (The assert kind: classify_assert.)"""
    code = rec["exit"]
    if reason == "output_limit":
        return {"status": "output_limit", "detail": "output over the limit"}
    if reason == "timeout":
        return {"status": "timeout", "detail": "wall-clock limit"}
    if _cpu_limit(code, rec["cpu_s"], limits):
        return {"status": "timeout", "detail": "CPU limit"}
    report = _report_of(result_bytes)
    after = oom_kills()
    if (oom_before is not None and after is not None and after > oom_before) or report.get("exc") == "MemoryError":
        return {"status": "memory_exceeded", "detail": "memory limit"}
    if code == 127 and not report:
        return {"status": "sandbox_error", "detail": "child setup failed"}
    if code < 0:
        return {"status": "runtime_error", "detail": f"killed by signal {-code}"}
    fail = report.get("fail")
    if mode == "stdio":
        if code != 0:
            exc = report.get("exc") if fail == "exc" else None
            return {"status": "runtime_error", "detail": f"exit code {code}" + (f" ({exc})" if exc else "")}
        return {"status": "done"}
    if fail == "unserializable":
        return {"status": "wrong_answer", "detail": f"return value is not JSON ({report.get('exc')})"}
    if fail == "exc":
        return {"status": "runtime_error", "detail": f"{report.get('exc')} raised"}
    if code == 0 and isinstance(report.get("value"), str):
        return {"status": "done", "value": report["value"]}
    return {"status": "runtime_error", "detail": f"no return value (exit code {code})"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uid", type=int, default=None, help="drop test children to this uid")
    ap.add_argument("--sweep", choices=("uid", "pidns", "pgroup"), required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--nproc", type=int, default=0)
    ap.add_argument("--python", default=None, help="interpreter for test children (default: this one)")
    ap.add_argument("--judge-uid", type=int, default=None, help="uid of the assert kind's judge (not --uid)")
    args = ap.parse_args()
    if args.sweep == "uid" and args.uid is None:
        ap.error("--sweep uid needs --uid")
    if args.uid is not None and (args.judge_uid is None or args.judge_uid == args.uid):
        # The judge holds the verdict pipe and the nonce: under the program's uid the program
        # could ptrace it or open its /proc fds.
        ap.error("--uid needs a different --judge-uid")
    _load_runner()  # before any fork: the judge runs its code without an interpreter start
    sweeper = Sweeper(args.sweep, args.uid, args.workdir)
    # A container is reused across programs: start from a verified clean state.
    if not sweeper.is_clean() and not sweeper.sweep():
        emit({"type": "end", "clean": False, "detail": "could not reset the sandbox"})
        return
    emit({"type": "ready"})
    # One harness serves many programs in turn (it lives as long as its container): each
    # program is a header, its runs, and an "end"; EOF on stdin ends the harness.
    while True:
        header = read_message()
        if header is None:
            return
        while True:
            msg = read_message()
            if msg is None:
                return
            if msg.get("op") != "run":
                break
            try:
                emit(run_test(args, header, msg, sweeper))
            except Exception as exc:  # noqa: BLE001 - report, never hang the host
                emit({"type": "result", "status": "sandbox_error", "detail": f"harness: {exc!r}", "clean": False})
        emit({"type": "end", "clean": sweeper.is_clean() or sweeper.sweep()})


if __name__ == "__main__":
    main()
