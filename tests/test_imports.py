"""The import rules of docs/architecture.md, checked on the source (no import is executed):

- ``policies`` imports nothing of ours (pure judgements);
- ``sandbox`` imports nothing of ``ssd`` or ``daemon`` (untrusted-code execution stands alone);
- ``ssd`` imports nothing of ``daemon``, except its CLI entry (``ssd/cli.py`` reads the one
  config file through ``daemon.config``);
- ``daemon.serving`` imports nothing of ``daemon.rounds``, ``daemon.jobs``, ``daemon.learning``
  or ``daemon.app`` (the endpoint keeps serving whatever the rounds do);
- ``daemon.state`` imports nothing else of the daemon, nor ``policies`` / ``sandbox``;
  ``daemon.rounds`` and ``daemon.learning`` nothing of ``daemon.jobs`` / ``daemon.app``
  (``daemon.learning`` not ``daemon.rounds`` either); ``daemon.jobs`` nothing of ``daemon.app``;
- no import cycles among our modules (imports inside functions and under ``TYPE_CHECKING``
  count too: a cycle hidden there is still a cycle of responsibilities).

``check_tree`` is the checker; the last tests run it on a temporary tree with a forbidden
import and a cycle added, so a checker that cannot fail would fail here.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ssd", "sandbox", "policies", "daemon")

# (importer prefix, forbidden prefixes, allowed exceptions: importer modules exempt)
RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("policies", ("ssd", "sandbox", "daemon"), ()),
    ("sandbox", ("ssd", "daemon", "policies"), ()),
    ("ssd", ("daemon",), ("ssd.cli",)),
    ("daemon.serving", ("daemon.rounds", "daemon.jobs", "daemon.learning", "daemon.app"), ()),
    (
        "daemon.state",
        (
            "daemon.app",
            "daemon.rounds",
            "daemon.jobs",
            "daemon.learning",
            "daemon.serving",
            "daemon.config",
            "policies",
            "sandbox",
        ),
        (),
    ),
    ("daemon.rounds", ("daemon.jobs", "daemon.app"), ()),
    ("daemon.jobs", ("daemon.app",), ()),
    ("daemon.learning", ("daemon.rounds", "daemon.jobs", "daemon.app"), ()),
]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(root: Path, path: Path) -> set[str]:
    """Our modules ``path`` imports (``from a.b import c``: a.b.c when that is a module, else a.b)."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):  # SyntaxError: reported
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if _is_module(root, sub) else base)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _is_module(root: Path, name: str) -> bool:
    p = root.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def module_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(root, p): p for pkg in PACKAGES if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        try:
            imports = imports_of(root, path)
        except SyntaxError as exc:  # a module that does not parse cannot be checked: say so
            graph[name] = {f"<unparsable: {exc.msg} at line {exc.lineno}>"}
            continue
        # An import of a package's name means its __init__; of a name inside a module, that module.
        graph[name] = {m if m in files else m.rpartition(".")[0] for m in imports}
        # Importing a submodule of one's own package runs that package's __init__: not a cycle.
        graph[name] -= {
            p for p in graph[name] if _under(name, p) and (root.joinpath(*p.split(".")) / "__init__.py").is_file()
        }
        graph[name] = {m for m in graph[name] if m in files and m != name}
    return graph


def rule_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, targets in sorted(graph.items()):
        for prefix, forbidden, exempt in RULES:
            if not _under(importer, prefix) or importer in exempt:
                continue
            bad += [
                f"{importer} imports {t} (rule: {prefix} must not import {f})"
                for t in sorted(targets)
                for f in forbidden
                if _under(t, f) and not _under(t, prefix)
            ]
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_tree(root: Path) -> list[str]:
    graph = module_graph(root)
    unparsable = [f"{m}: {t}" for m, ts in sorted(graph.items()) for t in ts if t.startswith("<unparsable")]
    graph = {m: {t for t in ts if not t.startswith("<")} for m, ts in graph.items()}
    return unparsable + rule_violations(graph) + [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]


def test_the_tree_follows_the_import_rules():
    assert check_tree(REPO) == []


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "data"))
    assert check_tree(tmp_path) == []  # the copy starts clean
    return tmp_path


@pytest.mark.parametrize(
    "file, line, expected",
    [
        ("policies/outcome.py", "from ssd.evaluate import counts_at", "policies.outcome imports ssd.evaluate"),
        ("sandbox/config.py", "import ssd.problems", "sandbox.config imports ssd.problems"),
        ("ssd/round.py", "from daemon.state import Store", "ssd.round imports daemon.state"),
        (
            "daemon/serving/endpoint.py",
            "from daemon.rounds.errors import RoundError",
            "daemon.serving.endpoint imports daemon.rounds.errors",
        ),
        ("daemon/jobs/scheduler.py", "from daemon.app import Daemon", "daemon.jobs.scheduler imports daemon.app"),
    ],
)
def test_the_checker_finds_a_forbidden_import(tree_copy: Path, file: str, line: str, expected: str):
    path = tree_copy / file
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _added():\n    {line}\n", encoding="utf-8")
    found = check_tree(tree_copy)
    assert any(v.startswith(expected) for v in found), found


def test_the_checker_finds_a_cycle(tree_copy: Path):
    path = tree_copy / "daemon" / "metrics.py"
    path.write_text(path.read_text(encoding="utf-8") + "\nfrom daemon.rounds.context import RoundDeps  # noqa\n")
    found = check_tree(tree_copy)
    assert any(v.startswith("import cycle:") and "daemon.metrics" in v for v in found), found
