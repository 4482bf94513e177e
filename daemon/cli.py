"""The `ssdd` command line: run the serving side, look at it, hand it a new champion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import httpx
import typer
import yaml
from pydantic import ValidationError
from rich.table import Table

from ssd.atomic_io import write_text_atomic
from ssd.cli_common import EXIT_INPUT, configure_logging, console, fail, user_errors
from ssd.problems import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
ConfigOpt = typer.Option(None, "--config", "-c", help="serve config (YAML); see deploy/config/serve.yaml")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v"),
          json_logs: bool = typer.Option(False, "--json-logs", help="one JSON object per log line")) -> None:
    configure_logging(verbose, json_logs)


def load_serve_config(path: Optional[Path]):
    from daemon.serve_config import ServeConfig

    raw: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise InputError(path, None, f"cannot read config: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise InputError(path, None, f"not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise InputError(path, None, "the config must be a mapping at the top level")
    try:
        return ServeConfig.model_validate(raw)
    except ValidationError as exc:
        msgs = [f"{'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in exc.errors()[:10]]
        raise InputError(path or "<config>", None, "invalid config:\n  " + "\n  ".join(msgs)) from exc


@app.command()
def serve(config: Optional[Path] = ConfigOpt) -> None:
    """Run the OpenAI-compatible endpoint in front of a supervised vLLM server (blocks)."""
    from daemon.serve import run_serve

    with user_errors():
        cfg = load_serve_config(config)
        run_serve(cfg)


@app.command()
def status(config: Optional[Path] = ConfigOpt) -> None:
    """Champion, loaded adapters and endpoint health."""
    from daemon.adapter_registry import RegistryState

    with user_errors():
        cfg = load_serve_config(config)
    state_path = cfg.resolved_state_path()
    table = Table(title="ssdd status", show_header=False)
    url = f"http://{cfg.endpoint.host}:{cfg.endpoint.port}"
    try:
        health = httpx.get(url + "/health", timeout=3.0)
        table.add_row("endpoint", f"{url} -> {health.status_code} {health.text[:80]}")
    except httpx.HTTPError as exc:
        table.add_row("endpoint", f"{url} unreachable ({type(exc).__name__})")
    if state_path.is_file():
        try:
            state = RegistryState.model_validate_json(state_path.read_text())
        except (ValidationError, OSError) as exc:
            raise fail(f"{state_path}: unreadable registry state: {exc}", EXIT_INPUT) from None
        table.add_row("base model", state.base_model)
        table.add_row("champion", state.champion or "(none: base model)")
        table.add_row("former champions", ", ".join(state.history) or "-")
        table.add_row("pinned", ", ".join(state.pinned) or "-")
        for version, entry in sorted(state.adapters.items()):
            table.add_row(f"adapter {version}", f"{entry.vllm_name} {'loaded' if entry.loaded else 'on disk'} {entry.path}")
    else:
        table.add_row("registry", f"{state_path} not written yet")
    console.print(table)


@app.command()
def promote(
    version: str = typer.Argument(..., help="version label, e.g. r3"),
    adapter: Path = typer.Argument(..., help="PEFT adapter folder"),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Hand a new champion to the running endpoint (through its champion file)."""
    from ssd.vllm_server import validate_adapter_dir

    with user_errors():
        cfg = load_serve_config(config)
        if cfg.champion_file is None:
            raise ValueError("the serve config has no champion_file: the endpoint cannot be told of promotions")
        validate_adapter_dir(adapter)
    target = Path(cfg.champion_file)
    write_text_atomic(target, json.dumps({"version": version, "path": str(adapter.resolve())}))
    console.print(f"champion file {target} now names {version}; the endpoint switches after its checks pass")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
