"""Supervision and process lifetime over a fake vLLM run as a real child process: a hung
(SIGSTOPped) server is detected and restarted, the restart budget holds and refills, and a
stale server of ours left on the port is recognised by its pidfile (and nobody else's is)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from net_util import free_port

from daemon.serving.config import EndpointConfig
from daemon.serving.serve import ServingStack
from ssd.child_process import ProcessRecord, group_members
from ssd.vllm_server import ServerConfig, ServerError, VLLMServer, pidfile_for

FAKE = str(Path(__file__).with_name("fake_vllm.py"))


def _launch(tmp_path: Path, port: int | None = None) -> VLLMServer:
    port = port or free_port()
    cfg = ServerConfig(port=port, startup_timeout_s=30)
    return VLLMServer.launch([sys.executable, FAKE, "--port", str(port)], "smollm2-135m", cfg, tmp_path / "vllm.log")


def _wait(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(0.05)


def _stack(server: VLLMServer, tmp_path: Path, **kw) -> ServingStack:
    settings = dict(
        port=0,
        health_interval_s=0.2,
        health_timeout_s=1.0,
        health_failures=3,
        retry_after_s=2,
        shutdown_timeout_s=5,
    )
    cfg = EndpointConfig(**{**settings, **kw})
    return ServingStack(server, cfg, tmp_path / "registry.json", own_server=True).start_in_thread()


def test_a_hung_server_is_detected_restarted_and_the_budget_holds(tmp_path):
    stack = _stack(_launch(tmp_path), tmp_path, max_restarts=1, restart_window_s=3600)
    try:
        first = stack.registry.server.proc.pid
        os.kill(first, signal.SIGSTOP)  # alive, port open, but answers nothing: a hang
        _wait(
            lambda: stack.registry.server.proc.pid != first and stack.supervisor.is_up, 30, "hung server not replaced"
        )
        assert not group_members(first)  # the stopped one was killed, not left behind
        assert httpx.get(stack.url + "/health").status_code == 200
        assert "ssd_serve_vllm_restarts_total 1.0" in httpx.get(stack.url + "/metrics").text

        second = stack.registry.server.proc.pid
        os.kill(second, signal.SIGSTOP)
        _wait(lambda: "budget exhausted" in stack.supervisor.reason, 10, "budget not enforced")
        time.sleep(1.0)  # more failing ticks: still no second restart
        assert stack.registry.server.proc.pid == second and stack.supervisor.state == "down"
        r = httpx.get(stack.url + "/health")
        assert r.status_code == 503 and "restart budget exhausted (1 restarts" in r.json()["reason"]
        r = httpx.post(stack.url + "/v1/completions", json={"model": "ssd", "prompt": "x"})
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        # Not killed: a server that was only slow may come back, and then it is used again.
        os.kill(second, signal.SIGCONT)
        _wait(lambda: stack.supervisor.is_up, 10, "recovered server not used again")
    finally:
        stack.close()
    assert not group_members(second)


def test_the_restart_budget_refills_after_its_window(tmp_path):
    stack = _stack(_launch(tmp_path), tmp_path, max_restarts=1, restart_window_s=600)
    shift = [0.0]  # the supervisor's clock runs ahead by this much
    stack.supervisor.clock = lambda: time.monotonic() + shift[0]
    try:
        first = stack.registry.server.proc.pid
        os.kill(first, signal.SIGKILL)
        _wait(lambda: stack.registry.server.proc.pid != first and stack.supervisor.is_up, 30, "no restart")
        second = stack.registry.server.proc.pid
        os.kill(second, signal.SIGKILL)
        _wait(lambda: "budget exhausted" in stack.supervisor.reason, 10, "budget not enforced")
        time.sleep(1.0)
        assert stack.registry.server.proc.pid == second and not stack.supervisor.is_up
        shift[0] = 601.0  # the first restart has left the window
        _wait(
            lambda: stack.registry.server.proc.pid != second and stack.supervisor.is_up,
            30,
            "no restart once the window has room",
        )
        assert "ssd_serve_vllm_restarts_total 2.0" in httpx.get(stack.url + "/metrics").text
    finally:
        stack.close()


def test_a_server_that_dies_during_a_health_check_is_restarted_on_that_check(tmp_path):
    # The fault: vLLM dies while a check waits on it (a check can take health_timeout_s).
    # Acting one tick later leaves /health saying "ok" for a server that is gone.
    stack = _stack(_launch(tmp_path), tmp_path, health_interval_s=3600)  # we tick by hand
    try:
        server = stack.registry.server
        first = server.proc.pid

        def dies_while_asked(timeout_s: float = 5.0) -> bool:
            os.kill(first, signal.SIGKILL)
            server.proc.wait(5)
            return False

        server.health = dies_while_asked
        stack.supervisor.tick()
        assert stack.registry.server.proc.pid != first and stack.supervisor.is_up
        assert "ssd_serve_vllm_restarts_total 1.0" in httpx.get(stack.url + "/metrics").text
    finally:
        stack.close()


def test_a_stale_server_of_ours_is_reclaimed_and_a_stranger_is_left_alone(tmp_path):
    port = free_port()
    orphan = _launch(tmp_path, port)  # as if its parent had died without stopping it
    orphan_pid = orphan.proc.pid
    rec = ProcessRecord.read(pidfile_for(tmp_path / "vllm.log"))
    assert rec is not None and rec.pid == orphan_pid and rec.extra["port"] == port and rec.is_running()

    fresh = _launch(tmp_path, port)
    try:
        assert fresh.proc.pid != orphan_pid and fresh.health()
        _wait(lambda: not group_members(orphan_pid), 5, "stale server still there")
        assert ProcessRecord.read(pidfile_for(tmp_path / "vllm.log")).pid == fresh.proc.pid
    finally:
        fresh.stop(timeout_s=5)
    assert not pidfile_for(tmp_path / "vllm.log").exists()  # stop() removes its own pidfile
    orphan.proc.wait(5)


def test_a_port_held_by_someone_else_is_never_taken(tmp_path):
    # A stranger listens on the port; the pidfile names a live process whose command line
    # does not match (this test process), and another that matches but for another port.
    stranger = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time; s = socket.socket(); "
            "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)",
            str(port := free_port()),
        ]
    )
    try:
        _wait(lambda: _listening(port), 10, "stranger not listening")
        pidfile = pidfile_for(tmp_path / "vllm.log")
        for rec in (
            ProcessRecord.of(os.getpid(), ["python", "-m", "vllm.entrypoints.openai.api_server"], port=port),
            ProcessRecord.of(stranger.pid, port=port + 1),
        ):
            rec.write(pidfile)
            with pytest.raises(ServerError, match=f"port 127.0.0.1:{port} is already in use"):
                _launch(tmp_path, port)
            assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
