"""`ssdd status`'s power figures come from the actual design, never an assumed base rate.

Before any gate evaluation the minimum detectable gain is unknown (no pool size or pass rate
is assumed); after one, it is simulated for the measured pool size and champion results
(the per-problem rows of the last gate test in the state database).
"""

from __future__ import annotations

from daemon.config import DaemonConfig
from daemon.state import PairResultRow, RoundRow, SequentialTestRow, Store, utcnow
from daemon.status import _budget, _power_text, collect_status
from policies.gate import GateConfig
from policies.provenance import EvalProvenance
from policies.sequential import make_plan
from ssd.evaluate import EvalConfig

PROV = EvalProvenance(
    temperature=0.0,
    top_p=1.0,
    top_k=-1,
    n=1,
    max_tokens=64,
    seed=0,
    sandbox_image="i",
    vllm_version="v",
    model_hash="h",
    problem_set_hash="s",
)


def _gate_test(store: Store, name: str, pool: int, rows: list[tuple[int, int]], decided: bool) -> None:
    """A gate test over ``pool`` problems with per-problem (champion, candidate) passes ``rows``
    committed in the plan's order."""
    ids = [f"p{i:03d}" for i in range(pool)]
    plan = make_plan(ids, direction="greater", seed=1, level=0.002, n=1, settings=GateConfig(), min_problems=1)
    store.add(
        SequentialTestRow(
            name=name,
            kind="gate",
            reference=None,
            challenger="cand",
            decoding_json=PROV.model_dump_json(),
            plan_json=plan.model_dump_json(),
            decided_at=utcnow() if decided else None,
            outcome="futility" if decided else None,
        )
    )
    store.commit_pair_results(
        [
            PairResultRow(test_name=name, kind="gate", problem_id=pid, n=1, reference_c=a, challenger_c=b)
            for pid, (a, b) in zip(plan.order, rows)
        ]
    )


def test_power_is_unknown_before_an_evaluation_and_measured_after(tmp_path):
    cfg = DaemonConfig(data_dir=tmp_path, evaluation=EvalConfig(t_eval=[0.0], n=1))
    cfg.db_path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.db_path)
    try:
        before = _budget(cfg, store)
        assert before["min_detectable_delta"] is None and before["gate_problems"] is None, before
        assert "unknown until the first gate evaluation" in _power_text(before)
        store.add(RoundRow(name="r1"))
        _gate_test(store, "r1", 160, [(int(i < 40), 0) for i in range(160)], decided=True)
        after = _budget(cfg, store)
        d = after["design"]
        assert after["gate_problems"] == 160 and d["champion_pass1"] == 0.25 and d["greedy"]
        assert 0.05 < after["min_detectable_delta"] < 0.5
        assert 0 < d["expected_generations"]["loss_5"] <= d["expected_generations"]["null"] <= 2 * 160
        assert "min detectable +" in _power_text(after) and "160 gate problems x n=1" in _power_text(after)
    finally:
        store.close()


def test_status_json_shows_the_running_test_s_progress(tmp_path):
    cfg = DaemonConfig(data_dir=tmp_path, evaluation=EvalConfig(t_eval=[0.0], n=1))
    cfg.db_path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.db_path)
    try:
        assert collect_status(cfg, store)["gate_test"] is None  # no test running
        store.add(RoundRow(name="r1", candidate="cand", stage="evaluate"))
        rows = [(0, 1), (1, 1), (0, 0)] * 10  # 10 better, 20 equal: one batch of 25 and 5 more, no stop yet
        _gate_test(store, "r1", 100, rows, decided=False)
        st = collect_status(cfg, store)
        gt = st["gate_test"]
        assert gt["name"] == "r1" and gt["kind"] == "gate" and gt["challenger"] == "cand" and gt["reference"] is None
        assert gt["problems_committed"] == 30 and gt["problems_evaluated"] == 30
        assert gt["limit"] == gt["pool_problems"] == 100 and gt["batch_size"] == 25 and gt["batches"] == 1
        assert gt["e_value"] > 1.0 and gt["outcome"] == "running" and gt["generations"] == 60
        assert gt["mean_effect"] == 10 / 30
        assert st["running_round"]["gate_pool"] == 100 and st["running_round"]["gate_problems_evaluated"] == 30
        import io

        from rich.console import Console

        from daemon.status import print_status

        out = io.StringIO()
        print_status(st, Console(file=out, width=200))
        assert "gate r1 (base vs cand): 30/100 problems" in out.getvalue()
    finally:
        store.close()
