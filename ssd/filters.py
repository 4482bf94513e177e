"""Degeneracy filters for SSD samples, and nothing more.

SSD trains on the model's raw outputs without checking correctness (that is the method); only
outputs that carry no learning signal are dropped: empty ones, single-line stubs, and the
shortest fraction, as the reference code does with the length of the response. Length here is
the number of characters of the completion with surrounding whitespace stripped: it needs no
tokenizer, is the same on every machine, and orders outputs like token counts do up to ties.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from ssd.sampling import SampleRecord


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    drop_empty: bool = True
    drop_single_line: bool = True
    drop_shortest_frac: float = Field(0.1, ge=0, lt=1)
    # Off by default: the paper keeps outputs cut by the token limit; on, it trains only on
    # completions that ended on their own.
    drop_truncated: bool = False


class FilterReport(BaseModel):
    total: int
    kept: list[SampleRecord]
    dropped: dict[str, int]  # reason -> count; each dropped row is counted once, first reason wins

    @property
    def kept_count(self) -> int:
        return len(self.kept)


def completion_length(record: SampleRecord) -> int:
    return len(record.completion.strip())


def _non_blank_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def filter_samples(records: Sequence[SampleRecord], cfg: FilterConfig = FilterConfig()) -> FilterReport:
    """Apply the per-row rules (empty, single line, truncated) in that order, then drop the
    shortest ``drop_shortest_frac`` of what is left (floor of the fraction, ties broken by
    problem id and sample index so the result does not depend on file order)."""
    dropped = {"empty": 0, "single_line": 0, "truncated": 0, "shortest": 0}
    survivors: list[SampleRecord] = []
    for r in records:
        # A rejected request (prompt too long) is stored with an empty completion: it lands here.
        if cfg.drop_empty and not r.completion.strip():
            dropped["empty"] += 1
        elif cfg.drop_single_line and _non_blank_lines(r.completion) <= 1:
            dropped["single_line"] += 1
        elif cfg.drop_truncated and r.finish_reason == "length":
            dropped["truncated"] += 1
        else:
            survivors.append(r)
    n_short = math.floor(cfg.drop_shortest_frac * len(survivors))
    if n_short:
        order = sorted(
            range(len(survivors)),
            key=lambda i: (completion_length(survivors[i]), survivors[i].problem_id, survivors[i].sample_index),
        )
        cut = set(order[:n_short])
        survivors = [r for i, r in enumerate(survivors) if i not in cut]
        dropped["shortest"] = n_short
    return FilterReport(total=len(records), kept=survivors, dropped=dropped)
