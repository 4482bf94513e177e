"""Helpers shared by the benchmarks (each bench runs as a script, so bench/ is on sys.path)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from net_util import free_port  # noqa: E402  one implementation for the tests and the benches

__all__ = ["free_port", "loadavg"]


def loadavg() -> str:
    """The 1/5/15-minute load averages, printed with every figure: this box is shared."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
