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
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from pydantic import BaseModel

from policies.promotion import PromotionDecision, decide_promotion
from sandbox import open_sandbox
from ssd import model_store
from ssd.adapters import AdapterManifest, load_manifest
from ssd.atomic_io import write_text_atomic
from ssd.config import SSDConfig
from ssd.distill import distill
from ssd.evaluate import EvalReport, TemperatureEval, counts_at, evaluate_cached
from ssd.filters import FilterReport, filter_samples
from ssd.problem_sets import SplitSets, build_split_sets
from ssd.sampling import SampleReport, read_samples, sample
from ssd.vllm_open import open_vllm as _open_vllm
from ssd.vllm_server import VLLMServer

log = structlog.get_logger(__name__)


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


@contextmanager
def open_vllm(cfg: SSDConfig, model: model_store.ModelInfo) -> Iterator[VLLMServer]:
    """The configured server: attached by URL (left running), or started here (stopped after)."""
    with _open_vllm(cfg.server, cfg.served_model_name or model.name, model, cfg.run_dir / "vllm.log") as server:
        yield server


def next_round_id(run_dir: Path) -> str:
    """Resume the latest unfinished round, else start the next one."""
    rounds = sorted((int(p.name[1:]) for p in run_dir.glob("r*") if p.name[1:].isdigit()), reverse=True)
    if rounds and not (run_dir / f"r{rounds[0]}" / "round.json").is_file():
        return f"r{rounds[0]}"
    return f"r{(rounds[0] + 1) if rounds else 1}"


def _open_round_dir(cfg: SSDConfig, round_id: str | None) -> tuple[str, Path]:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    round_id = round_id or next_round_id(cfg.run_dir)
    rdir = cfg.run_dir / round_id
    rdir.mkdir(parents=True, exist_ok=True)
    return round_id, rdir


def _sample_stage(
    cfg: SSDConfig, server: VLLMServer, model: model_store.ModelInfo, sets: SplitSets, rdir: Path, **kw
) -> tuple[SampleReport, float]:
    """Raw samples at T_train into samples.jsonl, resumable row by row."""
    t0 = time.monotonic()
    report = sample(
        server.base_url,
        server.served_model_name,
        sets.train,
        model.path,
        cfg.sampling.params,
        rdir / "samples.jsonl",
        concurrency=cfg.sampling.concurrency,
        **kw,
    )
    return report, time.monotonic() - t0


def _filter_stage(cfg: SSDConfig, rdir: Path, rlog) -> tuple[FilterReport, Path]:
    """Drop only degenerate outputs into train.jsonl; no correctness filter (that is the method)."""
    report = filter_samples(read_samples(rdir / "samples.jsonl"), cfg.sampling.filters)
    train_path = rdir / "train.jsonl"
    write_text_atomic(train_path, "".join(r.model_dump_json() + "\n" for r in report.kept))
    rlog.info("filter.done", stage="filter", total=report.total, kept=report.kept_count, dropped=report.dropped)
    return report, train_path


def _distill_stage(
    cfg: SSDConfig, model: model_store.ModelInfo, train_path: Path, adapter_dir: Path, round_id: str
) -> tuple[AdapterManifest, float]:
    """A LoRA adapter trained on the kept samples (own process); an adapter already there is kept."""
    t0 = time.monotonic()
    if adapter_dir.is_dir():
        manifest = load_manifest(adapter_dir)
    else:
        manifest = distill(Path(model.path), train_path, adapter_dir, cfg.distill, round_id=round_id)
    return manifest, time.monotonic() - t0


def _load_candidate(
    cfg: SSDConfig, server: VLLMServer, manifest: AdapterManifest, adapter_dir: Path, round_id: str
) -> str:
    """Hot-load the candidate under an immutable versioned name; returns that name."""
    digest = hashlib.sha256(manifest.model_dump_json().encode()).hexdigest()[:8]
    adapter_name = f"{cfg.run_name}-{round_id}-{digest}"
    if adapter_name not in server.list_models():
        server.load_adapter(adapter_name, adapter_dir)
    return adapter_name


def _decide(cfg: SSDConfig, base_at: TemperatureEval, cand_at: TemperatureEval) -> PromotionDecision:
    """The gate: both arms at one decoding, the first configured T_eval, problem by problem.

    Picking each arm's temperature on these same problems would inflate the false-promotion
    rate (docs/policies.md); other temperatures are reported, not compared."""
    return decide_promotion(counts_at(base_at), counts_at(cand_at), cfg.promotion)


def run_round(cfg: SSDConfig, *, round_id: str | None = None, progress: bool = True) -> RoundReport:
    """One stand-alone SSD round (`ssd round`), without the daemon: evaluate the base model on
    the held-out set, sample the training prompts at T_train, drop degenerate outputs, distill a
    LoRA candidate, evaluate it, and decide with `policies.promotion`.

    ``round_id`` names the round's folder under ``cfg.run_dir`` (default: resume the latest
    unfinished round, else the next one). Stages whose result is already in the folder are
    skipped; ``round.json``, written last, marks the round finished. Returns its report.
    """
    round_id, rdir = _open_round_dir(cfg, round_id)
    structlog.contextvars.bind_contextvars(round_id=round_id)
    rlog = log.bind(stage="round", round_id=round_id)

    model = model_store.resolve(cfg.data_dir, cfg.model)
    sets = build_split_sets(cfg)
    (rdir / "config.json").write_text(cfg.model_dump_json(indent=2))
    rlog.info("round.start", model=model.name, train=len(sets.train), heldout=len(sets.heldout))
    times = StageTimes()
    adapter_dir = rdir / "adapter"
    st = _run_stages(cfg, model, sets, rdir, adapter_dir, times, progress=progress, round_id=round_id, rlog=rlog)

    t_eval = cfg.evaluation.t_eval[0]
    base_at, cand_at = st.base.at(t_eval), st.candidate.at(t_eval)
    decision = _decide(cfg, base_at, cand_at)
    losses = [p.loss for p in st.manifest.loss_curve]
    result = RoundReport(
        round_id=round_id,
        run_dir=str(cfg.run_dir),
        base_model=model.name,
        base_model_hash=model.content_hash,
        adapter_name=st.adapter_name,
        adapter_path=str(adapter_dir),
        train_prompts=len(sets.train),
        heldout_problems=len(sets.heldout),
        sampling=st.sampling,
        kept_samples=st.filtered.kept_count,
        dropped=st.filtered.dropped,
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


class _Stages(NamedTuple):
    base: EvalReport
    sampling: SampleReport
    filtered: FilterReport
    manifest: AdapterManifest
    adapter_name: str
    candidate: EvalReport


def _run_stages(
    cfg: SSDConfig,
    model: model_store.ModelInfo,
    sets: SplitSets,
    rdir: Path,
    adapter_dir: Path,
    times: StageTimes,
    *,
    progress: bool,
    round_id: str,
    rlog: Any,
) -> _Stages:
    """base evaluation -> sample -> filter -> distill -> candidate evaluation, each skipped when
    its result is already in ``rdir``; ``times`` gets each stage's seconds."""
    with open_vllm(cfg, model) as server, open_sandbox(cfg.sandbox) as sandbox:
        common = dict(
            base_url=server.base_url,
            problems=sets.heldout,
            model_dir=model.path,
            sandbox=sandbox,
            cfg=cfg.evaluation,
            progress=progress,
            round_id=round_id,
        )
        base, times.base_eval_s = evaluate_cached(
            rdir / "base_eval.json", model_name=server.served_model_name, **common
        )
        sampling, times.sample_s = _sample_stage(cfg, server, model, sets, rdir, progress=progress, round_id=round_id)
        filtered, train_path = _filter_stage(cfg, rdir, rlog)
        manifest, times.distill_s = _distill_stage(cfg, model, train_path, adapter_dir, round_id)
        adapter_name = _load_candidate(cfg, server, manifest, adapter_dir, round_id)
        candidate, times.candidate_eval_s = evaluate_cached(
            rdir / "candidate_eval.json", model_name=adapter_name, **common
        )
    return _Stages(base, sampling, filtered, manifest, adapter_name, candidate)


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
