"""GPU plan: which devices serve and which train, and whether that fits.

On a GPU box vLLM and the distillation worker share the cards. Either they use separate
devices, or they share one and vLLM's ``gpu_memory_utilization`` leaves room for training:
serving never stops for a round. ``check_gpu_plan`` is pure (device memory in, problems out)
so the rule is tested without a GPU; ``device_memory_gib`` asks torch on the real box.
"""

from __future__ import annotations

import sys


def check_gpu_plan(
    serve_devices: list[int],
    train_devices: list[int],
    gpu_memory_utilization: float,
    train_memory_gib: float,
    tensor_parallel_size: int,
    device_memory_gib: dict[int, float],
) -> list[str]:
    """Problems with the plan (empty: it fits)."""
    problems = []
    missing = sorted((set(serve_devices) | set(train_devices)) - set(device_memory_gib))
    if missing:
        problems.append(f"devices {missing} are not visible (visible: {sorted(device_memory_gib)})")
        return problems
    if len(serve_devices) < tensor_parallel_size:
        problems.append(
            f"server.tensor_parallel_size {tensor_parallel_size} needs {tensor_parallel_size} serve "
            f"devices, gpu.serve_devices has {len(serve_devices)}"
        )
    for d in sorted(set(serve_devices) & set(train_devices)):
        total = device_memory_gib[d]
        left = total * (1.0 - gpu_memory_utilization)
        if left < train_memory_gib:
            problems.append(
                f"device {d} is shared: vLLM takes {gpu_memory_utilization:.0%} of {total:.0f} GiB, leaving "
                f"{left:.1f} GiB, but training needs gpu.train_memory_gib={train_memory_gib:g}; lower "
                f"server.gpu_memory_utilization to <= {max(0.0, 1 - train_memory_gib / total):.2f} or train on "
                f"another device"
            )
    return problems


def device_memory_gib() -> dict[int, float]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {i: torch.cuda.get_device_properties(i).total_memory / 2**30 for i in range(torch.cuda.device_count())}


def visible(devices: list[int]) -> str:
    return ",".join(str(d) for d in devices)


def train_launcher(train_devices: list[int]) -> list[str]:
    """The distillation worker's launcher: the train devices only (``accelerate`` for several)."""
    env = ["env", f"CUDA_VISIBLE_DEVICES={visible(train_devices)}"]
    if len(train_devices) > 1:
        return env + [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(len(train_devices))]
    return env + [sys.executable]
