"""The endpoint's routes: health, metrics, models, and the two generation routes.

A generation request is admitted (key, vLLM up, body, request model, caps, the client's
concurrency slot, model name resolved to the adapter's immutable vLLM name and leased), then
forwarded: whole (``forward_unary``) or as a rewritten SSE stream (``forward_stream``). The
lease (adapter in use, in-flight gauge, concurrency slot) is released exactly once, however
the request ends; a client that hangs up cancels the upstream request, which vLLM aborts.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from daemon.serving.adapter_registry import AdapterRegistry, Resolved
from daemon.serving.auth import ApiKeyAuth
from daemon.serving.capture import PromptCapture
from daemon.serving.config import EndpointConfig
from daemon.serving.limits import ConcurrencyLimiter, Slot, check_caps
from daemon.serving.metrics import ServeMetrics
from daemon.serving.protocol import (
    ROUTES,
    APIError,
    GenerationRequest,
    ModelCard,
    ModelList,
    parse_json,
    unavailable,
    validate_request,
)
from daemon.serving.proxy import ClientGone, Upstream, UpstreamDown, unless_disconnected
from daemon.serving.stream import ProxyStream, SSERewriter, error_event
from daemon.serving.supervisor import Supervisor

log = structlog.get_logger(__name__).bind(stage="serve")
router = APIRouter()
CLIENT_GONE = 499  # nginx's "client closed request": recorded in metrics, never sent


@dataclass
class EndpointContext:
    """Everything the routes share; ``app.state.ctx``."""

    config: EndpointConfig
    registry: AdapterRegistry
    supervisor: Supervisor | None
    metrics: ServeMetrics
    auth: ApiKeyAuth
    limiter: ConcurrencyLimiter
    started: int = field(default_factory=lambda: int(time.time()))
    upstream: Upstream | None = None
    capture: PromptCapture | None = None  # learning.capture (opt-in): see daemon.serving.capture
    _context_len: tuple[int, int | None] | None = None  # (id of the server handle, max_model_len)

    async def max_model_len(self) -> int | None:
        """vLLM's context length, asked once per server handle (a restart makes a new one);
        while vLLM cannot say (down, restarting), the last value it gave."""
        server, known = self.registry.server, self._context_len
        if known is not None and known[0] == id(server):
            return known[1]
        try:
            value = await asyncio.to_thread(server.max_model_len)
        except Exception as exc:
            log.warning("serve.max_model_len_unknown", error=str(exc))
            return known[1] if known is not None else None  # asked again next time
        self._context_len = (id(server), value)
        return value

    def require_up(self) -> None:
        if self.supervisor is not None and not self.supervisor.is_up:
            raise unavailable(self.supervisor.reason or self.supervisor.state, self.config.retry_after_s)

    def upstream_failed(self, exc: Exception, model: str) -> APIError:
        if self.supervisor is not None:
            self.supervisor.report_upstream_error()
        log.warning("serve.upstream_unreachable", error=str(exc), model=model)
        return unavailable(str(exc), self.config.retry_after_s)


def context(request: Request) -> EndpointContext:
    return request.app.state.ctx


class Call:
    """Metrics of one request: route, the model asked for (once known), start time."""

    def __init__(self, metrics: ServeMetrics, route: str, model: str = "unknown"):
        self.metrics, self.route, self.model = metrics, route, model
        self.t0 = time.perf_counter()

    def fail(self, err: APIError) -> Response:
        self.metrics.observe_request(self.route, self.model, err.status, self.t0, err.label)
        return err.response()

    def done(self, status: int, error: str | None = None) -> None:
        self.metrics.observe_request(self.route, self.model, status, self.t0, error)


class Lease:
    """An admitted request's hold on its adapter (retention waits for it), its place in the
    in-flight gauge and its client's concurrency slot; released exactly once."""

    def __init__(self, ctx: EndpointContext, resolved: Resolved, slot: Slot):
        self._ctx, self.resolved, self._slot = ctx, resolved, slot
        self._held = True
        ctx.metrics.inflight.inc()

    def release(self) -> bool:
        """True for the call that actually released (its caller does the once-only work)."""
        if not self._held:
            return False
        self._held = False
        self._ctx.registry.release(self.resolved)
        self._ctx.metrics.inflight.dec()
        self._slot.release()
        return True


# -- plain routes ----------------------------------------------------------------------------
@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Open to liveness probes (no key needed) but, when ``api_keys`` are set, only the status
    without a valid key: the champion's name and a failure's reason (paths, vLLM's errors)
    are for clients with a key."""
    ctx = context(request)
    sup, reg = ctx.supervisor, ctx.registry
    state = sup.state if sup else "up"
    body: dict[str, Any] = {"status": "ok" if state == "up" else state}
    try:
        ctx.auth.identify(request)
        body.update(alias=reg.alias, champion=reg.champion, base_model=reg.base_model)
        if state != "up":
            body["reason"] = sup.reason if sup else ""
    except APIError:
        pass  # a probe without a key: the status is all it gets
    if state != "up":
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(ctx.config.retry_after_s)})
    return JSONResponse(body)


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    """Needs a key when ``api_keys`` are set: the metrics name every model version asked for,
    the champion and the traffic per model."""
    ctx = context(request)
    try:
        ctx.auth.identify(request)
    except APIError as err:
        return err.response()
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)


@router.get("/v1/models")
async def models(request: Request) -> Response:
    ctx = context(request)
    call = Call(ctx.metrics, "models", "-")
    try:
        ctx.auth.identify(request)
    except APIError as err:
        return call.fail(err)
    context_len = await ctx.max_model_len()
    cards = [
        ModelCard(id=name, created=ctx.started, root=ctx.registry.base_model, max_model_len=context_len)
        for name in ctx.registry.public_models()
    ]
    call.done(200)
    return JSONResponse(ModelList(data=cards).model_dump())


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await generate(request, "/v1/chat/completions")


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await generate(request, "/v1/completions")


# -- generation ------------------------------------------------------------------------------
async def read_body(request: Request, max_bytes: int) -> bytes:
    too_large = APIError(413, f"request body exceeds {max_bytes} bytes", code="request_too_large")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > max_bytes:
            raise too_large
    return bytes(buf)


async def admit(ctx: EndpointContext, request: Request, call: Call) -> tuple[GenerationRequest, Lease]:
    """Every check before anything reaches vLLM; raises APIError."""
    client = ctx.auth.identify(request)
    ctx.require_up()
    payload = parse_json(await read_body(request, ctx.config.max_body_bytes))
    req = validate_request(call.route, payload)
    check_caps(req, ctx.config, await ctx.max_model_len())
    slot = ctx.limiter.acquire(client)
    resolved = ctx.registry.resolve(req.model, acquire=True)
    if resolved is None:
        slot.release()
        raise APIError(
            404,
            f"the model '{req.model}' does not exist; available: {', '.join(ctx.registry.public_models())}",
            param="model",
            code="model_not_found",
        )
    call.model = req.model
    return req, Lease(ctx, resolved, slot)


async def generate(request: Request, path: str) -> Response:
    ctx = context(request)
    call = Call(ctx.metrics, ROUTES[path])
    try:
        req, lease = await admit(ctx, request, call)
    except APIError as err:
        return call.fail(err)
    try:
        payload = req.forward_body(lease.resolved.vllm_name)  # the allowlisted fields only
        if ctx.capture is not None:  # opt-in prompt capture: a non-blocking queue put, never fails the request
            ctx.capture.offer(call.route, payload, request.headers.get("authorization", ""))
        strip_usage = False
        if req.stream:
            so = payload["stream_options"] = payload.get("stream_options") or {}
            if "include_usage" not in so:
                so["include_usage"] = True  # so streamed tokens are counted; stripped again below
                strip_usage = True
        body = json.dumps(payload).encode()
        if req.stream:
            return await forward_stream(ctx, request, call, lease, path, body, strip_usage)
        return await forward_unary(ctx, request, call, lease, path, body)
    except BaseException:
        lease.release()
        raise


async def forward_unary(
    ctx: EndpointContext, request: Request, call: Call, lease: Lease, path: str, body: bytes
) -> Response:
    assert ctx.upstream is not None
    try:
        status, data = await unless_disconnected(request, ctx.upstream.fetch(path, body))
    except ClientGone:
        call.done(CLIENT_GONE, "client_gone")
        log.info("serve.client_gone", route=call.route, model=call.model, upstream="aborted")
        return Response(status_code=CLIENT_GONE)
    except UpstreamDown as exc:
        return call.fail(ctx.upstream_failed(exc, call.model))
    except APIError as err:
        return call.fail(err)
    finally:
        lease.release()
    return upstream_answer(ctx, call, lease.resolved, status, data)


def upstream_answer(ctx: EndpointContext, call: Call, resolved: Resolved, status: int, data: bytes) -> Response:
    """vLLM's whole answer with the internal model name replaced by the one asked for."""
    if status != 200:
        text = data.decode(errors="replace").replace(resolved.vllm_name, call.model)
        try:
            err = json.loads(text)
        except ValueError:
            err = None
        if not (isinstance(err, dict) and isinstance(err.get("error"), dict)):
            err = APIError(status, text[:2000], "server_error" if status >= 500 else "invalid_request_error").body()
        call.done(status, str(err["error"].get("type")))
        return JSONResponse(err, status_code=status)
    try:
        obj: Any = json.loads(data)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        if "model" in obj:
            obj["model"] = call.model
        ctx.metrics.count_usage(call.model, obj.get("usage"))
    call.done(200)
    return JSONResponse(obj)


async def forward_stream(
    ctx: EndpointContext, request: Request, call: Call, lease: Lease, path: str, body: bytes, strip_usage: bool
) -> Response:
    assert ctx.upstream is not None
    try:
        resp = await unless_disconnected(request, ctx.upstream.open(path, body))
    except ClientGone:
        lease.release()
        call.done(CLIENT_GONE, "client_gone")
        return Response(status_code=CLIENT_GONE)
    except UpstreamDown as exc:
        lease.release()
        return call.fail(ctx.upstream_failed(exc, call.model))
    if resp.status_code != 200 or not resp.headers.get("content-type", "").startswith("text/event-stream"):
        try:
            data = await resp.aread()
        except (httpx.HTTPError, OSError) as exc:
            return call.fail(ctx.upstream_failed(exc, call.model))
        finally:
            await resp.aclose()
            lease.release()
        return upstream_answer(ctx, call, lease.resolved, resp.status_code, data)
    return sse_response(ctx, call, lease, resp, strip_usage)


def sse_response(ctx: EndpointContext, call: Call, lease: Lease, resp: httpx.Response, strip_usage: bool) -> Response:
    rewriter = SSERewriter(
        internal_name=lease.resolved.vllm_name,
        asked=call.model,
        strip_usage=strip_usage,
        on_usage=lambda usage: ctx.metrics.count_usage(call.model, usage),
    )
    outcome: dict[str, Any] = {"status": CLIENT_GONE, "error": "client_gone"}  # until the stream ends

    def finish() -> None:
        if lease.release():
            call.done(outcome["status"], outcome["error"])

    async def events():
        first = True
        try:
            async for line in resp.aiter_lines():
                if first:
                    ctx.metrics.ttfb.labels(route=call.route).observe(time.perf_counter() - call.t0)
                    first = False
                out = rewriter.rewrite(line)
                if rewriter.done:
                    # vLLM is done with the adapter: let go of it (and count the request) before
                    # the client sees the end, so retention may unload it and metrics agree.
                    outcome.update(status=200, error=None)
                    finish()
                if out is not None:
                    yield out
            outcome.update(status=200, error=None)
        except (httpx.HTTPError, OSError) as exc:
            outcome.update(status=502, error="upstream_error")
            if ctx.supervisor is not None:
                ctx.supervisor.report_upstream_error()
            log.warning("serve.stream_broken", error=repr(exc), model=call.model)
            yield error_event(f"the model server dropped the stream: {exc!r}")

    async def cleanup() -> None:
        await resp.aclose()  # an unfinished stream: closing it makes vLLM abort the request
        finish()

    return ProxyStream(
        events(),
        cleanup,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
