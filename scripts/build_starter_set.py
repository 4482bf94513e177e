"""Build (or check) the packaged starter problem set from ``ssd/data/starter/defs/*.yaml``.

    python scripts/build_starter_set.py            # generate, verify, write ssd/data/starter/
    python scripts/build_starter_set.py --check    # regenerate in memory; fail if files differ
    python scripts/build_starter_set.py --verify   # judge the packaged files locally

The definitions are data (one YAML file per problem, schema ``ssd.sources.starter.StarterDef``):
``load_defs`` rejects a malformed file before anything runs, naming the file and the field.

Expected outputs come from running each reference solution here (trusted code we wrote), so
tests and references cannot disagree. Every build is verified with a small local judge that
follows the sandbox's comparison rules: if any reference fails or any wrong solution passes,
nothing is written. The local judge runs plain subprocesses, which is fine only because all
code judged here is our own; candidate programs go through the real sandbox instead.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

# The judge's own comparison rules: the local check must agree with the sandbox.
from sandbox.compare import json_equal, stdio_equal  # noqa: F401  (json_equal used by tests too)
from ssd.atomic_io import write_text_atomic
from ssd.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from ssd.sources.starter import DEFS_DIR, AssertDef, CallDef, DefFile, StdioDef, load_defs

log = structlog.get_logger(__name__).bind(stage="build_starter")

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "ssd" / "data" / "starter"
DEFS_PATH = OUT_DIR / DEFS_DIR
PROBLEMS_FILE = "problems.jsonl"
SOLUTIONS_FILE = "solutions.jsonl"
RUN_TIMEOUT_S = 20.0

# Runs one program's function on many argument lists and reports JSON and repr of each result.
# It mirrors the sandbox's call convention: a method of class ``Solution`` wins over a function.
_CALL_HARNESS = r"""
import json, sys
req = json.loads(sys.stdin.read())
ns = {"__name__": "solution"}
exec(compile(req["program"], "<solution>", "exec"), ns)
cls = ns.get("Solution")
fn = getattr(cls(), req["fn"]) if isinstance(cls, type) else ns[req["fn"]]

def plain(v):
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v

out = []
for args in req["cases"]:
    try:
        r = fn(*args)
    except Exception as exc:
        out.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        continue
    try:
        text = json.dumps(r, allow_nan=False, sort_keys=True)
        if json.loads(text) != plain(r) or any(
                not isinstance(k, str) for k in (r.keys() if isinstance(r, dict) else ())):
            raise TypeError("value changes through JSON")
    except (TypeError, ValueError) as exc:
        out.append({"ok": False, "error": f"not JSON-representable: {exc}", "repr": repr(r)})
        continue
    out.append({"ok": True, "json": json.loads(text), "repr": repr(r)})
sys.stdout.write(json.dumps(out))
"""

# CPython 3.11's parser is not thread-safe ("AST constructor recursion depth mismatch" when two
# threads parse at once); the build parses from a thread pool, so parsing is serialized.
_AST_LOCK = threading.Lock()


def literal(source: str):
    with _AST_LOCK:
        return ast.literal_eval(source)


class BuildError(RuntimeError):
    """A definition does not build; names the problem so its YAML file can be fixed."""


@dataclass(frozen=True)
class Built:
    problem: Problem
    reference: str
    wrong: str


def _run(args: list[str], stdin: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=cwd)


def _python() -> list[str]:
    # -I: ignore the environment and user site, as the sandbox's interpreter does.
    return [sys.executable, "-I"]


def _call_values(program: str, fn: str, cases: list[list[Any]], cwd: str) -> list[dict]:
    req = json.dumps({"program": program, "fn": fn, "cases": cases})
    proc = _run(_python() + ["-c", _CALL_HARNESS], req, cwd)
    if proc.returncode != 0:
        return [{"ok": False, "error": proc.stderr.strip()[-500:]} for _ in cases]
    return json.loads(proc.stdout)


def _docstring(text: str, indent: str) -> str:
    # The schema rejects statements with a triple quote or a backslash.
    body = textwrap.fill(
        text, width=88 - len(indent), initial_indent="", subsequent_indent=indent, break_on_hyphens=False
    )
    return f'{indent}"""{body}\n{indent}"""\n'


def _starter_code(d: CallDef | AssertDef) -> str:
    if isinstance(d, CallDef) and d.method:
        return "class Solution:\n    " + d.signature + "\n" + _docstring(d.statement, " " * 8)
    return d.signature + "\n" + _docstring(d.statement, " " * 4)


def _call_repr(fn: str, args: list[Any]) -> str:
    return f"{fn}({', '.join(repr(a) for a in args)})"


def _prompt(d: CallDef | StdioDef | AssertDef, example: str) -> str:
    if isinstance(d, StdioDef):
        return (
            f"{d.statement}\n\nWrite a complete Python program that reads standard input "
            f"and writes standard output.\n\n{example}"
        )
    if isinstance(d, CallDef) and d.method:
        head = f"Write a Python class `Solution` with a method `{d.fn_name}` with this signature:"
    else:
        head = f"Write a Python function `{d.fn_name}` with this signature:"
    return (
        f"{d.statement}\n\n{head}\n\n    {d.signature}\n\nReturn the result; do not read input or print.\n\n{example}"
    )


def _build_stdio(pid: str, d: StdioDef, cwd: str) -> Built:
    outputs = []
    for i, stdin in enumerate(d.cases):
        proc = _run(_python() + ["-c", d.reference], stdin, cwd)
        if proc.returncode != 0 or not proc.stdout.strip():
            raise BuildError(f"{pid}: reference fails on case {i}: {proc.stderr[-300:]}")
        outputs.append(proc.stdout)
    tests = StdioTests(kind="stdio", cases=[StdioCase(input=i, output=o) for i, o in zip(d.cases, outputs)])
    example = (
        f"Example input:\n\n{textwrap.indent(d.cases[0], '    ')}\n"
        f"Example output:\n\n{textwrap.indent(outputs[0], '    ')}"
    )
    return Built(
        Problem(
            id=pid,
            prompt=_prompt(d, example.rstrip() + "\n"),
            starter_code=None,
            difficulty=d.difficulty,
            tests=tests,
            meta=_meta(d),
        ),
        d.reference,
        d.wrong,
    )


def _build_function(pid: str, d: CallDef | AssertDef, cwd: str) -> Built:
    fn = d.fn_name
    cases = [list(c) for c in d.cases]
    values = _call_values(d.reference, fn, cases, cwd)
    for i, v in enumerate(values):
        if not v["ok"]:
            raise BuildError(f"{pid}: reference fails on case {i}: {v['error']}")
    shown = f"Solution().{fn}" if isinstance(d, CallDef) and d.method else fn
    example = f"Example: {_call_repr(shown, cases[0])} returns {values[0]['repr']}.\n"
    tests: CallTests | AssertTests
    if isinstance(d, CallDef):
        tests = CallTests(
            kind="call", fn_name=fn, cases=[CallCase(input=c, output=v["json"]) for c, v in zip(cases, values)]
        )
    else:
        lines = ["def check(candidate):"]
        for c, v in zip(cases, values):
            try:
                literal(v["repr"])
            except (ValueError, SyntaxError) as exc:
                raise BuildError(f"{pid}: result {v['repr']} is not a literal") from exc
            lines.append(f"    assert {_call_repr('candidate', c)} == {v['repr']}")
        tests = AssertTests(kind="assert", entry_point=fn, code="\n".join(lines) + "\n")
    return Built(
        Problem(
            id=pid,
            prompt=_prompt(d, example),
            starter_code=_starter_code(d),
            difficulty=d.difficulty,
            tests=tests,
            meta=_meta(d),
        ),
        d.reference,
        d.wrong,
    )


def _meta(d: CallDef | StdioDef | AssertDef) -> dict[str, str]:
    return {"source": "starter", "kind_note": d.kind}


def build_one(entry: DefFile, cwd: str) -> Built:
    """Turn one definition into a Problem whose expected outputs come from the reference."""
    d = entry.spec
    if isinstance(d, StdioDef):
        return _build_stdio(entry.id, d, cwd)
    return _build_function(entry.id, d, cwd)


def build_all(workers: int = 2, defs_dir: Path = DEFS_PATH) -> list[Built]:
    entries = load_defs(defs_dir)  # schema, file names, unique numbers and slugs
    with tempfile.TemporaryDirectory(prefix="starter-build-") as cwd, ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda e: _try_build(e, cwd), entries))
    errors = [str(r) for r in results if isinstance(r, BuildError)]
    if errors:
        raise BuildError(f"{len(errors)} bad definition(s):\n" + "\n".join(errors))
    return sorted((r for r in results if isinstance(r, Built)), key=lambda b: b.problem.id)


def _try_build(entry: DefFile, cwd: str) -> Built | BuildError:
    # Collect every bad definition in one run instead of stopping at the first.
    try:
        return build_one(entry, cwd)
    except BuildError as exc:
        return exc


# ------------------------------------------------------------------ local judge (trusted code)


def judge_local(problem: Problem, program: str, cwd: str) -> tuple[int, int]:
    """Return (passed cases, total cases) for our own programs; assert counts as one case."""
    tests = problem.tests
    if isinstance(tests, StdioTests):
        ok = 0
        for case in tests.cases:
            try:
                proc = _run(_python() + ["-c", program], case.input, cwd)
            except subprocess.TimeoutExpired:
                continue
            ok += proc.returncode == 0 and stdio_equal(proc.stdout, case.output)
        return ok, len(tests.cases)
    if isinstance(tests, CallTests):
        try:
            values = _call_values(program, tests.fn_name, [c.input for c in tests.cases], cwd)
        except subprocess.TimeoutExpired:
            return 0, len(tests.cases)
        ok = sum(1 for c, v in zip(tests.cases, values) if v["ok"] and json_equal(v["json"], c.output))
        return ok, len(tests.cases)
    if isinstance(tests, AssertTests):
        src = f"{program}\n\n{tests.code}\n\ncheck({tests.entry_point})\n"
        try:
            proc = _run(_python() + ["-c", src], "", cwd)
        except subprocess.TimeoutExpired:
            return 0, 1
        return int(proc.returncode == 0), 1
    raise BuildError(f"{problem.id}: has no tests")


@dataclass(frozen=True)
class VerifyReport:
    failures: list[str]
    wrong_pass_fraction: float  # mean share of cases the wrong solutions still pass


def verify(problems: list[Problem], refs: dict[str, str], wrongs: dict[str, str], workers: int = 2) -> VerifyReport:
    def one(p: Problem) -> tuple[list[str], float | None]:
        with tempfile.TemporaryDirectory(prefix="starter-verify-") as cwd:
            errs = []
            ok, total = judge_local(p, refs[p.id], cwd)
            if ok != total:
                errs.append(f"{p.id}: reference passes only {ok}/{total}")
            wok, wtotal = judge_local(p, wrongs[p.id], cwd)
            if wok == wtotal:
                errs.append(f"{p.id}: wrong solution passes all {wtotal}")
            share = wok / wtotal if wtotal > 1 else None
            return errs, share

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, problems))
    failures = [e for errs, _ in results for e in errs]
    shares = [s for _, s in results if s is not None]
    return VerifyReport(failures, sum(shares) / len(shares) if shares else 0.0)


# ------------------------------------------------------------------------------ serialization


def _dump(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def render(built: list[Built]) -> dict[str, str]:
    problems = "".join(_dump(b.problem.model_dump(mode="json")) + "\n" for b in built)
    sols = []
    for b in built:
        sols.append(_dump({"problem_id": b.problem.id, "program": b.reference, "role": "reference"}) + "\n")
        sols.append(_dump({"problem_id": b.problem.id, "program": b.wrong, "role": "wrong"}) + "\n")
    return {PROBLEMS_FILE: problems, SOLUTIONS_FILE: "".join(sols)}


def _verify_built(built: list[Built], workers: int) -> VerifyReport:
    problems = [b.problem for b in built]
    return verify(problems, {b.problem.id: b.reference for b in built}, {b.problem.id: b.wrong for b in built}, workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="regenerate in memory and fail if the packaged files differ")
    mode.add_argument(
        "--verify", action="store_true", help="judge the packaged files with the local judge; write nothing"
    )
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    if args.verify:
        from ssd.sources.starter import load_starter, starter_solutions

        problems = load_starter()
        refs = {s.problem_id: s.program for s in starter_solutions("reference")}
        wrongs = {s.problem_id: s.program for s in starter_solutions("wrong")}
        report = verify(problems, refs, wrongs, args.workers)
        for f in report.failures:
            log.error("verify_failed", detail=f)
        log.info(
            "verified",
            problems=len(problems),
            failures=len(report.failures),
            wrong_pass_fraction=round(report.wrong_pass_fraction, 3),
        )
        return 1 if report.failures else 0

    built = build_all(args.workers)
    files = render(built)
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (OUT_DIR / n).exists() or (OUT_DIR / n).read_text(encoding="utf-8") != text
        ]
        if stale:
            log.error("stale", files=stale, hint="run scripts/build_starter_set.py")
            return 1
        log.info("up_to_date", problems=len(built))
        return 0

    report = _verify_built(built, args.workers)
    if report.failures:
        for f in report.failures:
            log.error("verify_failed", detail=f)
        log.error("not_written", failures=len(report.failures))
        return 1
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_text_atomic(OUT_DIR / name, text)
    log.info("written", problems=len(built), out=str(OUT_DIR), wrong_pass_fraction=round(report.wrong_pass_fraction, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
