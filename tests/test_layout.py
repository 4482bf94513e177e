"""README's layout table names every module and sub-package of the four packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def layout_rows() -> dict[str, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+/)` \| (.*) \|$", table, re.MULTILINE)}


@pytest.mark.parametrize("package", ["ssd", "sandbox", "policies", "daemon"])
def test_layout_table_names_every_module(package):
    row = layout_rows()[f"{package}/"]
    parts = [p.name for p in (REPO / package).glob("*.py") if p.name != "__init__.py"]
    parts += [f"{p.name}/" for p in (REPO / package).iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
    missing = sorted(name for name in parts if f"`{name}" not in row and f"{name}`" not in row)
    assert not missing, f"README's layout row for {package}/ does not name {missing}"


def test_layout_table_has_a_row_for_every_top_level_folder():
    tracked = {"ssd/", "sandbox/", "policies/", "daemon/", "deploy/", "scripts/", "bench/", "docs/", "tests/"}
    assert tracked <= set(layout_rows())
