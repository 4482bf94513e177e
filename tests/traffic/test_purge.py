"""Purge and retention: prompts leave the DB and every derived file; a file being sampled into is
scrubbed once the sampler lets go."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from traffic_util import daemon_config

from daemon.learning.purge import PENDING_SCRUB, parse_before, purge, retry_pending_scrub
from daemon.learning.purge import enforce_prompt_limits as apply_retention
from daemon.learning.store import CapturedPromptRow, PromptStore, PromptUseRow, new_prompt_id
from daemon.state import Store


@pytest.fixture
def env(tmp_path):
    cfg = daemon_config(tmp_path, tmp_path / "no-model-needed")
    store = Store(cfg.db_path)
    yield cfg, store, PromptStore(store)
    store.close()


def add(pstore: PromptStore, key: str, days_ago: float = 0.0) -> str:
    at = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat(timespec="seconds")
    row = pstore.add(
        CapturedPromptRow(
            id=new_prompt_id("capture"), captured_at=at, key_id=key, text=f"prompt of {key}", split="train"
        )
    )
    return row.id


def round_files(cfg, ids: dict[str, list[str]]) -> None:
    """A round folder as a round leaves it: the mix, samples, training file, traffic answers."""
    rdir = cfg.rounds_dir / "r1"
    rdir.mkdir(parents=True)
    pool = ["starter/001", "starter/002"]
    every = pool + [i for group in ids.values() for i in group]
    (rdir / "prompts.jsonl").write_text("".join(json.dumps({"id": i, "prompt": "p"}) + "\n" for i in every))
    for name in ("samples.jsonl", "train.jsonl", "traffic_answers.jsonl"):
        (rdir / name).write_text("".join(json.dumps({"problem_id": i, "completion": "c"}) + "\n" for i in every))
    (rdir / "round.json").write_text("{}")


def ids_in(cfg, name: str) -> list[str]:
    rows = [json.loads(line) for line in (cfg.rounds_dir / "r1" / name).read_text().splitlines()]
    return [r.get("problem_id") or r.get("id") for r in rows]


def test_purge_by_key_removes_its_prompts_everywhere(env):
    cfg, store, pstore = env
    a = [add(pstore, "key:aaaaaaaaaaaa") for _ in range(3)]
    b = [add(pstore, "key:bbbbbbbbbbbb") for _ in range(2)]
    store.add(PromptUseRow(prompt_id=a[0], round_name="r1"))
    round_files(cfg, {"a": a, "b": b})
    report = purge(cfg, store, pstore.ids_where(key_id="key:aaaaaaaaaaaa"))
    assert report.prompts == 3 and report.files == 4 and report.lines == 12 and not report.pending
    assert pstore.existing(a + b) == set(b) and pstore.uses_of(a[0]) == []
    for name in ("prompts.jsonl", "samples.jsonl", "train.jsonl", "traffic_answers.jsonl"):
        assert ids_in(cfg, name) == ["starter/001", "starter/002", *b], name


def test_purge_selectors(env):
    cfg, store, pstore = env
    old = add(pstore, "key:aaaaaaaaaaaa", days_ago=10)
    new = add(pstore, "key:aaaaaaaaaaaa")
    cut = parse_before((datetime.now(timezone.utc) - timedelta(days=5)).date().isoformat())
    assert pstore.ids_where(before=cut) == [old]
    assert sorted(pstore.ids_where(everything=True)) == sorted([old, new])
    assert pstore.ids_where() == []  # no selector selects nothing
    assert parse_before("2026-05-01") == "2026-05-01T00:00:00+00:00"
    assert parse_before("2026-05-01T02:00:00+02:00") == "2026-05-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="expected a date"):
        parse_before("last week")


def test_a_file_being_sampled_into_is_scrubbed_when_the_sampler_lets_go(env):
    from ssd.sampling import _Appender

    cfg, store, pstore = env
    a = [add(pstore, "key:aaaaaaaaaaaa")]
    round_files(cfg, {"a": a})
    sampler = _Appender(cfg.rounds_dir / "r1" / "samples.jsonl")  # holds the file as sampling does
    try:
        report = purge(cfg, store, a)
        assert report.pending == [str(cfg.rounds_dir / "r1" / "samples.jsonl")] and report.files == 3
        assert a[0] in ids_in(cfg, "samples.jsonl") and store.get_kv(PENDING_SCRUB) == a
    finally:
        sampler.close()
    retry_pending_scrub(cfg, store)
    assert a[0] not in ids_in(cfg, "samples.jsonl") and store.get_kv(PENDING_SCRUB) == []


def test_retention_by_count_and_age(tmp_path):
    cfg = daemon_config(tmp_path, tmp_path, retention={"max_prompts": 3, "max_age_days": 30})
    store = Store(cfg.db_path)
    pstore = PromptStore(store)
    ancient = add(pstore, "k", days_ago=40)
    kept = [add(pstore, "k", days_ago=d) for d in (3, 2, 1)]
    oldest_recent = add(pstore, "k", days_ago=4)
    round_files(cfg, {"x": [ancient, oldest_recent, *kept]})
    report = apply_retention(cfg, store)
    assert report.prompts == 2
    assert pstore.existing([ancient, oldest_recent, *kept]) == set(kept)
    assert ancient not in ids_in(cfg, "train.jsonl") and oldest_recent not in ids_in(cfg, "train.jsonl")
    assert apply_retention(cfg, store).prompts == 0
    store.close()


@pytest.mark.parametrize("build_secure_delete", [True, False], ids=["sqlite-default", "built-without-secure-delete"])
def test_purged_text_leaves_every_byte_of_every_file_under_data_dir(env, build_secure_delete):
    """Not only ids: the purged text itself is in no file under data_dir afterwards, the
    database's own files (main, -wal, -shm) and the round's training files included. SQLite in
    WAL mode keeps a deleted row's bytes in the WAL (and, after a checkpoint, in freed space of
    the main file unless secure_delete is on) until they are overwritten; the purge must not
    leave them there. Debian's SQLite is built with SECURE_DELETE on; many others (Python
    wheels, macOS) are not, which the second case stands for."""
    import secrets

    from sqlalchemy import event

    cfg, store, pstore = env
    if not build_secure_delete:
        store.engine.dispose()  # every connection from now on starts as such a build's would
        event.listen(store.engine, "connect", lambda conn, _rec: conn.execute("PRAGMA secure_delete=OFF"))
    secret = f"my bank password is {secrets.token_hex(12)}"  # unique: found only where we put it
    other = f"keep this prompt {secrets.token_hex(12)}"
    row = pstore.add(
        CapturedPromptRow(
            id=new_prompt_id("capture"),
            key_id="key:aaaaaaaaaaaa",
            text=secret,
            messages_json=json.dumps([{"role": "user", "content": secret}]),
            split="train",
        )
    )
    kept = add(pstore, "key:bbbbbbbbbbbb")
    pstore.store.save(pstore.get(kept).model_copy(update={"text": other}))  # type: ignore[union-attr]
    store.add(PromptUseRow(prompt_id=row.id, round_name="r1"))
    round_files(cfg, {"a": [row.id], "b": [kept]})
    rdir = cfg.rounds_dir / "r1"
    for name in ("samples.jsonl", "train.jsonl", "prompts.jsonl"):  # as the round writes them: with the text
        with (rdir / name).open("a") as fh:
            for pid, text in ((row.id, secret), (kept, other)):
                fh.write(json.dumps({"problem_id": pid, "prompt": text, "completion": "c"}) + "\n")

    def holding(needle: str) -> list[str]:
        data_dir = cfg.data_dir
        return sorted(
            str(p.relative_to(data_dir))
            for p in data_dir.rglob("*")
            if p.is_file() and needle.encode() in p.read_bytes()
        )

    assert "ssdd/state.db-wal" in holding(secret)  # the text is in the WAL before the purge
    purge(cfg, store, [row.id])
    assert holding(secret) == []
    assert holding(other)  # what was not purged is still there
    assert pstore.get(kept) is not None and pstore.get(row.id) is None
