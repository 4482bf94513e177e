"""LiveCodeBench ``code_generation_lite`` rows in our problem format.

Upstream schema (``lcb_runner/benchmarks/code_generation.py`` in LiveCodeBench/LiveCodeBench):
string fields ``question_title``, ``question_content``, ``platform``, ``question_id``,
``contest_id``, ``contest_date`` (ISO date-time), ``starter_code``, ``difficulty``; and three
JSON-in-a-string fields: ``public_test_cases`` (``[{input, output, testtype}]``),
``private_test_cases`` (the same list, either plain JSON in early releases or
``base64(zlib(pickle(json_text)))``) and ``metadata`` (``{"func_name": ...}`` for functional
problems). Functional inputs are one JSON value per line, one line per argument, and outputs are
one JSON value, which is how lcb_runner's ``grade_call_based`` parses them.

The hub repository no longer carries a loading script that ``datasets>=4`` could run, so the
hub path reads the release's JSONL files directly (``hf://datasets/...``) with the ``json``
builder, mirroring the old script's version-tag-to-files table.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import pickletools
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ssd.problems import (
    CallCase,
    CallTests,
    InputError,
    Problem,
    StdioCase,
    StdioTests,
    iter_jsonl,
    validation_message,
)

log = structlog.get_logger(__name__, stage="sources")

LCB_HUB = "livecodebench/code_generation_lite"
LCB_LATEST = 6  # number of test*.jsonl files the newest release (release_v6) spans
# Decompressed private tests of one problem above this size are refused (zip-bomb guard); the
# largest real problems decompress to tens of MiB.
MAX_PRIVATE_BYTES = 1 << 30


def _release_file(n: int) -> str:
    return "test.jsonl" if n == 1 else f"test{n}.jsonl"


def version_files(tag: str) -> list[str]:
    """The hub JSONL files a version tag spans, as in the upstream loading script.

    ``release_vN`` is cumulative (files 1..N), ``release_latest`` is every file, ``vN`` is the
    problems added in release N only, ``vA_vB`` the releases A..B.
    """
    if tag == "release_latest":
        return [_release_file(i) for i in range(1, LCB_LATEST + 1)]
    if m := re.fullmatch(r"release_v(\d+)", tag):
        lo, hi = 1, int(m.group(1))
    elif m := re.fullmatch(r"v(\d+)", tag):
        lo = hi = int(m.group(1))
    elif m := re.fullmatch(r"v(\d+)_v(\d+)", tag):
        lo, hi = int(m.group(1)), int(m.group(2))
    else:
        raise ValueError(
            f"unknown LiveCodeBench version tag {tag!r} (expected release_vN, release_latest, vN or vA_vB)"
        )
    if not 1 <= lo <= hi <= LCB_LATEST:
        raise ValueError(f"LiveCodeBench version tag {tag!r} is outside releases 1..{LCB_LATEST}")
    return [_release_file(i) for i in range(lo, hi + 1)]


# --- private test decoding -------------------------------------------------------------------

# A pickled ``str`` needs only these opcodes (protocols 0-5). Anything else (GLOBAL, REDUCE,
# BUILD, INST, OBJ, NEWOBJ, EXT*, PERSID, ...) is how a pickle runs code, so it is refused
# before the unpickler ever sees it.
_STR_PICKLE_OPCODES = frozenset(
    {
        "PROTO",
        "FRAME",
        "STOP",
        "MEMOIZE",
        "PUT",
        "BINPUT",
        "LONG_BINPUT",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
    }
)


class UnsafePickleError(ValueError):
    """The private-test payload is a pickle of something other than a plain string."""


class _NoGlobalsUnpickler(pickle.Unpickler):
    # Second line of defence behind the opcode allow-list: no class or function can be
    # looked up, so no constructor or callable can be reached.
    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(f"pickle refers to {module}.{name}; only a str is allowed")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("pickle uses persistent ids; only a str is allowed")


def load_str_pickle(data: bytes) -> str:
    """Unpickle ``data`` only if it is the pickle of a single ``str``; never runs code."""
    try:
        for opcode, _arg, _pos in pickletools.genops(data):
            if opcode.name not in _STR_PICKLE_OPCODES:
                raise UnsafePickleError(f"pickle opcode {opcode.name} is not allowed; only a pickled str is accepted")
    except UnsafePickleError:
        raise
    except Exception as exc:  # genops raises ValueError and friends on truncated data
        raise UnsafePickleError(f"not a valid pickle: {exc}") from exc
    value = _NoGlobalsUnpickler(io.BytesIO(data)).load()
    if type(value) is not str:
        raise UnsafePickleError(f"pickle holds a {type(value).__name__}, expected a str")
    return value


def _inflate(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, limit)
    if d.unconsumed_tail:
        raise ValueError(f"decompresses to more than {limit} bytes")
    if not d.eof:
        raise ValueError("zlib stream is truncated")
    return out


def decode_private_tests(raw: str, *, limit: int = MAX_PRIVATE_BYTES) -> Any:
    """Decode ``private_test_cases``: plain JSON (early releases) or base64/zlib/pickle/JSON.

    Raises ValueError (UnsafePickleError for a pickle that is not a plain string).
    """
    text = raw.strip()
    if text.startswith("["):
        return json.loads(text)
    try:
        compressed = base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not JSON and not valid base64: {exc}") from exc
    try:
        pickled = _inflate(compressed, limit)
    except zlib.error as exc:
        raise ValueError(f"base64 payload is not zlib data: {exc}") from exc
    return json.loads(load_str_pickle(pickled))


def encode_private_tests(cases: list[dict[str, Any]]) -> str:
    """The upstream encoding (used to build fixtures and local datasets in the same schema)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode("ascii")


# --- row conversion --------------------------------------------------------------------------


class LCBRow(BaseModel):
    """One ``code_generation_lite`` row; unknown extra columns are ignored."""

    model_config = ConfigDict(extra="ignore")
    question_title: str
    question_content: str
    platform: str
    question_id: str
    contest_id: str
    # JSON loaders leave it a string; pyarrow (parquet, hub json) may already make it a datetime.
    contest_date: datetime
    starter_code: str
    difficulty: str
    public_test_cases: str
    private_test_cases: str
    metadata: str

    @field_validator("question_id", "contest_id", mode="before")
    @classmethod
    def _int_ids(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("contest_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime(v.year, v.month, v.day)
        return v


class _LCBTest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: str
    output: str
    testtype: Literal["stdin", "functional"]


class _RowError(Exception):
    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"field {field!r}: {message}")


def _parse_tests(field: str, value: Any) -> list[_LCBTest]:
    if not isinstance(value, list):
        raise _RowError(field, f"expected a JSON list, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_LCBTest.model_validate(item))
        except ValidationError as exc:
            raise _RowError(field, f"case {i}: {validation_message(exc, empty='<case>')}") from exc
    return out


def _call_case(field: str, i: int, t: _LCBTest) -> CallCase:
    try:
        args = [json.loads(line) for line in t.input.split("\n")]
        expected = json.loads(t.output)
    except json.JSONDecodeError as exc:
        raise _RowError(field, f"case {i}: functional input/output is not JSON: {exc.msg}") from exc
    return CallCase(input=args, output=expected)


def _convert(row: LCBRow) -> Problem:
    try:
        public = _parse_tests("public_test_cases", json.loads(row.public_test_cases))
    except json.JSONDecodeError as exc:
        raise _RowError("public_test_cases", f"invalid JSON: {exc.msg}") from exc
    try:
        private = _parse_tests("private_test_cases", decode_private_tests(row.private_test_cases))
    except _RowError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnsafePickleError too
        raise _RowError("private_test_cases", str(exc)) from exc
    try:
        metadata = json.loads(row.metadata) if row.metadata.strip() else {}
    except json.JSONDecodeError as exc:
        raise _RowError("metadata", f"invalid JSON: {exc.msg}") from exc
    if not isinstance(metadata, dict):
        raise _RowError("metadata", f"expected a JSON object, got {type(metadata).__name__}")

    cases = [("public_test_cases", i, t) for i, t in enumerate(public)]
    cases += [("private_test_cases", i, t) for i, t in enumerate(private)]
    if not cases:
        raise _RowError("public_test_cases", "problem has no test cases at all")
    kinds = {t.testtype for _, _, t in cases}
    if len(kinds) > 1:
        raise _RowError("public_test_cases", "mixes stdin and functional test cases")

    tests: StdioTests | CallTests
    if kinds == {"stdin"}:
        tests = StdioTests(kind="stdio", cases=[StdioCase(input=t.input, output=t.output) for _, _, t in cases])
    else:
        fn_name = metadata.get("func_name")
        if not isinstance(fn_name, str) or not fn_name.isidentifier():
            raise _RowError("metadata", f"functional problem needs a func_name, got {fn_name!r}")
        tests = CallTests(kind="call", fn_name=fn_name, cases=[_call_case(f, i, t) for f, i, t in cases])
    if not row.question_content.strip():
        raise _RowError("question_content", "is empty")
    return Problem(
        id=f"lcb/{row.question_id}",
        prompt=row.question_content,
        starter_code=row.starter_code or None,
        difficulty=row.difficulty or None,
        tests=tests,
        meta={
            "source": "livecodebench",
            "platform": row.platform,
            "question_id": row.question_id,
            "question_title": row.question_title,
            "contest_id": row.contest_id,
            "contest_date": row.contest_date.isoformat(),
            "n_public_tests": len(public),
            "n_private_tests": len(private),
        },
    )


RowT = TypeVar("RowT", bound=BaseModel)


def parse_hub_row(schema: type[RowT], row: Any, source: str, line: int | None, where: str = "") -> RowT:
    """One raw row checked against its hub schema; a defect is an InputError naming the location
    (``source``, ``line``, ``where``) and the field."""
    prefix = f"{where}: " if where else ""
    if not isinstance(row, dict):
        raise InputError(source, line, f"{prefix}expected an object, got {type(row).__name__}")
    try:
        return schema.model_validate(row)
    except ValidationError as exc:
        raise InputError(source, line, prefix + validation_message(exc, template="field {loc!r}: {msg}")) from exc


def lcb_row_to_problem(row: Any, source: str, line: int | None, where: str = "") -> Problem:
    """Convert one raw row; any defect becomes an InputError naming the location and field."""
    prefix = f"{where}: " if where else ""
    parsed = parse_hub_row(LCBRow, row, source, line, where)
    qid = f"question_id={parsed.question_id!r}: "
    try:
        return _convert(parsed)
    except _RowError as exc:
        raise InputError(source, line, f"{prefix}{qid}{exc}") from exc
    except ValidationError as exc:  # our own Problem model refused a converted value
        raise InputError(source, line, f"{prefix}{qid}{validation_message(exc)}") from exc


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LCBFilter:
    """Contamination window and selection, applied before ``limit``."""

    start_date: date | None = None  # keep contest_date >= start_date (LCB's --start_date)
    end_date: date | None = None  # keep contest_date <= end_date (LCB's --end_date)
    difficulties: frozenset[str] | None = None
    platforms: frozenset[str] | None = None

    def keep(self, p: Problem) -> bool:
        day = datetime.fromisoformat(p.meta["contest_date"]).date()
        if self.start_date and day < self.start_date:
            return False
        if self.end_date and day > self.end_date:
            return False
        if self.difficulties is not None and p.difficulty not in self.difficulties:
            return False
        if self.platforms is not None and p.meta["platform"] not in self.platforms:
            return False
        return True


def datasets_library() -> Any:
    """``datasets``: an optional dependency (the ``hub`` extra), needed only to read hub datasets
    and local ``.parquet`` files; a clear SourceUnavailable when it is missing."""
    try:
        import datasets
    except ImportError as exc:
        raise SourceUnavailable(
            "reading Hugging Face hub datasets and .parquet files needs the 'datasets' package: "
            "pip install 'ssd-daemon[hub]' (or give the rows as a local .jsonl file)"
        ) from exc
    return datasets


def _hf_rows(builder: str, data_files: str, **kwargs: Any) -> Iterator[dict]:
    # Streaming: nothing is copied into the datasets cache, and ``limit`` stops the download.
    datasets = datasets_library()
    ds = datasets.load_dataset(builder, data_files=data_files, split="train", streaming=True, **kwargs)
    yield from ds


def iter_rows(path: Path) -> Iterator[tuple[str, int | None, str, Any]]:
    """(source, line, where, row) for a local ``.jsonl`` or ``.parquet`` file."""
    if not path.exists():
        raise InputError(path, None, "no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        for lineno, row in iter_jsonl(path):
            yield str(path), lineno, "", row
    elif suffix == ".parquet":
        try:
            for i, row in enumerate(_hf_rows("parquet", str(path))):
                yield str(path), None, f"row {i}", row
        except (InputError, SourceUnavailable):
            raise
        except Exception as exc:  # pyarrow's many error types for a damaged file
            raise InputError(path, None, f"cannot read parquet: {exc}") from exc
    else:
        raise InputError(path, None, f"unsupported file type {suffix!r} (use .jsonl or .parquet)")


class SourceUnavailable(RuntimeError):
    """A hub dataset could not be read (no network, no such repo or file)."""


def hub_stream(url: str, rows: Iterator[dict]) -> Iterator[tuple[str, int | None, str, Any]]:
    """Number hub rows; turn transport errors into one clear SourceUnavailable."""
    try:
        for i, row in enumerate(rows):
            yield url, None, f"row {i}", row
    except SourceUnavailable:
        raise
    except Exception as exc:
        raise SourceUnavailable(
            f"cannot read {url}: {type(exc).__name__}: {exc} "
            "(without hub access, download the files and give a local path)"
        ) from exc


def _hub_rows(hub: str, version: str, revision: str | None) -> Iterator[tuple[str, int | None, str, Any]]:
    rev = f"@{revision}" if revision else ""
    for name in version_files(version):
        url = f"hf://datasets/{hub}{rev}/{name}"
        yield from hub_stream(url, _hf_rows("json", url))


def convert_rows(
    rows: Iterable[tuple[str, int | None, str, Any]],
    filt: LCBFilter = LCBFilter(),
    limit: int | None = None,
) -> list[Problem]:
    out: list[Problem] = []
    seen: dict[str, str] = {}
    for source, line, where, row in rows:
        if limit is not None and len(out) >= limit:
            break
        p = lcb_row_to_problem(row, source, line, where)
        here = f"{source}:{line}" if line is not None else f"{source} {where}"
        if p.id in seen:
            raise InputError(
                source,
                line,
                f"{where + ': ' if where else ''}duplicate question_id "
                f"{p.meta['question_id']!r} (first at {seen[p.id]})",
            )
        seen[p.id] = here
        if filt.keep(p):
            out.append(p)
    return out


def load_livecodebench(
    path: str | Path | None = None,
    *,
    hub: str = LCB_HUB,
    version: str = "release_v6",
    revision: str | None = None,
    filt: LCBFilter = LCBFilter(),
    limit: int | None = None,
) -> list[Problem]:
    """Problems from a local file in the hub schema, or from the hub release ``version``."""
    rows = iter_rows(Path(path)) if path is not None else _hub_rows(hub, version, revision)
    problems = convert_rows(rows, filt, limit)
    log.info("livecodebench loaded", origin=str(path) if path else f"{hub}:{version}", problems=len(problems))
    return problems
