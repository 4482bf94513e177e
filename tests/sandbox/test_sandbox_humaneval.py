"""HumanEval through the Docker sandbox: every canonical solution passes, a broken one fails."""

from __future__ import annotations

import time

import pytest

from ssd.sources.humaneval import humaneval_canonical, load_humaneval

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_humaneval_canonical_pass_and_broken_fail(docker_sandbox):
    problems = {p.id: p for p in load_humaneval()}
    canon = humaneval_canonical()
    assert len(canon) == 164
    good = [(problems[s.problem_id], s.program) for s in canon]
    # The prompt alone (signature + docstring) plus `pass` returns None: must fail everywhere.
    bad = [(p, p.prompt + "    pass\n") for p in problems.values()]
    t0 = time.monotonic()
    verdicts = docker_sandbox.judge_many(good + bad)
    elapsed = time.monotonic() - t0
    failed_good = [
        (v.problem_id, v.status.value, v.tests[0].detail if v.tests else v.error)
        for v in verdicts[:164]
        if not v.passed
    ]
    passed_bad = [v.problem_id for v in verdicts[164:] if v.passed]
    print(f"HumanEval: {len(good) + len(bad)} runs in {elapsed:.1f}s ({(len(good) + len(bad)) / elapsed:.1f}/s)")
    assert failed_good == []
    assert passed_bad == []
