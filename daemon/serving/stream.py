"""Server-sent events from vLLM, rewritten for the client, and the response that carries them.

``SSERewriter`` is pure: it turns vLLM's SSE lines into the client's bytes, writing back the
model name the client asked for (vLLM knows the adapter's internal name), counting usage, and
removing the usage chunk the endpoint asked for on its own (for metrics) when the client did
not. ``ProxyStream`` is a StreamingResponse that runs its cleanup however the stream ends
(done, vLLM gone, client gone) and stops the stream as soon as the client disconnects, even
while no chunk is flowing (a request still queued in vLLM).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from fastapi.responses import StreamingResponse

from daemon.serving.protocol import error_body


class SSERewriter:
    def __init__(
        self, *, internal_name: str, asked: str, strip_usage: bool, on_usage: Callable[[dict], None] | None = None
    ):
        self.internal_name, self.asked, self.strip_usage = internal_name, asked, strip_usage
        self.on_usage = on_usage
        self.done = False

    def rewrite(self, line: str) -> bytes | None:
        """One upstream line -> the bytes for the client (None: drop it)."""
        if not line:
            return None
        if not line.startswith("data:"):
            return (line + "\n\n").encode()
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return b"data: [DONE]\n\n"
        try:
            obj = json.loads(data)
        except ValueError:
            return (line + "\n\n").encode()
        if isinstance(obj, dict) and not self._rewrite_chunk(obj):
            return None
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    def _rewrite_chunk(self, obj: dict[str, Any]) -> bool:
        """Edit one JSON chunk in place; False to drop it."""
        if obj.get("model") == self.internal_name:
            obj["model"] = self.asked
        usage = obj.get("usage")
        if usage and self.on_usage is not None:
            self.on_usage(usage)
        if self.strip_usage and "usage" in obj:
            if usage and not obj.get("choices"):
                return False  # the usage-only chunk the client did not ask for
            obj.pop("usage", None)
        return True


def error_event(message: str, code: str = "upstream_error") -> bytes:
    """The only way to tell a client of an error once the 200 headers are out."""
    return b"data: " + json.dumps(error_body(message, "server_error", code=code)).encode() + b"\n\n"


class ProxyStream(StreamingResponse):
    """Runs ``cleanup`` however the stream ends; a client disconnect cancels the stream."""

    def __init__(self, content: AsyncIterator[bytes], cleanup: Callable[[], Awaitable[None]], **kw: Any):
        super().__init__(content, **kw)
        self._cleanup = cleanup

    async def __call__(self, scope, receive, send) -> None:
        try:
            async with anyio.create_task_group() as tg:

                async def stream_then_stop() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client went away mid-send
                    tg.cancel_scope.cancel()

                async def stop_on_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(stream_then_stop)
                tg.start_soon(stop_on_disconnect)
        finally:
            with anyio.CancelScope(shield=True):
                await self._cleanup()
