"""The ingest pipeline into the state DB: redacted, curated, decontaminated; dropped rows hold no
text; a version-1 database gains the prompt tables without losing anything."""

from __future__ import annotations

import sqlite3

import pytest
from traffic_util import SECRET_PROMPTS, daemon_config

from daemon.learning.ingest import PromptIngestor, heldout_problems
from daemon.learning.store import PromptStore
from daemon.state import SCHEMA_VERSION, RoundRow, Store

CODING = "Write a Python function that merges two sorted lists into one sorted list without using sort()."


@pytest.fixture
def env(tmp_path, model_dir):
    from daemon.rounds.context import build_sets

    cfg = daemon_config(tmp_path, model_dir)
    store = Store(cfg.db_path)
    sets = build_sets(cfg)
    pstore = PromptStore(store)
    yield cfg, store, pstore, PromptIngestor(cfg, pstore, heldout_problems(sets), model_dir), sets
    store.close()


def chat(ingestor: PromptIngestor, text: str, key: str = "key:aaaaaaaaaaaa", system: str | None = None):
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return ingestor.ingest(kind="chat", messages=messages, text=None, key_id=key, source="capture", route="chat")


def test_no_secret_reaches_the_database(env):
    cfg, store, pstore, ingestor, _ = env
    rows = [chat(ingestor, prompt) for prompt, _ in SECRET_PROMPTS.values()]
    rows.append(
        ingestor.ingest(
            kind="text",
            messages=None,
            text="# settings.py\nDB = 'mysql://root:Pa55w0rd-x@db/app'\n"
            "API_KEY = 'AKIAIOSFODNN7EXAMPLE'\ndef connect():\n",
            key_id="anonymous",
            source="capture",
            route="completions",
        )
    )
    assert all(r.status == "kept" for r in rows), [(r.reason, r.detail) for r in rows]
    assert all(r.redactions >= 1 for r in rows)
    store.close()
    raw = b"".join(p.read_bytes() for p in cfg.db_path.parent.glob("state.db*"))  # the DB and its WAL
    for name, (_, secrets) in [*SECRET_PROMPTS.items(), ("completion", (None, ["Pa55w0rd-x"]))]:
        for secret in secrets:
            assert secret.encode() not in raw, f"{name}: {secret!r} is in the database file"
    kept = pstore.get(rows[0].id)
    assert kept is not None and "[REDACTED:aws-key]" in (kept.text or "")
    assert kept.messages and kept.messages[-1]["content"] == kept.text


def test_curation_drops_with_a_reason_and_keeps_no_text(env):
    _cfg, _store, pstore, ingestor, sets = env
    first = chat(ingestor, CODING, system="You are Aider, an expert software engineer.")
    again = chat(ingestor, CODING.upper(), system="Another assistant's system prompt entirely.")
    pasted = chat(ingestor, "Please solve this:\n" + sets.gate[0].prompt)
    chatter = chat(ingestor, "Thank you so much, that was very kind of you!")
    too_long = chat(ingestor, "Refactor this function please: " + "x = 1; " * 3000)
    assert first.status == "kept" and first.split in ("train", "check") and first.tokens and first.tokens > 10
    assert (again.reason, pasted.reason, chatter.reason, too_long.reason) == (
        "duplicate",
        "contaminated",
        "not_coding",
        "too_long",
    )
    assert sets.gate[0].id in (pasted.detail or "")
    for row in (again, pasted, chatter, too_long):
        stored = pstore.get(row.id)
        assert stored is not None and stored.status == "dropped"
        assert stored.text is None and stored.messages_json is None and stored.signature is None
    counts = pstore.counts()
    assert counts["captured"] == 5 and counts["kept"] == 1
    assert counts["dropped"] == {"duplicate": 1, "contaminated": 1, "not_coding": 1, "too_long": 1}


def test_system_turns_do_not_make_every_prompt_a_duplicate(env):
    _cfg, _store, _pstore, ingestor, _ = env
    system = "You are a coding assistant. " * 40  # what assistants send with every request
    a = chat(ingestor, CODING, system=system)
    b = chat(ingestor, "Write a Python generator that yields the Fibonacci numbers below a limit.", system=system)
    assert a.status == b.status == "kept"


def test_the_split_sends_a_share_to_the_traffic_check(env):
    _cfg, _store, pstore, ingestor, _ = env
    for i in range(40):
        chat(ingestor, f"Write a Python function number {i} that computes {i} factorial modulo {i * 7 + 3}.")
    c = pstore.counts()
    assert c["kept"] == 40 and 0 < c["kept_check"] < c["kept_train"]


def test_a_purge_makes_the_writer_forget_the_prompt(env):
    cfg, store, pstore, ingestor, _ = env
    from daemon.learning.purge import purge

    first = chat(ingestor, CODING)
    assert chat(ingestor, CODING).reason == "duplicate"
    purge(cfg, store, [first.id])
    assert pstore.get(first.id) is None
    assert chat(ingestor, CODING).status == "kept"


def test_unsupported_requests_are_rows_without_text(env):
    _cfg, _store, pstore, ingestor, _ = env
    row = ingestor.ingest(
        kind="unsupported", messages=None, text=None, key_id="anonymous", source="capture", route="chat", detail="tool"
    )
    stored = pstore.get(row.id)
    assert stored is not None and stored.reason == "unsupported" and stored.text is None and stored.detail == "tool"


def test_a_version_1_database_gains_the_prompt_tables_and_keeps_its_rows(tmp_path):
    path = tmp_path / "state.db"
    old = Store(path)
    old.add(RoundRow(name="r1", stage="done", status="done"))
    old.close()
    with sqlite3.connect(path) as db:  # as a version-1 file written before this feature
        for table in ("captured_prompts", "prompt_uses", "round_learning", "sequential_tests", "pair_results"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("UPDATE kv SET value_json = '1' WHERE key = 'schema_version'")
    store = Store(path, create=False)
    pstore = PromptStore(store)
    assert store.get_kv("schema_version") == SCHEMA_VERSION == 3  # upgraded (2: the gate's tables, 3: progress)
    assert [r.name for r in store.rounds()] == ["r1"]
    assert pstore.counts()["captured"] == 0
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"captured_prompts", "prompt_uses", "round_learning", "rounds", "kv"} <= tables
    store.close()
