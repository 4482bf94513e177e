"""``ssdd prompts list | show ID | purge`` and ``ssdd add-prompts FILE``: the captured prompts.

They work on the state database directly (the daemon may run or not): a purge deletes the
rows and scrubs every derived training file at once, and the running daemon's capture writer
reloads its indexes before its next prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ssd.cli_common import EXIT_INPUT, console, fail, user_errors

prompts_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Captured and imported prompts.")
ConfigOpt = typer.Option(
    Path("deploy/config/cpu-default.yaml"), "--config", "-c", help="the daemon's YAML config (see deploy/config/)"
)
SetOpt = typer.Option(None, "--set", help="override a config value: section.key=value (repeatable)")


def _open(config: Path, overrides: Optional[list[str]], create: bool = False):
    from daemon.config import load_daemon_config
    from daemon.learning.store import PromptStore
    from daemon.state import StateError, Store

    with user_errors():
        cfg = load_daemon_config(config, overrides or [])
    try:
        store = Store(cfg.db_path, create=create)
    except StateError as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    return cfg, store, PromptStore(store)


@prompts_app.command("list")
def list_prompts(
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    status: Optional[str] = typer.Option(None, "--status", help="kept or dropped (default: both)"),
    key: Optional[str] = typer.Option(None, "--key", help="only this API-key id (key:..., anonymous, import)"),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Newest prompts first: id, time, key id, status or drop reason, split, a preview."""
    if status not in (None, "kept", "dropped"):
        raise fail(f"--status {status!r}: expected kept or dropped", EXIT_INPUT)
    _cfg, _store, pstore = _open(config, set_)
    rows = pstore.listing(status=status, key_id=key, limit=limit)
    if as_json:
        print(json.dumps([_row_dict(r, preview=True) for r in rows], indent=2, ensure_ascii=False))
        return
    t = Table(title=f"prompts ({len(rows)} shown; {pstore.counts()['kept']} kept in all)")
    for col in ("id", "captured", "key", "source", "status", "split", "tokens", "redacted", "preview"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r.id,
            r.captured_at,
            r.key_id,
            r.source,
            r.status if r.status == "kept" else f"dropped: {r.reason}",
            r.split or "-",
            "-" if r.tokens is None else str(r.tokens),
            str(r.redactions),
            _preview(r.text),
        )
    console.print(t)


def _preview(text: str | None, n: int = 60) -> str:
    if not text:
        return "-"
    one = " ".join(text.split())
    return one[:n] + ("..." if len(one) > n else "")


def _row_dict(r: Any, preview: bool = False) -> dict[str, Any]:
    d = {
        "id": r.id,
        "captured_at": r.captured_at,
        "key_id": r.key_id,
        "source": r.source,
        "route": r.route,
        "kind": r.kind,
        "status": r.status,
        "reason": r.reason,
        "detail": r.detail,
        "split": r.split,
        "tokens": r.tokens,
        "redactions": r.redactions,
    }
    if preview:
        d["preview"] = _preview(r.text)
    else:
        d["messages"] = r.messages
        d["text"] = r.text
    return d


@prompts_app.command("show")
def show(prompt_id: str = typer.Argument(...), config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """One prompt as stored (redacted), with the rounds that used it."""
    _cfg, _store, pstore = _open(config, set_)
    row = pstore.get(prompt_id)
    if row is None:
        raise fail(f"no prompt {prompt_id!r} (purged, expired, or never captured)", EXIT_INPUT)
    d = _row_dict(row)
    d["used_by"] = [{"round": u.round_name, "role": u.role} for u in pstore.uses_of(prompt_id)]
    print(json.dumps(d, indent=2, ensure_ascii=False))


@prompts_app.command("purge")
def purge_cmd(
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    everything: bool = typer.Option(False, "--all", help="every captured and imported prompt"),
    before: Optional[str] = typer.Option(None, "--before", help="prompts captured before DATE (ISO, UTC)"),
    key: Optional[str] = typer.Option(None, "--key", help="prompts of one API-key id (see `ssdd prompts list`)"),
) -> None:
    """Delete prompts from the DB and from every derived training file (mixes, samples,
    training files, traffic-check answers)."""
    from daemon.learning.purge import parse_before, purge

    if sum((everything, before is not None, key is not None)) != 1:
        raise fail("give exactly one of --all, --before DATE, --key ID", EXIT_INPUT)
    cfg, store, pstore = _open(config, set_)
    try:
        cut = parse_before(before) if before is not None else None
    except ValueError as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    ids = pstore.ids_where(everything=everything, before=cut, key_id=key)
    report = purge(cfg, store, ids)
    console.print(report.describe())


def read_prompt_file(path: Path) -> list[list[dict[str, str]]]:
    """The conversations of a JSONL file of strings (each a user turn), of message lists, or of
    objects with ``messages`` or ``prompt``; a bad line raises InputError naming it."""
    from daemon.serving.capture import Unsupported, prompt_messages
    from ssd.problems import InputError, iter_jsonl

    out: list[list[dict[str, str]]] = []
    for lineno, row in iter_jsonl(path):
        if isinstance(row, dict):
            row = row.get("messages", row.get("prompt"))
        if isinstance(row, str):
            if not row.strip():
                raise InputError(path, lineno, "an empty prompt")
            out.append([{"role": "user", "content": row}])
            continue
        try:
            out.append(prompt_messages(row))
        except Unsupported as exc:
            raise InputError(
                path,
                lineno,
                f"expected a string or a list of {{role, content}} messages with a user turn ({exc})",
            ) from None
    return out


def add_prompts(
    file: Path = typer.Argument(..., help="JSONL: one prompt a line, a string or a list of {role, content} messages"),
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
) -> None:
    """Import prompts you bring, through the same redaction, curation and decontamination as
    captured ones; they train like captured prompts (``learning.mix``)."""
    from daemon.learning.ingest import PromptIngestor, heldout_problems
    from ssd.model_store import resolve
    from ssd.problem_sets import build_problem_sets
    from ssd.traffic.curate import CurationReport

    cfg, store, pstore = _open(config, set_, create=True)
    with user_errors():
        items = read_prompt_file(file)
        sets = build_problem_sets(cfg, cfg.heldout)
        model = resolve(cfg.data_dir, cfg.model)
    ingestor = PromptIngestor(cfg, pstore, heldout_problems(sets), model.path)
    report = CurationReport()
    for messages in items:
        row = ingestor.ingest(
            kind="chat", messages=messages, text=None, key_id="import", source="import", route="import"
        )
        report.add(None if row.status == "kept" else row.reason)
    console.print(f"{file}: {len(items)} prompts; {report.describe()}")


def register(app: typer.Typer) -> None:
    """Add ``prompts`` and ``add-prompts`` to the ``ssdd`` app."""
    app.add_typer(prompts_app, name="prompts")
    app.command("add-prompts")(add_prompts)
