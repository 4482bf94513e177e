"""rStar-Coder ``seed_sft`` rows as training prompts (no tests).

Upstream (``microsoft/rStar-Coder`` dataset card): config ``seed_sft`` is
``seed_sft/*.parquet`` with columns ``question_id``, ``question``, ``starter_code``,
``response``, ``verified``, ``is_passed``. It holds several responses per question (580K
solutions for 418K problems across the subsets), so rows are collapsed by ``question_id``;
only the prompt side is used, since SSD samples its own responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, field_validator

from ssd.problems import Problem
from ssd.sources.livecodebench import datasets_library, hub_stream, iter_rows, parse_hub_row

log = structlog.get_logger(__name__, stage="sources")

RSTAR_HUB = "microsoft/rStar-Coder"
RSTAR_CONFIG = "seed_sft"


class RStarRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    question_id: str
    question: str
    starter_code: str | None = None

    @field_validator("question_id", mode="before")
    @classmethod
    def _int_id(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("question_id", "question")
    @classmethod
    def _nonblank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


def rstar_row_to_problem(
    row: Any, source: str, line: int | None, where: str = "", subset: str = RSTAR_CONFIG
) -> Problem:
    r = parse_hub_row(RStarRow, row, source, line, where)
    return Problem(
        id=f"rstar/{r.question_id}",
        prompt=r.question,
        starter_code=r.starter_code if r.starter_code and r.starter_code.strip() else None,
        tests=None,
        meta={"source": "rstar-coder", "subset": subset, "question_id": r.question_id},
    )


def _hub_rows(hub: str, config: str, revision: str | None) -> Iterator[tuple[str, int | None, str, Any]]:
    def rows() -> Iterator[dict]:
        yield from datasets_library().load_dataset(hub, config, split="train", streaming=True, revision=revision)

    yield from hub_stream(f"hf://datasets/{hub} (config {config})", rows())


def load_rstar(
    path: str | Path | None = None,
    *,
    hub: str = RSTAR_HUB,
    config: str = RSTAR_CONFIG,
    revision: str | None = None,
    limit: int | None = None,
) -> list[Problem]:
    """Distinct prompts from a local ``.jsonl``/``.parquet`` file or the hub config."""
    rows = iter_rows(Path(path)) if path is not None else _hub_rows(hub, config, revision)
    out: list[Problem] = []
    seen: dict[str, Problem] = {}
    repeats = conflicts = 0
    for source, line, where, row in rows:
        if limit is not None and len(out) >= limit:
            break
        p = rstar_row_to_problem(row, source, line, where, subset=config)
        first = seen.get(p.id)
        if first is not None:
            # Extra responses to a question already taken; a different text under the same id
            # is counted, since the first one wins.
            repeats += 1
            conflicts += first.prompt != p.prompt
            continue
        seen[p.id] = p
        out.append(p)
    log.info(
        "rstar loaded",
        origin=str(path) if path else f"{hub}:{config}",
        problems=len(out),
        repeated_rows=repeats,
        conflicting_repeats=conflicts,
    )
    return out


__all__ = ["RSTAR_CONFIG", "RSTAR_HUB", "RStarRow", "load_rstar", "rstar_row_to_problem"]
