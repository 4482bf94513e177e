"""The state database: schema versioning, refusal of foreign files, one champion, atomic
decision + budget writes, and clear errors for unusable locations."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

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


_UNWRITABLE_PROBE = """
import os, sys, tempfile
from daemon.state import StateError, Store
# Import everything a Store needs while the interpreter's files are still readable (they may
# live under /root), by opening one in a scratch dir; then become nobody (CI runs as root).
with tempfile.TemporaryDirectory() as scratch:
    Store(os.path.join(scratch, "warm.db")).close()
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    Store(sys.argv[1])
except StateError as exc:
    print("StateError:", exc)
    sys.exit(3)
sys.exit(0)
"""


def test_unwritable_dir_gives_clear_error():
    """As an unprivileged user (root drops to nobody in the child), a data dir it may not
    write is refused with a clear StateError, not a traceback from SQLite."""
    top = Path(tempfile.mkdtemp(prefix="ssd-ro-"))  # /tmp: nobody can reach it, unlike tmp_path
    try:
        ro = top / "ro"
        ro.mkdir()
        top.chmod(0o755)
        ro.chmod(0o555)
        proc = subprocess.run(
            [sys.executable, "-c", _UNWRITABLE_PROBE, str(ro / "state.db")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "not writable" in proc.stdout, proc.stdout
        assert not (ro / "state.db").exists()
    finally:
        shutil.rmtree(top, ignore_errors=True)


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


def test_a_second_daemon_on_the_same_data_dir_is_refused(tmp_path):
    from daemon.app import hold_instance_lock

    lock = tmp_path / "ssdd.lock"
    held = hold_instance_lock(lock)
    # Another process, as a second `ssdd run` would be (flock is per open file, so a thread
    # of this process would not show it).
    code = (
        "import sys; from pathlib import Path; from daemon.app import hold_instance_lock\n"
        "from daemon.state import StateError\n"
        f"try:\n    hold_instance_lock(Path({str(lock)!r}))\nexcept StateError as e:\n    print(e); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert f"pid {os.getpid()}" in proc.stdout and "already uses" in proc.stdout
    held.close()  # the holder is gone: the next start takes it
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 2 MiB filesystem (tmpfs), so 'disk full' is the kernel's own ENOSPC."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        if os.geteuid() == 0:  # CI runs as root: the full-disk path must run there, not skip
            pytest.fail(f"root cannot mount a tmpfs here: {proc.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (not root): {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path) -> None:
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tiny_disk):
    from ssd.atomic_io import write_text_atomic

    store = Store(tiny_disk / "state.db")
    store.add(RoundRow(name="r1", kind="ssd", stage="sample", status="running"))
    store.event("promotion", "kept", version="a1")
    write_text_atomic(tiny_disk / "round.json", '{"stage": "sample"}')
    _fill(tiny_disk / "filler")

    with pytest.raises(StateError, match=r"cannot write the state database .*disk is full.*nothing was changed"):
        for i in range(10_000):  # the WAL grows until the disk refuses
            store.event("error", "x" * 2000 + str(i))
    with pytest.raises(OSError, match="No space left"):
        write_text_atomic(tiny_disk / "round.json", '{"stage": "distill"}' + " " * 4_000_000)
    assert sorted(p.name for p in tiny_disk.iterdir() if ".tmp" in p.name) == []  # no half-written file

    (tiny_disk / "filler").unlink()
    again = Store(tiny_disk / "state.db", create=False)
    assert [r.name for r in again.rounds()] == ["r1"]
    assert any(e.kind == "promotion" and e.version == "a1" for e in again.events(100_000))
    assert (tiny_disk / "round.json").read_text() == '{"stage": "sample"}'
    again.event("restart", "space is back")  # and it goes on
