"""Problem sources: LiveCodeBench and rStar-Coder rows in the exact hub schemas, the registry."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from ssd.problems import CallTests, InputError, Problem, StdioTests, write_problems
from ssd.sources.livecodebench import (
    LCBFilter,
    UnsafePickleError,
    _NoGlobalsUnpickler,
    decode_private_tests,
    encode_private_tests,
    load_livecodebench,
    load_str_pickle,
    version_files,
)
from ssd.sources.registry import (
    LiveCodeBenchSpec,
    load_source,
    load_sources,
    parse_source_spec,
)
from ssd.sources.rstar import load_rstar

FIXTURES = Path(__file__).parent / "data" / "sources"


def _fixture_rows():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FX = _fixture_rows()


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _lcb_rows() -> list[dict]:
    return copy.deepcopy(FX.LCB_ROWS)


# --- private test encoding -------------------------------------------------------------------


def test_private_tests_roundtrip_real_encoding():
    cases = [{"input": "1\n" * 1000, "output": "ok\n", "testtype": "stdin"}]
    raw = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()
    assert decode_private_tests(raw) == cases
    assert encode_private_tests(cases) == raw
    # Early releases: plain JSON.
    assert decode_private_tests(json.dumps(cases)) == cases


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_str_pickles_of_every_protocol_load(protocol):
    assert load_str_pickle(pickle.dumps("naïve ✓ text\n", protocol=protocol)) == "naïve ✓ text\n"


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_rejected_without_running(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(marker)))
    with pytest.raises(UnsafePickleError, match="opcode"):
        load_str_pickle(payload)
    # Through the whole private-test decoding, in the hub encoding.
    raw = base64.b64encode(zlib.compress(payload)).decode()
    with pytest.raises(UnsafePickleError, match="opcode STACK_GLOBAL is not allowed"):
        decode_private_tests(raw)
    # And inside a dataset row: an InputError naming the field, and no side effect.
    row = _lcb_rows()[0]
    row["private_test_cases"] = raw
    path = _jsonl(tmp_path / "evil.jsonl", [row])
    with pytest.raises(InputError, match=r"evil\.jsonl:1: .*'private_test_cases'.*not allowed"):
        load_livecodebench(path)
    assert not marker.exists()


def test_second_line_unpickler_refuses_globals(tmp_path):
    # Even if the opcode allow-list were bypassed, no global can be resolved.
    import io

    payload = pickle.dumps(_Exploit(str(tmp_path / "pwned")))
    with pytest.raises(UnsafePickleError, match="posix.system|nt.system|os.system"):
        _NoGlobalsUnpickler(io.BytesIO(payload)).load()
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("obj", [["a list"], {"k": "v"}, 42, b"bytes"])
def test_pickle_of_non_str_is_rejected(obj):
    with pytest.raises(UnsafePickleError, match="is not allowed; only a pickled str is accepted"):
        load_str_pickle(pickle.dumps(obj))


def test_oversized_decompression_is_refused():
    raw = base64.b64encode(zlib.compress(pickle.dumps("x" * 10_000))).decode()
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        decode_private_tests(raw, limit=1000)


# --- LiveCodeBench conversion ----------------------------------------------------------------


def test_fixture_file_converts_to_problems():
    problems = load_livecodebench(FIXTURES / "lcb_sample.jsonl")
    by_id = {p.id: p for p in problems}
    assert list(by_id) == ["lcb/abc900_a", "lcb/9001", "lcb/1900A"]

    stdin = by_id["lcb/abc900_a"]
    assert isinstance(stdin.tests, StdioTests)
    assert [(c.input, c.output) for c in stdin.tests.cases] == [("1 2\n", "3\n"), ("5 7\n", "12\n"), ("-1 1\n", "0\n")]
    assert stdin.starter_code is None
    assert stdin.difficulty == "easy"
    assert stdin.meta["contest_date"] == "2023-05-13T00:00:00"
    assert stdin.meta["platform"] == "atcoder"
    assert (stdin.meta["n_public_tests"], stdin.meta["n_private_tests"]) == (1, 2)

    fn = by_id["lcb/9001"]
    assert isinstance(fn.tests, CallTests)
    assert fn.tests.fn_name == "scaledSum"
    # One JSON value per line, one line per argument; outputs are JSON values.
    assert [(c.input, c.output) for c in fn.tests.cases] == [([[1, 2, 3], 2], 12), ([[], 5], 0), ([[4], -1], -4)]
    assert fn.starter_code.startswith("class Solution:")
    assert fn.difficulty == "medium"

    old = by_id["lcb/1900A"]  # plain-JSON private tests
    assert [c.input for c in old.tests.cases] == ["hi\n", "x\n"]


def test_parquet_in_hub_schema_gives_same_problems(tmp_path):
    path = tmp_path / "lcb.parquet"
    Dataset.from_list(_lcb_rows()).to_parquet(str(path))
    assert load_livecodebench(path) == load_livecodebench(FIXTURES / "lcb_sample.jsonl")


def test_parquet_with_timestamp_dates(tmp_path):
    # Converted copies of the dataset may carry contest_date as a real timestamp column.
    rows = _lcb_rows()
    table = pa.Table.from_pylist(rows)
    ts = pa.array([r["contest_date"] for r in rows]).cast(pa.timestamp("s"))
    table = table.set_column(table.schema.get_field_index("contest_date"), "contest_date", ts)
    pq.write_table(table, tmp_path / "ts.parquet")
    problems = load_livecodebench(tmp_path / "ts.parquet")
    assert [p.meta["contest_date"] for p in problems] == [
        "2023-05-13T00:00:00",
        "2024-09-01T00:00:00",
        "2023-11-20T00:00:00",
    ]


def test_date_window_difficulty_platform_and_limit():
    path = FIXTURES / "lcb_sample.jsonl"
    from datetime import date

    after = load_livecodebench(path, filt=LCBFilter(start_date=date(2023, 11, 20)))
    assert [p.id for p in after] == ["lcb/9001", "lcb/1900A"]  # start is inclusive
    window = load_livecodebench(path, filt=LCBFilter(start_date=date(2023, 6, 1), end_date=date(2023, 12, 31)))
    assert [p.id for p in window] == ["lcb/1900A"]
    hard = load_livecodebench(path, filt=LCBFilter(difficulties=frozenset({"hard", "easy"})))
    assert [p.id for p in hard] == ["lcb/abc900_a", "lcb/1900A"]
    lc = load_livecodebench(path, filt=LCBFilter(platforms=frozenset({"leetcode"})))
    assert [p.id for p in lc] == ["lcb/9001"]
    assert [p.id for p in load_livecodebench(path, limit=2)] == ["lcb/abc900_a", "lcb/9001"]


def _break(row_index: int, **changes):
    rows = _lcb_rows()
    for k, v in changes.items():
        if v is None:
            del rows[row_index][k]
        else:
            rows[row_index][k] = v
    return rows


@pytest.mark.parametrize(
    "row_index, changes, pattern",
    [
        (0, {"question_content": None}, r":1: field 'question_content': Field required"),
        (1, {"public_test_cases": "[{not json"}, r":2: .*'public_test_cases': invalid JSON"),
        (2, {"private_test_cases": "%%%not-base64%%%"}, r":3: .*'private_test_cases': not JSON and not valid base64"),
        (
            0,
            {"private_test_cases": base64.b64encode(b"not zlib").decode()},
            r":1: .*'private_test_cases': base64 payload is not zlib data",
        ),
        (1, {"metadata": "{}"}, r":2: .*'metadata': functional problem needs a func_name"),
        (1, {"metadata": "[1"}, r":2: .*'metadata': invalid JSON"),
        (
            0,
            {"public_test_cases": json.dumps([{"input": "1", "testtype": "stdin"}])},
            r":1: .*'public_test_cases': case 0: output: Field required",
        ),
        (
            0,
            {"public_test_cases": json.dumps([{"input": "1", "output": "2", "testtype": "functional"}])},
            r":1: .*mixes stdin and functional",
        ),
        (
            1,
            {"private_test_cases": encode_private_tests([{"input": "[1,", "output": "1", "testtype": "functional"}])},
            r":2: .*'private_test_cases': case 0: functional input/output is not JSON",
        ),
        (0, {"public_test_cases": "[]", "private_test_cases": encode_private_tests([])}, r":1: .*no test cases"),
        (0, {"contest_date": "yesterday"}, r":1: field 'contest_date'"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path, row_index, changes, pattern):
    path = _jsonl(tmp_path / "bad.jsonl", _break(row_index, **changes))
    with pytest.raises(InputError, match=r"bad\.jsonl" + pattern):
        load_livecodebench(path)


def test_malformed_parquet_row_names_row_and_field(tmp_path):
    rows = _break(2, public_test_cases="{{")
    path = tmp_path / "bad.parquet"
    Dataset.from_list(rows).to_parquet(str(path))
    with pytest.raises(
        InputError,
        match=r"bad\.parquet: row 2: question_id='1900A': "
        r"field 'public_test_cases': invalid JSON",
    ):
        load_livecodebench(path)


def test_bad_json_line_and_duplicate_ids(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_lcb_rows()[0]) + "\n{oops\n")
    with pytest.raises(InputError, match=r"broken\.jsonl:2: invalid JSON"):
        load_livecodebench(path)
    dup = _jsonl(tmp_path / "dup.jsonl", [_lcb_rows()[0], _lcb_rows()[0]])
    with pytest.raises(
        InputError,
        match=r"dup\.jsonl:2: duplicate question_id 'abc900_a' "
        r"\(first at .*dup\.jsonl:1\)",
    ):
        load_livecodebench(dup)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_livecodebench(tmp_path / "nope.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unsupported file type '.csv'"):
        load_livecodebench(tmp_path / "x.csv")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="junk.parquet: cannot read parquet"):
        load_livecodebench(tmp_path / "junk.parquet")


def test_version_tags_map_to_release_files():
    assert version_files("release_v1") == ["test.jsonl"]
    assert version_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert version_files("release_latest") == version_files("release_v6")
    assert len(version_files("release_v6")) == 6
    assert version_files("v4") == ["test4.jsonl"]
    assert version_files("v2_v3") == ["test2.jsonl", "test3.jsonl"]
    for bad in ("release_v7", "v0", "v3_v2"):
        with pytest.raises(ValueError, match=rf"version tag '{bad}' is outside releases 1\.\.6"):
            version_files(bad)
    for bad in ("latest", "release_v"):
        with pytest.raises(ValueError, match=rf"unknown LiveCodeBench version tag '{bad}'"):
            version_files(bad)


# --- rStar-Coder -----------------------------------------------------------------------------


def test_rstar_seed_sft_rows_become_prompts_without_tests(tmp_path):
    problems = load_rstar(FIXTURES / "rstar_seed_sft.jsonl")
    assert [p.id for p in problems] == ["rstar/seed_1", "rstar/seed_2"]  # repeats collapsed
    assert all(p.tests is None for p in problems)
    assert problems[0].starter_code is None
    assert problems[1].starter_code.startswith("class Solution:")
    assert problems[0].meta == {"source": "rstar-coder", "subset": "seed_sft", "question_id": "seed_1"}
    path = tmp_path / "rstar.parquet"
    Dataset.from_list(FX.RSTAR_ROWS).to_parquet(str(path))
    assert load_rstar(path) == problems
    assert [p.id for p in load_rstar(path, limit=1)] == ["rstar/seed_1"]


def test_rstar_malformed_rows(tmp_path):
    rows = copy.deepcopy(FX.RSTAR_ROWS)
    del rows[2]["question"]
    with pytest.raises(InputError, match=r"r\.jsonl:3: field 'question': Field required"):
        load_rstar(_jsonl(tmp_path / "r.jsonl", rows))
    rows = copy.deepcopy(FX.RSTAR_ROWS)
    rows[0]["question"] = "   "
    with pytest.raises(InputError, match=r"r2\.jsonl:1: field 'question': .*must not be empty"):
        load_rstar(_jsonl(tmp_path / "r2.jsonl", rows))
    rows = [{"question_id": 77, "question": "Q", "starter_code": None}]  # int ids are coerced
    assert [p.id for p in load_rstar(_jsonl(tmp_path / "r3.jsonl", rows))] == ["rstar/77"]


# --- registry --------------------------------------------------------------------------------


def test_specs_validate_and_load(tmp_path):
    lcb = parse_source_spec(
        {
            "kind": "livecodebench",
            "path": str(FIXTURES / "lcb_sample.jsonl"),
            "start_date": "2023-11-01",
            "difficulties": ["hard", "medium"],
        }
    )
    assert isinstance(lcb, LiveCodeBenchSpec)
    assert [p.id for p in load_source(lcb)] == ["lcb/9001", "lcb/1900A"]

    rstar = parse_source_spec({"kind": "rstar", "path": str(FIXTURES / "rstar_seed_sft.jsonl")})
    assert len(load_source(rstar)) == 2

    he = load_source(parse_source_spec({"kind": "humaneval"}))
    assert len(he) == 164 and he[0].id == "HumanEval/0"

    own = tmp_path / "own.jsonl"
    write_problems([Problem(id="x1", prompt="p")], own)
    assert [p.id for p in load_source(parse_source_spec({"kind": "jsonl", "path": str(own)}))] == ["x1"]
    with pytest.raises(InputError, match="has no tests"):
        load_source(parse_source_spec({"kind": "jsonl", "path": str(own), "require_tests": True}))

    # The hub form validates its version tag without touching the network.
    hub = parse_source_spec({"kind": "livecodebench", "version": "release_v5", "limit": 10})
    assert hub.path is None and hub.hub == "livecodebench/code_generation_lite"


def test_starter_source_loads_through_registry():
    pytest.importorskip("ssd.sources.starter", reason="starter loader not written yet")
    problems = load_source(parse_source_spec({"kind": "starter"}))
    assert problems and all(isinstance(p, Problem) for p in problems)


@pytest.mark.parametrize(
    "raw, pattern",
    [
        ({"kind": "mbpp"}, "does not match any of the expected tags"),
        ({"kind": "livecodebench", "version": "release_v99"}, "outside releases"),
        (
            {"kind": "livecodebench", "path": "x.jsonl", "start_date": "2024-02-01", "end_date": "2024-01-01"},
            "is after end_date",
        ),
        ({"kind": "livecodebench", "limit": 0}, r"limit: Input should be greater than"),
        ({"kind": "rstar", "path": "x", "colour": "red"}, r"rstar\.colour: Extra inputs"),
        ({"kind": "livecodebench", "difficulties": ["trivial"]}, "difficulties"),
        ({"kind": "jsonl"}, r"jsonl\.path: Field required"),
    ],
)
def test_bad_specs_are_input_errors(raw, pattern):
    with pytest.raises(InputError, match=pattern):
        parse_source_spec(raw, where="config.yaml:sources[0]")


def test_load_sources_rejects_ids_shared_across_sources(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_problems([Problem(id="p1", prompt="one"), Problem(id="p2", prompt="two")], a)
    write_problems([Problem(id="p3", prompt="three"), Problem(id="p2", prompt="other")], b)
    specs = [parse_source_spec({"kind": "jsonl", "path": str(p)}) for p in (a, b)]
    with pytest.raises(InputError, match=r"b\.jsonl: problem id 'p2' also comes from jsonl:.*a\.jsonl"):
        load_sources(specs)
    assert [p.id for p in load_sources(specs[:1])] == ["p1", "p2"]


def test_unreachable_hub_is_one_clear_error(monkeypatch):
    # Real datasets/huggingface_hub calls against a repository that does not exist: offline
    # here, a 404 where the hub is reachable; either way one SourceUnavailable naming the URL.
    import datasets.config

    from ssd.sources.livecodebench import SourceUnavailable

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(SourceUnavailable, match=r"hf://datasets/ssd-test/no-such-repo/test\.jsonl"):
        load_livecodebench(hub="ssd-test/no-such-repo", version="release_v1", limit=1)
    with pytest.raises(SourceUnavailable, match=r"ssd-test/no-such-repo \(config seed_sft\)"):
        load_rstar(hub="ssd-test/no-such-repo", limit=1)


def test_without_the_datasets_package_hub_and_parquet_sources_say_which_extra(monkeypatch, tmp_path):
    import sys

    from ssd.sources.livecodebench import SourceUnavailable

    monkeypatch.setitem(sys.modules, "datasets", None)  # what an install without the extra sees
    extra = r"needs the 'datasets' package: pip install 'ssd-daemon\[hub\]'"
    with pytest.raises(SourceUnavailable, match=extra):
        load_livecodebench(hub="ssd-test/no-such-repo", version="release_v1", limit=1)
    with pytest.raises(SourceUnavailable, match=extra):
        load_rstar(hub="ssd-test/no-such-repo", limit=1)
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": [1]}), parquet)
    with pytest.raises(SourceUnavailable, match=extra):
        load_livecodebench(path=parquet)
