"""The packaged starter problem set: short, self-contained easy/medium Python problems.

Two layers, both under ``ssd/data/starter/``:

- ``defs/NNN-slug.yaml``, the source of truth a person edits: one file per problem with the
  statement, the test inputs, a reference solution and a plausibly wrong one. The file name is
  the problem id (``starter/NNN-slug``); never rename a file, so held-out splits and recorded
  results keep their ids. ``load_defs`` reads them through the strict schema ``StarterDef``.
- ``problems.jsonl`` and ``solutions.jsonl``, derived by ``scripts/build_starter_set.py``,
  which runs each reference to compute the expected outputs and checks that every reference
  passes and every wrong solution fails. ``load_starter`` and ``starter_solutions`` read these.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ssd.problems import InputError, Problem, Solution, iter_jsonl, load_problems, load_solutions

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ROLES = ("reference", "wrong")
DEFS_DIR = "defs"
# NNN-slug: a three-digit number (ids sort in file order) and a lower-case slug.
_FILE_STEM = re.compile(r"(?P<number>\d{3})-(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)")
_DEF_LINE = re.compile(r"def\s+(?P<name>[A-Za-z_]\w*)\s*\(")


def _resource(name: str) -> Traversable:
    return resources.files("ssd").joinpath("data", "starter", name)


# ------------------------------------------------------------------------- built problem set


def load_starter() -> list[Problem]:
    with resources.as_file(_resource("problems.jsonl")) as path:
        return load_problems(path, require_tests=True)


def starter_solutions(role: str) -> list[Solution]:
    """Reference (``role="reference"``) or deliberately wrong (``role="wrong"``) programs."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    known = [p.id for p in load_starter()]
    with resources.as_file(_resource("solutions.jsonl")) as path:
        sols = load_solutions(path, known)
        # Solution ignores unknown fields, so the role tag is read from the same rows in order.
        roles = [(lineno, row.get("role")) for lineno, row in iter_jsonl(path)]
        for lineno, r in roles:
            if r not in ROLES:
                raise InputError(path, lineno, f"role must be one of {ROLES}, got {r!r}")
    return [s for s, (_, r) in zip(sols, roles) if r == role]


# --------------------------------------------------------------------- definitions (the source)


class _Def(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    difficulty: Literal["easy", "medium"]
    # stdio: used as written (line breaks kept); call/assert: one paragraph, also the docstring.
    statement: str = Field(min_length=1)
    # Whole programs. Expected outputs are never written down: the build runs the reference.
    reference: str = Field(min_length=1)
    wrong: str = Field(min_length=1)

    def _check_programs(self, must_define: tuple[str, ...] = ()) -> None:
        if self.reference == self.wrong:
            raise ValueError("wrong: equals the reference")
        for role in ROLES:
            src = getattr(self, role)
            try:
                tree = ast.parse(src, f"<{role}>")
            except SyntaxError as exc:
                raise ValueError(f"{role}: does not compile: {exc}") from exc
            names = {
                n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            }
            missing = [n for n in must_define if n not in names]
            if missing:
                raise ValueError(f"{role}: does not define {', '.join(missing)}")

    def _check_cases(self, cases: list[Any]) -> None:
        keys = [json.dumps(c, sort_keys=True) for c in cases]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"cases: duplicate test case {dupes[0]}")


class _FunctionDef(_Def):
    # The ``def`` line the prompt and starter code show, e.g. "def gcd(a: int, b: int) -> int:".
    signature: str = Field(min_length=1)
    # One list of positional arguments per case (JSON values).
    cases: list[list[Any]] = Field(min_length=5, max_length=10)

    @property
    def fn_name(self) -> str:
        match = _DEF_LINE.match(self.signature)
        assert match is not None  # checked by _check_function
        return match["name"]

    def _check_function(self, method: bool) -> None:
        try:
            tree = ast.parse(self.signature.rstrip() + "\n    pass\n")
        except SyntaxError as exc:
            raise ValueError(f"signature: is not a def line: {exc.msg}") from exc
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) or not _DEF_LINE.match(self.signature):
            raise ValueError("signature: is not a single def line")
        if '"""' in self.statement or "\\" in self.statement:
            raise ValueError('statement: must not contain """ or \\ (it becomes a docstring)')
        self._check_programs((self.fn_name, "Solution") if method else (self.fn_name,))
        self._check_cases(self.cases)


class CallDef(_FunctionDef):
    """The judge calls the function with JSON arguments and compares the JSON result."""

    kind: Literal["call"]
    # True: the function is a method of ``class Solution`` (LeetCode style).
    method: bool = False

    @model_validator(mode="after")
    def _check(self) -> CallDef:
        self._check_function(self.method)
        return self


class AssertDef(_FunctionDef):
    """The program defines the function; a hidden HumanEval-style ``check(candidate)`` runs it."""

    kind: Literal["assert"]

    @model_validator(mode="after")
    def _check(self) -> AssertDef:
        self._check_function(False)
        return self


class StdioDef(_Def):
    """The program reads standard input and prints the answer."""

    kind: Literal["stdio"]
    # One stdin text per case.
    cases: list[str] = Field(min_length=5, max_length=10)

    @model_validator(mode="after")
    def _check(self) -> StdioDef:
        self._check_programs()
        self._check_cases(self.cases)
        return self


StarterDef = Annotated[Union[CallDef, StdioDef, AssertDef], Field(discriminator="kind")]
_DEF_ADAPTER: TypeAdapter[Any] = TypeAdapter(StarterDef)


@dataclass(frozen=True)
class DefFile:
    """One validated definition and where it came from."""

    id: str  # "starter/NNN-slug", from the file name
    path: str
    spec: CallDef | StdioDef | AssertDef


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        # The first loc element of a tagged union is the tag ("call"); a field follows it.
        loc = [str(p) for p in err["loc"][1:]] if len(err["loc"]) > 1 else []
        if err["type"].startswith("union_tag"):  # missing or unknown kind
            loc = ["kind"]
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_def(text: str, source: str) -> DefFile:
    """Validate one definition file's text; ``source`` is its path, which names the problem."""
    stem = source.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".yaml")
    if not _FILE_STEM.fullmatch(stem):
        raise InputError(
            source,
            None,
            "file name must be NNN-slug.yaml (three digits, then lower-case letters, digits and single '-')",
        )
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(source, line, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise InputError(source, None, "must be a YAML mapping of fields")
    try:
        spec = _DEF_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise InputError(source, None, _format_errors(exc)) from exc
    return DefFile(id=f"starter/{stem}", path=source, spec=spec)


def load_defs(directory: Path | None = None) -> list[DefFile]:
    """Every definition in ``directory`` (default: the packaged ``defs/``), sorted by id.

    Raises InputError naming the file (and field) of the first bad definition, or the two
    files that share a number or a slug.
    """
    root: Traversable = directory if directory is not None else _resource(DEFS_DIR)
    files = sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    if not files:
        raise InputError(str(root), None, "no *.yaml definitions")
    out: list[DefFile] = []
    seen: dict[str, str] = {}
    for f in files:
        d = parse_def(f.read_text(encoding="utf-8"), str(f))
        number, slug = d.id.removeprefix("starter/").split("-", 1)
        for key in (f"number {number}", f"slug {slug!r}"):
            if key in seen:
                raise InputError(d.path, None, f"{key} is also used by {seen[key]}")
            seen[key] = d.path
        out.append(d)
    return out
