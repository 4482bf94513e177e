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


MAX_FUNCTION_LINES = 60  # issue 16: a function a reader can hold in view


def long_functions(files: list[Path], root: Path = REPO) -> list[str]:
    import ast

    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_the_daemon_or_the_round_is_over_60_lines(tmp_path):
    files = sorted((REPO / "daemon").rglob("*.py")) + [REPO / "ssd" / "round.py"]
    assert long_functions(files) == []
    too_long = tmp_path / "long.py"  # and the check does see a long function
    too_long.write_text("def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES)
    assert long_functions([too_long], tmp_path) == ["long.py:1 f (61 lines)"]
