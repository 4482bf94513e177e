"""Health signals of a round's outputs (pure computation over files the round wrote anyway).

From the SSD samples (``rounds/<r>/samples.jsonl``, rows of ``ssd.sampling.SampleRecord``) and
from an arm's gate-set outputs (``<arm>_eval.samples.jsonl``, written by ``ssd.evaluate``):
length (tokens when every row has its count, else characters), share cut by the token limit,
distinct-n and within-output repetition, share of code outputs whose program parses as Python
(the program as ``ssd.prompts.extract_program`` takes it), and the mean log-prob per sampled
token when the rows carry it (``sampling.params.logprobs: true``). The result type and the
guard that reads it live in ``policies.health``.
"""

from __future__ import annotations

import ast
import json
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from policies.health import NGRAM_ORDERS, HealthSignals, HealthVerdict
from ssd.atomic_io import write_text_atomic
from ssd.problems import InputError, validation_message
from ssd.prompts import COMPLETION_FENCE, PromptStyle, RenderedPrompt, extract_program
from ssd.sampling import SampleRecord, read_samples

# Words, numbers and single symbols: a code-aware split that needs no tokenizer, so signals
# from different rounds (and models) are counted the same way.
_TOKEN = re.compile(r"\w+|[^\w\s]")
CODE_STYLES = (PromptStyle.stdin, PromptStyle.starter, PromptStyle.completion)
REPETITION_N = 4
# CPython 3.11's parser is not thread-safe (see scripts/build_starter_set.py); the daemon may
# compute signals on a worker thread while another parses.
_AST_LOCK = threading.Lock()


@dataclass(frozen=True)
class Output:
    """One output, whatever file it came from."""

    text: str
    finish_reason: str
    tokens: int | None  # completion tokens as the server counted them; None when unknown
    program: str | None  # the extracted program; None when there is none
    code_prompt: bool  # the prompt asked for code (parse share counts only these)
    logprob_sum: float | None = None


def parses(program: str) -> bool:
    with _AST_LOCK:
        try:
            ast.parse(program)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            # ValueError: null bytes; RecursionError/MemoryError: pathologically nested text.
            return False
    return True


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _ngrams(toks: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(toks[i:] for i in range(n)))


def compute_signals(outputs: Sequence[Output]) -> HealthSignals:
    """Signals of ``outputs``; rows rejected by the server (finish_reason "rejected") are no
    model output and are left out."""
    outs = [o for o in outputs if o.finish_reason != "rejected"]
    n = len(outs)
    use_tokens = n > 0 and all(o.tokens is not None for o in outs)
    lengths = [float(o.tokens if use_tokens and o.tokens is not None else len(o.text)) for o in outs]
    mean = sum(lengths) / n if n else 0.0
    std = math.sqrt(sum((x - mean) ** 2 for x in lengths) / (n - 1)) if n > 1 else 0.0
    toks = [words(o.text) for o in outs]
    distinct: dict[int, float] = {}
    for k in NGRAM_ORDERS:
        seen: set[tuple[str, ...]] = set()
        total = 0
        for t in toks:
            grams = list(_ngrams(t, k))
            total += len(grams)
            seen.update(grams)
        distinct[k] = len(seen) / total if total else 0.0
    reps = []
    for t in toks:
        grams = list(_ngrams(t, REPETITION_N))
        if grams:
            reps.append(1.0 - len(set(grams)) / len(grams))
    code = [o for o in outs if o.code_prompt]
    with_lp = [o for o in outs if o.logprob_sum is not None and o.tokens]
    lp_tokens = sum(o.tokens or 0 for o in with_lp)
    return HealthSignals(
        outputs=n,
        length_unit="tokens" if use_tokens else "chars",
        length_mean=mean,
        length_std=std,
        truncated_frac=sum(o.finish_reason == "length" for o in outs) / n if n else 0.0,
        empty_frac=sum(not o.text.strip() for o in outs) / n if n else 0.0,
        distinct=distinct,
        repetition_rate=sum(reps) / len(reps) if reps else 0.0,
        code_outputs=len(code),
        parse_frac=(sum(o.program is not None and parses(o.program) for o in code) / len(code)) if code else None,
        # Token-weighted: the mean over all sampled tokens, not a mean of per-output means.
        mean_logprob=(sum(o.logprob_sum or 0.0 for o in with_lp) / lp_tokens) if lp_tokens else None,
        logprob_outputs=len(with_lp),
    )


def rendered_of(row: SampleRecord) -> RenderedPrompt:
    """The rendered prompt a sample row was drawn from, as ``extract_program`` needs it. A
    completion-style prompt ends with its prefill (the opening fence, the function header and
    the body's indentation), which starts at the prompt's last opening fence."""
    prefill = ""
    if row.prompt_style is PromptStyle.completion:
        at = row.prompt.rfind(COMPLETION_FENCE)
        prefill = row.prompt[at:] if at >= 0 else COMPLETION_FENCE
    return RenderedPrompt(problem_id=row.problem_id, style=row.prompt_style, text=row.prompt, prefill=prefill)


def sample_outputs(rows: Sequence[SampleRecord]) -> list[Output]:
    return [
        Output(
            text=r.completion,
            finish_reason=r.finish_reason,
            tokens=r.completion_tokens,
            program=extract_program(rendered_of(r), r.completion) if r.prompt_style in CODE_STYLES else None,
            code_prompt=r.prompt_style in CODE_STYLES,
            logprob_sum=r.logprob_sum,
        )
        for r in rows
    ]


def sample_signals(rows: Sequence[SampleRecord]) -> HealthSignals:
    return compute_signals(sample_outputs(rows))


class EvalDetailRow(BaseModel):
    """One row of an ``*_eval.samples.jsonl`` (``ssd.evaluate``'s details file). The program
    there is already extracted; a gate problem always asks for code."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    temperature: float
    problem_id: str
    sample_index: int
    status: str
    finish_reason: str
    completion: str
    program: str | None
    completion_tokens: int | None = None


def read_eval_details(path: str | Path) -> list[EvalDetailRow]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(path, None, f"cannot read evaluation outputs: {exc.strerror or exc}") from exc
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(EvalDetailRow.model_validate_json(line))
        except ValidationError as exc:
            raise InputError(path, lineno, f"bad evaluation output row: {validation_message(exc)}") from exc
    return rows


def eval_signals(rows: Sequence[EvalDetailRow], temperature: float | None = None) -> HealthSignals:
    """Signals of one arm's gate outputs (at ``temperature`` only, when given)."""
    return compute_signals(
        [
            Output(
                text=r.completion,
                finish_reason=r.finish_reason,
                tokens=r.completion_tokens,
                program=r.program,
                code_prompt=True,
                logprob_sum=None,
            )
            for r in rows
            if temperature is None or r.temperature == temperature
        ]
    )


class RoundHealth(BaseModel):
    """A round's health record (``rounds/<r>/health.json``): its samples, drawn from the
    champion it started from, and both arms' gate outputs when the round evaluated them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    round_name: str
    samples: HealthSignals | None
    champion_eval: HealthSignals | None
    candidate_eval: HealthSignals | None
    # The sample stage's lineage check (``policies.health.check_lineage``), kept with the
    # signals it judged so status shows why a round paused; None: not run (a submit round,
    # or a record written before the check existed).
    lineage: HealthVerdict | None = None


HEALTH_FILE = "health.json"


def round_health(round_dir: str | Path, round_name: str | None = None) -> RoundHealth:
    """Signals from the files in ``round_dir``; a missing file (a submit round has no samples,
    an unevaluated round no outputs) gives None for that part."""
    rdir = Path(round_dir)
    samples = rdir / "samples.jsonl"

    def arm(name: str) -> HealthSignals | None:
        p = rdir / f"{name}_eval.samples.jsonl"
        return eval_signals(read_eval_details(p)) if p.exists() else None

    return RoundHealth(
        round_name=round_name or rdir.name,
        samples=sample_signals(read_samples(samples)) if samples.exists() else None,
        champion_eval=arm("champion"),
        candidate_eval=arm("candidate"),
    )


def save_round_health(health: RoundHealth, round_dir: str | Path) -> Path:
    path = Path(round_dir) / HEALTH_FILE
    write_text_atomic(path, health.model_dump_json(indent=2))
    return path


def load_round_health(path: str | Path) -> RoundHealth:
    path = Path(path)
    try:
        return RoundHealth.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise InputError(path, None, f"not a valid round health record: {exc}") from exc
