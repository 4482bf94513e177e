"""Parallel judging with an optional rich progress bar, shared by the backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from sandbox.session import sandbox_error
from sandbox.tests_spec import Judgeable
from sandbox.verdict import Verdict

log = structlog.get_logger(__name__).bind(stage="sandbox")


def judge_all(
    judge: Callable[[Judgeable, str], Verdict],
    jobs: Sequence[tuple[Judgeable, str]],
    workers: int,
    progress: bool,
) -> list[Verdict]:
    for problem, _ in jobs:
        if problem.tests is None:
            raise ValueError(f"problem {problem.id!r} has no tests to judge against")

    def one(job: tuple[Judgeable, str]) -> Verdict:
        problem, program = job
        try:
            return judge(problem, program)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken run must not sink the batch
            log.exception("judge failed", problem_id=problem.id)
            return sandbox_error(problem, f"{type(exc).__name__}: {exc}")

    results: list[Verdict | None] = [None] * len(jobs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
        futures = {pool.submit(one, job): i for i, job in enumerate(jobs)}
        if progress:
            from concurrent.futures import as_completed

            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("judging"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("passed {task.fields[passed]}"),
                TimeElapsedColumn(),
            ) as bar:
                task = bar.add_task("judge", total=len(jobs), passed=0)
                passed = 0
                for fut in as_completed(futures):
                    verdict = fut.result()
                    results[futures[fut]] = verdict
                    passed += verdict.passed
                    bar.update(task, advance=1, passed=passed)
        else:
            for fut, i in futures.items():
                results[i] = fut.result()
    return results  # type: ignore[return-value]
