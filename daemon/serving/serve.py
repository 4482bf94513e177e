"""Wiring of ``ssdd serve``: vLLM (started or attached) + adapter registry + supervisor + uvicorn.

``run_serve(config)`` blocks until SIGINT or SIGTERM (both shut down gracefully: open requests
get ``timeout_graceful_shutdown``, then vLLM is stopped; the whole shutdown is bounded by
``EndpointConfig.shutdown_timeout_s``). vLLM is started bound to this process (see
``ssd.child_process``): even a SIGKILL of ``ssdd serve`` takes vLLM down, and a server left
behind anyway is recognised by its pidfile at the next start. ``ServingStack`` is the same
wiring with the endpoint running in a background thread, for tests, benches and an in-process
daemon.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
import uvicorn

from daemon.serving.adapter_registry import AdapterRegistry
from daemon.serving.capture import PromptCapture
from daemon.serving.config import EndpointConfig, ServeConfig
from daemon.serving.endpoint import create_app
from daemon.serving.metrics import ServeMetrics
from daemon.serving.supervisor import Supervisor
from ssd.vllm_open import open_vllm_server as _open_vllm_server
from ssd.vllm_server import VLLMServer

log = structlog.get_logger(__name__, stage="serve")


def open_vllm_server(config: ServeConfig) -> VLLMServer:
    """Attach to ``server.url`` when given, else start vLLM on loopback (``ssd.vllm_open``)."""
    from ssd.model_store import resolve

    return _open_vllm_server(
        config.server,
        config.served_model_name,
        lambda: resolve(Path(config.data_dir), config.model),
        config.resolved_vllm_log(),
    )


class ServingStack:
    """Registry + supervisor + endpoint over an already opened server, endpoint in a thread."""

    def __init__(
        self,
        server: VLLMServer,
        endpoint: EndpointConfig,
        state_path: Path,
        *,
        champion_file: Path | None = None,
        own_server: bool = False,
        metrics: ServeMetrics | None = None,
        capture: PromptCapture | None = None,
    ):
        self.server_owned = own_server
        self.endpoint_config = endpoint
        self.metrics = metrics or ServeMetrics()
        self._first_server = server
        self.registry = AdapterRegistry(
            server, state_path, alias=endpoint.alias, keep_previous=endpoint.keep_previous, on_swap=self.metrics.on_swap
        )
        self.supervisor = Supervisor(self.registry, endpoint, self.metrics, champion_file=champion_file)
        self.app = create_app(endpoint, self.registry, self.supervisor, self.metrics, capture=capture)
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.port = endpoint.port

    @property
    def url(self) -> str:
        return f"http://{self.endpoint_config.host}:{self.port}"

    def _uvicorn_config(self, sock_port: int) -> uvicorn.Config:
        graceful = max(1, int(self.endpoint_config.shutdown_timeout_s / 4))
        return uvicorn.Config(
            self.app,
            host=self.endpoint_config.host,
            port=sock_port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=graceful,
            limit_concurrency=self.endpoint_config.max_concurrency * 2,
        )

    def start_supervision(self) -> None:
        self.supervisor.start()

    def start_in_thread(self, startup_timeout_s: float = 30.0) -> ServingStack:
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
        """uvicorn in this (main) thread until SIGINT/SIGTERM (uvicorn drains open requests)."""
        self.start_supervision()
        self._uvicorn = uvicorn.Server(self._uvicorn_config(self.port))
        log.info("serve.endpoint_up", url=self.url, alias=self.registry.alias)
        self._uvicorn.run()

    def close(self) -> None:
        """Stop the endpoint, the supervisor and (if ours) vLLM; bounded by shutdown_timeout_s."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.endpoint_config.shutdown_timeout_s
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(max(1.0, deadline - time.monotonic() - 5))
        self.supervisor.stop(timeout_s=5)
        self.registry.close()
        server = self.registry.server
        # A server the supervisor (re)started is ours even when the first one was attached.
        if self.server_owned or (server is not self._first_server and server.proc is not None):
            server.stop(timeout_s=max(1.0, deadline - time.monotonic()))
        log.info("serve.stopped", url=self.url)

    def __enter__(self) -> ServingStack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Shutdown(BaseException):
    """SIGTERM arrived: unwind like KeyboardInterrupt does for SIGINT."""


@contextmanager
def graceful_signals(bound_s: float) -> Iterator[None]:
    """SIGTERM is handled like SIGINT: unwind through ``finally`` blocks (vLLM gets stopped).

    uvicorn handles both while it runs and re-raises the signal when it returns, so without
    this a SIGTERM would end the process (143) before the shutdown path. A watchdog bounds
    what follows the signal: after ``bound_s`` more the process exits anyway (vLLM, bound to
    it by PR_SET_PDEATHSIG, follows).
    """

    def on_signal(signum, frame) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        watchdog = threading.Timer(bound_s, _force_exit, args=(signum,))
        watchdog.daemon = True
        watchdog.start()
        log.info("serve.shutdown", signal=signal.Signals(signum).name, bound_s=bound_s)
        raise KeyboardInterrupt if signum == signal.SIGINT else Shutdown()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except (KeyboardInterrupt, Shutdown):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _force_exit(signum: int) -> None:
    log.error("serve.shutdown_overran", signal=signal.Signals(signum).name)
    os._exit(1)


def run_serve(config: ServeConfig) -> None:
    """``ssdd serve``: blocks until SIGINT/SIGTERM; stops vLLM on exit if it started it."""
    bound = config.endpoint.shutdown_timeout_s + 10
    with graceful_signals(bound):
        server = open_vllm_server(config)
        try:
            stack = ServingStack(
                server,
                config.endpoint,
                config.resolved_state_path(),
                champion_file=config.champion_file,
                own_server=server.proc is not None,
            )
        except BaseException:
            server.stop()
            raise
        try:
            stack.run_forever()
        finally:
            stack.close()
