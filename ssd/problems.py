"""The problem format shared by every stage: one JSON object per line.

A problem carries a prompt, optional starter code and difficulty, and hidden tests of one of
three kinds (``stdio``, ``call``, ``assert``). Training prompts may have no tests at all
(``tests: null``); the held-out set must have them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The test specs (what is judged) belong to the sandbox, which must not import from ssd;
# re-exported here so that `from ssd.problems import StdioTests` keeps working.
from sandbox.tests_spec import AssertTests, CallCase, CallTests, StdioCase, StdioTests, Tests

__all__ = [
    "AssertTests",
    "CallCase",
    "CallTests",
    "InputError",
    "Problem",
    "Solution",
    "StdioCase",
    "StdioTests",
    "Tests",
    "iter_jsonl",
    "load_problems",
    "load_solutions",
    "parse_rows",
    "validation_message",
    "write_problems",
]


class InputError(ValueError):
    """Bad input from outside, located by file and line so a user can fix it."""

    def __init__(self, source: str | Path, line: int | None, message: str):
        self.source = str(source)
        self.line = line
        self.message = message
        where = f"{self.source}:{line}" if line is not None else self.source
        super().__init__(f"{where}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Problem(_Strict):
    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    starter_code: str | None = None
    difficulty: str | None = None
    tests: Tests | None = None
    # Free-form provenance (source dataset, contest date, ...); never used for judging.
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def has_tests(self) -> bool:
        return self.tests is not None


class Solution(BaseModel):
    """One program to judge against one problem (``ssd judge --solutions`` rows)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    problem_id: str = Field(min_length=1)
    program: str


def validation_message(
    exc: ValidationError,
    *,
    empty: str = "<row>",
    limit: int | None = 1,
    sep: str = "; ",
    template: str = "{loc}: {msg}",
) -> str:
    """A pydantic error as ``loc: msg`` (its first ``limit`` errors, joined by ``sep``): the one
    format every input error uses. ``empty`` names an error of the whole object."""
    errors = exc.errors()[:limit] if limit else exc.errors()
    return sep.join(template.format(loc=".".join(str(p) for p in e["loc"]) or empty, msg=e["msg"]) for e in errors)


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; bad JSON names its line."""
    try:
        fh = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, lineno, f"invalid JSON: {exc.msg}") from exc
            except UnicodeDecodeError as exc:
                raise InputError(path, lineno, f"not UTF-8: {exc.reason}") from exc


def parse_rows(path: Path, model: type[BaseModel]) -> list[Any]:
    out = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise InputError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            raise InputError(path, lineno, validation_message(exc)) from exc
    return out


def load_problems(path: str | Path, *, require_tests: bool = False) -> list[Problem]:
    path = Path(path)
    problems: list[Problem] = parse_rows(path, Problem)
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise InputError(path, None, f"duplicate problem id {p.id!r}")
        seen.add(p.id)
        if require_tests and p.tests is None:
            raise InputError(path, None, f"problem {p.id!r} has no tests")
    return problems


def load_solutions(path: str | Path, known_ids: Iterable[str]) -> list[Solution]:
    path = Path(path)
    known = set(known_ids)
    sols: list[Solution] = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise InputError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
        try:
            sol = Solution.model_validate(row)
        except ValidationError as exc:
            raise InputError(path, lineno, validation_message(exc)) from exc
        if sol.problem_id not in known:
            raise InputError(path, lineno, f"unknown problem_id {sol.problem_id!r}")
        sols.append(sol)
    return sols


def write_problems(problems: Iterable[Problem], path: str | Path) -> None:
    from ssd.atomic_io import write_text_atomic

    write_text_atomic(path, "".join(p.model_dump_json() + "\n" for p in problems))
