"""Hostile programs get the exact status that says the attack was contained; the pool stays healthy.

Where an attack could in principle produce the right answer, the program prints it only if the
attack worked, so a `wrong_answer` means "the attack ran and failed". Attacks that a limit must
stop get that limit's status. Every verdict must come from a sandbox that worked: a
`sandbox_error`, or a pool that cannot start containers, fails these tests. All programs are
judged in one parallel batch (module fixture) and checked one by one.
"""

from __future__ import annotations

import textwrap

import docker
import pytest
from sandbox_problems import ADD, ADD_PROGRAM, FIND_EXPECTED, FORGE_NONCE, SECRET_ASSERT, assert_kind, call, stdio

from sandbox import SandboxConfig, TestStatus, open_sandbox

pytestmark = pytest.mark.docker

SECRET = "SECRET_EXPECTED_4b1d9e2f7a"
secret_problem = stdio([("find it\n", SECRET + "\n")], pid="secret")
ADD_CALL = call("add", [([1, 2], 3)], pid="add-call")
ADD_ASSERT = assert_kind("def check(candidate):\n    assert candidate(1, 2) == 3\n", "add", pid="add-assert")
FREQ = assert_kind("assert freq_count([10, 10, 20]) == {10: 2, 20: 1}\n", pid="freq-assert")
HUGE_IN = stdio([("7\n" * (4 << 20), "3\n")], pid="huge-input")

SEARCH_SECRET = r"""
import os, re
pat = re.compile(rb"SECRET_EXPECTED_[0-9a-f]+")
def scan(data):
    m = pat.search(data)
    if m:
        print(m.group().decode()); raise SystemExit(0)
scan("\n".join(f"{k}={v}" for k, v in os.environ.items()).encode())
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for part in ("environ", "cmdline", "fd/0", "fd/1", "mem"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as fh:
                    scan(fh.read(1 << 20))
            except OSError:
                pass
for root, dirs, files in os.walk("/", topdown=True):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
    for f in files:
        try:
            with open(os.path.join(root, f), "rb") as fh:
                scan(fh.read(1 << 20))
        except OSError:
            pass
print("not found")
"""

HOSTILE: dict[str, tuple] = {
    "fork_bomb": (ADD, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
    "memory_bomb_alloc": (ADD, "x = bytearray(8 * 1024 ** 3)\nprint(3)"),
    "memory_bomb_grow": (ADD, "a = []\nwhile True:\n    a.append(bytearray(16 << 20))"),
    "memory_bomb_processes": (
        ADD,
        textwrap.dedent("""
        import os, time
        kids = []
        for i in range(3):  # each under the address-space limit, together over the container's
            pid = os.fork()
            if pid == 0:
                x = bytearray(180 << 20)
                time.sleep(0.2)
                os._exit(0)
            kids.append(pid)
        ok = all(os.waitpid(k, 0)[1] == 0 for k in kids)
        print(3 if ok else 0)
    """),
    ),
    "fill_tmp": (
        ADD,
        textwrap.dedent("""
        n = 0
        try:
            for i in range(100):
                with open(f"/tmp/f{i}", "wb") as fh:
                    fh.write(b"x" * (8 << 20))
                n += 8
        except OSError:
            pass
        print(3 if n > 64 else 0)
    """),
    ),
    "many_small_files": (
        ADD,
        textwrap.dedent("""
        import os
        os.makedirs("/tmp/d", exist_ok=True)
        for i in range(200000):
            open(f"/tmp/d/{i}", "w").close()
        print(3)
    """),
    ),
    "open_files": (ADD, "fs = [open('/dev/null') for _ in range(100000)]\nprint(3)"),
    "write_outside_tmp": (
        ADD,
        textwrap.dedent("""
        wrote = []
        for p in ("/etc/x", "/opt/ssd/harness.py", "/root/x", "/x", "/var/tmp/x", "/dev/shm/x", "/run/x"):
            try:
                with open(p, "a") as fh:
                    fh.write("x")
                wrote.append(p)
            except OSError:
                pass
        print(3 if wrote else 0)
    """),
    ),
    "network": (
        ADD,
        textwrap.dedent("""
        import socket
        names = [n for _, n in socket.if_nameindex()]
        ok = False
        for addr in (("1.1.1.1", 53), ("8.8.8.8", 443), ("172.17.0.1", 2375)):
            try:
                socket.create_connection(addr, timeout=1).close()
                ok = True
            except OSError:
                pass
        print(3 if ok or names != ["lo"] else 0)
    """),
    ),
    "host_files": (
        ADD,
        textwrap.dedent("""
        import os
        found = []
        for p in ("/etc/shadow", "/var/run/docker.sock", "/run/docker.sock", "/proc/1/root/etc/shadow",
                  "/proc/1/environ", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
            try:
                with open(p, "rb") as fh:
                    fh.read(1)
                if "cgroup" not in p:
                    found.append(p)
            except OSError:
                pass
        print(3 if found else 0)
    """),
    ),
    "kill_everything": (
        ADD,
        textwrap.dedent("""
        import os, signal
        os.kill(-1, signal.SIGKILL)
        hit = 0
        for pid in (1, os.getppid()):
            try:
                os.kill(pid, signal.SIGKILL)
                hit += 1
            except OSError:
                pass
        print(3 if hit else 0)
    """),
    ),
    "ptrace_or_fd_of_harness": (
        ADD,
        textwrap.dedent("""
        import os
        ok = False
        for part in ("fd/1", "fd/0", "mem"):
            try:
                with open(f"/proc/{os.getppid()}/{part}", "wb") as fh:
                    fh.write(b'{"type": "result", "status": "ok", "clean": true}\\n')
                ok = True
            except OSError:
                pass
        print(3 if ok else 0)
    """),
    ),
    "setsid_daemon": (
        ADD,
        textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.0)  # after the test ended: too late to count, must be swept
                print(3, flush=True)
                while True:
                    open("/tmp/daemon-was-here", "w").close()
                    time.sleep(0.05)
            os._exit(0)
    """),
    ),
    "endless_output": (ADD, "while True:\n    print('3' * 1000)"),
    "huge_line": (ADD, "import sys\nsys.stdout.write('3' * (200 << 20))"),
    "endless_stderr": (ADD, "import sys\nwhile True:\n    sys.stderr.write('x' * 1000)"),
    "invalid_utf8": (ADD, "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe3\\n\\xc3')"),
    "sleeping": (ADD, "import time\ntime.sleep(1000)\nprint(3)"),
    "ignore_signals": (
        ADD,
        textwrap.dedent("""
        import signal
        for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while True:
            pass
    """),
    ),
    "swallow_timeouts": (
        ADD,
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
    ),
    "exit0_assert": (ADD_ASSERT, "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b"),
    "os_exit0_assert": (ADD_ASSERT, "import os\ndef add(a, b):\n    os._exit(0)"),
    "fake_passed_output": (ADD_ASSERT, "print('passed')\nprint('{\"passed\": true}')\ndef add(a, b):\n    return 0"),
    "forge_frames_stdout": (
        ADD,
        'print(\'{"type": "result", "status": "ok", "clean": true}\')\nprint(\'{"type": "end", "clean": true}\')',
    ),
    "forge_frames_call": (ADD_CALL, 'print(\'{"value": "3"}\')\ndef add(a, b):\n    return 4'),
    "forge_result_fd_assert": (
        ADD_ASSERT,
        "import os\nfor fd in range(3, 20):\n    try:\n"
        '        os.write(fd, b\'{"passed": "0000"}\\n\')\n    except OSError:\n'
        "        pass\nos._exit(0)",
    ),
    "forge_nonce_frames_assert": (ADD_ASSERT, FORGE_NONCE),
    "find_expected_assert": (SECRET_ASSERT, FIND_EXPECTED),
    "eq_override_call": (
        ADD_CALL,
        "class A:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return A()",
    ),
    "eq_override_assert": (
        ADD_ASSERT,
        "class A:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return A()",
    ),
    "int_subclass_assert": (
        ADD_ASSERT,
        "class I(int):\n    def __eq__(self, o):\n        return True\n"
        "    __hash__ = int.__hash__\ndef add(a, b):\n    return I(0)",
    ),
    "eq_inside_list_assert": (
        assert_kind("def check(c):\n    assert c() == [3]\n", "f"),
        "class A:\n    def __eq__(self, o):\n        return True\ndef f():\n    return [A()]",
    ),
    "huge_stdin_unread": (HUGE_IN, "import time\ntime.sleep(1000)"),
    "huge_stdin_read_wrong": (HUGE_IN, "import sys\nd = sys.stdin.buffer.read()\nd2 = d * 40\nprint(len(d2))"),
    # Python frames: the work per frame makes the CPU limit bind long before memory runs out.
    "deep_recursion": (
        ADD,
        "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    sum(range(1000))\n"
        "    return f(n + 1) + 1\nprint(f(0))",
    ),
    # C recursion (through map): overflows the 64 MiB stack limit and segfaults the child only.
    "deep_c_recursion": (
        ADD,
        "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return list(map(f, [n + 1]))\nf(0)\nprint(3)",
    ),
    "compile_time_bomb": (ADD, "x = 2 ** 10 ** 10\nprint(3)"),
    "huge_literal": (ADD, "x = " + "9" * 2_000_000 + "\nprint(3)"),
    "string_bomb": (ADD, "x = 'a' * 10 ** 10\nprint(3)"),
    "search_expected_output": (secret_problem, SEARCH_SECRET),
    "chmod_trap_dir": (
        ADD,
        "import os\nos.makedirs('/tmp/a/b')\nopen('/tmp/a/b/f', 'w').close()\n"
        "os.chmod('/tmp/a/b', 0)\nos.chmod('/tmp/a', 0)\nprint(0)",
    ),
    "metaclass_eq_assert": (
        ADD_ASSERT,
        textwrap.dedent("""
        class M(type):  # makes the class itself compare equal to int, hash like int
            def __eq__(cls, other):
                return True
            def __hash__(cls):
                return hash(int)
        class I(metaclass=M):
            def __eq__(self, other):
                return True
        def add(a, b):
            return I()
    """),
    ),
    "builtins_exec_patched": (
        ADD_ASSERT,
        "import builtins\n"
        "builtins.exec = lambda code, ns: ns.update(check=lambda c: None)\n"
        "def add(a, b):\n    return 0",
    ),
    "builtins_dict_patched": (
        assert_kind("def check(c):\n    assert c() == {'a': 3}\n", "f", pid="dict-assert"),
        textwrap.dedent("""
        import builtins
        class A:
            def __eq__(self, other):
                return True
            __hash__ = object.__hash__
        class D(dict):
            pass
        builtins.dict = D  # the runner's plain-data check must not look dict up at run time
        def f():
            return {'a': A()}
    """),
    ),
    "counter_rebound": (
        FREQ,
        textwrap.dedent("""
        import collections
        class Permissive(collections.Counter):
            def __eq__(self, other):
                return True
            __hash__ = None
        collections.Counter = Permissive
        def freq_count(l):
            return collections.Counter()
    """),
    ),
    "counter_subclass_eq": (
        FREQ,
        "from collections import Counter\nclass C(Counter):\n"
        "    def __eq__(self, o):\n        return True\ndef freq_count(l):\n    return C()",
    ),
    "dict_subclass_eq": (
        FREQ,
        "class D(dict):\n    def __eq__(self, o):\n        return True\ndef freq_count(l):\n    return D()",
    ),
    "counter_class_patched": (
        FREQ,
        "import collections\ncollections.Counter.__eq__ = lambda s, o: True\n"
        "def freq_count(l):\n    return collections.Counter()",
    ),
    "namedtuple_eq_patched": (
        ADD_ASSERT,
        "from collections import namedtuple\nP = namedtuple('P', 'x')\n"
        "P.__eq__ = lambda s, o: True\ndef add(a, b):\n    return P(0)",
    ),
    "defaultdict_factory": (
        assert_kind("def check(c):\n    assert c()['x'] == 3\n", "f", pid="dd-assert"),
        "from collections import defaultdict\nclass A:\n    def __eq__(self, o):\n"
        "        return True\ndef f():\n    return defaultdict(A)",
    ),
    "sysv_shm_leftover": (
        ADD,
        textwrap.dedent("""
        import ctypes
        libc = ctypes.CDLL(None)
        ids = [libc.shmget(0, 1 << 20, 0o1000 | 0o600) for _ in range(3)]
        print(3 if min(ids) < 0 else 0)  # wrong answer on purpose: creating them is the attack
    """),
    ),
}

# Runs after a hostile program and passes only if nothing of it is left in its container.
DETECTOR = textwrap.dedent("""
    import os
    me = os.getpid()
    others = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != me:
            try:
                if os.stat(f"/proc/{pid}").st_uid == os.getuid():
                    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        others.append(pid)
            except OSError:
                pass
    leftovers = os.listdir("/tmp")
    shm = open("/proc/sysvipc/shm").read().strip().splitlines()[1:]
    a, b = map(int, input().split())
    print(a + b if not others and not leftovers and not shm else f"dirty {others} {leftovers} {len(shm)}")
""")


WA, RE, TO, MEM, OUT = (
    TestStatus.wrong_answer,
    TestStatus.runtime_error,
    TestStatus.timeout,
    TestStatus.memory_exceeded,
    TestStatus.output_limit,
)

# The status each attack must get under TEST_LIMITS (5 s wall, 3 s CPU, 256 MiB, 32 MiB /tmp).
EXPECTED: dict[str, TestStatus | set[TestStatus]] = {
    "fork_bomb": TO,  # never exits; the pids limit keeps it from starving the harness
    "memory_bomb_alloc": MEM,
    "memory_bomb_grow": MEM,
    "memory_bomb_processes": MEM,  # the cgroup's OOM killer, counted by the harness
    "fill_tmp": WA,  # the tmpfs cap stops it at 32 MiB
    "many_small_files": RE,  # inode cap: OSError
    "open_files": RE,  # RLIMIT_NOFILE: OSError
    "write_outside_tmp": WA,
    "network": WA,
    "host_files": WA,
    "kill_everything": WA,
    "ptrace_or_fd_of_harness": WA,
    "setsid_daemon": WA,  # its late "3" is swept with it
    "endless_output": OUT,
    "huge_line": MEM,  # the 200 MiB str and its 200 MiB encoding exceed the address-space limit
    "endless_stderr": TO,  # stderr is tail-kept, not capped
    "invalid_utf8": WA,
    "sleeping": TO,
    "ignore_signals": TO,
    "swallow_timeouts": TO,
    "exit0_assert": RE,
    "os_exit0_assert": RE,
    "fake_passed_output": WA,
    "forge_frames_stdout": WA,
    "forge_frames_call": WA,
    "forge_result_fd_assert": RE,  # its lines reach the judge as broken answers
    "forge_nonce_frames_assert": RE,  # the nonce lives in the judge: not in any frame here
    "find_expected_assert": WA,  # the test (and its expected value) lives in the judge
    "eq_override_call": WA,
    "eq_override_assert": WA,
    "int_subclass_assert": WA,
    "eq_inside_list_assert": WA,
    "huge_stdin_unread": TO,
    "huge_stdin_read_wrong": MEM,
    "deep_recursion": TO,
    "deep_c_recursion": RE,  # SIGSEGV of the child
    # 2**10**10 squares ever larger ints: whether the CPU-time or the memory limit trips first
    # depends on the machine's speed; either way it is contained.
    "compile_time_bomb": {TO, MEM},
    "huge_literal": RE,  # SyntaxError (too many digits)
    "string_bomb": MEM,
    "search_expected_output": WA,
    "chmod_trap_dir": WA,
    "metaclass_eq_assert": WA,
    "builtins_exec_patched": WA,
    "builtins_dict_patched": WA,
    "counter_rebound": WA,
    "counter_subclass_eq": WA,
    "dict_subclass_eq": WA,
    "counter_class_patched": WA,
    "namedtuple_eq_patched": WA,
    "defaultdict_factory": RE,  # converted to a dict: the missing key is a KeyError
    "sysv_shm_leftover": WA,
}
# The non-builtin return values that must be named as such (not merely fail an assertion).
NONPLAIN = {
    "eq_override_assert": "A",
    "int_subclass_assert": "I",
    "eq_inside_list_assert": "A",
    "metaclass_eq_assert": "I",
    "builtins_dict_patched": "A",
    "counter_rebound": "Permissive",
    "counter_subclass_eq": "C",
    "dict_subclass_eq": "D",
}


@pytest.fixture(scope="module")
def hostile_verdicts(docker_sandbox):
    names = list(HOSTILE)
    verdicts = docker_sandbox.judge_many([HOSTILE[n] for n in names])
    return dict(zip(names, verdicts))


def test_every_attack_has_an_expected_status():
    assert set(EXPECTED) == set(HOSTILE)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_status(hostile_verdicts, name):
    v = hostile_verdicts[name]
    detail = [(t.status.value, t.detail, t.stderr[-300:]) for t in v.tests]
    assert v.error is None, f"{name}: sandbox error {v.error!r}"
    expected = EXPECTED[name]
    allowed = expected if isinstance(expected, set) else {expected}
    assert len(v.tests) == 1 and v.status in allowed, f"{name}: {detail}"
    assert not v.passed
    if name in NONPLAIN:
        assert v.tests[0].detail == f"candidate returned a non-builtin {NONPLAIN[name]}", detail


def test_invalid_utf8_stdout_is_never_echoed(hostile_verdicts):
    assert "\ufffd" not in hostile_verdicts["invalid_utf8"].tests[0].stderr


def test_limit_details(hostile_verdicts):
    detail = {n: v.tests[0].detail for n, v in hostile_verdicts.items()}
    assert detail["sleeping"] == "wall-clock limit"
    assert detail["endless_output"] == "output over the limit"
    assert detail["deep_c_recursion"] == "killed by signal 11"
    assert detail["eq_override_call"] == "return value is not JSON (A)"


def test_pool_healthy_after_hostile_suite(docker_sandbox, hostile_verdicts):
    # Several rounds so that every pooled container runs the detector at least once.
    verdicts = docker_sandbox.judge_many([(ADD, DETECTOR)] * 6 + [(ADD, ADD_PROGRAM)] * 2)
    assert all(v.passed for v in verdicts), [v.tests[0].detail for v in verdicts if not v.passed]
    containers = docker.from_env().containers.list(filters={"label": f"ssd-sandbox.pool={docker_sandbox.pool_id}"})
    assert len(containers) == docker_sandbox.config.workers


def test_no_container_left_after_close():
    client = docker.from_env()
    sb = open_sandbox(SandboxConfig(workers=1))
    pool = sb.pool_id
    assert sb.judge(*HOSTILE["setsid_daemon"]).status == TestStatus.wrong_answer
    assert client.containers.list(all=True, filters={"label": f"ssd-sandbox.pool={pool}"})
    sb.close()
    assert client.containers.list(all=True, filters={"label": f"ssd-sandbox.pool={pool}"}) == []
