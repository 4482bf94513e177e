"""Curation: exact and near duplicates, length, language, the coding rule, and the report."""

from __future__ import annotations

from ssd.traffic.config import CodingRuleConfig, CurationConfig
from ssd.traffic.curate import (
    CurationReport,
    Curator,
    PromptText,
    content_hash,
    is_coding_request,
    language_ok,
    script_shares,
    signature,
    signature_bytes,
    signature_from_bytes,
)

LONG = (
    "Write a Python function merge_intervals(intervals) that takes a list of [start, end] pairs, sorts them "
    "by start, merges every pair of overlapping intervals into one and returns the merged list; intervals "
    "that only touch at an end point count as overlapping, and an empty input gives an empty list."
)


def _p(text: str, tokens: int = 50) -> PromptText:
    return PromptText(text=text, tokens=tokens)


def _keep(c: Curator, key: str, text: str) -> None:
    j = c.judge(_p(text))
    assert j.reason is None, j
    c.admit(key, j)


def test_exact_duplicates_after_normalization_drop():
    c = Curator(CurationConfig(), max_tokens=1000)
    _keep(c, "a", LONG)
    j = c.judge(_p("  " + LONG.upper().replace(" ", "   ") + "\n"))
    assert j.reason == "duplicate" and "a" in j.detail
    assert content_hash("Hello  World") == content_hash("hello world")


def test_near_duplicates_drop_and_different_prompts_stay():
    c = Curator(CurationConfig(), max_tokens=1000)
    _keep(c, "a", LONG)
    for near in (LONG + " Thanks!", LONG.replace("an empty list.", "an empty list too.")):
        j = c.judge(_p(near))
        assert j.reason == "near_duplicate" and "a" in j.detail, near
    other = "Write a Python class LRUCache with get and put in O(1), evicting the least recently used key."
    assert c.judge(_p(other)).reason is None


def test_forgetting_a_prompt_lets_its_near_duplicate_in():
    c = Curator(CurationConfig(), max_tokens=1000)
    _keep(c, "a", LONG)
    c.forget(["a"])
    assert c.judge(_p(LONG)).reason is None


def test_indexes_load_from_stored_signatures():
    cfg = CurationConfig()
    first = Curator(cfg, max_tokens=1000)
    j = first.judge(_p(LONG))
    second = Curator(cfg, max_tokens=1000)
    second.load([("a", j.content_hash, j.signature)])
    assert second.judge(_p(LONG.replace("sorts", "orders"))).reason == "near_duplicate"
    mh = signature(LONG, cfg.shingle_words, cfg.num_perm)
    assert signature_from_bytes(signature_bytes(mh), cfg.num_perm).jaccard(mh) == 1.0


def test_length_limits():
    c = Curator(CurationConfig(min_chars=16), max_tokens=100)
    assert c.judge(_p("fix my code")).reason == "too_short"
    assert c.judge(_p(LONG, tokens=101)).reason == "too_long"
    assert c.judge(_p(LONG, tokens=100)).reason is None


def test_language_filter_by_writing_system():
    russian = "Напиши функцию на Python, которая сортирует список чисел и возвращает его, пожалуйста"
    assert script_shares(russian)["cyrillic"] > 0.9
    assert not language_ok(russian, ["latin"], 0.6)
    assert language_ok(russian, None, 0.6)  # off by default
    assert language_ok("```python\ndef f(x):\n    return x\n```", ["cyrillic"], 0.6)  # code only: no prose to judge
    c = Curator(CurationConfig(scripts=["latin"]), max_tokens=1000)
    assert c.judge(_p(russian)).reason == "language"
    assert c.judge(_p(LONG)).reason is None


def test_the_coding_rule_is_configurable():
    rule = CodingRuleConfig()
    assert not is_coding_request("Thanks a lot, that was great! Have a nice evening.", rule)
    assert is_coding_request("why does this fail?\n```\nx = [1, 2\n```", rule)
    assert is_coding_request("What is the time complexity of quicksort? O(n log n)?", rule)
    c = Curator(CurationConfig(), max_tokens=1000)
    assert c.judge(_p("Thanks a lot, that was great! Have a nice evening.")).reason == "not_coding"
    custom = CodingRuleConfig(keywords=["haskell"], patterns=[])
    assert is_coding_request("How do monads work in Haskell?", custom)
    assert not is_coding_request("Write a python function", custom)
    assert is_coding_request("anything at all", CodingRuleConfig(enabled=False))


def test_a_bad_pattern_is_rejected_with_its_text():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a regular expression"):
        CodingRuleConfig(patterns=["("])


def test_contamination_is_asked_before_near_duplicates():
    c = Curator(CurationConfig(), max_tokens=1000, contamination=lambda t: "overlaps X" if "merge" in t else None)
    j = c.judge(_p(LONG))
    assert j.reason == "contaminated" and j.detail == "overlaps X"


def test_the_report_counts_kept_and_reasons():
    r = CurationReport()
    for reason in (None, None, "duplicate", "not_coding", "duplicate"):
        r.add(reason)
    assert r.kept == 2 and r.dropped == {"duplicate": 2, "not_coding": 1}
    assert r.describe() == "kept 2, dropped 3 (2 duplicate, 1 not_coding)"
