"""What one request, and one client, may ask of the engine.

``check_caps`` refuses (400) a request whose ``n``, ``best_of``, batch of prompts or
``max_tokens`` exceed the configured caps, or whose total (prompts x sequences x max_tokens)
does: one ``"n": 10000`` request must not occupy the engine for everyone. A missing
``max_tokens`` counts as the whole context (vLLM's default is what the context leaves).

``ConcurrencyLimiter`` bounds the requests one client (its API key, or without keys its
address) has open at once; over the limit the answer is 429 with Retry-After.
"""

from __future__ import annotations

from collections import Counter

from daemon.serving.config import EndpointConfig
from daemon.serving.protocol import APIError, GenerationRequest


def _too_large(param: str, message: str) -> APIError:
    return APIError(400, message, param=param, code="invalid_value")


def check_caps(req: GenerationRequest, config: EndpointConfig, max_model_len: int | None) -> None:
    """Raise APIError(400) when ``req`` asks for more than one request may."""
    n = req.n or 1
    if n > config.max_n:
        raise _too_large(
            "n",
            f"'n' is {n}; this endpoint allows at most {config.max_n} completions per request (EndpointConfig.max_n)",
        )
    best_of = getattr(req, "best_of", None)
    if best_of is not None and best_of > config.max_best_of:
        raise _too_large(
            "best_of",
            f"'best_of' is {best_of}; this endpoint allows at most {config.max_best_of} (EndpointConfig.max_best_of)",
        )
    prompts = req.prompt_count()
    if prompts > config.max_prompts:
        raise _too_large(
            "prompt",
            f"the request holds {prompts} prompts; this endpoint allows at most "
            f"{config.max_prompts} per request (EndpointConfig.max_prompts)",
        )
    asked = req.requested_max_tokens()
    param = "max_completion_tokens" if getattr(req, "max_completion_tokens", None) else "max_tokens"
    limit = config.max_tokens if config.max_tokens is not None else max_model_len
    if asked is not None and limit is not None and asked > limit:
        why = "the model's context length" if limit == max_model_len else "EndpointConfig.max_tokens"
        raise APIError(
            400,
            f"'{param}' is {asked}, more than {why} allows ({limit} tokens)",
            param=param,
            code="context_length_exceeded" if limit == max_model_len else "invalid_value",
        )
    per_seq = asked if asked is not None else (limit or 0)
    total = prompts * req.sequences() * per_seq
    cap = (
        config.max_total_tokens
        if config.max_total_tokens is not None
        else (config.max_n * max_model_len if max_model_len else None)
    )
    if cap is not None and total > cap:
        shown = f"{per_seq}" if asked is not None else f"{per_seq} (no {param}: the context length)"
        raise _too_large(
            param,
            f"the request may generate up to {total} tokens ({prompts} prompt(s) x "
            f"{req.sequences()} sequence(s) x {param} {shown}); this endpoint allows "
            f"{cap} per request: lower n or {param}",
        )


class ConcurrencyLimiter:
    """Open requests per client; not thread-safe (used from the endpoint's event loop only)."""

    def __init__(self, per_client: int, retry_after_s: int):
        self.per_client = per_client
        self.retry_after_s = retry_after_s
        self._open: Counter[str] = Counter()

    def open(self, client: str) -> int:
        return self._open.get(client, 0)

    def acquire(self, client: str) -> Slot:
        if self._open[client] >= self.per_client:
            raise APIError(
                429,
                f"too many concurrent requests from this client (limit {self.per_client}); retry when one has finished",
                "rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self._open[client] += 1
        return Slot(self, client)

    def _release(self, client: str) -> None:
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]


class Slot:
    """One open request of one client; released exactly once."""

    def __init__(self, limiter: ConcurrencyLimiter, client: str):
        self._limiter, self._client, self._held = limiter, client, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limiter._release(self._client)
