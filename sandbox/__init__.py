"""Running untrusted model-written Python against one problem's tests.

with open_sandbox(SandboxConfig()) as sb:
    verdict = sb.judge(problem, program)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sandbox.config import SandboxConfig, SandboxLimits
from sandbox.errors import SandboxUnavailable
from sandbox.tests_spec import Judgeable
from sandbox.verdict import TestResult, TestStatus, Verdict

__all__ = [
    "Sandbox",
    "SandboxConfig",
    "SandboxLimits",
    "SandboxUnavailable",
    "TestResult",
    "TestStatus",
    "Verdict",
    "open_sandbox",
]


@runtime_checkable
class Sandbox(Protocol):
    def judge(self, problem: Judgeable, program: str) -> Verdict: ...

    def judge_many(self, jobs: Sequence[tuple[Judgeable, str]], progress: bool = False) -> list[Verdict]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc) -> None: ...


def open_sandbox(config: SandboxConfig | None = None) -> Sandbox:
    """Start the configured backend; raises SandboxUnavailable with a fix when it cannot."""
    config = config or SandboxConfig()
    if config.backend == "docker":
        from sandbox.docker_backend import DockerSandbox

        return DockerSandbox(config)
    from sandbox.local_backend import LocalSandbox

    return LocalSandbox(config)
