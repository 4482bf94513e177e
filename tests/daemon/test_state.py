"""The state database: schema versioning, refusal of foreign files, one champion, atomic
decision + budget writes, and clear errors for unusable locations."""

from __future__ import annotations

import os
import sqlite3

import pytest

from daemon.state import SCHEMA_VERSION, AdapterRow, RoundRow, StateError, Store


def test_fresh_store_records_schema_and_reopens(tmp_path):
    s = Store(tmp_path / "state.db")
    assert s.get_kv("schema_version") == SCHEMA_VERSION
    s.add(RoundRow(name="r1"))
    s.close()
    again = Store(tmp_path / "state.db", create=False)
    assert [r.name for r in again.rounds()] == ["r1"]
    assert again.next_round_name() == "r2"


def test_unknown_schema_version_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "state.db"
    s = Store(path)
    s.set_kv("schema_version", SCHEMA_VERSION + 1)
    s.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}.*refusing"):
        Store(path)
    assert path.read_bytes() == before


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("create table users (id integer)")
    con.commit()
    con.close()
    with pytest.raises(StateError, match="without ssdd's schema marker"):
        Store(path)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="not a usable SQLite database"):
        Store(path)
    assert path.read_bytes() == b"not a database at all" * 100


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_dir_gives_clear_error(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    with pytest.raises(StateError, match="not writable"):
        Store(d / "state.db")


def test_unwritable_dir_as_root_gives_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot create"):
        Store(blocker / "sub" / "state.db")


def test_missing_db_without_create(tmp_path):
    with pytest.raises(StateError, match="no state database"):
        Store(tmp_path / "nope.db", create=False)


def test_one_champion_at_a_time(tmp_path):
    s = Store(tmp_path / "state.db")
    for v in ("a", "b"):
        s.add(AdapterRow(version=v, path=f"/x/{v}", content_hash=v))
    s.set_champion("a")
    s.set_champion("b")
    assert s.champion().version == "b"
    assert s.adapter("a").state == "former"
    s.set_champion(None)
    assert s.champion() is None and s.adapter("b").state == "former"
    with pytest.raises(StateError, match="unknown adapter version 'zzz'"):
        s.set_champion("zzz")


def test_decision_and_ledger_commit_together(tmp_path):
    s = Store(tmp_path / "state.db")
    row = s.add(RoundRow(name="r1"))
    row.decision, row.p_value = "reject", 0.4
    s.save_with_kv(row, "gate_ledger", {"tests": 1})
    assert s.get_kv("gate_ledger") == {"tests": 1}
    assert s.rounds()[0].decision == "reject"


def test_recent_decisions_ignore_submissions_and_running(tmp_path):
    s = Store(tmp_path / "state.db")
    s.add(RoundRow(name="r1", status="done", decision="promote"))
    s.add(RoundRow(name="r2", status="done", decision="reject"))
    s.add(RoundRow(name="r3", kind="submit", status="done", decision="reject"))
    s.add(RoundRow(name="r4", status="failed"))
    s.add(RoundRow(name="r5", status="running"))
    assert s.recent_decisions(10) == ["failed", "reject", "promote"]
    assert [r.name for r in s.running_rounds()] == ["r5"]


def test_controls_round_trip(tmp_path):
    s = Store(tmp_path / "state.db")
    c = s.request("rollback", version="r2")
    assert [p.id for p in s.pending_controls()] == [c.id]
    s.finish_control(c, True, "done")
    assert s.pending_controls() == [] and s.control(c.id).ok
