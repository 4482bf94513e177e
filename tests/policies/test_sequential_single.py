"""One sequential promotion test on its own (`ssd round`): the gate's whole alpha, no ledger."""

from __future__ import annotations

import numpy as np
import pytest
from policy_builders import prov

from policies import spending
from policies.gate import GateConfig, GateLedger
from policies.provenance import ProvenanceMismatch
from policies.sequential import PairResult, SequentialState, run_test
from policies.sequential_gate import decide_gate_test, decide_single_test, start_gate_test, start_single_test

IDS = [f"p{i:03d}" for i in range(200)]


def _draws(gain: float, seed: int = 3):
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0.05, 0.6, len(IDS))
    ch = np.clip(ref + gain, 0, 1)

    def evaluate(batch):
        out = []
        for pid in batch:
            i = int(pid[1:])
            out.append(
                PairResult(
                    problem_id=pid,
                    n=4,
                    reference_c=int(rng.binomial(4, ref[i])),
                    challenger_c=int(rng.binomial(4, ch[i])),
                )
            )
        return out

    return evaluate


def test_the_single_test_runs_at_alpha_itself_with_the_gates_plan_otherwise():
    cfg, p = GateConfig(), prov(n=4)
    single = start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=p, seed=5).plan
    life = start_gate_test(IDS, GateLedger(), cfg, champion_provenance=p, candidate_provenance=p, seed=5).plan
    assert single is not None and life is not None
    assert single.level == cfg.alpha and life.level == spending.next_level(cfg.alpha, 0, 0.0, cfg) < cfg.alpha
    # Only the level differs: same order, boundaries, prior and stopping settings.
    assert single.model_copy(update={"level": life.level}) == life


def test_a_clear_winner_is_promoted_and_a_loser_kept_each_with_its_reason():
    cfg, p = GateConfig(), prov(n=4)
    plan = start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=p, seed=5).plan
    assert plan is not None
    win = decide_single_test(plan, run_test(plan, _draws(0.25)), cfg, provenance=p)
    assert win.promote and win.summary.outcome == "efficacy" and win.summary.p_value <= cfg.alpha
    assert win.reason.startswith("PROMOTE: e-value reached 1/alpha = 20") and "no lifetime budget" in win.reason
    lose = decide_single_test(plan, run_test(plan, _draws(-0.2)), cfg, provenance=p)
    assert not lose.promote and lose.summary.outcome == "futility" and lose.reason.startswith("KEEP champion")


def test_a_close_call_promoted_at_alpha_is_not_by_the_lifetime_gates_first_test():
    """The same results through both deciders: the single test's level is the whole alpha."""
    cfg, p = GateConfig(), prov(n=4)
    for seed in range(40):
        plan = start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=p, seed=seed).plan
        assert plan is not None
        state = run_test(plan, _draws(0.06, seed))
        if state.outcome == "efficacy" and state.p_value > spending.next_level(cfg.alpha, 0, 0.0, cfg):
            break
    else:
        pytest.fail("no close call found")
    assert decide_single_test(plan, state, cfg, provenance=p).promote
    life = start_gate_test(IDS, GateLedger(), cfg, champion_provenance=p, candidate_provenance=p, seed=seed).plan
    assert life is not None
    assert not decide_gate_test(life, run_test(life, _replayed(plan, state)), GateLedger(), cfg, provenance=p).promote


def _replayed(plan, state):
    def evaluate(batch):
        return [
            state.results.get(pid) or PairResult(problem_id=pid, n=4, reference_c=0, challenger_c=0) for pid in batch
        ]

    return evaluate


def test_skips_and_refusals_are_known_before_any_result():
    cfg, p = GateConfig(), prov(n=4)
    small = start_single_test(IDS[:5], cfg, champion_provenance=p, candidate_provenance=p, seed=1)
    assert small.plan is None and small.skipped is not None and "min_problems=20" in small.skipped.reason
    bad = start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=p, seed=1, candidate_marked_bad=True)
    assert bad.plan is None and bad.skipped is not None and not bad.skipped.promote
    with pytest.raises(ProvenanceMismatch):
        start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=prov(n=1), seed=1)
    plan = start_single_test(IDS, cfg, champion_provenance=p, candidate_provenance=p, seed=1).plan
    assert plan is not None
    with pytest.raises(ValueError, match="has not stopped"):
        decide_single_test(plan, SequentialState(), cfg, provenance=p)
