"""What is judged: a problem's hidden tests, in one of three kinds (``stdio``, ``call``, ``assert``).

The sandbox needs only this part of the problem model, so it lives here, and the problem module
of the ``ssd`` package (``Problem``, loading, writing) imports and re-exports it; the sandbox
depends on nothing of ``ssd``. A ``Judgeable`` is anything with an ``id`` and ``tests``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AssertTests", "CallCase", "CallTests", "Judgeable", "StdioCase", "StdioTests", "Tests"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StdioCase(_Strict):
    """One stdin -> expected stdout pair (compared by the LiveCodeBench rule)."""

    input: str
    output: str


class StdioTests(_Strict):
    """The program reads stdin and writes stdout; every case must match."""

    kind: Literal["stdio"]
    cases: list[StdioCase] = Field(min_length=1)


class CallCase(_Strict):
    """Positional arguments -> expected JSON return value."""

    input: list[Any]
    output: Any


class CallTests(_Strict):
    """The program defines ``fn_name`` (or ``Solution.fn_name``); its JSON return value is compared."""

    kind: Literal["call"]
    fn_name: str = Field(min_length=1)
    cases: list[CallCase] = Field(min_length=1)

    @field_validator("fn_name")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not v.isidentifier():
            raise ValueError(f"fn_name {v!r} is not a Python identifier")
        return v


class AssertTests(_Strict):
    """Python test code run with the program: ``check(entry_point)`` when an entry point is
    given (HumanEval), otherwise module-level asserts (MBPP)."""

    kind: Literal["assert"]
    entry_point: str | None = None
    code: str = Field(min_length=1)

    @field_validator("entry_point")
    @classmethod
    def _identifier(cls, v: str | None) -> str | None:
        if v is not None and not v.isidentifier():
            raise ValueError(f"entry_point {v!r} is not a Python identifier")
        return v


Tests = Annotated[Union[StdioTests, CallTests, AssertTests], Field(discriminator="kind")]


class Judgeable(Protocol):
    """What the sandbox reads from a problem: its id (for the verdict) and its tests."""

    @property
    def id(self) -> str: ...

    @property
    def tests(self) -> StdioTests | CallTests | AssertTests | None: ...
