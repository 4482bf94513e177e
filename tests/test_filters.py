"""Degeneracy filters: which rows go, for which reason, and nothing correctness-based."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ssd.filters import FilterConfig, filter_samples
from ssd.prompts import PromptStyle
from ssd.sampling import SampleRecord, SamplingParams


def rec(pid: str, completion: str, idx: int = 0, finish: str = "stop") -> SampleRecord:
    return SampleRecord(
        problem_id=pid,
        sample_index=idx,
        prompt="P",
        prompt_style=PromptStyle.stdin,
        completion=completion,
        params=SamplingParams(),
        seed=1,
        prompt_tokens=1,
        completion_tokens=len(completion.split()),
        finish_reason=finish,
        model="m",
        created_at="2026-01-01T00:00:00+00:00",
    )


def body(lines: int, width: int = 10) -> str:
    return "\n".join("x" * width for _ in range(lines))


def test_reasons_counted_once_each():
    rows = [
        rec("a", ""),
        rec("b", "   \n\n"),
        rec("c", "print(1)"),
        rec("d", "\n  print(1)  \n"),
        rec("e", body(3), finish="length"),
        rec("f", body(3)),
    ]
    rep = filter_samples(rows, FilterConfig(drop_shortest_frac=0.0))
    assert rep.dropped == {"empty": 2, "single_line": 2, "truncated": 0, "shortest": 0}
    assert [r.problem_id for r in rep.kept] == ["e", "f"]
    assert rep.total == 6

    rep = filter_samples(rows, FilterConfig(drop_shortest_frac=0.0, drop_truncated=True))
    assert rep.dropped["truncated"] == 1 and [r.problem_id for r in rep.kept] == ["f"]


def test_shortest_fraction_of_survivors_by_characters():
    # 20 survivors of increasing length: 10% -> the 2 shortest go, computed after other drops.
    rows = [rec(f"p{i:02d}", body(2, width=5 + i)) for i in range(20)] + [rec("empty", "")]
    rep = filter_samples(rows, FilterConfig())
    assert rep.dropped["empty"] == 1 and rep.dropped["shortest"] == 2
    assert {r.problem_id for r in rep.kept} == {f"p{i:02d}" for i in range(2, 20)}
    # Original order is preserved among kept rows.
    assert [r.problem_id for r in rep.kept] == sorted(r.problem_id for r in rep.kept)


def test_shortest_ties_are_deterministic_and_floor():
    rows = [rec("b", body(2), 1), rec("a", body(2), 0), rec("a", body(2), 1), rec("c", body(3))]
    rep = filter_samples(rows, FilterConfig(drop_shortest_frac=0.5))
    assert rep.dropped["shortest"] == 2
    assert [(r.problem_id, r.sample_index) for r in rep.kept] == [("b", 1), ("c", 0)]
    rep = filter_samples(rows[:3], FilterConfig(drop_shortest_frac=0.1))
    assert rep.dropped["shortest"] == 0  # floor(0.3) = 0


def test_wrong_code_is_kept():
    wrong = "def f():\n    return 1/0\n"
    rep = filter_samples([rec("a", wrong)], FilterConfig())
    assert rep.kept and rep.kept[0].completion == wrong


def test_switches_off_and_config_validation():
    rows = [rec("a", ""), rec("b", "x")]
    rep = filter_samples(rows, FilterConfig(drop_empty=False, drop_single_line=False, drop_shortest_frac=0))
    assert len(rep.kept) == 2
    with pytest.raises(ValidationError, match=r"drop_shortest_frac\n  Input should be less than 1"):
        FilterConfig(drop_shortest_frac=1.0)
    with pytest.raises(ValidationError, match=r"bogus\n  Extra inputs are not permitted"):
        FilterConfig(bogus=True)
