"""Held-out evaluation: sample through the server, extract programs, judge in the sandbox,
report pass@k per decoding temperature.

Prompts are rendered exactly as for sampling and training (``ssd.prompts.render``). A
response without code counts as a failure (status ``no_code``), never as a skipped sample,
so a model that stops writing code is penalised. Per-problem (n, c) counts are kept for
paired comparisons between a candidate and the incumbent.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from policies.counts import ProblemCounts
from ssd.atomic_io import write_text_atomic
from ssd.passk import bootstrap_ci, ks_for, pass_at_k
from ssd.problems import InputError, Problem
from ssd.prompts import RenderedPrompt, extract_program, render_for_model
from ssd.sampling import GenerationResult, SamplingParams, generate

log = structlog.get_logger(__name__)

NO_CODE = "no_code"
PASSED = "passed"
CI_METHOD = "percentile bootstrap over problems of per-problem pass@1 (2000 resamples, seed 0), 95%"


class Judge(Protocol):
    def judge_many(self, items, progress: bool = True) -> list: ...


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    t_eval: list[float] = Field(default_factory=lambda: [0.0, 0.6, 1.0], min_length=1)
    top_k: int = 20
    top_p: float = Field(0.8, gt=0, le=1)
    min_p: float = Field(0.0, ge=0, lt=1)
    # Samples per problem at T > 0. Greedy decoding (T = 0) is deterministic, so it draws one.
    n: int = Field(4, ge=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int = 0
    concurrency: int = Field(32, ge=1)
    request_timeout_s: float = Field(1800.0, gt=0)
    # vLLM request priority (needs --scheduling-policy priority); None sends none.
    priority: int | None = None

    @field_validator("t_eval")
    @classmethod
    def _temps(cls, v: list[float]) -> list[float]:
        if any(t < 0 for t in v):
            raise ValueError(f"t_eval values must be >= 0, got {v}")
        if len(set(v)) != len(v):
            raise ValueError(f"t_eval has duplicates: {v}")
        return v

    def params_for(self, temperature: float) -> SamplingParams:
        return SamplingParams(
            temperature=temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            min_p=self.min_p,
            max_tokens=self.max_tokens,
            n=1 if temperature == 0 else self.n,
            seed=self.seed,
        )


class ProblemResult(BaseModel):
    problem_id: str
    difficulty: str | None
    n: int
    c: int
    pass_at_k: dict[int, float]
    statuses: dict[str, int]  # "passed", "no_code", or the sandbox's first failing test status


class GroupSummary(BaseModel):
    problems: int
    pass_at_k: dict[int, float]


class TemperatureEval(BaseModel):
    """One model's evaluation at one temperature: pass@k with its CI, per problem and per difficulty."""

    temperature: float
    n: int
    pass_at_k: dict[int, float]
    pass_at_1_ci: tuple[float, float]
    by_difficulty: dict[str, GroupSummary]
    per_problem: list[ProblemResult]
    statuses: dict[str, int]
    completion_tokens: int
    truncated: int  # finish_reason "length"
    generate_s: float
    judge_s: float


class EvalReport(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    base_url: str
    created_at: str
    problems: int
    config: EvalConfig
    ci_method: str = CI_METHOD
    temperatures: list[TemperatureEval]
    best_temperature: float
    best_pass_at_1: float

    def at(self, temperature: float) -> TemperatureEval:
        for t in self.temperatures:
            if t.temperature == temperature:
                return t
        raise KeyError(f"no result at T={temperature}; have {[t.temperature for t in self.temperatures]}")

    @property
    def best(self) -> TemperatureEval:
        return self.at(self.best_temperature)


def _mean_pass(rows: Sequence[ProblemResult], ks: Sequence[int]) -> dict[int, float]:
    return {k: sum(r.pass_at_k[k] for r in rows) / len(rows) for k in ks} if rows else {}


def _check_problems(problems: Sequence[Problem]) -> None:
    if not problems:
        raise InputError("<held-out problems>", None, "no problems to evaluate")
    missing = [p.id for p in problems if p.tests is None]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(
            "<held-out problems>", None, f"{len(missing)} held-out problem(s) have no tests, cannot be judged: {shown}"
        )
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise InputError("<held-out problems>", None, "duplicate problem ids")


def judge_results(
    problems: Sequence[Problem],
    rendered: Sequence[RenderedPrompt],
    results: Sequence[GenerationResult],
    sandbox: Judge,
    *,
    progress: bool = False,
) -> list[tuple[str, str | None]]:
    """(status, program) per result: the program extracted from the completion, ``no_code``
    when there is none, else "passed" or the sandbox's first failing test status."""
    programs = [extract_program(rendered[r.prompt_index], r.text) for r in results]
    to_judge = [(problems[r.prompt_index], prog) for r, prog in zip(results, programs) if prog is not None]
    verdicts = iter(sandbox.judge_many(to_judge, progress=progress) if to_judge else [])
    out: list[tuple[str, str | None]] = []
    for r, prog in zip(results, programs):
        if prog is None:
            out.append((NO_CODE, None))
            continue
        v = next(verdicts)
        if v.problem_id != r.problem_id:
            raise RuntimeError(f"sandbox returned verdicts out of order ({v.problem_id} for {r.problem_id})")
        out.append((PASSED if v.passed else v.status.value, prog))
    return out


def summarize(
    temperature: float,
    n: int,
    problems: Sequence[Problem],
    results: Sequence[GenerationResult],
    statuses: Sequence[str],
    *,
    generate_s: float = 0.0,
    judge_s: float = 0.0,
) -> TemperatureEval:
    """pass@k overall, per difficulty and per problem from per-sample statuses."""
    by_problem: dict[int, Counter] = {i: Counter() for i in range(len(problems))}
    for r, status in zip(results, statuses, strict=True):
        by_problem[r.prompt_index][status] += 1
    ks = ks_for(n)
    per_problem = []
    for i, p in enumerate(problems):
        st = by_problem[i]
        got = sum(st.values())
        if got != n:
            raise RuntimeError(f"problem {p.id!r} has {got} judged samples, expected {n}")
        c = st.get(PASSED, 0)
        per_problem.append(
            ProblemResult(
                problem_id=p.id,
                difficulty=p.difficulty,
                n=n,
                c=c,
                pass_at_k={k: pass_at_k(n, c, k) for k in ks},
                statuses=dict(st),
            )
        )
    groups: dict[str, list[ProblemResult]] = {}
    for pr in per_problem:
        groups.setdefault(pr.difficulty or "unknown", []).append(pr)
    return TemperatureEval(
        temperature=temperature,
        n=n,
        pass_at_k=_mean_pass(per_problem, ks),
        pass_at_1_ci=bootstrap_ci([pr.pass_at_k[1] for pr in per_problem]),
        by_difficulty={
            d: GroupSummary(problems=len(rows), pass_at_k=_mean_pass(rows, ks)) for d, rows in sorted(groups.items())
        },
        per_problem=per_problem,
        statuses=dict(sum((Counter(pr.statuses) for pr in per_problem), Counter())),
        completion_tokens=sum(r.completion_tokens for r in results),
        truncated=sum(r.finish_reason == "length" for r in results),
        generate_s=round(generate_s, 3),
        judge_s=round(judge_s, 3),
    )


def _one_temperature(
    base_url: str,
    model_name: str,
    problems: Sequence[Problem],
    rendered,
    sandbox: Judge,
    cfg: EvalConfig,
    temperature: float,
    progress: bool,
    details: list[dict] | None,
    blog,
) -> TemperatureEval:
    params = cfg.params_for(temperature)
    t0 = time.monotonic()
    results = generate(
        base_url,
        model_name,
        rendered,
        params,
        concurrency=cfg.concurrency,
        progress=progress,
        timeout_s=cfg.request_timeout_s,
        record_rejected=True,
        description=f"eval T={temperature:g}",
        priority=cfg.priority,
    )
    gen_s = time.monotonic() - t0
    t1 = time.monotonic()
    judged = judge_results(problems, rendered, results, sandbox, progress=progress)
    judge_s = time.monotonic() - t1
    if details is not None:
        for r, (status, prog) in zip(results, judged):
            details.append(
                {
                    "temperature": temperature,
                    "problem_id": r.problem_id,
                    "sample_index": r.sample_index,
                    "status": status,
                    "finish_reason": r.finish_reason,
                    "completion_tokens": r.completion_tokens,
                    "completion": r.text,
                    "program": prog,
                }
            )
    tr = summarize(temperature, params.n, problems, results, [s for s, _ in judged], generate_s=gen_s, judge_s=judge_s)
    blog.info(
        "evaluate.temperature",
        temperature=temperature,
        n=params.n,
        pass_at_1=round(tr.pass_at_k[1], 4),
        ci=tr.pass_at_1_ci,
        statuses=tr.statuses,
        generate_s=tr.generate_s,
        judge_s=tr.judge_s,
    )
    return tr


def evaluate(
    base_url: str,
    model_name: str,
    problems: Sequence[Problem],
    model_dir: str | Path,
    sandbox: Judge,
    cfg: EvalConfig = EvalConfig(),
    *,
    progress: bool = True,
    details_path: str | Path | None = None,
    round_id: str | None = None,
) -> EvalReport:
    """Evaluate ``model_name`` (the base or a loaded adapter) served at ``base_url`` on held-out
    ``problems`` at each ``cfg.t_eval``. ``model_dir`` is the base model folder whose tokenizer
    renders the prompts. ``details_path`` optionally receives every sample (completion,
    extracted program, status) as JSONL, for inspection."""
    _check_problems(problems)
    blog = log.bind(stage="evaluate", round_id=round_id, model=model_name)
    rendered = [render_for_model(p, model_dir) for p in problems]
    details: list[dict] | None = [] if details_path else None
    temps = [
        _one_temperature(base_url, model_name, problems, rendered, sandbox, cfg, t, progress, details, blog)
        for t in cfg.t_eval
    ]
    # Ties go to the lower temperature: less sampling noise for the same score.
    best = max(temps, key=lambda t: (t.pass_at_k[1], -t.temperature))
    report = EvalReport(
        model_name=model_name,
        base_url=base_url,
        created_at=datetime.now(timezone.utc).isoformat(),
        problems=len(problems),
        config=cfg,
        temperatures=temps,
        best_temperature=best.temperature,
        best_pass_at_1=best.pass_at_k[1],
    )
    if details_path is not None:
        write_text_atomic(Path(details_path), "".join(json.dumps(d) + "\n" for d in details or []))
    return report


def save_report(report: EvalReport, path: str | Path) -> None:
    write_text_atomic(Path(path), report.model_dump_json(indent=2))


def load_report(path: str | Path) -> EvalReport:
    path = Path(path)
    try:
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, None, f"not a valid evaluation report: {exc}") from exc


def report_table(report: EvalReport):
    """A rich Table: one row per temperature, the best marked."""
    from rich.table import Table

    ks = sorted({k for t in report.temperatures for k in t.pass_at_k})
    table = Table(title=f"{report.model_name}: {report.problems} problems")
    table.add_column("T_eval", justify="right")
    table.add_column("n", justify="right")
    table.add_column("pass@1 [95% CI]", justify="right")
    for k in ks[1:]:
        table.add_column(f"pass@{k}", justify="right")
    table.add_column("no code", justify="right")
    table.add_column("truncated", justify="right")
    for t in report.temperatures:
        lo, hi = t.pass_at_1_ci
        mark = " *" if t.temperature == report.best_temperature else ""
        table.add_row(
            f"{t.temperature:g}{mark}",
            str(t.n),
            f"{t.pass_at_k[1]:.3f} [{lo:.3f}, {hi:.3f}]",
            *[f"{t.pass_at_k[k]:.3f}" if k in t.pass_at_k else "-" for k in ks[1:]],
            str(t.statuses.get(NO_CODE, 0)),
            str(t.truncated),
        )
    diffs = report.best.by_difficulty
    if len(diffs) > 1:
        table.caption = "best T by difficulty: " + ", ".join(
            f"{d} {g.pass_at_k[1]:.3f} ({g.problems})" for d, g in diffs.items()
        )
    return table


def print_report(report: EvalReport, console=None) -> None:
    from rich.console import Console

    (console or Console()).print(report_table(report))


def counts_at(result: TemperatureEval) -> list[ProblemCounts]:
    """Per-problem (n, c) at one temperature: what the paired tests in ``policies`` take."""
    return [ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.c) for r in result.per_problem]


def evaluate_cached(path: Path, **kwargs: Any) -> tuple[EvalReport, float]:
    """``evaluate(**kwargs)`` into ``path`` (its per-sample details beside it, ``*.samples.jsonl``)
    unless ``path`` is already there: a resumed round never evaluates an arm twice.
    Returns the report and the seconds spent (0 when it was read back)."""
    if path.is_file():
        return load_report(path), 0.0
    t0 = time.monotonic()
    report = evaluate(details_path=path.with_suffix(".samples.jsonl"), **kwargs)
    save_report(report, path)
    return report, time.monotonic() - t0
