"""Open the configured vLLM server: attached by URL, or started here on loopback.

One function for ``ssd round`` / ``ssd sample`` / ``ssd eval`` and the daemon's endpoint
(``daemon.serving.serve``), so both refuse the same unsafe address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ssd.model_store import ModelInfo
from ssd.vllm_server import ServerConfig, ServerError, VLLMServer

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def open_vllm_server(
    server: ServerConfig, served_name: str | None, model: Callable[[], ModelInfo], log_path: Path
) -> VLLMServer:
    """Attach to ``server.url`` when given (``model`` is not resolved then), else start vLLM on
    127.0.0.1 (never a public address: its admin routes must only be reachable through this
    process); ``served_name`` defaults to the model's store name."""
    if server.url:
        return VLLMServer.attach(server.url, served_name, server)
    if server.host not in LOOPBACK:
        raise ServerError(
            f"server.host {server.host!r}: vLLM must listen on loopback only; expose the endpoint instead"
        )
    info = model()
    return VLLMServer.start(Path(info.path), served_name or info.name, server, log_path)


@contextmanager
def open_vllm(server: ServerConfig, served_name: str | None, model: ModelInfo, log_path: Path) -> Iterator[VLLMServer]:
    """``open_vllm_server`` as a context: a started server is stopped after, an attached one left running."""
    opened = open_vllm_server(server, served_name or model.name, lambda: model, log_path)
    if server.url:
        yield opened
        return
    with opened:
        yield opened
