"""The `ssdd` command line: run the daemon, watch it, steer it.

Everything reads the one config file (``-c``). Status, history and report work from the state
database when the daemon is down and add live data when it is up. Control commands (pause,
resume, round-now, rollback, submit, reevaluate-now) go through the database, a local file
only this machine's users with access to ``data_dir`` can write: never through the public
endpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from daemon.learning.cli import register as register_prompt_commands
from ssd.cli_common import EXIT_INPUT, EXIT_RUNTIME, configure_logging, console, fail, user_errors
from ssd.file_modes import use_private_umask

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
ConfigOpt = typer.Option(
    Path("deploy/config/cpu-default.yaml"), "--config", "-c", help="the daemon's YAML config (see deploy/config/)"
)
SetOpt = typer.Option(None, "--set", help="override a config value: section.key=value (repeatable)")


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    json_logs: bool = typer.Option(False, "--json-logs", help="one JSON object per log line"),
) -> None:
    use_private_umask()  # before anything is created: data_dir holds keys' ids and prompts (ssd.file_modes)
    configure_logging(verbose, json_logs)


def _cfg(config: Path, overrides: Optional[list[str]]):
    from daemon.config import load_daemon_config

    return load_daemon_config(config, overrides or [])


def _store(cfg, create: bool = False):
    from daemon.state import StateError, Store

    try:
        return Store(cfg.db_path, create=create)
    except StateError as exc:
        raise fail(str(exc), EXIT_INPUT) from None


@app.command()
def run(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Run the daemon: vLLM + endpoint + scheduled SSD rounds (blocks; SIGTERM/Ctrl-C stop it)."""
    from daemon.app import run_daemon
    from daemon.state import StateError

    with user_errors():
        cfg = _cfg(config, set_)
    try:
        run_daemon(cfg)
    except StateError as exc:
        raise fail(str(exc), EXIT_INPUT) from None


@app.command()
def serve(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Only the endpoint in front of a supervised vLLM (no rounds), from the same config file
    (its endpoint, server, model and data_dir; ``endpoint.champion_file`` hands it a champion)."""
    from daemon.serving.serve import run_serve

    with user_errors():
        cfg = _cfg(config, set_).serve_config()
        run_serve(cfg)


@app.command()
def status(
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    as_json: bool = typer.Option(False, "--json", help="one JSON object (a public interface)"),
    wide: bool = typer.Option(False, "--wide", help="every column of the rounds table (beyond 80 columns)"),
) -> None:
    """Champion, rounds, events, the daemon and its error budget."""
    from daemon.status import print_status, status_report

    with user_errors():
        cfg = _cfg(config, set_)
    report = status_report(cfg, _store(cfg))
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print_status(report.model_dump(mode="json"), console, wide=wide)


@app.command()
def history(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """All rounds, a table."""
    from daemon.status import round_dict

    with user_errors():
        cfg = _cfg(config, set_)
    t = Table(title="rounds")
    for col in (
        "round",
        "kind",
        "parent",
        "candidate",
        "stage",
        "status",
        "champion",
        "candidate p@1",
        "p",
        "decision",
        "started",
        "error",
    ):
        t.add_column(col)
    for r in map(round_dict, reversed(_store(cfg).rounds())):
        pct = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
        t.add_row(
            r["id"],
            r["kind"],
            r["parent"] or "base",
            r["candidate"] or "-",
            r["stage"],
            r["status"],
            pct(r["champion_pass_at_1"]),
            pct(r["candidate_pass_at_1"]),
            "-" if r["p_value"] is None else f"{r['p_value']:.3g}",
            r["decision"] or "-",
            r["started_at"],
            (r["error"] or "")[:40],
        )
    from rich.console import Console

    # A wide table: a pipe or a narrow terminal must not squeeze it into unreadable columns.
    Console(stderr=True, width=max(console.width, 180)).print(t)


@app.command()
def report(
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    out: Path = typer.Option(..., "--out", help="PNG file to write (the health panels go to <name>.health.png)"),
) -> None:
    """pass@1 per round with CIs, the champion's line, promotions and rollbacks marked; and the
    rounds' health signals, one panel each, in a second PNG next to it."""
    from daemon.health_report import health_report_path, write_health_report
    from daemon.report import write_report

    with user_errors():
        cfg = _cfg(config, set_)
    store = _store(cfg)
    n = write_report(cfg, store, out)
    console.print(f"wrote {out} ({n} rounds)")
    health = write_health_report(cfg, store, health_report_path(out))
    if health is None:
        console.print("no round has health signals yet (rounds/<r>/health.json): no health panels written")
    else:
        console.print(f"wrote {health.path} ({health.panels} health panels over {health.rounds} rounds)")


def _control(config: Path, overrides, command: str, wait_s: float = 30.0, **arg) -> None:
    """Queue a control request; wait for the daemon's answer when it runs."""
    from daemon.status import daemon_running

    with user_errors():
        cfg = _cfg(config, overrides)
    store = _store(cfg, create=True)
    running = daemon_running(store, cfg)
    if not running:
        if command in ("pause", "resume"):
            store.set_kv("paused", command == "pause")
            console.print(f"{command}d (the daemon is not running; it starts {command}d)")
            return
        if command == "rollback":
            raise fail("the daemon is not running: start it (ssdd run) to roll back the live endpoint", EXIT_RUNTIME)
    row = store.request(command, **arg)
    if not running:
        console.print(f"queued {command} #{row.id}: the daemon is not running and will do it when it starts")
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        done = store.control(row.id or 0)
        if done is not None and done.done_at:
            if not done.ok:
                raise fail(f"{command} failed: {done.result}", EXIT_RUNTIME)
            console.print(done.result)
            return
        time.sleep(0.3)
    console.print(f"queued {command} #{row.id}; the daemon has not answered in {wait_s:.0f}s")


@app.command()
def pause(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Stop starting rounds; the running one stops after its current stage."""
    _control(config, set_, "pause")


@app.command()
def resume(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Run rounds again."""
    _control(config, set_, "resume")


@app.command("round-now")
def round_now(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Start a round now (after the running one, if any)."""
    _control(config, set_, "round-now")


@app.command("reevaluate-now")
def reevaluate_now(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Re-evaluate the champion against its parent now (rolls back on a significant regression)."""
    _control(config, set_, "reevaluate-now")


@app.command()
def rollback(
    version: Optional[str] = typer.Argument(None, help="target version, or 'base'; default: the champion's parent"),
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
) -> None:
    """Serve an earlier version; the current champion is marked rolled back for good."""
    _control(config, set_, "rollback", wait_s=120.0, version=version)


@app.command()
def submit(
    folder: Path = typer.Argument(..., help="a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors)"),
    name: Optional[str] = typer.Option(None, "--name", help="version name (default: the folder's name)"),
    skip_gate: bool = typer.Option(
        False,
        "--skip-gate",
        help="operator override: promote whatever the gate says (recorded; re-evaluation can still roll it back)",
    ),
    config: Path = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
) -> None:
    """Put an adapter trained elsewhere through the same gate."""
    from daemon.submit import SubmissionError, store_submission
    from ssd.model_store import resolve

    with user_errors():
        cfg = _cfg(config, set_)
        model = resolve(cfg.data_dir, cfg.model)
    store = _store(cfg, create=True)
    try:
        row = store_submission(
            store,
            folder,
            cfg.adapters_dir,
            name or folder.resolve().name,
            Path(model.path),
            max_rank=cfg.server.max_lora_rank,
            skip_gate=skip_gate,
        )
    except SubmissionError as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    console.print(f"submitted {row.candidate} as round {row.name}")
    _control(config, set_, "submit", name=row.candidate)


@app.command()
def doctor(config: Path = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Check what a first start needs; print the fix for each problem."""
    from daemon.doctor import run_checks

    with user_errors():
        cfg = _cfg(config, set_)
    bad = 0
    for check in run_checks(cfg):
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}")
        if not check.ok:
            bad += 1
            console.print(f"     fix: {check.fix}")
    if bad:
        raise typer.Exit(EXIT_RUNTIME)


register_prompt_commands(app)  # `ssdd prompts ...` and `ssdd add-prompts` (daemon/prompts_cli.py)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
