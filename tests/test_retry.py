"""The one retry policy (`ssd.retry.Retry`): back-off shapes and the retry hook."""

from __future__ import annotations

import asyncio

import pytest

from ssd.retry import Retry


def test_linear_and_exponential_backoff_are_capped():
    assert [Retry(backoff_s=0.5, max_backoff_s=1.2).delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.2]
    exp = Retry(backoff_s=0.5, max_backoff_s=30.0, exponential=True)
    assert [exp.delay(n) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]


def test_jitter_stays_within_half_to_one_and_a_half():
    r = Retry(backoff_s=1.0, max_backoff_s=10.0, exponential=True, jitter=True)
    waits = [r.delay(2) for _ in range(200)]
    assert all(2.0 <= w < 6.0 for w in waits) and len(set(waits)) > 1


def test_on_retry_sees_every_failure_but_the_last():
    seen: list[tuple[int, str]] = []

    async def always_fails():
        raise ConnectionError("down")

    r = Retry(attempts=3, on=(ConnectionError,), backoff_s=0, on_retry=lambda n, exc: seen.append((n, str(exc))))
    with pytest.raises(ConnectionError, match="down"):
        asyncio.run(r.acall(always_fails))
    assert seen == [(1, "down"), (2, "down")]
