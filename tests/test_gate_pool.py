"""The gate pool: gate-only problems, decontaminated against training and the sealed sets."""

from __future__ import annotations

from ssd.config import SSDConfig
from ssd.gate_pool import decontaminated_gate_pool
from ssd.problem_sets import HeldoutConfig, build_problem_sets
from ssd.sources.humaneval import load_humaneval
from ssd.sources.starter import load_starter


def test_humaneval_joins_the_gate_and_copies_of_training_or_audit_problems_do_not():
    train = load_starter()[:40]
    audit = load_starter()[40:50]
    he = load_humaneval()[:30]
    pasted = train[3].model_copy(update={"id": "copy-of-train"})  # same text, new id
    edited = audit[2].model_copy(
        update={"id": "edited-audit", "prompt": "Please solve this. " + audit[2].prompt + " Thanks!"}
    )
    untested = he[5].model_copy(update={"id": "no-tests", "tests": None})
    kept, rep = decontaminated_gate_pool([*he, pasted, edited, untested, he[0]], train=train, sealed=audit)
    assert [p.id for p in kept] == [p.id for p in he]
    assert rep.offered == 34 and rep.kept == 30
    assert "same prompt as training prompt" in rep.dropped["copy-of-train"]
    assert rep.dropped["edited-audit"].startswith("sealed set:")
    assert rep.dropped["no-tests"] == "no tests"
    assert rep.dropped["HumanEval/0"] == "repeated: the first occurrence was kept"


def test_the_config_adds_the_gate_pool_to_the_gate_only():
    base = SSDConfig.model_validate({"data": {"sources": [{"kind": "starter"}], "split": {"heldout_frac": 0.4}}})
    with_pool = SSDConfig.model_validate(
        {
            "data": {
                "sources": [{"kind": "starter"}],
                "split": {"heldout_frac": 0.4},
                "gate_pool": [{"kind": "humaneval"}],
            }
        }
    )
    h = HeldoutConfig(audit_frac=0.25)
    a, b = build_problem_sets(base, h), build_problem_sets(with_pool, h)
    assert [p.id for p in b.audit] == [p.id for p in a.audit] and b.train == a.train
    extra = [p.id for p in b.gate if p.id.startswith("HumanEval/")]
    assert len(extra) > 150 and len(b.gate) == len(a.gate) + len(extra)
