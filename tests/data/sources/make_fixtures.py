"""Rebuild the fixture files in this folder (``python tests/data/sources/make_fixtures.py``).

The rows follow the upstream hub schemas exactly: LiveCodeBench ``code_generation_lite``
(private tests in the real base64/zlib/pickle encoding) and rStar-Coder ``seed_sft``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from ssd.sources.livecodebench import encode_private_tests  # noqa: E402


def stdin_case(i: str, o: str) -> dict:
    return {"input": i, "output": o, "testtype": "stdin"}


def fn_case(i: str, o: str) -> dict:
    return {"input": i, "output": o, "testtype": "functional"}


LCB_ROWS = [
    {
        "question_title": "Sum of Two",
        "question_content": "Read two integers A and B and print A+B.",
        "platform": "atcoder",
        "question_id": "abc900_a",
        "contest_id": "abc900",
        "contest_date": "2023-05-13T00:00:00",
        "starter_code": "",
        "difficulty": "easy",
        "public_test_cases": json.dumps([stdin_case("1 2\n", "3\n")]),
        "private_test_cases": encode_private_tests([stdin_case("5 7\n", "12\n"), stdin_case("-1 1\n", "0\n")]),
        "metadata": "{}",
    },
    {
        "question_title": "add-two-lists",
        "question_content": "Given an integer array nums and an integer k, return sum(nums) * k.",
        "platform": "leetcode",
        "question_id": "9001",
        "contest_id": "weekly-contest-900",
        "contest_date": "2024-09-01T00:00:00",
        "starter_code": "class Solution:\n    def scaledSum(self, nums: List[int], k: int) -> int:\n        ",
        "difficulty": "medium",
        "public_test_cases": json.dumps([fn_case("[1, 2, 3]\n2", "12")]),
        "private_test_cases": encode_private_tests([fn_case("[]\n5", "0"), fn_case("[4]\n-1", "-4")]),
        "metadata": json.dumps({"func_name": "scaledSum"}),
    },
    {
        # Early releases stored private tests as plain JSON.
        "question_title": "Echo",
        "question_content": "Print the input line unchanged.",
        "platform": "codeforces",
        "question_id": "1900A",
        "contest_id": "1900",
        "contest_date": "2023-11-20T00:00:00",
        "starter_code": "",
        "difficulty": "hard",
        "public_test_cases": json.dumps([stdin_case("hi\n", "hi\n")]),
        "private_test_cases": json.dumps([stdin_case("x\n", "x\n")]),
        "metadata": "{}",
    },
]

RSTAR_ROWS = [
    {
        "question_id": "seed_1",
        "question": "Print the sum of N integers read from stdin.",
        "starter_code": "",
        "response": "<think>...</think>\n```python\nprint(1)\n```",
        "verified": True,
        "is_passed": True,
    },
    # Same question, a second response: collapses into the first.
    {
        "question_id": "seed_1",
        "question": "Print the sum of N integers read from stdin.",
        "starter_code": "",
        "response": "another response",
        "verified": True,
        "is_passed": False,
    },
    {
        "question_id": "seed_2",
        "question": "Implement twoSum(nums, target).",
        "starter_code": "class Solution:\n    def twoSum(self, nums, target):\n        ",
        "response": "...",
        "verified": False,
        "is_passed": False,
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    write_jsonl(HERE / "lcb_sample.jsonl", LCB_ROWS)
    write_jsonl(HERE / "rstar_seed_sft.jsonl", RSTAR_ROWS)
