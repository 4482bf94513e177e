"""Driving a real ``ssdd run`` process in tests: a tiny config over the shared vLLM server,
start / SIGKILL / SIGTERM, waiting on the state database, and real adapters trained on the
held-out problems' reference (or wrong) solutions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


# Two optimiser steps: with one, the step at warm-up learning rate 0 leaves a zero adapter.
TINY_DISTILL = {
    "lora_rank": 8,
    "lora_alpha": 16,
    "epochs": 1,
    "per_device_batch_size": 2,
    "grad_accum_steps": 1,
    "max_seq_len": 384,
    "cpu_threads": 1,
    "max_steps": 2,
}


def tiny_config(
    root: Path, model_dir: Path, vllm_url: str | None, *, api_key_file: Path | None = None, **override
) -> Path:
    """A config small enough for a round in a few minutes on 2 cores; ``api_key_file``: the
    token file of the vLLM at ``vllm_url`` (``VLLMServer.config.api_key_file``)."""
    cfg = {
        "data_dir": str(root / "data"),
        "run_name": "tiny",
        "model": str(model_dir),
        "served_model_name": "smollm2-135m",
        "server": {"url": vllm_url, "max_lora_rank": 16, "max_loras": 4}
        | ({"api_key_file": str(api_key_file)} if api_key_file else {}),
        "endpoint": {"port": 0, "health_interval_s": 1.0},
        "sandbox": {"backend": "docker", "workers": 2},
        "data": {"sources": [{"kind": "starter"}], "split": {"heldout_count": 8, "seed": 0}, "max_train_prompts": 4},
        "heldout": {"audit_frac": 0.15},
        "sampling": {
            "params": {"temperature": 1.6, "top_k": 20, "top_p": 0.8, "max_tokens": 48, "n": 1, "seed": 0},
            "concurrency": 4,
            "filters": {"drop_empty": True, "drop_single_line": False, "drop_shortest_frac": 0.0},
        },
        "distill": dict(TINY_DISTILL),
        "evaluation": {"t_eval": [0.0], "n": 1, "max_tokens": 128, "concurrency": 12},
        # 13 gate problems: a lifetime budget of 0.05 spread over unlimited tests could never
        # reach significance here, so the tiny config spends a larger budget faster.
        "gate": {"alpha": 0.3, "spend_horizon": 1.0, "spend_shape": 1.0, "min_problems": 5},
        "reevaluation": {
            "alpha": 0.3,
            "spend_horizon": 1.0,
            "spend_shape": 1.0,
            "min_problems": 5,
            "cooldown_rounds": 0,
        },
        "schedule": {
            "rounds": "continuous",
            "reevaluate": "off",
            "retention": "off",
            "retry_backoff_s": [2, 5],
            "watchdog_s": 6,
            "control_poll_s": 0.5,
            "backoff_after_rejections": 50,
        },
    }
    for key, value in override.items():
        node = cfg
        parts = key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    path = root / "ssdd.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``SSD_*`` / ``SSDD_*`` variable (a stray one from
    the shell or another test would change what the child does), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSD_", "SSDD_"))}
    return env | extra


def ssdd(config: Path, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args, "-c", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ssdd {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def status(config: Path) -> dict:
    return json.loads(ssdd(config, "status", "--json").stdout)


class DaemonProcess:
    """One ``ssdd run`` child; its log goes to a file for post-mortems. ``fault``: the crash
    tests' kill point (``daemon.rounds.context.fault_point``) this run dies at."""

    def __init__(self, config: Path, log_path: Path, *, fault: str | None = None):
        self.config, self.log_path, self.fault = config, log_path, fault
        self.proc: subprocess.Popen | None = None

    def start(self, ready_timeout_s: float = 240) -> DaemonProcess:
        fh = self.log_path.open("a")
        since = fh.tell()  # a restart appends to the same log: only this run's lines count
        env = child_env(PYTHONUNBUFFERED="1", **({"SSDD_FAULT_KILL_AT": self.fault} if self.fault else {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "--json-logs", "run", "-c", str(self.config)],
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            # Ready first: a daemon that became ready and was then killed by a fault point (a
            # resumed round can reach it within milliseconds) did start; the caller waits for it.
            if b'"event": "daemon.ready"' in self.log_path.read_bytes()[since:]:
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"ssdd run exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.5)
        raise AssertionError(f"ssdd run not ready in {ready_timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def unload_adapters(server) -> None:
    """What a daemon attached to the shared test server left loaded (it keeps its champion and
    pins loaded on purpose: a restart serves them again)."""
    for name in server.list_models():
        if name != server.served_model_name:
            server.unload_adapter(name)


def wait_for(
    pred: Callable[[], object], timeout: float, what: str, daemon: DaemonProcess | None = None, every: float = 1.0
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"daemon died while waiting for {what}:\n{daemon.log_tail()}")
        time.sleep(every)
    tail = daemon.log_tail() if daemon else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tail}")


def train_solution_adapter(
    model_dir: Path, problems, solutions: dict[str, str], out_dir: Path, *, steps: int, lr: float = 2e-3, rank: int = 8
) -> Path:
    """A real LoRA trained with the project's own distillation on ``solutions`` (problem id ->
    program) rendered exactly as the evaluator prompts and extracts: it memorises them."""
    from ssd.distill import DistillConfig, distill
    from ssd.prompts import render_for_model

    if (out_dir / "adapter_config.json").is_file():
        return out_dir
    rows = []
    for p in problems:
        if p.id in solutions:
            prompt = render_for_model(p, model_dir).text
            rows.append({"prompt": prompt, "completion": f"```python\n{solutions[p.id]}```", "finish_reason": "stop"})
    train = out_dir.parent / f"{out_dir.name}.train.jsonl"
    train.parent.mkdir(parents=True, exist_ok=True)
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = DistillConfig(
        lora_rank=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        learning_rate=lr,
        epochs=100,
        max_steps=steps,
        per_device_batch_size=4,
        grad_accum_steps=1,
        max_seq_len=512,
        warmup_ratio=0.0,
        lr_schedule="constant_with_warmup",
        weight_decay=0.0,
        cpu_threads=1,
        init="base",
    )
    distill(model_dir, train, out_dir, cfg, round_id="test-solutions")
    return out_dir
