"""`ssdd serve` and `ssdd run` stopped by SIGINT, SIGTERM or SIGKILL: vLLM never outlives them.

SIGINT and SIGTERM take the graceful path (exit 0 within the configured bound, vLLM stopped,
its pidfile removed); a SIGKILL gives no chance to clean up, so vLLM's parent-death signal
(and its watchdog) stop it. Each case starts its own vLLM (the shared one must not die).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from net_util import free_port

from ssd.child_process import group_members

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1500)]
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]

SHUTDOWN_BOUND_S = 20


def _up(command: str, endpoint_port: int, log: Path) -> bool:
    """`ssdd serve`: the endpoint answers; `ssdd run`: the daemon has finished starting."""
    if command == "run":
        return "daemon.ready" in log.read_text(errors="replace")
    try:
        return httpx.get(f"http://127.0.0.1:{endpoint_port}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    "command,sig",
    [("serve", sig) for sig in SIGNALS] + [pytest.param("run", sig, marks=pytest.mark.docker) for sig in SIGNALS],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else v,
)
def test_ssdd_never_leaves_vllm_behind(command, sig, model_dir, tmp_path):
    vllm_port, endpoint_port = free_port(), free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": str(model_dir),
                "served_model_name": "smollm2-135m",
                "data_dir": str(tmp_path),
                "data": {"sources": [{"kind": "starter"}]},
                "endpoint": {"port": endpoint_port, "shutdown_timeout_s": SHUTDOWN_BOUND_S},
                # `ssdd run` only: no round starts while the test runs; stop within the bound.
                "schedule": {"rounds": "every: 24h", "stop_timeout_s": SHUTDOWN_BOUND_S},
                "sandbox": {"backend": "docker", "workers": 1},
                "server": {
                    "port": vllm_port,
                    "cpu_kvcache_gib": 1,
                    "max_model_len": 1024,
                    "max_num_seqs": 4,
                    "max_loras": 1,
                    "max_lora_rank": 32,
                },
            }
        )
    )
    log = (tmp_path / "ssdd.log").open("wb")
    ssdd = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", command, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 900
        while True:
            assert ssdd.poll() is None, (tmp_path / "ssdd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"ssdd {command} did not come up"
            if _up(command, endpoint_port, tmp_path / "ssdd.log"):
                break
            time.sleep(1)
        (pidfile,) = tmp_path.rglob("vllm.pid")  # next to vLLM's log
        vllm_pid = json.loads(pidfile.read_text())["pid"]
        assert group_members(vllm_pid)

        t0 = time.monotonic()
        ssdd.send_signal(sig)
        rc = ssdd.wait(SHUTDOWN_BOUND_S + 15)
        exited_s = time.monotonic() - t0
        while group_members(vllm_pid) or not _port_free(vllm_port):
            assert time.monotonic() - t0 < SHUTDOWN_BOUND_S + 15, f"vLLM outlived ssdd {command} ({sig.name})"
            time.sleep(0.1)
        gone_s = time.monotonic() - t0
        print(
            f"{command} {sig.name}: ssdd exited {rc} after {exited_s:.1f}s, vLLM gone and port free after {gone_s:.1f}s"
        )
        assert _port_free(endpoint_port)
        if sig == signal.SIGKILL:
            assert rc == -signal.SIGKILL
        else:
            assert rc == 0, (tmp_path / "ssdd.log").read_text()[-3000:]
            assert exited_s < SHUTDOWN_BOUND_S
            assert not pidfile.exists()
    finally:
        if ssdd.poll() is None:
            ssdd.kill()
            ssdd.wait()
        log.close()
