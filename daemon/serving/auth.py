"""API keys (Bearer tokens) and who a request counts as for the concurrency limit."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr
from starlette.requests import Request

from daemon.serving.protocol import APIError

UNAUTHORIZED = "invalid or missing API key (Authorization: Bearer <key>)"


class ApiKeyAuth:
    """With no keys every request is let in and identified by its client address."""

    def __init__(self, keys: list[SecretStr]):
        self._keys = [k.get_secret_value().encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, request: Request) -> str:
        """Who the request is (``key:<hash>`` or ``client:<host>``); APIError(401) if not allowed."""
        if not self._keys:
            host = request.client.host if request.client else "unknown"
            return f"client:{host}"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token_b = token.strip().encode()
        matched = None
        for k in self._keys:  # no early exit: the time taken does not tell which key matched
            if hmac.compare_digest(token_b, k) and scheme.lower() == "bearer":
                matched = k
        if matched is None:
            raise APIError(401, UNAUTHORIZED, code="invalid_api_key")
        return "key:" + hashlib.sha256(matched).hexdigest()[:12]
