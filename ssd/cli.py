"""The `ssd` command line: the method's stages, one command each."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ssd.cli_common import EXIT_INPUT, configure_logging, console, fail, user_errors
from ssd.file_modes import use_private_umask

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
models_app = typer.Typer(no_args_is_help=True, help="Base models in the store.")
app.add_typer(models_app, name="models")

DEFAULT_DATA_DIR = Path(".data")


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    json_logs: bool = typer.Option(False, "--json-logs", help="one JSON object per log line"),
) -> None:
    use_private_umask()  # rounds, adapters and samples are the operator's alone (ssd.file_modes)
    configure_logging(verbose, json_logs)


# -- judge ---------------------------------------------------------------------------------
@app.command()
def judge(
    problems: str = typer.Option(..., help="problems JSONL, or a built-in set: humaneval, starter"),
    solutions: str = typer.Option(..., help="solutions JSONL ({problem_id, program} a line), or 'canonical'"),
    backend: str = typer.Option("docker", help="docker (default, hardened) or local (no isolation of files)"),
    workers: int = typer.Option(2, min=1, help="programs judged in parallel"),
    out: Optional[Path] = typer.Option(None, help="write one verdict line per solution line, same order"),
) -> None:
    """Judge programs against problems' hidden tests in the sandbox."""
    from sandbox import SandboxConfig
    from ssd.judging import judge_file

    if backend not in ("docker", "local"):
        raise fail(f"--backend must be docker or local, not {backend!r}", EXIT_INPUT)
    with user_errors():
        _, summary = judge_file(problems, solutions, SandboxConfig(backend=backend, workers=workers), out)
    table = Table(title="ssd judge", show_header=False)
    table.add_row("passed", f"{summary.passed}/{summary.total}")
    for status, n in sorted(summary.by_status.items()):
        table.add_row(f"status {status}", str(n))
    table.add_row("solutions/s", f"{summary.per_second:.1f}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    console.print(table)
    print(f"passed {summary.passed}/{summary.total}")


# -- models --------------------------------------------------------------------------------
@models_app.command("prepare")
def models_prepare(
    name: str = typer.Argument(
        "smollm2-135m", help="smollm2-135m, a Hugging Face repo id (org/name), or a name for --from"
    ),
    from_dir: Optional[Path] = typer.Option(None, "--from", help="register this local HF model folder"),
    data_dir: Path = typer.Option(DEFAULT_DATA_DIR, help="data directory"),
    force: bool = typer.Option(False, help="convert again even if present"),
) -> None:
    """Put a base model into the store as a Hugging Face folder."""
    from ssd import model_store

    with user_errors():
        if from_dir is not None:
            info = model_store.register(data_dir, name, from_dir)
        elif name == model_store.SMOLLM2_NAME:
            info = model_store.prepare_smollm2(data_dir, force=force)
        elif "/" in name:
            info = model_store.download_hf(data_dir, name)
        else:
            raise ValueError(
                f"unknown built-in model {name!r}; give a Hugging Face repo id (org/name) "
                "or --from DIR to register a local folder"
            )
    console.print(f"[green]{info.name}[/] at {info.path} ({info.content_hash[:19]})")


@models_app.command("list")
def models_list(data_dir: Path = typer.Option(DEFAULT_DATA_DIR)) -> None:
    """List prepared models."""
    from ssd import model_store

    root = model_store.models_dir(data_dir)
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if not folder.name.startswith(".") and (folder / model_store.MANIFEST).is_file():
            info = model_store.ModelInfo.model_validate_json((folder / model_store.MANIFEST).read_text())
            print(f"{info.name}\t{info.path}\t{info.content_hash[:19]}")


# -- the method's stages ----------------------------------------------------------------------
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML/JSON config (see deploy/config/)")
SetOpt = typer.Option(None, "--set", help="override a config value: section.key=value (repeatable)")


def _config(config: Optional[Path], overrides: Optional[list[str]]):
    # One config file for every command: the daemon's schema is a superset of the method's.
    from daemon.config import load_daemon_config as load_config

    return load_config(config, overrides or [])


@app.command()
def sample(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    out: Optional[Path] = typer.Option(None, help="samples JSONL (resumed if present); default: <run>/samples.jsonl"),
    limit: Optional[int] = typer.Option(None, min=1, help="only the first N training prompts"),
) -> None:
    """SSD data generation: raw samples at T_train for the training prompts (resumable)."""
    from ssd import model_store
    from ssd.problem_sets import build_split_sets
    from ssd.round import open_vllm
    from ssd.sampling import sample as run_sample

    with user_errors():
        cfg = _config(config, set_)
        model = model_store.resolve(cfg.data_dir, cfg.model)
        train = build_split_sets(cfg).train[:limit]
        out = out or cfg.run_dir / "samples.jsonl"
        with open_vllm(cfg, model) as server:
            report = run_sample(
                server.base_url,
                server.served_model_name,
                train,
                model.path,
                cfg.sampling.params,
                out,
                concurrency=cfg.sampling.concurrency,
            )
    console.print(report.model_dump())


@app.command()
def distill(
    samples: Path = typer.Option(..., help="samples JSONL from `ssd sample` (filtered with the config's filters)"),
    out: Path = typer.Option(..., help="adapter folder to create (must not exist)"),
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    no_filter: bool = typer.Option(False, help="train on every row as is"),
) -> None:
    """LoRA SFT of the base model on samples (loss on response tokens only)."""
    from ssd import model_store
    from ssd.atomic_io import write_text_atomic
    from ssd.distill import distill as run_distill
    from ssd.filters import filter_samples
    from ssd.sampling import read_samples

    with user_errors():
        cfg = _config(config, set_)
        model = model_store.resolve(cfg.data_dir, cfg.model)
        train_path = samples
        if not no_filter:
            report = filter_samples(read_samples(samples), cfg.sampling.filters)
            console.print(f"kept {report.kept_count}/{report.total}, dropped {report.dropped}")
            train_path = out.with_name(out.name + ".train.jsonl")
            write_text_atomic(train_path, "".join(r.model_dump_json() + "\n" for r in report.kept))
        manifest = run_distill(Path(model.path), train_path, out, cfg.distill)
    console.print(
        f"[green]adapter[/] {out}: {manifest.steps} steps, final loss {manifest.final_loss}, {manifest.duration_s:.0f}s"
    )


@app.command()
def evaluate(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    adapter: Optional[Path] = typer.Option(None, help="evaluate this adapter folder instead of the base model"),
    t_eval: Optional[str] = typer.Option(None, "--t-eval", help="comma-separated temperatures, e.g. 0.6,0.8,1.0"),
    out: Optional[Path] = typer.Option(None, help="write the report JSON here"),
) -> None:
    """pass@1 / pass@k of the base model or an adapter on the held-out problems."""
    import hashlib

    from sandbox import open_sandbox
    from ssd import model_store
    from ssd.evaluate import evaluate as run_evaluate
    from ssd.evaluate import print_report, save_report
    from ssd.problem_sets import build_split_sets
    from ssd.round import open_vllm

    overrides = list(set_ or [])
    if t_eval:
        overrides.append(f"evaluation.t_eval=[{t_eval}]")
    with user_errors():
        cfg = _config(config, overrides)
        model = model_store.resolve(cfg.data_dir, cfg.model)
        heldout = build_split_sets(cfg).heldout
        with open_vllm(cfg, model) as server, open_sandbox(cfg.sandbox) as sb:
            name = server.served_model_name
            if adapter is not None:
                name = "eval-" + hashlib.sha256(str(adapter.resolve()).encode()).hexdigest()[:10]
                if name not in server.list_models():
                    server.load_adapter(name, adapter)
            report = run_evaluate(server.base_url, name, heldout, model.path, sb, cfg.evaluation)
        if out is not None:
            save_report(report, out)
    print_report(report, console)


@app.command("round")
def round_(
    config: Optional[Path] = ConfigOpt,
    set_: Optional[list[str]] = SetOpt,
    round_id: Optional[str] = typer.Option(None, help="resume or name this round (default: next r<N>)"),
) -> None:
    """One SSD round: base eval -> sample -> distill -> candidate eval -> promotion decision."""
    from ssd.round import print_round, run_round

    with user_errors():
        cfg = _config(config, set_)
        report = run_round(cfg, round_id=round_id)
    print_round(report, console)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
