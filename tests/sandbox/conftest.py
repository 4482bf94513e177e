"""Shared fixtures: one real Docker sandbox for the whole session, and problem builders."""

from __future__ import annotations

import pytest

from sandbox import SandboxConfig, SandboxLimits, SandboxUnavailable, open_sandbox

# Tight enough that hostile programs fail fast, loose enough for HumanEval on a loaded 2-core box.
TEST_LIMITS = SandboxLimits(test_timeout_s=5.0, test_cpu_s=3.0, memory_mb=256, tmpfs_mb=32)


@pytest.fixture(scope="session")
def docker_sandbox():
    try:
        sb = open_sandbox(SandboxConfig(backend="docker", workers=2, limits=TEST_LIMITS))
    except SandboxUnavailable as exc:
        pytest.fail(f"docker sandbox unavailable: {exc}")
    yield sb
    sb.close()
