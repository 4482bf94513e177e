"""Build (or check) the packaged starter problem set from ``ssd/sources/starter_defs.py``.

    python scripts/build_starter_set.py            # generate, verify, write ssd/data/starter/
    python scripts/build_starter_set.py --check    # regenerate in memory; fail if files differ
    python scripts/build_starter_set.py --verify   # judge the packaged files locally

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
import threading
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

# The judge's own comparison rules: the local check must agree with the sandbox.
from sandbox.compare import json_equal, stdio_equal  # noqa: F401  (json_equal used by tests too)
from ssd.atomic_io import write_text_atomic
from ssd.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from ssd.sources.starter_defs import DEFS, StarterDef

log = structlog.get_logger(__name__).bind(stage="build_starter")

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "ssd" / "data" / "starter"
PROBLEMS_FILE = "problems.jsonl"
SOLUTIONS_FILE = "solutions.jsonl"
RUN_TIMEOUT_S = 20.0

# Runs one program's function on many argument lists and reports JSON and repr of each result.
# It mirrors the sandbox's call convention: a method of class ``Solution`` wins over a function.
_CALL_HARNESS = r'''
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
'''

# CPython 3.11's parser is not thread-safe ("AST constructor recursion depth mismatch" when two
# threads parse at once); the build parses from a thread pool, so parsing is serialized.
_AST_LOCK = threading.Lock()


def parse_py(source: str) -> ast.AST:
    with _AST_LOCK:
        return ast.parse(source)


def literal(source: str):
    with _AST_LOCK:
        return ast.literal_eval(source)


class BuildError(RuntimeError):
    """A definition is inconsistent; names the problem so it can be fixed in starter_defs.py."""


@dataclass(frozen=True)
class Built:
    problem: Problem
    reference: str
    wrong: str


def _run(args: list[str], stdin: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, cwd=cwd)


def _python() -> list[str]:
    # -I: ignore the environment and user site, as the sandbox's interpreter does.
    return [sys.executable, "-I"]


def _fn_name(signature: str) -> str:
    tree = parse_py(signature.rstrip() + "\n    pass\n")
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise BuildError(f"signature {signature!r} is not a def line")
    return node.name


def _call_values(program: str, fn: str, cases: list[list[Any]], cwd: str) -> list[dict]:
    req = json.dumps({"program": program, "fn": fn, "cases": cases})
    proc = _run(_python() + ["-c", _CALL_HARNESS], req, cwd)
    if proc.returncode != 0:
        return [{"ok": False, "error": proc.stderr.strip()[-500:]} for _ in cases]
    return json.loads(proc.stdout)


def _docstring(text: str, indent: str) -> str:
    body = textwrap.fill(text, width=88 - len(indent), initial_indent="",
                         subsequent_indent=indent, break_on_hyphens=False)
    if '"""' in body or "\\" in body:
        raise BuildError(f"statement cannot be a plain docstring: {text[:40]!r}")
    return f'{indent}"""{body}\n{indent}"""\n'


def _starter_code(d: StarterDef) -> str:
    sig = d.signature or ""
    if d.method:
        return "class Solution:\n    " + sig + "\n" + _docstring(d.statement, " " * 8)
    return sig + "\n" + _docstring(d.statement, " " * 4)


def _call_repr(fn: str, args: list[Any]) -> str:
    return f"{fn}({', '.join(repr(a) for a in args)})"


def _prompt(d: StarterDef, example: str) -> str:
    if d.kind == "stdio":
        return (f"{d.statement}\n\nWrite a complete Python program that reads standard input "
                f"and writes standard output.\n\n{example}")
    if d.method:
        head = (f"Write a Python class `Solution` with a method `{_fn_name(d.signature or '')}`"
                f" with this signature:")
    else:
        head = f"Write a Python function `{_fn_name(d.signature or '')}` with this signature:"
    return (f"{d.statement}\n\n{head}\n\n    {d.signature}\n\nReturn the result; do not read "
            f"input or print.\n\n{example}")


def _check_def(d: StarterDef) -> None:
    where = f"starter def {d.slug!r}"
    if not d.slug.replace("-", "").isalnum() or d.slug != d.slug.lower():
        raise BuildError(f"{where}: slug must be lower-case letters, digits and '-'")
    if not 5 <= len(d.cases) <= 10:
        raise BuildError(f"{where}: needs 5-10 test cases, has {len(d.cases)}")
    if len(set(json.dumps(c, sort_keys=True) for c in d.cases)) != len(d.cases):
        raise BuildError(f"{where}: duplicate test case")
    for role, src in (("reference", d.reference), ("wrong", d.wrong)):
        try:
            compile(src, f"<{d.slug} {role}>", "exec")
        except SyntaxError as exc:
            raise BuildError(f"{where}: {role} does not compile: {exc}") from exc
    if d.reference == d.wrong:
        raise BuildError(f"{where}: wrong solution equals the reference")
    if d.kind == "stdio":
        if d.signature is not None or d.method:
            raise BuildError(f"{where}: stdio problems take no signature")
        if not all(isinstance(c, str) for c in d.cases):
            raise BuildError(f"{where}: stdio cases must be input strings")
        return
    if d.signature is None:
        raise BuildError(f"{where}: {d.kind} problems need a signature")
    if d.method and d.kind != "call":
        raise BuildError(f"{where}: only call problems may use class Solution")
    if not all(isinstance(c, list) for c in d.cases):
        raise BuildError(f"{where}: cases must be argument lists")
    fn = _fn_name(d.signature)
    for role, src in (("reference", d.reference), ("wrong", d.wrong)):
        names = {n.name for n in ast.walk(parse_py(src))
                 if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if fn not in names or (d.method and "Solution" not in names):
            raise BuildError(f"{where}: {role} does not define {fn}")


def build_one(number: int, d: StarterDef, cwd: str) -> Built:
    """Turn one definition into a Problem whose expected outputs come from the reference."""
    _check_def(d)
    pid = f"starter/{number:03d}-{d.slug}"
    meta = {"source": "starter", "kind_note": d.kind}
    if d.kind == "stdio":
        outputs = []
        for i, stdin in enumerate(d.cases):
            proc = _run(_python() + ["-c", d.reference], stdin, cwd)
            if proc.returncode != 0 or not proc.stdout.strip():
                raise BuildError(f"{pid}: reference fails on case {i}: {proc.stderr[-300:]}")
            outputs.append(proc.stdout)
        tests: Any = StdioTests(kind="stdio", cases=[
            StdioCase(input=i, output=o) for i, o in zip(d.cases, outputs)])
        example = (f"Example input:\n\n{textwrap.indent(d.cases[0], '    ')}\n"
                   f"Example output:\n\n{textwrap.indent(outputs[0], '    ')}")
        return Built(Problem(id=pid, prompt=_prompt(d, example.rstrip() + "\n"),
                             starter_code=None, difficulty=d.difficulty, tests=tests,
                             meta=meta), d.reference, d.wrong)

    fn = _fn_name(d.signature or "")
    cases = [list(c) for c in d.cases]
    values = _call_values(d.reference, fn, cases, cwd)
    for i, v in enumerate(values):
        if not v["ok"]:
            raise BuildError(f"{pid}: reference fails on case {i}: {v['error']}")
    shown = f"Solution().{fn}" if d.method else fn
    example = f"Example: {_call_repr(shown, cases[0])} returns {values[0]['repr']}.\n"
    if d.kind == "call":
        tests = CallTests(kind="call", fn_name=fn, cases=[
            CallCase(input=c, output=v["json"]) for c, v in zip(cases, values)])
    else:
        lines = ["def check(candidate):"]
        for c, v in zip(cases, values):
            try:
                literal(v["repr"])
            except (ValueError, SyntaxError) as exc:
                raise BuildError(f"{pid}: result {v['repr']} is not a literal") from exc
            lines.append(f"    assert {_call_repr('candidate', c)} == {v['repr']}")
        tests = AssertTests(kind="assert", entry_point=fn, code="\n".join(lines) + "\n")
    return Built(Problem(id=pid, prompt=_prompt(d, example), starter_code=_starter_code(d),
                         difficulty=d.difficulty, tests=tests, meta=meta),
                 d.reference, d.wrong)


def build_all(workers: int = 2) -> list[Built]:
    slugs = [d.slug for d in DEFS]
    dupes = {s for s in slugs if slugs.count(s) > 1}
    if dupes:
        raise BuildError(f"duplicate slugs: {sorted(dupes)}")
    with tempfile.TemporaryDirectory(prefix="starter-build-") as cwd, \
            ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda nd: _try_build(nd[0], nd[1], cwd),
                                enumerate(DEFS, start=1)))
    errors = [str(r) for r in results if isinstance(r, BuildError)]
    if errors:
        raise BuildError(f"{len(errors)} bad definition(s):\n" + "\n".join(errors))
    return sorted((r for r in results if isinstance(r, Built)), key=lambda b: b.problem.id)


def _try_build(number: int, d: StarterDef, cwd: str) -> Built | BuildError:
    # Collect every bad definition in one run instead of stopping at the first.
    try:
        return build_one(number, d, cwd)
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
        ok = sum(1 for c, v in zip(tests.cases, values)
                 if v["ok"] and json_equal(v["json"], c.output))
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


def verify(problems: list[Problem], refs: dict[str, str], wrongs: dict[str, str],
           workers: int = 2) -> VerifyReport:
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
        sols.append(_dump({"problem_id": b.problem.id, "program": b.reference,
                           "role": "reference"}) + "\n")
        sols.append(_dump({"problem_id": b.problem.id, "program": b.wrong,
                           "role": "wrong"}) + "\n")
    return {PROBLEMS_FILE: problems, SOLUTIONS_FILE: "".join(sols)}


def _verify_built(built: list[Built], workers: int) -> VerifyReport:
    problems = [b.problem for b in built]
    return verify(problems, {b.problem.id: b.reference for b in built},
                  {b.problem.id: b.wrong for b in built}, workers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="regenerate in memory and fail if the packaged files differ")
    mode.add_argument("--verify", action="store_true",
                      help="judge the packaged files with the local judge; write nothing")
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
        log.info("verified", problems=len(problems), failures=len(report.failures),
                 wrong_pass_fraction=round(report.wrong_pass_fraction, 3))
        return 1 if report.failures else 0

    built = build_all(args.workers)
    files = render(built)
    if args.check:
        stale = [n for n, text in files.items()
                 if not (OUT_DIR / n).exists()
                 or (OUT_DIR / n).read_text(encoding="utf-8") != text]
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
    log.info("written", problems=len(built), out=str(OUT_DIR),
             wrong_pass_fraction=round(report.wrong_pass_fraction, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
