"""``ssdd status --json`` (a public interface), history, report and the control commands,
from the state database while the daemon is down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_util import ssdd, tiny_config

from daemon.config import load_daemon_config
from daemon.state import AdapterRow, RoundRow, Store

ROUND_KEYS = {
    "id",
    "parent",
    "candidate",
    "stage",
    "status",
    "decision",
    "champion_pass_at_1",
    "candidate_pass_at_1",
    "p_value",
    "started_at",
    "finished_at",
    "error",
}


@pytest.fixture
def populated(tmp_path):
    config = tiny_config(tmp_path, Path("/nonexistent/model"), "http://127.0.0.1:9")
    cfg = load_daemon_config(config)
    store = Store(cfg.db_path)
    store.add(AdapterRow(version="r1", path=str(tmp_path / "a/r1"), content_hash="h1", state="former"))
    store.add(AdapterRow(version="r2", path=str(tmp_path / "a/r2"), content_hash="h2", parent="r1", pass_at_1=0.4))
    store.set_champion("r2")
    store.add(
        RoundRow(
            name="r1",
            candidate="r1",
            stage="done",
            status="done",
            decision="promote",
            champion_pass_at_1=0.1,
            candidate_pass_at_1=0.3,
            p_value=0.01,
            alpha_level=0.02,
            finished_at="2026-11-26T10:00:00+00:00",
        )
    )
    store.add(
        RoundRow(
            name="r2",
            parent="r1",
            candidate="r2",
            stage="done",
            status="done",
            decision="promote",
            champion_pass_at_1=0.3,
            candidate_pass_at_1=0.4,
            p_value=0.01,
            alpha_level=0.02,
            finished_at="2026-11-26T11:00:00+00:00",
        )
    )
    store.add(RoundRow(name="r3", parent="r2", stage="distill", status="running"))
    store.event("promotion", "r2 beat r1", version="r2", round_name="r2")
    store.event("audit", "audit numbers", version="r2")
    return config, cfg, store


def test_status_json_is_the_documented_object(populated):
    config, _, _ = populated
    st = json.loads(ssdd(config, "status", "--json").stdout)
    assert st["champion"]["version"] == "r2" and st["champion"]["pass_at_1"] == 0.4
    assert st["champion"]["lineage"] == ["r1"] and st["champion"]["since"]
    assert [r["id"] for r in st["rounds"]] == ["r3", "r2", "r1"]
    assert all(ROUND_KEYS <= set(r) for r in st["rounds"])
    assert st["running_round"]["id"] == "r3" and st["running_round"]["stage"] == "distill"
    # Only the documented event kinds; the audit note is not one of them.
    assert [e["kind"] for e in st["events"]] == ["promotion"]
    assert set(st["events"][0]) >= {"kind", "version", "at", "reason"}
    assert st["daemon"] == {**st["daemon"], "running": False, "pid": None, "next_round_at": None}
    assert st["budget"]["alpha_left"] == pytest.approx(0.3) and st["budget"]["tests"] == 0


def test_history_and_report(populated, tmp_path):
    config, _, _ = populated
    out = ssdd(config, "history").stderr
    assert "r1" in out and "r3" in out and "promote" in out
    png = tmp_path / "report.png"
    ssdd(config, "report", "--out", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_controls_while_down(populated):
    config, cfg, store = populated
    ssdd(config, "pause")
    assert store.get_kv("paused") is True
    ssdd(config, "resume")
    assert store.get_kv("paused") is False
    r = ssdd(config, "rollback", check=False)
    assert r.returncode == 1 and "not running" in r.stderr
    r = ssdd(config, "round-now")
    assert "queued" in r.stderr and [c.command for c in store.pending_controls()] == ["round-now"]


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gate:\n  alpha: 2\nschedule:\n  rounds: sometimes\n")
    r = ssdd(bad, "status", check=False)
    assert r.returncode == 2
    assert "gate.alpha" in r.stderr and "schedule.rounds" in r.stderr and "Traceback" not in r.stderr


def test_unknown_schema_is_refused_by_status(populated):
    config, cfg, store = populated
    store.set_kv("schema_version", 99)
    r = ssdd(config, "status", check=False)
    assert r.returncode == 2 and "schema version 99" in r.stderr


def _status_text(config: Path, *args: str, columns: int = 80) -> str:
    import os
    import subprocess
    import sys

    from daemon_util import REPO

    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "status", *args, "-c", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_status_fits_80_columns_and_says_an_unfinished_round_is_interrupted(populated):
    config, _, _ = populated
    out = _status_text(config)
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "…" not in out, out  # no header or cell cut: long cells wrap instead
    for header in ("round", "cand.", "status", "champ p@1", "cand. p@1", "decision"):
        assert header in out
    # The daemon is down: r3 is not running, it resumes at its stage on the next start.
    assert "interrupted, resumes at distill" in out and "running round" not in out
    wide = _status_text(config, "--wide", columns=160)
    assert "parent" in wide and "kind" in wide
