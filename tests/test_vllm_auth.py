"""The vLLM bearer token: its file (0600, atomic, never through a symlink) and the guard
middleware vLLM runs (every route but GET /health needs the token). The real server is
tested in tests/serving/test_vllm_admin_auth.py."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import httpx
import pytest

from ssd.vllm_auth import TOKEN_ENV, RequireToken, TokenError, auth_headers, ensure_token, read_token, register_token
from ssd.vllm_server import ServerConfig, VLLMServer


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_token_file_is_created_0600_and_reused(tmp_path):
    path = tmp_path / "serve" / "vllm.token"
    old = os.umask(0)  # a permissive umask must not widen the file
    try:
        token = ensure_token(path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600 and len(token) >= 43
    assert ensure_token(path) == token == read_token(path, own=True)
    assert [p.name for p in path.parent.iterdir()] == ["vllm.token"]  # no temp file left


def test_an_unsafe_token_file_is_replaced_not_trusted(tmp_path):
    path = tmp_path / "vllm.token"
    token = ensure_token(path)
    path.chmod(0o644)  # others may have read it: it must not be used any more
    with pytest.raises(TokenError, match="lets other users read it"):
        read_token(path)
    fresh = ensure_token(path)
    assert fresh != token and _mode(path) == 0o600
    path.write_text("short\n")
    with pytest.raises(TokenError, match="not a token"):
        read_token(path)
    assert ensure_token(path) not in ("short", fresh)


def test_a_symlinked_token_file_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("x" * 43 + "\n")
    target.chmod(0o600)
    link = tmp_path / "vllm.token"
    link.symlink_to(target)
    with pytest.raises(TokenError, match="symlinks are refused"):
        read_token(link)
    token = ensure_token(link)
    assert not link.is_symlink() and _mode(link) == 0o600 and token != "x" * 43
    assert target.read_text() == "x" * 43 + "\n"  # the link's target was not written


def _guarded_app(monkeypatch, token: str):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    monkeypatch.setenv(TOKEN_ENV, token)
    return RequireToken(app)


def test_guard_refuses_every_route_but_health_without_the_token(monkeypatch):
    token = "t" * 43
    guard = _guarded_app(monkeypatch, token)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://v") as c:
            out = {}
            for method, path in [
                ("POST", "/adapters"),
                ("POST", "/v1/load_lora_adapter"),
                ("DELETE", "/adapters/x"),
                ("POST", "/invocations"),
                ("GET", "/metrics"),
                ("OPTIONS", "/v1/models"),
                ("POST", "/health"),
                ("GET", "/health/"),
                ("GET", "/healthz"),
            ]:
                out[method, path] = [
                    (await c.request(method, path, headers=h)).status_code
                    for h in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {token}"})
                ]
            out["ok"] = (await c.post("/adapters", headers={"Authorization": f"Bearer {token}"})).status_code
            out["health"] = (await c.get("/health")).status_code
            two = [("authorization", f"Bearer {token}"), ("authorization", "Bearer wrong")]
            out["two"] = (await c.send(c.build_request("GET", "/v1/models", headers=two))).status_code
            return out

    out = asyncio.run(run())
    assert out.pop("ok") == 200 and out.pop("health") == 200 and out.pop("two") == 401
    assert all(codes == [401, 401, 401] for codes in out.values()), out


def test_guard_refuses_to_start_without_a_token(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(RuntimeError, match="holds no token"):
        RequireToken(lambda *a: None)
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(RuntimeError, match="holds no token"):
        RequireToken(lambda *a: None)


def test_server_command_has_the_guard_and_no_token(tmp_path):
    cmd = VLLMServer.command(tmp_path, "m", ServerConfig())
    i = cmd.index("--middleware")
    assert cmd[i + 1] == "ssd.vllm_auth.RequireToken"
    assert "--api-key" not in cmd  # a token on the command line is visible to every user in `ps`


def test_clients_find_the_token_by_url():
    register_token("http://127.0.0.1:1/", "k" * 43)
    assert auth_headers("http://127.0.0.1:1") == {"Authorization": "Bearer " + "k" * 43}
    assert auth_headers("http://127.0.0.1:2") == {}
