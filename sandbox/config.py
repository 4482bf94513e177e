"""Sandbox settings (limits, backend, pool size)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SANDBOX_IMAGE_REPO = "ssd-sandbox"
# Bump when deploy/sandbox or sandbox/harness.py changes in a way the image must reflect
# (2: the assert kind's judge process, harness --judge-uid).
SANDBOX_IMAGE_VERSION = "2"


class SandboxLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    test_timeout_s: float = Field(6.0, gt=0, le=600, description="wall limit per test")
    test_cpu_s: float = Field(4.0, gt=0, le=600, description="CPU limit per test")
    memory_mb: int = Field(512, ge=32, le=65536, description="per container, no swap")
    output_bytes: int = Field(1 << 20, ge=1024, description="stdout cap per test")
    stderr_bytes: int = Field(4096, ge=0, description="stderr kept per test")
    pids: int = Field(64, ge=8, le=4096)
    tmpfs_mb: int = Field(64, ge=1, le=4096)
    cpus: float = Field(1.0, gt=0, le=64)
    open_files: int = Field(256, ge=16)
    file_size_mb: int = Field(16, ge=1)


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["docker", "local"] = "docker"
    workers: int = Field(2, ge=1, le=256)
    image: str = f"{SANDBOX_IMAGE_REPO}:{SANDBOX_IMAGE_VERSION}"
    limits: SandboxLimits = SandboxLimits()
