"""What a round does with captured prompts: the mix at prepare, the training prompts, samples of
purged prompts left out, the traffic check's veto at decide, and status."""

from __future__ import annotations

import json

import pytest
from traffic_util import daemon_config

from daemon.learning.ingest import PromptIngestor, heldout_problems
from daemon.learning.store import CapturedPromptRow, PromptStore, new_prompt_id
from daemon.rounds import learning
from daemon.rounds.context import RoundDeps
from daemon.state import RoundRow, Store
from policies.traffic import AnswerOutcome, TrafficPolicyConfig, decide_traffic
from ssd.sampling import SampleRecord, SamplingParams
from ssd.traffic.traffic_check import ArmSummary, TrafficCheckReport

TASKS = [
    "Write a Python function that merges two sorted lists into one sorted list without using sort().",
    "Write a Python generator that yields the Fibonacci numbers below a given limit, lazily.",
    "Fix my Python code: it should count the vowels in a string but returns 0 for 'banana'.",
    "Write a Python class Stack with push, pop and peek that raises IndexError when it is empty.",
    "How do I parse an ISO 8601 timestamp with a timezone offset into a datetime in Python?",
    "Write a Python function that returns the longest common prefix of a list of strings.",
]


@pytest.fixture
def deps(tmp_path, model_dir):
    from daemon.rounds.context import build_sets

    cfg = daemon_config(tmp_path, model_dir, mix={"captured_frac": 0.5, "prompts_per_round": 10})
    store = Store(cfg.db_path)
    d = RoundDeps(
        cfg=cfg,
        store=store,
        registry=None,
        sandbox=None,
        model=None,
        sets=build_sets(cfg),
        metrics=None,  # type: ignore[arg-type]
    )
    yield d
    store.close()


def ingest_all(deps, texts, key="key:aaaaaaaaaaaa"):
    ing = PromptIngestor(deps.cfg, PromptStore(deps.store), heldout_problems(deps.sets), deps.cfg.model)
    return [
        ing.ingest(
            kind="chat",
            messages=[{"role": "user", "content": t}],
            text=None,
            key_id=key,
            source="capture",
            route="chat",
        )
        for t in texts
    ]


def rdir_of(deps, name="r1"):
    d = deps.cfg.rounds_dir / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_prepare_draws_the_mix_and_a_resumed_round_reads_it_back(deps):
    rows = ingest_all(deps, TASKS)
    train = [r.id for r in rows if r.split == "train"]
    assert len(train) >= 3
    row, rdir = RoundRow(name="r1"), rdir_of(deps)
    learning.prepare_training_prompts(deps, row, rdir)
    problems = learning.training_prompts(deps, rdir)
    captured = [p for p in problems if p.id.startswith("cap-")]
    assert len(problems) == 10 and len(captured) == min(5, len(train))
    assert {p.id for p in captured} <= set(train)  # never a prompt of the traffic check's slice
    assert all(p.meta["served_as"] == "chat" and p.meta["messages"] for p in captured)
    pstore = PromptStore(deps.store)
    assert pstore.used_in_round("r1") == len(captured)
    mix = json.loads(pstore.round_learning(["r1"])["r1"].mix_json or "{}")
    assert mix["captured"] == len(captured) and mix["pool"] == 10 - len(captured)
    before = (rdir / learning.MIX_FILE).read_bytes()
    learning.prepare_training_prompts(deps, row, rdir)  # resumed prepare: nothing drawn anew
    assert (rdir / learning.MIX_FILE).read_bytes() == before and pstore.used_in_round("r1") == len(captured)
    # The next round prefers prompts no round has used yet.
    learning.prepare_training_prompts(deps, RoundRow(name="r2"), rdir_of(deps, "r2"))
    second = {p.id for p in learning.training_prompts(deps, rdir_of(deps, "r2")) if p.id.startswith("cap-")}
    unused = set(train) - {p.id for p in captured}
    assert unused <= second


def test_a_round_without_captured_prompts_trains_on_the_pool(deps):
    rdir = rdir_of(deps)
    assert learning.training_prompts(deps, rdir) == deps.sets.train  # a round from before this feature
    deps.cfg = deps.cfg.model_copy(
        update={
            "learning": deps.cfg.learning.model_copy(
                update={"mix": deps.cfg.learning.mix.model_copy(update={"prompts_per_round": None})}
            )
        }
    )
    learning.prepare_training_prompts(deps, RoundRow(name="r1"), rdir)
    assert [p.id for p in learning.training_prompts(deps, rdir)] == [p.id for p in deps.sets.train]


def test_a_prompt_that_overlaps_todays_heldout_set_is_dropped_at_prepare(deps):
    pstore = PromptStore(deps.store)
    leaked = pstore.add(
        CapturedPromptRow(
            id=new_prompt_id("capture"),
            key_id="k",
            text="solve: " + deps.sets.audit[0].prompt,
            messages_json=json.dumps([{"role": "user", "content": "solve: " + deps.sets.audit[0].prompt}]),
            split="train",
        )
    )
    learning.prepare_training_prompts(deps, RoundRow(name="r1"), rdir_of(deps))
    assert leaked.id not in {p.id for p in learning.training_prompts(deps, rdir_of(deps))}
    row = pstore.get(leaked.id)
    assert row is not None and row.status == "dropped" and row.reason == "contaminated" and row.text is None


def sample(pid: str) -> SampleRecord:
    return SampleRecord(
        problem_id=pid,
        sample_index=0,
        prompt="p",
        prompt_style="chat",
        completion="c\nd",
        params=SamplingParams(),
        seed=0,
        prompt_tokens=1,
        completion_tokens=2,
        finish_reason="stop",
        model="m",
        created_at="t",
    )


def test_samples_of_purged_prompts_are_not_trained_on(deps):
    from daemon.learning.purge import purge

    a, b = ingest_all(deps, TASKS[:2])
    purge(deps.cfg, deps.store, [a.id])
    kept = learning.without_purged(deps, [sample("starter/001"), sample(a.id), sample(b.id)])
    assert [s.problem_id for s in kept] == ["starter/001", b.id]


def write_report(rdir, block: bool) -> None:
    n = 12
    champ = [AnswerOutcome(prompt_id=f"p{i}", code_ok=True, degenerate=False) for i in range(n)]
    cand = [AnswerOutcome(prompt_id=f"p{i}", code_ok=not block, degenerate=False) for i in range(n)]
    d = decide_traffic(champ, cand, TrafficPolicyConfig())
    arm = ArmSummary(model="m", answers=n, code_ok_share=1.0, degenerate_share=0.0, has_code_share=1.0)
    report = TrafficCheckReport(run=True, reason=d.reason, prompts=n, champion=arm, candidate=arm, decision=d)
    (rdir / learning.TRAFFIC_FILE).write_text(report.model_dump_json())


@pytest.mark.parametrize(
    "kind, block, decision_after",
    [("ssd", True, "reject"), ("ssd", False, "promote"), ("submit-skip-gate", True, "promote")],
)
def test_a_significantly_worse_candidate_is_not_promoted(deps, kind, block, decision_after):
    rdir = rdir_of(deps)
    write_report(rdir, block)
    row = RoundRow(name="r1", kind=kind, decision="promote", reason="PROMOTE: the gate says so")
    learning.apply_traffic_check(deps, row, rdir)
    assert row.decision == decision_after
    if block:
        assert "traffic check" in (row.reason or "").lower() and "the gate says so" in (row.reason or "")
    else:
        assert row.reason == "PROMOTE: the gate says so"
    stored = json.loads(PromptStore(deps.store).round_learning(["r1"])["r1"].traffic_json or "{}")
    assert stored["worse"] is block and stored["vetoed"] is (decision_after == "reject")


def test_no_traffic_check_changes_nothing(deps):
    row = RoundRow(name="r1", decision="promote", reason="x")
    learning.apply_traffic_check(deps, row, rdir_of(deps))
    assert row.decision == "promote"


def test_status_shows_prompts_mix_and_traffic_check(deps):
    from daemon.status import collect_status

    ingest_all(deps, TASKS)
    ingest_all(deps, ["thanks!!! you are great, really"])
    # Started after every prompt above (the same second would leave it out of the window).
    r1 = deps.store.add(RoundRow(name="r1", status="done", stage="done", decision="reject", started_at="9999-01-01"))
    learning.prepare_training_prompts(deps, r1, rdir_of(deps))
    write_report(rdir_of(deps), block=True)
    learning.apply_traffic_check(deps, r1, rdir_of(deps))
    st = collect_status(deps.cfg, deps.store)
    lr = st["learning"]
    assert lr["capture"] is True and lr["prompts"]["captured"] == 7 and lr["prompts"]["kept"] == 6
    assert lr["prompts"]["dropped"] == {"not_coding": 1}
    assert lr["last_mix"]["round"] == "r1" and lr["last_mix"]["captured"] >= 1
    # Per round: what arrived since the round before it started (here: all), and what it used.
    assert lr["rounds"][0] == {"round": "r1", "captured": 7, "kept": 6, "used": lr["last_mix"]["captured"]}
    rd = st["rounds"][0]
    assert rd["traffic_check"]["worse"] is True and rd["mix"]["total"] == 10
    assert "champion_pass_at_1" in rd  # the existing keys stay
    import io

    from rich.console import Console

    from daemon.status import print_status

    out = io.StringIO()
    print_status(st, Console(file=out, width=200))
    text = out.getvalue()
    assert "prompt capture" in text and "7 captured" in text and "traffic check" in text and "worse" in text
