"""One retry policy for calls that may fail transiently (a dropped keep-alive connection, a
server that is restarting): which exceptions count, how many attempts, how long to wait.

    ADMIN_RETRY = Retry(attempts=3, on=(httpx.TransportError,), backoff_s=0.5)
    r = ADMIN_RETRY.call(client.post, "/v1/load_lora_adapter", json=payload)
    r = await Retry(attempts=2, on=(httpx.RemoteProtocolError,)).acall(client.send, req)

After the last attempt the last exception propagates unchanged, so callers keep their own
``except`` clauses (and their own error messages). Anything not in ``on`` propagates at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Retry:
    attempts: int = 3
    on: tuple[type[BaseException], ...] = (Exception,)
    backoff_s: float = 0.5  # wait backoff_s * n after the n-th failure (linear)
    max_backoff_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")

    def delay(self, failures: int) -> float:
        return min(self.backoff_s * failures, self.max_backoff_s)

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        for n in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except self.on as exc:
                if n == self.attempts:
                    raise
                log.debug("retry", fn=getattr(fn, "__name__", repr(fn)), attempt=n, error=repr(exc))
                time.sleep(self.delay(n))
        raise AssertionError("unreachable")

    async def acall(self, fn: Callable[..., Awaitable[T]], *args, **kwargs) -> T:
        for n in range(1, self.attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except self.on as exc:
                if n == self.attempts:
                    raise
                log.debug("retry", fn=getattr(fn, "__name__", repr(fn)), attempt=n, error=repr(exc))
                await asyncio.sleep(self.delay(n))
        raise AssertionError("unreachable")
