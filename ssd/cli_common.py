"""Pieces every CLI command shares: console, logging set-up, error exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import typer
from rich.console import Console

console = Console(stderr=True)
EXIT_INPUT = 2  # bad input from the user: file, row, config value
EXIT_RUNTIME = 1  # a real part failed: server, sandbox, training


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def log_renderers(json_logs: bool, colors: bool = False) -> list[Any]:
    """The last processors of every log line. Tracebacks never show local variables: on an
    error in the endpoint those hold the request (its ``Authorization`` header, the raw prompt)
    and structlog's default rich traceback prints them. In JSON mode the traceback is rendered
    to text under ``exception`` (JSONRenderer alone would write ``"exc_info": true`` and drop it)."""
    if json_logs:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    tracebacks = structlog.dev.RichTracebackFormatter(show_locals=False, color_system="truecolor" if colors else None)
    return [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=tracebacks)]


def configure_logging(verbose: bool = False, json_logs: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    structlog.configure(
        processors=processors + log_renderers(json_logs, colors=sys.stderr.isatty()),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # sys.stderr looked up per logger, not bound now: a stream swapped in by a test runner
        # or a redirect is closed later, and a logger still holding it would fail every line.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def fail(message: str, code: int) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Map known error types to clean messages and exit codes instead of tracebacks."""
    from ssd.problems import InputError

    try:
        yield
    except InputError as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    except (ValueError, FileNotFoundError) as exc:
        raise fail(str(exc), EXIT_INPUT) from None
    except RuntimeError as exc:
        # ServerError, SandboxUnavailable, DistillError, ModelError all derive from RuntimeError.
        raise fail(f"{type(exc).__name__}: {exc}", EXIT_RUNTIME) from None
