"""Properties of the request allowlist over generated bodies: whatever a client sends, the
endpoint answers a 4xx APIError or forwards a body made only of declared fields with checked
values, and never one that asks vLLM for prompt logprobs."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.serving.config import EndpointConfig
from daemon.serving.limits import check_caps
from daemon.serving.protocol import IGNORED_FIELDS, REQUEST_MODELS, APIError, parse_json, validate_request

ROUTES = sorted(REQUEST_MODELS)
_json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
# Values likelier than random JSON to be accepted, so the forwarding side is exercised too.
_plausible = {
    "model": st.sampled_from(["ssd", "ssd@r1", ""]),
    "prompt": st.sampled_from(["x", ["a", "b"], [1, 2], [[1], [2]]]),
    "messages": st.sampled_from(
        [
            [{"role": "user", "content": "x"}],
            [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
            [{"role": "assistant", "content": None, "tool_calls": []}],
        ]
    ),
    "stream": st.booleans(),
    "echo": st.booleans(),
    "logprobs": st.sampled_from([None, True, False, 0, 1, 5]),
    "top_logprobs": st.integers(0, 3),
    "temperature": st.floats(-1, 3),
    "n": st.integers(0, 3),
    "max_tokens": st.integers(0, 64),
}
_field_names = st.sampled_from(
    sorted(set().union(*(m.model_fields for m in REQUEST_MODELS.values()))) + ["priority", "prompt_logprobs", "x"]
)


@st.composite
def bodies(draw) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(draw(st.integers(0, 8))):
        name = draw(_field_names)
        strategy = _plausible.get(name)
        body[name] = draw(strategy | _json) if strategy is not None else draw(_json)
    if draw(st.booleans()):
        body.setdefault("model", "ssd")
        body.setdefault("prompt", "x")
        body.setdefault("messages", [{"role": "user", "content": "x"}])
    return body


def _finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


@settings(max_examples=600, deadline=None)
@given(route=st.sampled_from(ROUTES), body=bodies())
def test_any_body_is_refused_with_a_4xx_or_forwarded_as_allowlisted_fields(route, body):
    raw = json.dumps(body).encode()  # may hold NaN / Infinity literals: they must be refused
    try:
        req = validate_request(route, parse_json(raw))
        check_caps(req, EndpointConfig(), 2048)
    except APIError as err:
        assert 400 <= err.status < 500 and err.message
        return
    sent = req.forward_body("ssd-internal")
    allowed = set(REQUEST_MODELS[route].model_fields) - IGNORED_FIELDS
    assert set(sent) <= allowed, set(sent) - allowed
    assert sent["model"] == "ssd-internal"
    assert "priority" not in sent and "prompt_logprobs" not in sent
    assert not (sent.get("echo") and sent.get("logprobs") not in (None, False)), sent
    assert _finite_everywhere(sent)
    json.dumps(sent, allow_nan=False)  # what vLLM receives is strict JSON


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_bytes_are_parsed_or_refused_with_400(raw):
    try:
        parse_json(raw)
    except APIError as err:
        assert err.status == 400 and err.code == "invalid_json"
