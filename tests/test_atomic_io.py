"""Atomic writes: a folder is published whole or not at all."""

from __future__ import annotations

import pytest

from ssd.atomic_io import publish_dir


def test_a_folder_appears_only_when_the_block_ends(tmp_path):
    target = tmp_path / "models" / "m"
    with publish_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
        assert not target.exists()
    assert (target / "config.json").read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["m"]


def test_an_error_leaves_neither_folder_and_the_old_one_stays(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "old").write_text("kept")
    with pytest.raises(RuntimeError, match="half-way"):
        with publish_dir(target, replace=True) as tmp:
            (tmp / "new").write_text("x")
            raise RuntimeError("half-way")
    assert [p.name for p in tmp_path.iterdir()] == ["m"] and (target / "old").read_text() == "kept"


def test_replace_swaps_an_existing_folder_and_a_crash_leftover_is_cleared(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "old").write_text("x")
    leftover = tmp_path / ".m.tmp"  # what a kill during a publish leaves
    leftover.mkdir()
    (leftover / "junk").write_text("x")
    with publish_dir(target, replace=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_without_replace_an_existing_folder_is_not_overwritten(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "old").write_text("x")
    with pytest.raises(OSError, match="not empty|exists"):
        with publish_dir(target) as tmp:
            (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["old"] and not (tmp_path / ".m.tmp").exists()
