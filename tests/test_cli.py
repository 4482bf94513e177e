"""The `ssd` command line: judging end to end, input errors, config validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config import load_daemon_config as load_config
from ssd.problems import InputError

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "deploy" / "config" / "cpu-default.yaml"


def ssd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ssd.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


PROBLEMS = [
    {
        "id": "add",
        "prompt": "Add two numbers from stdin.",
        "tests": {
            "kind": "stdio",
            "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "-5 5\n", "output": "0\n"}],
        },
    },
    {
        "id": "double",
        "prompt": "Return twice x.",
        "starter_code": "def double(x):\n    pass\n",
        "tests": {"kind": "call", "fn_name": "double", "cases": [{"input": [2], "output": 4}]},
    },
]


@pytest.mark.docker
def test_judge_humaneval_canonical_reports_164_of_164(tmp_path):
    out = tmp_path / "verdicts.jsonl"
    r = ssd("judge", "--problems", "humaneval", "--solutions", "canonical", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "passed 164/164" in r.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 164 and all(row["passed"] for row in rows)
    assert rows[0]["problem_id"] == "HumanEval/0"


@pytest.mark.docker
def test_judge_keeps_order_and_allows_many_solutions_per_problem(tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    sols = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"problem_id": "add", "program": "a, b = map(int, input().split())\nprint(a + b)", "extra": 1},
            {"problem_id": "double", "program": "def double(x):\n    return x + x\n"},
            {"problem_id": "add", "program": "print(3)"},
            {"problem_id": "double", "program": "def double(x):\n    return x * 3\n"},
        ],
    )
    out = tmp_path / "v.jsonl"
    r = ssd("judge", "--problems", str(problems), "--solutions", str(sols), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["problem_id"], row["passed"]) for row in rows] == [
        ("add", True),
        ("double", True),
        ("add", False),
        ("double", False),
    ]
    assert rows[2]["status"] == "wrong_answer"
    assert "passed 2/4" in r.stdout


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("{not json", "s.jsonl:2: invalid JSON"),
        ('{"problem_id": "nope", "program": "x"}', "s.jsonl:2: unknown problem_id 'nope'"),
        ('{"problem_id": "add"}', "s.jsonl:2: program: Field required"),
        ("[1, 2]", "s.jsonl:2: expected a JSON object"),
    ],
)
def test_judge_rejects_malformed_solutions_naming_file_and_line(tmp_path, bad_line, message):
    problems = write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    sols = write_jsonl(tmp_path / "s.jsonl", ['{"problem_id": "add", "program": "print(3)"}', bad_line])
    out = tmp_path / "v.jsonl"
    r = ssd("judge", "--problems", str(problems), "--solutions", str(sols), "--out", str(out))
    assert r.returncode == 2
    assert message in " ".join(r.stderr.split()), r.stderr
    assert not out.exists() and not list(tmp_path.glob("v.jsonl*"))


def test_judge_rejects_malformed_problems(tmp_path):
    bad = dict(PROBLEMS[0], tests={"kind": "stdio", "cases": []})
    problems = write_jsonl(tmp_path / "p.jsonl", [PROBLEMS[1], bad])
    sols = write_jsonl(tmp_path / "s.jsonl", [{"problem_id": "double", "program": "x"}])
    r = ssd("judge", "--problems", str(problems), "--solutions", str(sols))
    assert r.returncode == 2
    assert "p.jsonl:2: tests.stdio.cases" in " ".join(r.stderr.split()), r.stderr


def test_default_config_is_valid_and_overrides_apply():
    cfg = load_config(CPU_DEFAULT, ["sampling.params.temperature=1.2", "evaluation.t_eval=[0.0, 0.8]"])
    assert cfg.sampling.params.temperature == 1.2 and cfg.sampling.params.top_k == 20
    assert cfg.evaluation.t_eval == [0.0, 0.8]
    assert cfg.model == "smollm2-135m" and cfg.data_dir.is_absolute()


@pytest.mark.parametrize(
    "override, message",
    [
        ("sampling.params.temprature=1.0", "sampling.params.temprature: Extra inputs are not permitted"),
        ("sampling.params.top_p=1.5", "sampling.params.top_p"),
        ("distill.lora_rank=64", "exceeds server.max_lora_rank"),
        ("run_name=../escape", "run_name"),
        ("nosuchsection.x=1", "nosuchsection: Extra inputs are not permitted"),
        ("sampling", "is not KEY=VALUE"),
    ],
)
def test_config_rejects_bad_values_with_the_key_path(override, message):
    with pytest.raises(InputError) as exc:
        load_config(CPU_DEFAULT, [override])
    assert message in str(exc.value)


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(InputError, match="c.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(InputError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    r = ssd("round", "--config", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "cannot read config" in r.stderr
