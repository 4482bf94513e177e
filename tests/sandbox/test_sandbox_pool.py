"""The Docker pool's failure paths: orphaned containers are reaped, containers are recycled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import docker
import pytest
from conftest import TEST_LIMITS
from sandbox_problems import ADD, ADD_PROGRAM

from sandbox import SandboxConfig, TestStatus, docker_backend, open_sandbox
from sandbox.docker_backend import LABEL, OWNER_LABEL, POOL_LABEL, reap_orphans

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]

# A client that opens a pool, says which, and waits to be killed.
CLIENT = textwrap.dedent("""
    import time
    from sandbox import SandboxConfig, open_sandbox
    sb = open_sandbox(SandboxConfig(workers=1))
    print("POOL", sb.pool_id, flush=True)  # structlog also writes to stdout
    time.sleep(600)
""")


def _pool_containers(client, pool_id: str) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={pool_id}"})]


def _labelled_container(client, owner: str) -> tuple[str, str]:
    """A bare container carrying the sandbox labels with the given owner; returns (pool, id)."""
    pool = "test-" + uuid.uuid4().hex[:10]
    c = client.containers.run(
        SandboxConfig().image,
        ["sleep", "infinity"],
        detach=True,
        network_mode="none",
        labels={LABEL: "1", POOL_LABEL: pool, OWNER_LABEL: owner},
    )
    return pool, c.id


def test_reap_orphans_removes_a_killed_clients_containers(docker_sandbox):
    client = docker.from_env()
    proc = subprocess.Popen([sys.executable, "-c", CLIENT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pool = ""
        for line in proc.stdout:
            if line.startswith("POOL "):
                pool = line.split()[1]
                break
        assert pool, "the client did not open its pool"
        assert len(_pool_containers(client, pool)) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no atexit, no close(): the container is left behind
        proc.wait()
    assert len(_pool_containers(client, pool)) == 1, "SIGKILL should leave the container behind"
    live_pool = _pool_containers(client, docker_sandbox.pool_id)

    assert reap_orphans(client) >= 1
    assert _pool_containers(client, pool) == []
    # The pool of this (live) process is not touched.
    assert _pool_containers(client, docker_sandbox.pool_id) == live_pool
    assert docker_sandbox.judge(ADD, ADD_PROGRAM).passed


def test_reap_orphans_judges_owners_by_pid_and_start_time():
    client = docker.from_env()
    me = docker_backend.owner_id()
    host, pid, start = me.rsplit(":", 2)
    cases = {
        "live": (me, True),
        "pid reused by another process": (f"{host}:{pid}:{int(start) + 1}", False),
        "no such process": (f"{host}:{2**22 + 7}:1", False),
        "unreadable owner": ("garbage", False),
        "another host's": (f"not-{socket.gethostname()}:1:1", True),
    }
    made = {name: _labelled_container(client, owner) for name, (owner, _) in cases.items()}
    try:
        reap_orphans(client)
        for name, (_, kept) in cases.items():
            pool, _ = made[name]
            assert bool(_pool_containers(client, pool)) == kept, name
    finally:
        for _pool, cid in made.values():
            try:
                client.api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass


def test_container_recycled_after_max_runs(monkeypatch):
    monkeypatch.setattr(docker_backend, "MAX_RUNS_PER_CONTAINER", 3)
    client = docker.from_env()
    with open_sandbox(SandboxConfig(workers=1, limits=TEST_LIMITS)) as sb:
        first = _pool_containers(client, sb.pool_id)
        assert len(first) == 1
        after = []
        for _ in range(7):
            assert sb.judge(ADD, ADD_PROGRAM).passed
            after.append(_pool_containers(client, sb.pool_id))
    assert after[0] == after[1] == first  # reused while clean
    assert len(after[2]) == 1 and after[2] != first  # the 3rd run retired it; the old one is gone
    assert after[3] == after[4] == after[2]
    assert len(after[5]) == 1 and after[5] not in (first, after[2])
    assert after[6] == after[5]
    assert _pool_containers(client, sb.pool_id) == []  # close() removed the last one


def test_container_replaced_after_a_kill():
    client = docker.from_env()
    with open_sandbox(SandboxConfig(workers=1, limits=TEST_LIMITS)) as sb:
        first = _pool_containers(client, sb.pool_id)
        t0 = time.monotonic()
        v = sb.judge(ADD, "import time\ntime.sleep(1000)")
        assert v.status == TestStatus.timeout and v.error is None
        assert time.monotonic() - t0 < TEST_LIMITS.test_timeout_s + 30
        second = _pool_containers(client, sb.pool_id)
        assert len(second) == 1 and second != first
        assert sb.judge(ADD, ADD_PROGRAM).passed
        assert _pool_containers(client, sb.pool_id) == second
