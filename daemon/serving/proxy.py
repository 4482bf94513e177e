"""Forwarding to vLLM (httpx), and giving up on requests whose client is gone.

vLLM aborts a generation when its HTTP connection closes (streaming or not), so abandoning
upstream work is a matter of closing the upstream response: ``Upstream.fetch`` does so when it
is cancelled, and ``unless_disconnected`` cancels it as soon as the client hangs up (or the
client's own timeout closes its connection). A non-streaming request therefore stops using
the engine within moments of its client leaving, instead of running to ``max_tokens``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import httpx
from starlette.requests import Request

from daemon.serving.protocol import APIError
from ssd.retry import Retry
from ssd.vllm_auth import auth_headers

T = TypeVar("T")

# vLLM is not there (refused, reset, dropped): 503 + Retry-After, and the supervisor looks now.
UPSTREAM_DOWN_ERRORS = (
    httpx.ConnectError,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.PoolTimeout,
    httpx.ConnectTimeout,
)
# One immediate retry covers a pooled keep-alive connection that a restarted server dropped;
# a second failure means vLLM is really not there.
SEND_RETRY = Retry(attempts=2, on=(httpx.RemoteProtocolError,), backoff_s=0.0)


class UpstreamDown(Exception):
    """vLLM could not be reached or dropped the connection (maps to 503)."""


class ClientGone(Exception):
    """The client disconnected while we waited for vLLM; the upstream request was cancelled."""


def upstream_timeout(exc: Exception) -> APIError:
    return APIError(504, f"vLLM did not answer in time: {exc!r}", "server_error", code="timeout")


class Upstream:
    """The endpoint's connection pool to vLLM."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=auth_headers(base_url),  # vLLM's bearer token (ssd.vllm_auth); never the client's
            transport=transport,
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=read_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(64, max_connections)),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def open(self, path: str, body: bytes) -> httpx.Response:
        """POST and return once the headers are in (the body is left to the caller to read
        or stream, and to close). Raises UpstreamDown or APIError(504)."""

        def build() -> httpx.Request:
            return self.client.build_request("POST", path, content=body, headers={"content-type": "application/json"})

        try:
            return await SEND_RETRY.acall(lambda: self.client.send(build(), stream=True))
        except UPSTREAM_DOWN_ERRORS as exc:
            raise UpstreamDown(f"connection to vLLM failed: {exc!r}") from exc
        except httpx.TimeoutException as exc:
            raise upstream_timeout(exc) from exc

    async def fetch(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST and read the whole answer. Cancelling this closes the upstream connection,
        which makes vLLM abort the request."""
        resp = await self.open(path, body)
        try:
            return resp.status_code, await resp.aread()
        except httpx.TimeoutException as exc:
            raise upstream_timeout(exc) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise UpstreamDown(f"vLLM dropped the response: {exc!r}") from exc
        finally:
            await resp.aclose()


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client has gone. Call only once the request body has been read."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ClientGone."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task  # let its cleanup (closing the upstream response) run
    except BaseException:
        pass
    raise ClientGone()
