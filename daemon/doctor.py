"""``ssdd doctor``: what a first start needs, each with the fix when it is missing."""

from __future__ import annotations

import importlib.util
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _docker(cfg) -> list[Check]:
    if cfg.sandbox.backend != "docker":
        return [Check("sandbox", True, f"backend {cfg.sandbox.backend} (no isolation: tests only)")]
    try:
        from sandbox.image import check_image, docker_client

        client = docker_client()
        client.ping()
    except Exception as exc:
        return [
            Check(
                "docker engine",
                False,
                f"no answer ({type(exc).__name__}: {exc})"[:200],
                "install docker.io and start dockerd (scripts/bootstrap.sh does both)",
            )
        ]
    out = [Check("docker engine", True, "answers")]
    try:
        check_image(client, cfg.sandbox.image)
        out.append(Check("sandbox image", True, cfg.sandbox.image))
    except Exception as exc:
        out.append(Check("sandbox image", False, str(exc)[:200], "python -m sandbox.image ensure"))
    return out


def _vllm(cfg) -> Check:
    if cfg.server.url:
        return Check("vllm", True, f"attaching to {cfg.server.url}")
    if importlib.util.find_spec("vllm") is None:
        extra = "cpu" if cfg.server.device == "cpu" else "gpu"
        return Check("vllm", False, "the vllm package is not importable", f"pip install -e '.[{extra}]'")
    return Check("vllm", True, "importable")


def _gpus(cfg) -> Check:
    if cfg.server.device != "gpu":
        return Check("gpus", True, "not needed (server.device: cpu)")
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception as exc:
        return Check("gpus", False, f"torch cannot see CUDA ({exc})", "install a CUDA build of torch and the driver")
    want = set(cfg.gpu.serve_devices) | set(cfg.gpu.train_devices)
    missing = sorted(d for d in want if d >= n)
    if missing:
        return Check("gpus", False, f"{n} visible, config uses {sorted(want)}", "fix gpu.serve_devices/train_devices")
    from daemon.gpu import check_gpu_plan, device_memory_gib

    problems = check_gpu_plan(
        cfg.gpu.serve_devices,
        cfg.gpu.train_devices,
        cfg.server.gpu_memory_utilization,
        cfg.gpu.train_memory_gib,
        cfg.server.tensor_parallel_size,
        device_memory_gib(),
    )
    if problems:
        return Check("gpus", False, "; ".join(problems), "change the gpu section or server.gpu_memory_utilization")
    return Check("gpus", True, f"{n} visible; serve on {cfg.gpu.serve_devices}, train on {cfg.gpu.train_devices}")


def run_checks(cfg) -> list[Check]:
    from daemon.state import StateError, Store
    from ssd.model_store import ModelError, resolve

    checks = [Check("config", True, "valid")]
    checks += _docker(cfg)
    checks.append(_vllm(cfg))
    checks.append(_gpus(cfg))
    try:
        info = resolve(cfg.data_dir, cfg.model)
        checks.append(Check("model", True, f"{info.name} at {info.path}"))
    except (ModelError, ValueError) as exc:
        checks.append(
            Check("model", False, str(exc)[:200], f"ssd models prepare {cfg.model} --data-dir {cfg.data_dir}")
        )
    for what, host, port in (
        ("endpoint port", cfg.endpoint.host, cfg.endpoint.port),
        ("vLLM port", cfg.server.host, cfg.server.port),
    ):
        if cfg.server.url and what == "vLLM port":
            continue
        ok = port == 0 or _port_free(host, port)
        checks.append(
            Check(
                what,
                ok,
                f"{host}:{port} {'free' if ok else 'in use'}",
                "stop what listens there (a running ssdd?) or change the port",
            )
        )
    root = Path(cfg.data_dir)
    probe = root if root.exists() else root.parent
    free = shutil.disk_usage(probe).free / 2**30 if probe.exists() else 0.0
    checks.append(Check("disk", free >= 5, f"{free:.1f} GiB free under {probe}", "free space: rounds need a few GiB"))
    if Path(cfg.db_path).exists():
        try:
            Store(cfg.db_path, create=False).close()
            checks.append(Check("state db", True, str(cfg.db_path)))
        except StateError as exc:
            checks.append(Check("state db", False, str(exc)[:300], "move the file away or run the matching ssdd"))
    else:
        checks.append(Check("state db", True, f"{cfg.db_path} (created on first start)"))
    return checks
