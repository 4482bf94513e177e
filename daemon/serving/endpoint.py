"""The endpoint's app: an OpenAI-compatible front of vLLM that always serves the champion.

Built like vLLM's own OpenAI entrypoint, in parts that are small and tested alone:

- ``router``: the five routes (``GET /health``, ``GET /metrics``, ``GET /v1/models``,
  ``POST /v1/chat/completions``, ``POST /v1/completions``);
- ``protocol``: request/response models and OpenAI-style errors;
- ``auth`` and ``limits``: API keys, request caps, per-client concurrency;
- ``proxy``: forwarding to vLLM, and aborting upstream work when the client is gone;
- ``stream``: the SSE rewriter and the streaming response.

vLLM's admin routes (adapter load/unload, tokenize, ...) are never reachable: anything else
answers an OpenAI-style 404. The client's ``model`` is resolved once at request start (alias ->
champion's immutable vLLM name), so a swap in the middle of a stream does not move that request
to another adapter; the name is written back to what the client asked for in every response
and SSE chunk.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon.serving.adapter_registry import AdapterRegistry
from daemon.serving.auth import ApiKeyAuth
from daemon.serving.capture import PromptCapture
from daemon.serving.config import EndpointConfig
from daemon.serving.limits import ConcurrencyLimiter
from daemon.serving.metrics import ServeMetrics
from daemon.serving.protocol import APIError, openai_error
from daemon.serving.proxy import Upstream
from daemon.serving.router import EndpointContext, router
from daemon.serving.supervisor import Supervisor

__all__ = ["EndpointConfig", "create_app", "openai_error"]

log = structlog.get_logger(__name__, stage="serve")


def create_app(
    config: EndpointConfig,
    registry: AdapterRegistry,
    supervisor: Supervisor | None = None,
    metrics: ServeMetrics | None = None,
    *,
    capture: PromptCapture | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The FastAPI app over ``registry``'s server. ``capture``: the opt-in prompt capture queue
    (``learning.capture``), given before the app serves; ``upstream_transport``: tests only."""
    ctx = EndpointContext(
        config=config,
        registry=registry,
        supervisor=supervisor,
        metrics=metrics or ServeMetrics(),
        auth=ApiKeyAuth(config.api_keys),
        limiter=ConcurrencyLimiter(config.max_concurrent_per_client, config.limit_retry_after_s),
        capture=capture,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ctx.upstream = Upstream(
            registry.server.base_url,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.request_timeout_s,
            max_connections=config.max_concurrency,
            transport=upstream_transport,
        )
        try:
            yield
        finally:
            await ctx.upstream.aclose()

    app = FastAPI(title="ssd-daemon endpoint", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.state.metrics = ctx.metrics
    app.state.registry = registry
    app.include_router(router)
    _install_error_handlers(app, ctx.metrics)
    return app


def _install_error_handlers(app: FastAPI, metrics: ServeMetrics) -> None:
    """Errors are always OpenAI-shaped, and vLLM's admin surface is never reachable."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        metrics.errors.labels(route="other", type=exc.label).inc()
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        metrics.errors.labels(route="other", type=str(exc.status_code)).inc()
        if exc.status_code == 404:
            return openai_error(404, f"unknown route {request.method} {request.url.path}", code="not_found")
        if exc.status_code == 405:
            return openai_error(
                405, f"method {request.method} not allowed on {request.url.path}", code="method_not_allowed"
            )
        return openai_error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return openai_error(400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("serve.internal_error", path=request.url.path)
        metrics.errors.labels(route="other", type="internal").inc()
        return openai_error(500, "internal error in the endpoint", "server_error", code="internal_error")
