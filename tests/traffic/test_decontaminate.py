"""Decontamination: a pasted held-out problem is never kept for training."""

from __future__ import annotations

import pytest

from ssd.problems import Problem
from ssd.traffic.config import CurationConfig, DecontaminationConfig
from ssd.traffic.curate import Curator, PromptText
from ssd.traffic.decontaminate import Decontaminator


@pytest.fixture(scope="module")
def heldout() -> list[Problem]:
    from daemon.config import DaemonConfig
    from daemon.rounds.context import build_sets

    sets = build_sets(DaemonConfig.model_validate({"data": {"sources": [{"kind": "starter"}]}}))
    return [*sets.gate, *sets.audit, *sets.calibration]


@pytest.fixture(scope="module")
def decon(heldout) -> Decontaminator:
    return Decontaminator(heldout, DecontaminationConfig(), CurationConfig())


def test_a_pasted_heldout_problem_is_contaminated(heldout, decon):
    for p in heldout[:10]:
        pasted = f"Hi! Can you help me with my homework?\n\n{p.prompt}\n\nPlease explain your answer step by step."
        why = decon.check(pasted)
        assert why is not None and p.id in why, (p.id, why)


def test_an_edited_paste_is_caught_by_shingle_containment(heldout, decon):
    from ssd.traffic.curate import words

    p = max(heldout, key=lambda q: len(words(q.prompt)))
    ws = p.prompt.split()
    # One word in 12 changed: no 13-word run survives, most 5-word shingles do.
    edited = " ".join(w if i % 12 else "zq" + w for i, w in enumerate(ws))
    only_grams = Decontaminator(
        heldout, DecontaminationConfig(containment_threshold=1.0, near_duplicate_threshold=0.95), CurationConfig()
    )
    assert only_grams.check("please help: " + edited) is None
    why = decon.check("please help: " + edited + "\nand explain the complexity of your answer")
    assert why is not None and p.id in why and "shingles" in why


def test_a_reworded_problem_is_caught_by_the_near_duplicate_index(heldout):
    from ssd.traffic.curate import words

    p = max(heldout, key=lambda q: len(words(q.prompt)))
    reworded = " ".join(w if i % 12 else "zq" + w for i, w in enumerate(p.prompt.split()))
    lsh_only = Decontaminator(heldout, DecontaminationConfig(containment_threshold=1.0), CurationConfig())
    why = lsh_only.check(reworded)
    assert why is not None and p.id in why and "near-duplicate" in why


def test_a_paste_of_the_starter_code_alone_is_caught(heldout, decon):
    with_code = [p for p in heldout if p.starter_code and len(p.starter_code.split()) >= 13]
    p = with_code[0]
    why = decon.check(f"finish this for me:\n{p.starter_code}")
    assert why is not None and p.id in why


def test_unrelated_prompts_pass(decon):
    for text in (
        "Write a Python class LRUCache with get and put in O(1), evicting the least recently used key.",
        "My Flask app returns 500 when the JSON body is empty; how do I validate it?",
        "Return the result; do not read input or print.",  # the starter set's shared boilerplate alone
    ):
        assert decon.check(text) is None, text


def test_a_short_problem_matches_whole_or_not_at_all():
    short = Problem(id="short", prompt="Given a list of integers print the second largest distinct value please")
    tiny = Problem(id="tiny", prompt="Reverse a string.")
    d = Decontaminator([short, tiny], DecontaminationConfig(), CurationConfig())
    assert "short" in (d.check("hey: given a list of integers, print the second largest distinct value please!") or "")
    assert d.check("how do I reverse a string in a loop without slicing and why is my version so slow") is None


def test_curation_drops_a_contaminated_prompt(heldout, decon):
    c = Curator(CurationConfig(), max_tokens=10_000, contamination=decon.check)
    j = c.judge(PromptText(text="solve: " + heldout[3].prompt, tokens=100))
    assert j.reason == "contaminated" and heldout[3].id in j.detail
