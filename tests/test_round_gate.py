"""`ssd round`'s promotion decision: the daemon's sequential test, run once at the gate's alpha.

No vLLM or sandbox here: the pair evaluation (`ssd.gate_eval.evaluate_pair_batch`) is replaced
by draws from fixed per-problem rates, so the plan, the committed results, the resume after a
kill mid-test and the decision are checked on their own (the real stack: tests/test_round.py).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import ssd.round as rnd
from daemon.config import DaemonConfig
from policies.gate import GateConfig
from policies.sequential import PairResult, replay
from policies.sequential_gate import decide_single_test
from ssd.config import SSDConfig
from ssd.model_store import ModelInfo
from ssd.problems import InputError, Problem

SERVER: Any = SimpleNamespace(base_url="http://127.0.0.1:9", served_model_name="base")  # nothing listens there
MODEL = ModelInfo(name="m", path="/nonexistent/model", source="test", content_hash="h", created_at="now")


def _pool(m: int) -> list[Problem]:
    return [Problem(id=f"p{i:04d}", prompt=f"problem {i}") for i in range(m)]


def _cfg(**gate) -> SSDConfig:
    return SSDConfig.model_validate(
        {"evaluation": {"t_eval": [0.6, 1.0], "n": 4}, "promotion": {"min_problems": 20, "alpha": 0.05, **gate}}
    )


class FakePairs:
    """Both arms drawn from per-problem rates (candidate `gain` better); `die_after` batches
    and the next call raises, as a round killed mid-test would stop."""

    def __init__(self, m: int, gain: float, seed: int = 0, die_after: int | None = None):
        rng = np.random.default_rng(seed)
        self.ref = rng.uniform(0.05, 0.6, m)
        self.ch = np.clip(self.ref + gain, 0, 1)
        self.rng = np.random.default_rng(seed + 1)
        self.die_after = die_after
        self.batches: list[list[str]] = []

    def __call__(self, base_url, reference, challenger, problems, ids, model_dir, sandbox, ev, **kw):
        if self.die_after is not None and len(self.batches) >= self.die_after:
            raise KeyboardInterrupt("killed mid-test")
        assert (reference, challenger) == ("base", "cand") and ev.t_eval == [0.6]
        self.batches.append(list(ids))
        n = ev.n
        out = []
        for pid in ids:
            i = int(pid[1:])
            a, b = self.rng.binomial(n, self.ref[i]), self.rng.binomial(n, self.ch[i])
            out.append(PairResult(problem_id=pid, n=n, reference_c=int(a), challenger_c=int(b)))
        return out


def _run(cfg, rdir, pool, fake, monkeypatch, round_id="r1"):
    monkeypatch.setattr(rnd, "evaluate_pair_batch", fake)
    ev = rnd.decoding(cfg)
    prov = rnd._provenance(cfg, ev, MODEL, SERVER, pool)
    record = rnd.open_gate_test(cfg, rdir, round_id, prov, pool)
    assert record.plan is not None
    state = rnd.drive_gate_test(
        record.plan,
        rdir,
        server=SERVER,
        adapter_name="cand",
        pool=pool,
        model=MODEL,
        sandbox=None,
        ev=ev,
        round_id=round_id,
    )
    return record, state


def test_one_round_is_one_test_at_the_gate_alpha_and_a_clear_winner_stops_early(tmp_path, monkeypatch):
    cfg, pool = _cfg(), _pool(400)
    record, state = _run(cfg, tmp_path, pool, FakePairs(400, 0.25), monkeypatch)
    plan = record.plan
    assert plan.level == 0.05 and plan.test_index == 1  # the whole alpha, not the lifetime schedule's alpha_1
    assert plan.n == 4 and plan.settings.batch_size == 25 and sorted(plan.order) == [p.id for p in pool]
    d = decide_single_test(plan, state, rnd.gate_config(cfg), provenance=record.provenance)
    assert d.promote and d.summary.outcome == "efficacy" and d.summary.p_value <= 0.05
    assert d.summary.problems_evaluated < 400 and d.summary.problems_evaluated % 25 == 0  # stopped at a batch boundary
    assert "One sequential test at alpha=0.05" in d.reason
    # Everything the decision rests on was committed before the test saw it.
    assert rnd.committed_results(tmp_path)[: state.evaluated] == [
        state.results[p] for p in plan.order[: state.evaluated]
    ]


def test_a_useless_candidate_stops_for_futility_and_keeps_the_champion(tmp_path, monkeypatch):
    cfg, pool = _cfg(), _pool(400)
    record, state = _run(cfg, tmp_path, pool, FakePairs(400, -0.2), monkeypatch)
    d = decide_single_test(record.plan, state, rnd.gate_config(cfg), provenance=record.provenance)
    assert not d.promote and d.summary.outcome == "futility" and d.summary.problems_evaluated <= 100


def test_a_round_killed_mid_test_resumes_from_its_committed_results_to_the_same_decision(tmp_path, monkeypatch):
    cfg, pool = _cfg(), _pool(400)
    whole_dir, killed_dir = tmp_path / "whole", tmp_path / "killed"
    whole_dir.mkdir(), killed_dir.mkdir()
    _, whole = _run(cfg, whole_dir, pool, FakePairs(400, 0.03), monkeypatch)
    assert whole.evaluated > 50
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, killed_dir, pool, FakePairs(400, 0.03, die_after=2), monkeypatch)
    done = rnd.committed_results(killed_dir)
    assert len(done) == 50  # two whole batches, nothing of the third
    asked: list[str] = []

    def rest(base_url, reference, challenger, problems, ids, *a, **k):
        asked.extend(ids)
        return [whole.results[pid] for pid in ids]  # the uninterrupted run's draws

    record, state = _run(cfg, killed_dir, pool, rest, monkeypatch)
    assert not set(asked) & {r.problem_id for r in done}  # only what was not committed is evaluated
    assert state == whole  # the same stop, the same numbers
    assert replay(record.plan, rnd.committed_results(killed_dir)) == whole


def test_a_resumed_round_refuses_a_changed_decoding_and_keeps_its_plan(tmp_path, monkeypatch):
    cfg, pool = _cfg(), _pool(60)
    ev = rnd.decoding(cfg)
    first = rnd.open_gate_test(cfg, tmp_path, "r1", rnd._provenance(cfg, ev, MODEL, SERVER, pool), pool)
    again = rnd.open_gate_test(cfg, tmp_path, "r1", rnd._provenance(cfg, ev, MODEL, SERVER, pool), pool)
    assert again == first
    other = ev.model_copy(update={"n": 2})
    with pytest.raises(InputError, match="changed since this round's test was planned"):
        rnd.open_gate_test(cfg, tmp_path, "r1", rnd._provenance(cfg, other, MODEL, SERVER, pool), pool)


def test_a_pool_below_min_problems_is_not_tested(tmp_path):
    cfg, pool = _cfg(), _pool(10)
    ev = rnd.decoding(cfg)
    record = rnd.open_gate_test(cfg, tmp_path, "r1", rnd._provenance(cfg, ev, MODEL, SERVER, pool), pool)
    assert record.plan is None and record.skipped is not None and not record.skipped.promote
    assert record.skipped.summary.outcome == "not_run" and "min_problems=20" in record.skipped.reason
    assert math.isnan(record.skipped.summary.delta)


def test_the_gate_section_wins_and_the_promotion_section_is_the_fallback():
    plain = _cfg(min_delta=0.01)
    assert rnd.gate_config(plain) == GateConfig(alpha=0.05, min_problems=20, min_delta=0.01)
    daemon = DaemonConfig.model_validate({"gate": {"alpha": 0.1, "batch_size": 16, "max_problems": 48}})
    assert rnd.gate_config(daemon) is daemon.gate
    assert rnd.round_seed(plain, "r1") == rnd.round_seed(plain, "r1") != rnd.round_seed(plain, "r2")


def test_the_report_says_what_the_test_did(tmp_path, monkeypatch):
    from rich.console import Console

    cfg, pool = _cfg(), _pool(400)
    record, state = _run(cfg, tmp_path, pool, FakePairs(400, 0.25), monkeypatch)
    d = decide_single_test(record.plan, state, rnd.gate_config(cfg), provenance=record.provenance)
    s = d.summary
    report = rnd.RoundReport(
        round_id="r1",
        run_dir=str(tmp_path),
        base_model="m",
        base_model_hash="h",
        adapter_name="cand",
        adapter_path=str(tmp_path / "adapter"),
        train_prompts=6,
        heldout_problems=400,
        gate_pool_problems=400,
        problems_evaluated=s.problems_evaluated,
        sampling=None,
        kept_samples=6,
        dropped={},
        distill_loss_first=None,
        distill_loss_last=None,
        t_eval=0.6,
        base_pass_at_1=s.reference_pass1,
        base_ci=(0.1, 0.2),
        candidate_pass_at_1=s.challenger_pass1,
        candidate_ci=(0.3, 0.4),
        outcome=s.outcome,
        alpha=s.alpha_level,
        p_value=s.p_value,
        e_value=s.e_value,
        decision=d,
        times=rnd.StageTimes(),
        finished_at="now",
    )
    console = Console(record=True, width=200)
    rnd.print_round(report, console)
    text = console.export_text()
    assert f"PROMOTE (efficacy): {s.problems_evaluated} of 400 gate problems" in text and "alpha 0.05" in text
    assert rnd.RoundReport.model_validate_json(report.model_dump_json()) == report
