"""Small helpers shared by test modules (importable by name: tests/ is on sys.path)."""

import random
import socket
from pathlib import Path

_HANDED_OUT: set[int] = set()
_SPAN = 12_000


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port that is free now and stays likely free until a slow server binds it.

    Asking the kernel for port 0 hands out a port from the ephemeral range, which every outgoing
    connection made meanwhile (httpx clients, Docker, vLLM's own workers) draws from too: over
    vLLM's 60-second start such a port can be taken. So the port comes from just below that
    range, where the kernel never assigns local ports on its own, and is never handed out twice
    by one test process."""
    low, _ = ephemeral_range()
    start = max(1024, low - _SPAN)
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(start, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {start}-{low - 1}")
