"""One retry policy for calls that may fail transiently (a dropped keep-alive connection, a
server that is restarting): which exceptions count, how many attempts, how long to wait.

    ADMIN_RETRY = Retry(attempts=3, on=(httpx.TransportError,), backoff_s=0.5)
    r = ADMIN_RETRY.call(client.post, "/v1/load_lora_adapter", json=payload)
    r = await Retry(attempts=2, on=(httpx.RemoteProtocolError,)).acall(client.send, req)

After the last attempt the last exception propagates unchanged, so callers keep their own
``except`` clauses (and their own error messages). Anything not in ``on`` propagates at once.
A status code worth retrying is turned into an exception by the caller's function, so that it
goes through the same policy.
"""

from __future__ import annotations

import asyncio
import random
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
    # Wait backoff_s * n after the n-th failure (linear), or backoff_s * 2**n (exponential),
    # at most max_backoff_s; jitter scales each wait by a random factor in [0.5, 1.5) so that
    # many clients do not hammer a restarting server together.
    backoff_s: float = 0.5
    max_backoff_s: float = 5.0
    exponential: bool = False
    jitter: bool = False
    # Called with (failures so far, exception) before each wait; default: a debug log line.
    on_retry: Callable[[int, BaseException], None] | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")

    def delay(self, failures: int) -> float:
        wait = min(self.backoff_s * (2**failures if self.exponential else failures), self.max_backoff_s)
        return wait * (0.5 + random.random()) if self.jitter else wait

    def _failed(self, fn: Callable, n: int, exc: BaseException) -> None:
        if self.on_retry is not None:
            self.on_retry(n, exc)
        else:
            log.debug("retry", fn=getattr(fn, "__name__", repr(fn)), attempt=n, error=repr(exc))

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        for n in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except self.on as exc:
                if n == self.attempts:
                    raise
                self._failed(fn, n, exc)
                time.sleep(self.delay(n))
        raise AssertionError("unreachable")

    async def acall(self, fn: Callable[..., Awaitable[T]], *args, **kwargs) -> T:
        for n in range(1, self.attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except self.on as exc:
                if n == self.attempts:
                    raise
                self._failed(fn, n, exc)
                await asyncio.sleep(self.delay(n))
        raise AssertionError("unreachable")
