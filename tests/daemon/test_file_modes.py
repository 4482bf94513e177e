"""What the daemon keeps under data_dir (the state DB with captured prompts, its -wal/-shm,
adapters, the registry) is its owner's alone: no group or other permission bits, whether it
is created by the CLI (umask 0077) or by a library caller with the usual umask 022."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_util import tiny_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_loras import make_lora_adapter  # noqa: E402

SSDD = Path(sys.executable).parent / "ssdd"


def _open_to_others(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that group or others may use."""
    return [
        f"{p} {oct(stat.S_IMODE(p.lstat().st_mode))}"
        for p in [root, *root.rglob("*")]
        if stat.S_IMODE(p.lstat().st_mode) & 0o077
    ]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual login umask, as a library caller (or a test) runs with."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_cli_creates_data_dir_owner_only(model_dir, tmp_path):
    adapter = make_lora_adapter(model_dir, tmp_path / "incoming" / "mine", seed=11)
    cfg = tiny_config(tmp_path, model_dir, "http://127.0.0.1:9")
    data = tmp_path / "data"

    def ssdd(*args: str) -> None:
        # A fresh process started from a shell with umask 022: ssdd itself must make it private.
        r = subprocess.run(
            [str(SSDD), *args, "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert r.returncode == 0, r.stderr + r.stdout

    ssdd("pause")  # creates data_dir, the state DB (WAL mode)
    ssdd("submit", str(adapter), "--name", "mine")  # copies the adapter in, writes the DB
    db = data / "ssdd" / "state.db"
    stored = data / "ssdd" / "adapters" / "mine"
    assert db.is_file() and (stored / "adapter_model.safetensors").is_file()
    assert _open_to_others(data) == []


def test_a_library_caller_with_umask_022_still_gets_private_state(umask_022, model_dir, tmp_path):
    from daemon.app import Daemon
    from daemon.config import load_daemon_config
    from daemon.state import Store
    from ssd.atomic_io import publish_dir, write_text_atomic

    # What an older version left: the daemon's folder open to everyone.
    cfg = load_daemon_config(tiny_config(tmp_path, model_dir, "http://127.0.0.1:9"), [])
    cfg.daemon_dir.mkdir(parents=True)
    os.chmod(cfg.daemon_dir, 0o755)
    daemon = Daemon(cfg)  # the daemon's data dir setup: its folder, the state DB, the lock
    try:
        daemon.store.set_kv("paused", True)
    finally:
        daemon.store.close()
        daemon._instance_lock.close()
    assert stat.S_IMODE(cfg.daemon_dir.stat().st_mode) == 0o700

    # The parts on their own, in a folder nobody tightened.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    store = Store(fresh / "db" / "state.db")
    try:
        store.set_kv("paused", False)
        write_text_atomic(fresh / "serve" / "registry.json", "{}")
        with publish_dir(fresh / "adapters" / "r1") as d:
            (d / "adapter_config.json").write_bytes(b"{}")
        made = [
            fresh / "db",
            fresh / "db" / "state.db",
            fresh / "db" / "state.db-wal",
            fresh / "db" / "state.db-shm",
            fresh / "serve",
            fresh / "serve" / "registry.json",
            fresh / "adapters" / "r1",
        ]
        assert all(p.exists() for p in made)  # WAL mode really made its files
        assert [f"{p} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in made if p.stat().st_mode & 0o077] == []
    finally:
        store.close()
