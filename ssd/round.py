"""One SSD round end to end: sample -> filter -> distill -> gate test -> promotion decision.

Each stage writes its result into the round's folder before the next starts, and a stage
whose result is already there is skipped, so a killed round resumes where it stopped
(sampling itself resumes row by row, the gate test batch by batch).

The decision is the daemon's sequential test (``policies.sequential`` /
``policies.sequential_gate``), run once: base model and candidate are evaluated together in
batches on the gate pool, in an order fixed by the round's seed, and the test stops as soon as
the evidence is clear either way. One ``ssd round`` is one test, so it runs at the gate's
``alpha`` itself (``start_single_test``), with no lifetime budget behind it: a daemon, which
tests round after round, must use ``ssdd`` and its ledger instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from pydantic import BaseModel

from policies.gate import GateConfig
from policies.provenance import EvalProvenance
from policies.sequential import PairResult, SequentialPlan, SequentialState, replay, run_test
from policies.sequential_gate import SingleTestDecision, decide_single_test, start_single_test
from sandbox import open_sandbox
from ssd import model_store
from ssd.adapters import AdapterManifest, load_manifest
from ssd.atomic_io import write_text_atomic
from ssd.config import SSDConfig
from ssd.distill import distill
from ssd.evaluate import EvalConfig
from ssd.filters import FilterReport, filter_samples
from ssd.gate_eval import arm_provenance, evaluate_pair_batch
from ssd.passk import bootstrap_ci
from ssd.problem_sets import SplitSets, build_split_sets
from ssd.problems import InputError, Problem
from ssd.sampling import SampleReport, read_samples, sample
from ssd.vllm_open import open_vllm as _open_vllm
from ssd.vllm_server import VLLMServer

log = structlog.get_logger(__name__)


GATE_FILE = "gate_test.json"  # the test's plan (or why it was not run), before any result
RESULTS_FILE = "gate_results.jsonl"  # every committed per-problem result, one PairResult a line
BATCH_DIR = "gate_batches"  # per-batch, per-arm samples


class StageTimes(BaseModel):
    sample_s: float = 0.0
    distill_s: float = 0.0
    gate_eval_s: float = 0.0  # both arms, every batch the test evaluated


class GateRecord(BaseModel):
    """``gate_test.json``: the decoding both arms use and the plan fixed before the first
    result (or the decision of a test that is not run). A resumed round keeps it."""

    provenance: EvalProvenance
    plan: SequentialPlan | None
    skipped: SingleTestDecision | None


class RoundReport(BaseModel):
    round_id: str
    run_dir: str
    base_model: str
    base_model_hash: str
    adapter_name: str
    adapter_path: str
    train_prompts: int
    heldout_problems: int
    gate_pool_problems: int  # the problems the test could evaluate (held-out + gate_pool)
    problems_evaluated: int  # where the test stopped (0: not run)
    sampling: SampleReport | None
    kept_samples: int
    dropped: dict[str, int]
    distill_loss_first: float | None
    distill_loss_last: float | None
    t_eval: float  # the one decoding temperature both arms are compared at
    # Both arms on the problems the test evaluated; None when it was not run.
    base_pass_at_1: float | None
    base_ci: tuple[float, float] | None
    candidate_pass_at_1: float | None
    candidate_ci: tuple[float, float] | None
    outcome: str  # efficacy | futility | exhausted | not_run
    alpha: float  # the test's level (0.0 when not run)
    p_value: float  # anytime-valid: 1 / the largest e-value at a checked batch boundary
    e_value: float
    decision: SingleTestDecision
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


def gate_config(cfg: SSDConfig) -> GateConfig:
    """The gate's settings: the config file's ``gate`` section (the CLI reads the daemon's
    schema, which has one), else the method-only ``promotion`` section's alpha, min_problems,
    min_delta and test settings with the sequential defaults."""
    # Duck-typed: ``ssd`` must not import ``daemon`` (tests/test_imports.py).
    gate = getattr(cfg, "gate", None)
    return gate if isinstance(gate, GateConfig) else GateConfig(**cfg.promotion.model_dump())


def round_seed(cfg: SSDConfig, round_id: str) -> int:
    """The test's order: fixed by the round's name before any result, the same on resume."""
    return int(hashlib.sha256(f"ssd-round\x00{cfg.run_name}\x00{round_id}".encode()).hexdigest()[:8], 16)


def gate_pool(cfg: SSDConfig, sets: SplitSets) -> list[Problem]:
    """Every held-out problem plus the ``data.gate_pool`` sources decontaminated against the
    training prompts: a stand-alone round has no sealed audit set to keep apart, and a larger
    pool only lets the test go on where a close call needs it."""
    if not cfg.data.gate_pool:
        return list(sets.heldout)
    from ssd.gate_pool import decontaminated_gate_pool
    from ssd.sources.registry import load_sources

    extra, _ = decontaminated_gate_pool(
        load_sources(cfg.data.gate_pool), train=sets.train, sealed=[], gate=sets.heldout
    )
    return [*sets.heldout, *extra]


def decoding(cfg: SSDConfig) -> EvalConfig:
    """One decoding per comparison: the first configured T_eval. Picking each arm's
    temperature on the gate problems themselves would inflate the false-promotion rate
    (docs/policies.md)."""
    return cfg.evaluation.model_copy(update={"t_eval": [cfg.evaluation.t_eval[0]]})


def _vllm_version(server: VLLMServer) -> str:
    try:
        import httpx

        from ssd.vllm_auth import auth_headers  # vLLM wants its bearer token on every route but /health

        base = server.base_url
        return str(httpx.get(base + "/version", timeout=5, headers=auth_headers(base)).json()["version"])
    except Exception:  # provenance only: the arms share this server whatever it reports
        return "unknown"


def _provenance(
    cfg: SSDConfig, ev: EvalConfig, model: model_store.ModelInfo, server: VLLMServer, pool: Sequence[Problem]
) -> EvalProvenance:
    backend = cfg.sandbox.backend
    # Both arms run on this one server and sandbox in this process: equal by construction.
    return arm_provenance(
        ev,
        sandbox_image=cfg.sandbox.image if backend == "docker" else backend,
        vllm_version=_vllm_version(server),
        model_hash=model.content_hash,
        problems=pool,
    )


def open_gate_test(
    cfg: SSDConfig, rdir: Path, round_id: str, prov: EvalProvenance, pool: Sequence[Problem]
) -> GateRecord:
    """The round's test, planned and written before anything is evaluated; a resumed round
    gets the record it wrote (same order, level and batches), and is refused if the decoding
    or the pool changed since, because its committed results could not be compared."""
    path = rdir / GATE_FILE
    if path.is_file():
        record = GateRecord.model_validate_json(path.read_text(encoding="utf-8"))
        if record.provenance != prov:
            raise InputError(
                path,
                None,
                f"the decoding or the gate pool changed since this round's test was planned "
                f"({record.provenance.model_dump_json()} -> {prov.model_dump_json()}); start a new round",
            )
        return record
    start = start_single_test(
        [p.id for p in pool],
        gate_config(cfg),
        champion_provenance=prov,
        candidate_provenance=prov,
        seed=round_seed(cfg, round_id),
    )
    record = GateRecord(provenance=prov, plan=start.plan, skipped=start.skipped)
    write_text_atomic(path, record.model_dump_json(indent=2))
    return record


def committed_results(rdir: Path) -> list[PairResult]:
    path = rdir / RESULTS_FILE
    if not path.is_file():
        return []
    return [PairResult.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def drive_gate_test(
    plan: SequentialPlan,
    rdir: Path,
    *,
    server: VLLMServer,
    adapter_name: str,
    pool: Sequence[Problem],
    model: model_store.ModelInfo,
    sandbox: Any,
    ev: EvalConfig,
    round_id: str,
) -> SequentialState:
    """The test from where its committed results leave it to its stop (``run_test``). Each
    batch's results are written (atomically, with all before them) before the test sees
    them, so a round killed mid-batch resumes with the rest of that batch and reaches the
    decision an uninterrupted run reaches."""
    committed = committed_results(rdir)
    state = replay(plan, committed)
    if state.evaluated:
        log.info("gate.resumed", stage="gate", evaluated=state.evaluated, batches=state.batches)

    def evaluate_batch(ids: list[str]) -> list[PairResult]:
        res = evaluate_pair_batch(
            server.base_url,
            server.served_model_name,
            adapter_name,
            pool,
            ids,
            model.path,
            sandbox,
            ev,
            round_id=round_id,
            details_dir=rdir / BATCH_DIR,
        )
        committed.extend(res)
        write_text_atomic(rdir / RESULTS_FILE, "".join(r.model_dump_json() + "\n" for r in committed))
        log.info("gate.batch", stage="gate", committed=len(committed), limit=plan.limit)
        return res

    return run_test(plan, evaluate_batch, state)


class _Gate(NamedTuple):
    record: GateRecord
    state: SequentialState | None  # None: the test was not run
    pool: int


def _decision(cfg: SSDConfig, gate: _Gate) -> SingleTestDecision:
    rec = gate.record
    if rec.plan is None or gate.state is None:
        assert rec.skipped is not None
        return rec.skipped
    return decide_single_test(rec.plan, gate.state, gate_config(cfg), provenance=rec.provenance)


def _arm(pairs: Sequence[PairResult], arm: str) -> tuple[float | None, tuple[float, float] | None]:
    """pass@1 and its bootstrap CI over the evaluated problems (macro average of c/n)."""
    if not pairs:
        return None, None
    vals = [(r.reference_c if arm == "reference" else r.challenger_c) / r.n for r in pairs]
    return sum(vals) / len(vals), bootstrap_ci(vals)


def run_round(cfg: SSDConfig, *, round_id: str | None = None, progress: bool = True) -> RoundReport:
    """One stand-alone SSD round (`ssd round`), without the daemon: sample the training
    prompts at T_train, drop degenerate outputs, distill a LoRA candidate, then run one
    sequential promotion test of the candidate against the base model on the gate pool
    (`policies.sequential_gate.start_single_test`, batches of both arms until it stops).

    ``round_id`` names the round's folder under ``cfg.run_dir`` (default: resume the latest
    unfinished round, else the next one). Stages whose result is already in the folder are
    skipped; ``round.json``, written last, marks the round finished. Returns its report.
    """
    round_id, rdir = _open_round_dir(cfg, round_id)
    structlog.contextvars.bind_contextvars(round_id=round_id)
    rlog = log.bind(stage="round", round_id=round_id)
    model = model_store.resolve(cfg.data_dir, cfg.model)
    sets = build_split_sets(cfg)
    pool = gate_pool(cfg, sets)
    (rdir / "config.json").write_text(cfg.model_dump_json(indent=2))
    rlog.info("round.start", model=model.name, train=len(sets.train), heldout=len(sets.heldout), pool=len(pool))
    times = StageTimes()
    adapter_dir = rdir / "adapter"
    st = _run_stages(cfg, model, sets, pool, rdir, adapter_dir, times, progress=progress, round_id=round_id, rlog=rlog)
    decision = _decision(cfg, st.gate)
    result = _report(cfg, round_id, model, sets, st, adapter_dir, decision, times)
    write_text_atomic(rdir / "round.json", result.model_dump_json(indent=2))
    rlog.info(
        "round.done",
        promote=decision.promote,
        outcome=result.outcome,
        evaluated=result.problems_evaluated,
        pool=result.gate_pool_problems,
        p=decision.summary.p_value,
    )
    return result


def _report(
    cfg: SSDConfig,
    round_id: str,
    model: model_store.ModelInfo,
    sets: SplitSets,
    st: _Stages,
    adapter_dir: Path,
    decision: SingleTestDecision,
    times: StageTimes,
) -> RoundReport:
    s = decision.summary
    plan, state = st.gate.record.plan, st.gate.state
    pairs = [] if plan is None or state is None else [state.results[p] for p in plan.order[: state.evaluated]]
    (base_p1, base_ci), (cand_p1, cand_ci) = _arm(pairs, "reference"), _arm(pairs, "challenger")
    losses = [p.loss for p in st.manifest.loss_curve]
    return RoundReport(
        round_id=round_id,
        run_dir=str(cfg.run_dir),
        base_model=model.name,
        base_model_hash=model.content_hash,
        adapter_name=st.adapter_name,
        adapter_path=str(adapter_dir),
        train_prompts=len(sets.train),
        heldout_problems=len(sets.heldout),
        gate_pool_problems=st.gate.pool,
        problems_evaluated=s.problems_evaluated,
        sampling=st.sampling,
        kept_samples=st.filtered.kept_count,
        dropped=st.filtered.dropped,
        distill_loss_first=losses[0] if losses else None,
        distill_loss_last=losses[-1] if losses else None,
        t_eval=st.gate.record.provenance.temperature,
        base_pass_at_1=base_p1,
        base_ci=base_ci,
        candidate_pass_at_1=cand_p1,
        candidate_ci=cand_ci,
        outcome=s.outcome,
        alpha=s.alpha_level,
        p_value=s.p_value,
        e_value=s.e_value,
        decision=decision,
        times=times,
        finished_at=datetime.now(timezone.utc).isoformat(),
    )


class _Stages(NamedTuple):
    sampling: SampleReport
    filtered: FilterReport
    manifest: AdapterManifest
    adapter_name: str
    gate: _Gate


def _run_stages(
    cfg: SSDConfig,
    model: model_store.ModelInfo,
    sets: SplitSets,
    pool: list[Problem],
    rdir: Path,
    adapter_dir: Path,
    times: StageTimes,
    *,
    progress: bool,
    round_id: str,
    rlog: Any,
) -> _Stages:
    """sample -> filter -> distill -> gate test, each skipped (or resumed) when its result is
    already in ``rdir``; ``times`` gets each stage's seconds."""
    with open_vllm(cfg, model) as server, open_sandbox(cfg.sandbox) as sandbox:
        sampling, times.sample_s = _sample_stage(cfg, server, model, sets, rdir, progress=progress, round_id=round_id)
        filtered, train_path = _filter_stage(cfg, rdir, rlog)
        manifest, times.distill_s = _distill_stage(cfg, model, train_path, adapter_dir, round_id)
        adapter_name = _load_candidate(cfg, server, manifest, adapter_dir, round_id)
        ev = decoding(cfg)
        record = open_gate_test(cfg, rdir, round_id, _provenance(cfg, ev, model, server, pool), pool)
        state = None
        if record.plan is not None:
            rlog.info("gate.planned", pool=len(pool), limit=record.plan.limit, level=record.plan.level)
            t0 = time.monotonic()
            state = drive_gate_test(
                record.plan,
                rdir,
                server=server,
                adapter_name=adapter_name,
                pool=pool,
                model=model,
                sandbox=sandbox,
                ev=ev,
                round_id=round_id,
            )
            times.gate_eval_s = time.monotonic() - t0
    return _Stages(sampling, filtered, manifest, adapter_name, _Gate(record, state, len(pool)))


def print_round(report: RoundReport, console) -> None:
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    def ci(c: tuple[float, float] | None) -> str:
        return "-" if c is None else f"[{c[0]:.1%}, {c[1]:.1%}]"

    t = Table(title=f"SSD round {report.round_id} on {report.base_model}")
    t.add_column("")
    t.add_column("base", justify="right")
    t.add_column("candidate", justify="right")
    t.add_row("T_eval", f"{report.t_eval:g}", f"{report.t_eval:g}")
    t.add_row(
        f"gate pass@1 ({report.problems_evaluated} problems)",
        pct(report.base_pass_at_1),
        pct(report.candidate_pass_at_1),
    )
    t.add_row("95% CI", ci(report.base_ci), ci(report.candidate_ci))
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
        f"{verdict} ({report.outcome}): {report.problems_evaluated} of {report.gate_pool_problems} gate problems "
        f"evaluated in {report.times.gate_eval_s:.0f}s, e-value {report.e_value:.3g}, anytime p={report.p_value:.3g} "
        f"at alpha {report.alpha:g}. {d.reason}"
    )
