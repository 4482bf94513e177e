"""The traffic check's measurement: champion and candidate answer the same held-out captured
prompts, and each answer is marked without labels (``policies.traffic`` decides).

- ``code_ok``: the answer holds Python code (fenced blocks tagged python/py or untagged) and
  every such block parses and compiles. Compiling runs in a child interpreter with memory,
  CPU-time and wall-clock limits: ``compile()`` folds constants, and a model can write a
  line that takes the compiler's memory or time (never executed: compiling only).
- ``degenerate``: empty, or looping (one line repeated 6+ times in a row, or 200+
  characters that zlib squeezes below 12% of their size: ordinary code and prose stay
  above 25%).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from policies.traffic import AnswerOutcome, TrafficDecision, TrafficPolicyConfig, decide_traffic
from ssd.prompts import RenderedPrompt
from ssd.sampling import SamplingParams, generate

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+.#-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = {"", "python", "python3", "py", "py3"}
REPEAT_LINES = 6
COMPRESS_MIN_CHARS = 200
COMPRESS_RATIO = 0.12
COMPILE_MEMORY_BYTES = 1 << 30
COMPILE_TIMEOUT_S = 30.0

# Run in ``python -I``: compile each source read as JSON from stdin, print a JSON list of bools.
_COMPILER = """
import json, sys
out = []
for src in json.load(sys.stdin):
    try:
        compile(src, "<answer>", "exec", dont_inherit=True)
        out.append(True)
    except BaseException:
        out.append(False)
print(json.dumps(out))
"""


def python_blocks(text: str) -> list[str]:
    """The fenced blocks of ``text`` tagged as Python or untagged."""
    return [code for tag, code in _BLOCK.findall(text) if tag.lower() in _PYTHON_TAGS]


def degenerate_reason(text: str) -> str | None:
    """Why an answer is degenerate ("empty", "repeated_line", "repetitive"), or None."""
    if not text.strip():
        return "empty"
    run, last = 0, None
    for line in text.splitlines():
        if line.strip() and line.rstrip() == last:
            run += 1
            if run >= REPEAT_LINES - 1:
                return "repeated_line"
        else:
            run = 0
        last = line.rstrip() if line.strip() else None
    data = text.encode("utf-8")
    if len(data) >= COMPRESS_MIN_CHARS and len(zlib.compress(data, 9)) < COMPRESS_RATIO * len(data):
        return "repetitive"
    return None


def _limit_child() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (COMPILE_MEMORY_BYTES, COMPILE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (int(COMPILE_TIMEOUT_S), int(COMPILE_TIMEOUT_S) + 1))


def _compile_batch(sources: Sequence[str], timeout_s: float) -> list[bool] | None:
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _COMPILER],
            input=json.dumps(list(sources)),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=_limit_child,
        )
    except subprocess.TimeoutExpired:
        return None
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        return None
    return [bool(x) for x in out] if isinstance(out, list) and len(out) == len(sources) else None


def compiles(sources: Sequence[str], timeout_s: float = COMPILE_TIMEOUT_S) -> list[bool]:
    """Whether each source compiles, in a limited child interpreter. If the batch dies (a
    source took the limits), each source is tried alone, and one that dies counts as not
    compiling."""
    if not sources:
        return []
    batch = _compile_batch(sources, timeout_s)
    if batch is not None:
        return batch
    return [bool((_compile_batch([s], min(timeout_s, 10.0)) or [False])[0]) for s in sources]


class AnswerMark(BaseModel):
    model_config = ConfigDict(frozen=True)
    prompt_id: str
    has_code: bool
    code_ok: bool
    degenerate: str | None
    finish_reason: str


def mark_answers(answers: Sequence[tuple[str, str, str]]) -> list[AnswerMark]:
    """(prompt id, answer text, finish reason) -> marks, in the same order."""
    blocks = [python_blocks(text) for _, text, _ in answers]
    flat = [b for bs in blocks for b in bs]
    ok = iter(compiles(flat))
    marks = []
    for (pid, text, finish), bs in zip(answers, blocks):
        results = [next(ok) for _ in bs]
        marks.append(
            AnswerMark(
                prompt_id=pid,
                has_code=bool(bs),
                code_ok=bool(bs) and all(results),
                degenerate=degenerate_reason(text),
                finish_reason=finish,
            )
        )
    return marks


class ArmSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    model: str
    answers: int
    code_ok_share: float
    degenerate_share: float
    has_code_share: float


def summarize(model: str, marks: Sequence[AnswerMark]) -> ArmSummary:
    n = max(1, len(marks))
    return ArmSummary(
        model=model,
        answers=len(marks),
        code_ok_share=sum(m.code_ok for m in marks) / n,
        degenerate_share=sum(m.degenerate is not None for m in marks) / n,
        has_code_share=sum(m.has_code for m in marks) / n,
    )


class TrafficCheckReport(BaseModel):
    """One round's traffic check (``rounds/<round>/traffic_check.json``)."""

    run: bool
    reason: str
    prompts: int
    champion: ArmSummary | None = None
    candidate: ArmSummary | None = None
    decision: TrafficDecision | None = None

    @property
    def block(self) -> bool:
        return self.decision is not None and self.decision.block


def outcomes(marks: Sequence[AnswerMark]) -> list[AnswerOutcome]:
    return [AnswerOutcome(prompt_id=m.prompt_id, code_ok=m.code_ok, degenerate=m.degenerate is not None) for m in marks]


def answer_arms(
    base_url: str,
    models: dict[str, str],
    prompts: Sequence[RenderedPrompt],
    params: SamplingParams,
    *,
    concurrency: int,
    priority: int | None,
) -> dict[str, list[tuple[str, str, str]]]:
    """Each arm's (prompt id, answer, finish reason) on ``prompts`` (arm label -> vLLM name)."""
    out = {}
    for label, model in models.items():
        results = generate(
            base_url,
            model,
            prompts,
            params,
            concurrency=concurrency,
            progress=False,
            record_rejected=True,
            description=f"traffic check ({label})",
            priority=priority,
        )
        out[label] = [(r.problem_id, r.text, r.finish_reason) for r in results]
    return out


def judge_arms(
    answers: dict[str, list[tuple[str, str, str]]], models: dict[str, str], cfg: TrafficPolicyConfig
) -> tuple[TrafficCheckReport, dict[str, list[AnswerMark]]]:
    """Mark both arms' answers and ask ``policies.traffic`` whether the candidate is worse."""
    marks = {label: mark_answers(a) for label, a in answers.items()}
    decision = decide_traffic(outcomes(marks["champion"]), outcomes(marks["candidate"]), cfg)
    report = TrafficCheckReport(
        run=decision.run,
        reason=decision.reason,
        prompts=decision.prompts,
        champion=summarize(models["champion"], marks["champion"]),
        candidate=summarize(models["candidate"], marks["candidate"]),
        decision=decision,
    )
    return report, marks
