"""Owner-only files: what the daemon keeps (the state DB with captured prompts, adapters, round
records, the registry, vLLM's log) is readable by its own user only.

Two layers. The CLIs set the process umask to 0077 first thing (``use_private_umask``), so
every file and folder created afterwards, by this process or a child (vLLM, the trainer), is
0600 / 0700 whoever creates it. And the folders that hold those files are created, or
tightened when they already exist, as 0700 (``private_dir``): a folder others cannot enter
also covers files an older version left 0644 inside it. The SQLite database is created 0600
before SQLite opens it (SQLite gives its ``-wal`` / ``-shm`` files the database's mode), so a
``Store`` opened by a library caller without the umask is private as well.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger(__name__, stage="files")

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def use_private_umask() -> int:
    """Set the process umask to 0077; returns the previous one."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: str | Path) -> Path:
    """``path`` as a folder only its owner can enter: created 0700 (with any missing parents,
    which get the umask's mode), or an existing folder of ours tightened to 0700. A folder
    owned by someone else is left alone: chmod would fail, and it is theirs to set."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
        log.info("files.tightened", path=str(path), mode=oct(stat.S_IMODE(st.st_mode) & ~0o077))
    return path


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then it is left as it is)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
