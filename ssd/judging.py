"""`ssd judge`: judge a file of programs against a problem set and summarise."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from sandbox import SandboxConfig, Verdict, open_sandbox
from ssd.atomic_io import write_text_atomic
from ssd.problems import InputError, Problem, Solution, load_problems, load_solutions

BUILTIN_SETS = ("humaneval", "starter")


class JudgeSummary(BaseModel):
    total: int
    passed: int
    by_status: dict[str, int]
    seconds: float

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def load_problem_set(spec: str) -> list[Problem]:
    if spec == "humaneval":
        from ssd.sources.humaneval import load_humaneval

        return load_humaneval()
    if spec == "starter":
        from ssd.sources.starter import load_starter

        return load_starter()
    path = Path(spec)
    if not path.is_file():
        raise InputError(spec, None, f"no such problems file (or built-in set: {', '.join(BUILTIN_SETS)})")
    return load_problems(path)


def load_solution_set(spec: str, problems_spec: str, problems: list[Problem]) -> list[Solution]:
    if spec == "canonical":
        if problems_spec == "humaneval":
            from ssd.sources.humaneval import humaneval_canonical

            return humaneval_canonical()
        if problems_spec == "starter":
            from ssd.sources.starter import starter_solutions

            return starter_solutions("reference")
        raise InputError(spec, None, "'canonical' solutions exist only for --problems humaneval or starter")
    return load_solutions(Path(spec), (p.id for p in problems))


def verdict_row(sol: Solution, v: Verdict) -> dict:
    return {
        "problem_id": sol.problem_id,
        "passed": v.passed,
        "status": v.status.value,
        "error": v.error,
        "tests": [t.model_dump(mode="json") for t in v.tests],
    }


def judge_file(
    problems_spec: str, solutions_spec: str, config: SandboxConfig, out: Path | None, progress: bool = True
) -> tuple[list[Verdict], JudgeSummary]:
    # Validate every input before any work, so a bad line fails fast and writes nothing.
    problems = load_problem_set(problems_spec)
    by_id = {p.id: p for p in problems}
    solutions = load_solution_set(solutions_spec, problems_spec, problems)
    untestable = sorted({s.problem_id for s in solutions if by_id[s.problem_id].tests is None})
    if untestable:
        raise InputError(problems_spec, None, f"problems without tests cannot be judged: {', '.join(untestable[:5])}")

    t0 = time.monotonic()
    with open_sandbox(config) as sb:
        verdicts = sb.judge_many([(by_id[s.problem_id], s.program) for s in solutions], progress=progress)
    seconds = time.monotonic() - t0

    if out is not None:
        # Atomic: an interrupted run leaves no file that looks complete.
        write_text_atomic(out, "".join(json.dumps(verdict_row(sol, v)) + "\n" for sol, v in zip(solutions, verdicts)))
    summary = JudgeSummary(
        total=len(verdicts),
        passed=sum(v.passed for v in verdicts),
        by_status=dict(Counter(v.status.value for v in verdicts)),
        seconds=seconds,
    )
    return verdicts, summary
