"""Soak: many tiny rounds back to back under steady assistant traffic; does anything grow?

Starts its own vLLM server (or attaches with --vllm-url), runs ``ssdd run`` with an ultra-tiny
config (2 training prompts, 6 gate problems, 2 distill steps, short generations) in continuous
mode, sends one short chat request a second to the endpoint, and after every finished round
records: the daemon's and vLLM's RSS and open file descriptors, sandbox containers, adapters
loaded in vLLM, the state DB size and the data dir size. At the end it prints one row a round
and, per metric, the least-squares slope per round and the relative growth over the run: a
daemon meant to run for months must show flat lines (slope ~ 0 once warm).

    .venv/bin/python bench/soak.py --rounds 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "daemon"))

from ssd.vllm_auth import auth_headers, read_token, register_token  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its descendants (vLLM runs an engine-core child)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return rss_mb(pid) + sum(tree_rss_mb(int(c)) for c in out.split())


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def containers(owner_pid: int) -> int:
    """Sandbox containers of this daemon only: other jobs on the machine may run their own."""
    from sandbox.docker_backend import LABEL, OWNER_LABEL, parse_owner

    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={LABEL}=1", "--format", f'{{{{.Label "{OWNER_LABEL}"}}}}'],
        capture_output=True,
        text=True,
    )
    owners = [parse_owner(label) for label in out.stdout.split()]
    return sum(1 for o in owners if o is not None and o[1] == owner_pid)


def db_kb(db_path: Path) -> float:
    """The database with its write-ahead log: between checkpoints most new rows live there."""
    files = (db_path, db_path.with_name(db_path.name + "-wal"))
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1024, 1)


def slope(ys: list[float]) -> float:
    n = len(ys)
    if n < 2:
        return 0.0
    xm, ym = (n - 1) / 2, sum(ys) / n
    return sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sum((i - xm) ** 2 for i in range(n))


class Traffic(threading.Thread):
    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.ok, self.failed, self.stop = url, 0, 0, threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=120) as c:
            while not self.stop.is_set():
                try:
                    r = c.post(
                        self.url + "/v1/chat/completions",
                        json={"model": "ssd", "max_tokens": 8, "messages": [{"role": "user", "content": "Say hi"}]},
                    )
                    self.ok += r.status_code == 200
                    self.failed += r.status_code != 200
                except httpx.HTTPError:
                    self.failed += 1
                self.stop.wait(1.0)


METRICS = (
    "daemon_rss_mb",
    "daemon_fds",
    "vllm_rss_mb",
    "vllm_fds",
    "containers",
    "loaded_adapters",
    "db_kb",
    "data_mb",
)


def write_soak_config(root: Path, model_dir: Path, vllm_url: str, port: int, api_key_file: Path | None) -> Path:
    """The ultra-tiny daemon config: 2 training prompts, a few gate problems, 2 distill steps."""
    from daemon_util import tiny_config

    return tiny_config(
        root,
        model_dir,
        vllm_url,
        api_key_file=api_key_file,
        endpoint__port=port,
        data__max_train_prompts=2,
        data__split={"heldout_count": 6, "seed": 0},
        heldout__audit_frac=0.0,
        sampling__params__max_tokens=24,
        distill__max_steps=2,  # step 1 runs at warm-up lr 0: one step leaves a zero adapter
        evaluation__max_tokens=48,
        schedule__retention="every: 60s",
        retention__keep_rejected=2,
        retention__keep_former=2,
        retention__keep_round_files=3,
    )


def wait_healthy(endpoint: str, tries: int = 600) -> None:
    for _ in range(tries):
        try:
            if httpx.get(endpoint + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)


def measure(cfg, daemon_pid: int, vllm_pid: int | None, vllm_url: str, seen: int, decision: str, t0: float) -> dict:
    """One row: what might grow, right after round `seen` finished."""
    models = httpx.get(vllm_url + "/v1/models", timeout=10, headers=auth_headers(vllm_url)).json()["data"]
    return {
        "round": seen,
        "t_s": round(time.monotonic() - t0),
        "decision": decision,
        "daemon_rss_mb": round(rss_mb(daemon_pid), 1),
        "daemon_fds": fds(daemon_pid),
        "vllm_rss_mb": round(tree_rss_mb(vllm_pid), 1) if vllm_pid else None,
        "vllm_fds": fds(vllm_pid) if vllm_pid else None,
        "containers": containers(daemon_pid),
        "loaded_adapters": len(models) - 1,
        "db_kb": db_kb(cfg.db_path),
        "data_mb": round(du_mb(cfg.data_dir), 1),
    }


def print_growth(rows: list[dict]) -> None:
    """Per metric: first, last, and the slope per round over the warm last two thirds."""
    warm = rows[len(rows) // 3 :] if len(rows) >= 6 else rows
    print(f"{'metric':<18}{'first':>10}{'last':>10}{'slope/round (last 2/3)':>26}")
    for key in METRICS:
        ys = [r[key] for r in warm if r[key] is not None]
        if ys:
            print(f"{key:<18}{rows[0][key]:>10}{rows[-1][key]:>10}{slope(ys):>26.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--vllm-url", default=None, help="attach to a running server (served as smollm2-135m)")
    ap.add_argument("--vllm-token-file", type=Path, default=None, help="that server's bearer-token file (vllm.token)")
    ap.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args()

    from net_util import free_port

    from daemon.config import load_daemon_config
    from daemon.state import Store
    from ssd.model_store import prepare_smollm2
    from ssd.vllm_server import ServerConfig, VLLMServer

    model_dir = Path(prepare_smollm2(REPO / ".data").path)
    root = Path(tempfile.mkdtemp(prefix="ssd-soak-"))
    server = None
    url = args.vllm_url
    if url is not None and args.vllm_token_file:
        register_token(url, read_token(args.vllm_token_file))
    if url is None:
        server = VLLMServer.start(
            model_dir,
            "smollm2-135m",
            ServerConfig(port=free_port(), max_lora_rank=16, max_loras=4, cpu_kvcache_gib=2),
            root / "vllm.log",
        )
        url = server.base_url
    port = free_port()
    config = write_soak_config(
        root, model_dir, url, port, server.config.api_key_file if server else args.vllm_token_file
    )
    cfg = load_daemon_config(config)
    log = (root / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "--json-logs", "run", "-c", str(config)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_healthy(f"http://127.0.0.1:{port}")
    traffic = Traffic(f"http://127.0.0.1:{port}")
    traffic.start()
    vllm_pid = server.proc.pid if server and server.proc else None
    load0 = os.getloadavg()
    rows: list[dict] = []
    t0 = time.monotonic()
    try:
        store = Store(cfg.db_path, create=False)
        seen = 0
        while len(rows) < args.rounds and daemon.poll() is None:
            done = [r for r in store.rounds() if r.status != "running"]
            if len(done) > seen:
                seen = len(done)
                row = measure(cfg, daemon.pid, vllm_pid, url, seen, done[0].decision or done[0].status, t0)
                rows.append(row)
                print(json.dumps(row), flush=True)
            time.sleep(2)
    finally:
        traffic.stop.set()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
        if server is not None:
            server.stop()
    print(
        f"\n{len(rows)} rounds in {time.monotonic() - t0:.0f}s; assistant requests ok {traffic.ok}, "
        f"failed {traffic.failed}; load average {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print_growth(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
