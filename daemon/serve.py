"""Wiring of ``ssdd serve``: vLLM (started or attached) + adapter registry + supervisor + uvicorn.

``run_serve(config)`` blocks until SIGINT/SIGTERM. ``ServingStack`` is the same wiring with the
endpoint running in a background thread, for tests, benches and an in-process daemon.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import structlog
import uvicorn

from daemon.adapter_registry import AdapterRegistry
from daemon.endpoint import create_app
from daemon.metrics import ServeMetrics
from daemon.serve_config import EndpointConfig, ServeConfig
from daemon.supervisor import Supervisor
from ssd.vllm_server import ServerError, VLLMServer

log = structlog.get_logger(__name__).bind(stage="serve")


def open_server(config: ServeConfig) -> VLLMServer:
    """Attach to ``server.url`` when given, else start vLLM on 127.0.0.1 (never a public address:
    its admin routes must only be reachable through this process)."""
    from ssd.model_store import resolve

    if config.server.url:
        return VLLMServer.attach(config.server.url, config.served_model_name, config.server)
    if config.server.host not in ("127.0.0.1", "localhost", "::1"):
        raise ServerError(f"server.host {config.server.host!r}: vLLM must listen on loopback only; "
                          "expose the endpoint instead")
    info = resolve(Path(config.data_dir), config.model)
    return VLLMServer.start(Path(info.path), config.served_model_name or info.name, config.server,
                            config.resolved_vllm_log())


class ServingStack:
    """Registry + supervisor + endpoint over an already opened server, endpoint in a thread."""

    def __init__(self, server: VLLMServer, endpoint: EndpointConfig, state_path: Path, *,
                 champion_file: Path | None = None, own_server: bool = False):
        self.server_owned = own_server
        self.endpoint_config = endpoint
        self.metrics = ServeMetrics()
        self.registry = AdapterRegistry(server, state_path, alias=endpoint.alias,
                                        keep_previous=endpoint.keep_previous,
                                        on_swap=self.metrics.on_swap)
        self.supervisor = Supervisor(self.registry, endpoint, self.metrics, champion_file=champion_file)
        self.app = create_app(endpoint, self.registry, self.supervisor, self.metrics)
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = endpoint.port

    @property
    def url(self) -> str:
        return f"http://{self.endpoint_config.host}:{self.port}"

    def _uvicorn_config(self, sock_port: int) -> uvicorn.Config:
        return uvicorn.Config(self.app, host=self.endpoint_config.host, port=sock_port,
                              log_level="warning", access_log=False, timeout_graceful_shutdown=5,
                              limit_concurrency=self.endpoint_config.max_concurrency * 2)

    def start_supervision(self) -> None:
        self.supervisor.start()

    def start_in_thread(self, startup_timeout_s: float = 30.0) -> "ServingStack":
        self.start_supervision()
        if self.port == 0:
            with socket.socket() as s:
                s.bind((self.endpoint_config.host, 0))
                self.port = s.getsockname()[1]
        self._uvicorn = uvicorn.Server(self._uvicorn_config(self.port))
        self._thread = threading.Thread(target=self._uvicorn.run, name="ssd-serve-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"endpoint did not start on {self.url}")
            time.sleep(0.05)
        log.info("serve.endpoint_up", url=self.url, alias=self.registry.alias)
        return self

    def run_forever(self) -> None:
        """uvicorn in this (main) thread; it handles SIGINT/SIGTERM."""
        self.start_supervision()
        self._uvicorn = uvicorn.Server(self._uvicorn_config(self.port))
        log.info("serve.endpoint_up", url=self.url, alias=self.registry.alias)
        self._uvicorn.run()

    def close(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        self.supervisor.stop()
        self.registry.close()
        if self.server_owned:
            self.registry.server.stop()

    def __enter__(self) -> "ServingStack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_serve(config: ServeConfig) -> None:
    """``ssdd serve``: blocks until interrupted; stops vLLM on exit if it started it."""
    server = open_server(config)
    stack = ServingStack(server, config.endpoint, config.resolved_state_path(),
                         champion_file=config.champion_file, own_server=server.proc is not None)
    try:
        stack.run_forever()
    finally:
        stack.close()
