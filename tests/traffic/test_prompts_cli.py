"""``ssdd add-prompts`` and ``ssdd prompts list | show | purge`` on a real state database."""

from __future__ import annotations

import json

import pytest
import yaml
from traffic_util import invoke_ssdd


@pytest.fixture
def config(tmp_path, model_dir):
    path = tmp_path / "ssdd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "model": str(model_dir),
                "data": {"sources": [{"kind": "starter"}], "split": {"heldout_frac": 0.4}},
                "sampling": {"params": {"max_tokens": 64}},
            }
        )
    )
    return path


class Ran:
    def __init__(self, result):
        self.exit_code, self.raw = result.exit_code, result.output
        self.output = " ".join(result.output.split())  # rich wraps lines at the terminal's width


def ssdd(*args: str) -> Ran:
    return Ran(invoke_ssdd(list(args)))


def test_add_list_show_and_purge(config, tmp_path):
    from daemon.config import load_daemon_config
    from daemon.rounds.context import build_sets

    heldout = build_sets(load_daemon_config(config)).gate[0]
    prompts = tmp_path / "mine.jsonl"
    lines = [
        "Write a Python function that returns the n-th prime number, with a docstring.",
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "Write a Python one-liner to flatten a list of lists."},
        ],
        {
            "messages": [
                {
                    "role": "user",
                    "content": "My token is ghp_16C7e42F292c6912E7710c838347Ae178B4a, "
                    "why does my Python git script fail?",
                }
            ]
        },
        "Write a Python function that returns the n-th prime number, with a docstring.",
        "Please solve: " + heldout.prompt,
        "hello there, nice weather today",
    ]
    prompts.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = ssdd("add-prompts", str(prompts), "-c", str(config))
    assert r.exit_code == 0, r.output
    assert "6 prompts; kept 3, dropped 3" in r.output and "duplicate" in r.output and "contaminated" in r.output

    listed = json.loads(ssdd("prompts", "list", "--json", "--status", "kept", "-c", str(config)).raw)
    assert len(listed) == 3 and {p["key_id"] for p in listed} == {"import"}
    assert all("ghp_16C7e42F292c6912E7710c838347Ae178B4a" not in json.dumps(p) for p in listed)
    shown = json.loads(ssdd("prompts", "show", listed[0]["id"], "-c", str(config)).raw)
    assert shown["id"] == listed[0]["id"] and shown["used_by"] == [] and shown["messages"]
    assert "ghp_16C7e42F292c6912E7710c838347Ae178B4a" not in json.dumps(shown)
    assert ssdd("prompts", "list", "-c", str(config)).exit_code == 0  # the table for people

    assert ssdd("prompts", "purge", "-c", str(config)).exit_code == 2  # no selector
    assert ssdd("prompts", "purge", "--all", "--key", "import", "-c", str(config)).exit_code == 2
    r = ssdd("prompts", "purge", "--key", "import", "-c", str(config))
    assert r.exit_code == 0 and "purged 6 prompts" in r.output, r.output
    assert json.loads(ssdd("prompts", "list", "--json", "-c", str(config)).raw) == []
    assert ssdd("prompts", "show", listed[0]["id"], "-c", str(config)).exit_code == 2


def test_a_bad_line_is_named(config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"fine: write a python function"\n[{"role": "assistant", "content": "no user turn"}]\n')
    r = ssdd("add-prompts", str(bad), "-c", str(config))
    assert r.exit_code == 2 and f"{bad}:2" in r.output and "user turn" in r.output
