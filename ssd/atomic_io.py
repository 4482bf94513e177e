"""Atomic writes: a reader (or a crash) sees the old file or the new one, never half; a
folder appears whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new folder is owner-only
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def publish_dir(target: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Build a folder under a hidden temporary name beside ``target`` (yielded), then rename it
    to ``target`` when the block ends without an error; on an error it is removed. What a crash
    leaves under the temporary name is removed by the next publish of the same target.

    ``replace``: an existing ``target`` is removed just before the rename (between the two
    there is no folder); otherwise an existing ``target`` makes the rename fail."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)  # owner-only whatever the umask (ssd.file_modes)
    try:
        yield tmp
        if replace:
            shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
