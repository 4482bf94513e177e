"""Typed results of judging one program against one problem's tests."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class TestStatus(str, Enum):
    __test__ = False  # not a pytest test class

    ok = "ok"
    wrong_answer = "wrong_answer"
    runtime_error = "runtime_error"
    timeout = "timeout"
    memory_exceeded = "memory_exceeded"
    output_limit = "output_limit"
    sandbox_error = "sandbox_error"


class TestResult(BaseModel):
    __test__ = False  # not a pytest test class

    model_config = ConfigDict(frozen=True)
    index: int
    status: TestStatus
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stderr: str = ""  # truncated
    detail: str | None = None  # short human-readable reason, never the expected output


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    problem_id: str
    passed: bool
    tests: list[TestResult] = Field(default_factory=list)
    error: str | None = None  # set when the sandbox itself failed (status sandbox_error)

    @property
    def status(self) -> TestStatus:
        """The first non-ok test status, or ok."""
        for t in self.tests:
            if t.status != TestStatus.ok:
                return t.status
        return TestStatus.sandbox_error if (self.error or not self.tests) else TestStatus.ok
