"""`ssd.gate_eval.evaluate_pair_batch`: one sequential-gate batch, both arms, paired results.

The evaluation itself is `ssd.evaluate.evaluate` (tested on the real stack elsewhere); here it
is replaced by a scripted one that records what each arm was asked and answers with given
counts, to check the pairing, the batch order and the refusals.
"""

from __future__ import annotations

import pytest

from policies.sequential import PairResult, SequentialSettings, SequentialState, advance, make_plan, next_batch
from ssd.evaluate import EvalConfig, EvalReport, ProblemResult, TemperatureEval
from ssd.gate_eval import evaluate_pair_batch
from ssd.problems import InputError
from ssd.sources.humaneval import load_humaneval

POOL = load_humaneval()[:12]
CFG = EvalConfig(t_eval=[0.6], n=4, seed=3)


def _report(name: str, problems, t: float, n: int, passes: dict[str, int], drop: int = 0) -> EvalReport:
    rows = [
        ProblemResult(
            problem_id=p.id, difficulty=None, n=n, c=passes[p.id], pass_at_k={1: passes[p.id] / n}, statuses={}
        )
        for p in problems[drop:]
    ]
    te = TemperatureEval(
        temperature=t,
        n=n,
        pass_at_k={1: 0.0},
        pass_at_1_ci=(0.0, 0.0),
        by_difficulty={},
        per_problem=rows,
        statuses={},
        completion_tokens=0,
        truncated=0,
        generate_s=0.0,
        judge_s=0.0,
    )
    return EvalReport(
        model_name=name,
        base_url="x",
        created_at="now",
        problems=len(problems),
        config=CFG,
        temperatures=[te],
        best_temperature=t,
        best_pass_at_1=0.0,
    )


class Scripted:
    def __init__(self, passes: dict[str, dict[str, int]], n: dict[str, int] | None = None, drop: int = 0):
        self.passes, self.n, self.drop = passes, n or {}, drop
        self.calls: list[tuple[str, list[str], EvalConfig]] = []

    def __call__(self, base_url, name, problems, model_dir, sandbox, cfg, **kw):
        self.calls.append((name, [p.id for p in problems], cfg))
        return _report(name, problems, cfg.t_eval[0], self.n.get(name, cfg.n), self.passes[name], self.drop)


def _passes(f):
    return {p.id: f(i) for i, p in enumerate(POOL)}


def test_both_arms_see_exactly_the_batch_with_one_config_and_results_pair_in_batch_order():
    ev = Scripted({"champ": _passes(lambda i: i % 5), "cand": _passes(lambda i: 4 - i % 5)})
    batch = [POOL[7].id, POOL[2].id, POOL[5].id]
    out = evaluate_pair_batch("u", "champ", "cand", POOL, batch, "m", None, CFG, evaluate_fn=ev)
    assert [c[0] for c in ev.calls] == ["champ", "cand"]
    assert all(c[1] == batch and c[2] == CFG for c in ev.calls)
    assert out == [PairResult(problem_id=POOL[i].id, n=4, reference_c=i % 5, challenger_c=4 - i % 5) for i in (7, 2, 5)]


def test_each_arm_reports_its_judged_problems_as_it_finishes():
    ev = Scripted({"champ": _passes(lambda i: 1), "cand": _passes(lambda i: 2)})
    done: list[tuple[str, int, int]] = []
    batch = [POOL[1].id, POOL[3].id]
    evaluate_pair_batch(
        "u", "champ", "cand", POOL, batch, "m", None, CFG, evaluate_fn=ev,
        on_arm_done=lambda arm, k: done.append((arm, k, len(ev.calls))),
    )  # fmt: skip
    assert done == [("reference", 2, 1), ("challenger", 2, 2)]  # each right after its own arm


def test_the_seam_with_the_sequential_plan():
    """next_batch -> evaluate_pair_batch -> advance, as the round runs it."""
    ev = Scripted({"champ": _passes(lambda i: 0), "cand": _passes(lambda i: 4)})
    plan = make_plan(
        [p.id for p in POOL],
        direction="greater",
        seed=1,
        level=0.2,
        n=4,
        settings=SequentialSettings(batch_size=4),
        min_problems=4,
    )
    state = SequentialState()
    while not state.done:
        batch = next_batch(plan, state)
        got = evaluate_pair_batch("u", "champ", "cand", POOL, batch, "m", None, CFG, evaluate_fn=ev)
        state = advance(plan, state, got)
    assert state.outcome == "efficacy" and state.evaluated == 8  # two batches of 4, of 12
    assert [c[1] for c in ev.calls] == [plan.order[:4]] * 2 + [plan.order[4:8]] * 2


def test_refusals():
    ev = Scripted({"champ": _passes(lambda i: 1), "cand": _passes(lambda i: 1)})
    ids = [POOL[0].id, POOL[1].id]
    with pytest.raises(InputError, match="one decoding per comparison"):
        evaluate_pair_batch("u", "champ", "cand", POOL, ids, "m", None, EvalConfig(t_eval=[0.0, 0.6]), evaluate_fn=ev)
    with pytest.raises(InputError, match="empty batch"):
        evaluate_pair_batch("u", "champ", "cand", POOL, [], "m", None, CFG, evaluate_fn=ev)
    with pytest.raises(InputError, match="lists a problem twice"):
        evaluate_pair_batch("u", "champ", "cand", POOL, ids + ids[:1], "m", None, CFG, evaluate_fn=ev)
    with pytest.raises(InputError, match="not in the gate pool: \\['nope'\\]"):
        evaluate_pair_batch("u", "champ", "cand", POOL, ["nope"], "m", None, CFG, evaluate_fn=ev)
    with pytest.raises(RuntimeError, match="drew n=4 and n=1"):
        evaluate_pair_batch(
            "u", "champ", "cand", POOL, ids, "m", None, CFG, evaluate_fn=Scripted(ev.passes, n={"cand": 1})
        )
    with pytest.raises(RuntimeError, match="reference arm's report covers"):
        evaluate_pair_batch("u", "champ", "cand", POOL, ids, "m", None, CFG, evaluate_fn=Scripted(ev.passes, drop=1))
