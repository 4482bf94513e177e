"""One SSD round end to end: base evaluation -> sample -> filter -> distill -> candidate
evaluation -> promotion decision.

Each stage writes its result into the round's folder before the next starts, and a stage
whose result is already there is skipped, so a killed round resumes where it stopped
(sampling itself resumes row by row).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import structlog
from pydantic import BaseModel

from policies.counts import ProblemCounts
from policies.promotion import PromotionDecision, decide_promotion
from sandbox import open_sandbox
from ssd import model_store
from ssd.adapters import AdapterManifest, load_manifest
from ssd.atomic_io import write_text_atomic
from ssd.config import SSDConfig
from ssd.distill import distill
from ssd.evaluate import EvalReport, TemperatureResult, evaluate, load_report, save_report
from ssd.filters import FilterReport, filter_samples
from ssd.problems import Problem
from ssd.sampling import SampleReport, read_samples, sample
from ssd.sources.registry import load_sources
from ssd.split import check_disjoint_problems, split
from ssd.vllm_server import VLLMServer

log = structlog.get_logger(__name__)


class ProblemSets(BaseModel):
    train: list[Problem]
    heldout: list[Problem]


class StageTimes(BaseModel):
    base_eval_s: float = 0.0
    sample_s: float = 0.0
    distill_s: float = 0.0
    candidate_eval_s: float = 0.0


class RoundReport(BaseModel):
    round_id: str
    run_dir: str
    base_model: str
    base_model_hash: str
    adapter_name: str
    adapter_path: str
    train_prompts: int
    heldout_problems: int
    sampling: SampleReport | None
    kept_samples: int
    dropped: dict[str, int]
    distill_loss_first: float | None
    distill_loss_last: float | None
    t_eval: float  # the one decoding temperature both arms are compared at
    base_pass_at_1: float
    base_ci: tuple[float, float]
    candidate_pass_at_1: float
    candidate_ci: tuple[float, float]
    decision: PromotionDecision
    times: StageTimes
    finished_at: str


def build_problem_sets(cfg: SSDConfig) -> ProblemSets:
    pool = load_sources(cfg.data.sources)
    if cfg.data.heldout:
        train, heldout = pool, load_sources(cfg.data.heldout)
    else:
        parts = split(pool, cfg.data.split)
        train, heldout = parts.train, parts.heldout
    if cfg.data.max_train_prompts is not None:
        train = train[: cfg.data.max_train_prompts]
    if cfg.data.max_heldout is not None:
        heldout = heldout[: cfg.data.max_heldout]
    # Checked at every start: a held-out problem seen in training would inflate the gate.
    check_disjoint_problems(train, heldout)
    if not heldout:
        raise ValueError("the held-out set is empty: add data.heldout or raise data.split's held-out share")
    if not train:
        raise ValueError("no training prompts left after the split")
    return ProblemSets(train=train, heldout=heldout)


@contextmanager
def open_server(cfg: SSDConfig, model: model_store.ModelInfo) -> Iterator[VLLMServer]:
    """The configured server: attached by URL (left running), or started here (stopped after)."""
    served = cfg.served_model_name or model.name
    if cfg.server.url:
        yield VLLMServer.attach(cfg.server.url, served, cfg.server)
        return
    with VLLMServer.start(Path(model.path), served, cfg.server, cfg.run_dir / "vllm.log") as server:
        yield server


def counts_at(result: TemperatureResult) -> list[ProblemCounts]:
    return [ProblemCounts(problem_id=r.problem_id, n=r.n, c=r.c) for r in result.per_problem]


def next_round_id(run_dir: Path) -> str:
    """Resume the latest unfinished round, else start the next one."""
    rounds = sorted((int(p.name[1:]) for p in run_dir.glob("r*") if p.name[1:].isdigit()), reverse=True)
    if rounds and not (run_dir / f"r{rounds[0]}" / "round.json").is_file():
        return f"r{rounds[0]}"
    return f"r{(rounds[0] + 1) if rounds else 1}"


def _evaluate_cached(path: Path, **kwargs) -> tuple[EvalReport, float]:
    if path.is_file():
        return load_report(path), 0.0
    t0 = time.monotonic()
    report = evaluate(**kwargs)
    save_report(report, path)
    return report, time.monotonic() - t0


def run_round(cfg: SSDConfig, *, round_id: str | None = None, progress: bool = True) -> RoundReport:
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    round_id = round_id or next_round_id(run_dir)
    rdir = run_dir / round_id
    rdir.mkdir(parents=True, exist_ok=True)
    structlog.contextvars.bind_contextvars(round_id=round_id)
    rlog = log.bind(stage="round", round_id=round_id)

    model = model_store.resolve(cfg.data_dir, cfg.model)
    sets = build_problem_sets(cfg)
    (rdir / "config.json").write_text(cfg.model_dump_json(indent=2))
    rlog.info("round.start", model=model.name, train=len(sets.train), heldout=len(sets.heldout))
    times = StageTimes()

    with ExitStack() as stack:
        server = stack.enter_context(open_server(cfg, model))
        served = server.served_model_name
        sandbox = stack.enter_context(open_sandbox(cfg.sandbox))
        common = dict(
            base_url=server.base_url,
            problems=sets.heldout,
            model_dir=model.path,
            sandbox=sandbox,
            cfg=cfg.evaluation,
            progress=progress,
            round_id=round_id,
        )

        # 1. The base model on the held-out set.
        base_report, times.base_eval_s = _evaluate_cached(
            rdir / "base_eval.json", model_name=served, details_path=rdir / "base_eval.samples.jsonl", **common
        )

        # 2. SSD data: raw samples at T_train, resumable.
        t0 = time.monotonic()
        samples_path = rdir / "samples.jsonl"
        sample_report = sample(
            server.base_url,
            served,
            sets.train,
            model.path,
            cfg.sampling.params,
            samples_path,
            concurrency=cfg.sampling.concurrency,
            progress=progress,
            round_id=round_id,
        )
        times.sample_s = time.monotonic() - t0

        # 3. Drop only degenerate outputs; no correctness filter (that is the method).
        report: FilterReport = filter_samples(read_samples(samples_path), cfg.sampling.filters)
        train_path = rdir / "train.jsonl"
        write_text_atomic(train_path, "".join(r.model_dump_json() + "\n" for r in report.kept))
        rlog.info("filter.done", stage="filter", total=report.total, kept=report.kept_count, dropped=report.dropped)

        # 4. Distill: a LoRA adapter trained on the kept samples (own process).
        adapter_dir = rdir / "adapter"
        t0 = time.monotonic()
        manifest: AdapterManifest = (
            load_manifest(adapter_dir)
            if adapter_dir.is_dir()
            else distill(Path(model.path), train_path, adapter_dir, cfg.distill, round_id=round_id)
        )
        times.distill_s = time.monotonic() - t0

        # 5. The candidate, hot-loaded under an immutable versioned name.
        digest = hashlib.sha256(manifest.model_dump_json().encode()).hexdigest()[:8]
        adapter_name = f"{cfg.run_name}-{round_id}-{digest}"
        if adapter_name not in server.list_models():
            server.load_adapter(adapter_name, adapter_dir)
        cand_report, times.candidate_eval_s = _evaluate_cached(
            rdir / "candidate_eval.json",
            model_name=adapter_name,
            details_path=rdir / "candidate_eval.samples.jsonl",
            **common,
        )

    # 6. The gate: both arms at one decoding, the first configured T_eval, problem by problem.
    # Picking each arm's temperature on these same problems would inflate the false-promotion
    # rate (docs/policies.md); other temperatures are reported, not compared.
    t_eval = cfg.evaluation.t_eval[0]
    base_at, cand_at = base_report.at(t_eval), cand_report.at(t_eval)
    decision = decide_promotion(counts_at(base_at), counts_at(cand_at), cfg.promotion)
    losses = [p.loss for p in manifest.loss_curve]
    result = RoundReport(
        round_id=round_id,
        run_dir=str(run_dir),
        base_model=model.name,
        base_model_hash=model.content_hash,
        adapter_name=adapter_name,
        adapter_path=str(adapter_dir),
        train_prompts=len(sets.train),
        heldout_problems=len(sets.heldout),
        sampling=sample_report,
        kept_samples=report.kept_count,
        dropped=report.dropped,
        distill_loss_first=losses[0] if losses else None,
        distill_loss_last=losses[-1] if losses else None,
        t_eval=t_eval,
        base_pass_at_1=base_at.pass_at_k[1],
        base_ci=base_at.pass_at_1_ci,
        candidate_pass_at_1=cand_at.pass_at_k[1],
        candidate_ci=cand_at.pass_at_1_ci,
        decision=decision,
        times=times,
        finished_at=datetime.now(timezone.utc).isoformat(),
    )
    write_text_atomic(rdir / "round.json", result.model_dump_json(indent=2))
    rlog.info("round.done", promote=decision.promote, delta=round(decision.delta, 4), p=decision.p_value)
    return result


def print_round(report: RoundReport, console) -> None:
    from rich.table import Table

    def ci(c: tuple[float, float]) -> str:
        return f"[{c[0]:.1%}, {c[1]:.1%}]"

    t = Table(title=f"SSD round {report.round_id} on {report.base_model}")
    t.add_column("")
    t.add_column("base", justify="right")
    t.add_column("candidate", justify="right")
    t.add_row("T_eval", f"{report.t_eval:g}", f"{report.t_eval:g}")
    t.add_row("held-out pass@1", f"{report.base_pass_at_1:.1%}", f"{report.candidate_pass_at_1:.1%}")
    t.add_row("95% CI", ci(report.base_ci), ci(report.candidate_ci))
    t.add_row("eval time", f"{report.times.base_eval_s:.0f}s", f"{report.times.candidate_eval_s:.0f}s")
    console.print(t)
    s = report.sampling
    if s is not None:
        speed = (
            f"{s.generated} new, {s.completion_tokens} tokens at {s.tokens_per_s:.0f} tok/s"
            if s.generated
            else "all resumed from the samples file"
        )
        console.print(
            f"samples: {s.generated + s.already_done} from {report.train_prompts} prompts ({speed}); "
            f"kept {report.kept_samples}, dropped {report.dropped}; sampling {report.times.sample_s:.0f}s"
        )
    console.print(
        f"distill: loss {report.distill_loss_first} -> {report.distill_loss_last}, "
        f"{report.times.distill_s:.0f}s; adapter {report.adapter_name}"
    )
    d = report.decision
    verdict = "[green]PROMOTE[/]" if d.promote else "[yellow]KEEP CHAMPION[/]"
    console.print(
        f"{verdict}: delta {d.delta:+.1%} (CI {d.ci_low:+.1%}..{d.ci_high:+.1%}), p={d.p_value:.3g} "
        f"on {d.n_problems} problems. {d.reason}"
    )
