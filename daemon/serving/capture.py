"""Opt-in capture of the endpoint's prompts (``learning.capture: true``; off by default).

The router hands each admitted generation request to ``PromptCapture.offer``, which only puts
a reference on a bounded queue (``put_nowait``) and returns: capture never waits, never
raises into a request, and a full queue drops the capture (``ssd_capture_dropped_total``).
One writer thread takes items off the queue, extracts the prompt and passes it to the sink
(``daemon.learning.ingest``: redaction, curation, the database).

What is taken from a request: for chat, the messages up to the last user turn (roles and
text only); for completions, the prompt string(s). Never the response. The caller's API key
is reduced to its id (``key:`` + the first 12 hex digits of its sha256, the id the endpoint's
auth uses) in ``offer``, before anything is queued: the raw header never sits on the queue nor
in a frame of the writer thread. A failing sink (a full disk, a locked database) is logged by
its error type, a message only for errors that describe the system (OS, SQLite), and the
frames of its traceback: never the captured text nor the key.
"""

from __future__ import annotations

import hashlib
import queue
import sqlite3
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from daemon.state import StateError, utcnow

log = structlog.get_logger(__name__, stage="capture")

ALLOWED_ROLES = ("system", "developer", "user", "assistant")
MAX_BATCH_PROMPTS = 16  # a completions batch beyond this is not captured past its first prompts


class Unsupported(ValueError):
    """The request's prompt is not plain text this project can train on."""


@dataclass(frozen=True)
class CapturedRequest:
    route: str  # "chat" | "completions"
    kind: str  # "chat" (messages) | "text" (a completions prompt) | "unsupported" (nothing kept)
    key_id: str
    at: str  # request time, ISO UTC
    messages: list[dict[str, str]] | None = None
    text: str | None = None
    detail: str = ""  # why a request is unsupported


def key_id_of(authorization: str) -> str:
    """``key:<sha256(token)[:12]>`` (the id ``daemon.serving.auth`` gives a configured key), or
    ``anonymous`` without a bearer token. The token itself goes no further."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "anonymous"
    return "key:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: text only
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise Unsupported("a message part that is not text")
            parts.append(part["text"])
        return "\n".join(parts)
    raise Unsupported("a message without text content")


def prompt_messages(messages: Any) -> list[dict[str, str]]:
    """The conversation up to and including its last user turn, as plain role/content pairs."""
    if not isinstance(messages, list):
        raise Unsupported("messages is not a list")
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=-1)
    if last_user < 0:
        raise Unsupported("no user turn")
    out = []
    for m in messages[: last_user + 1]:
        if not isinstance(m, dict) or m.get("role") not in ALLOWED_ROLES or m.get("tool_calls"):
            raise Unsupported("a tool or function turn")
        out.append({"role": str(m["role"]), "content": _content_text(m.get("content"))})
    return out


def extract(route: str, messages: Any, prompt: Any, key: str, at: str) -> list[CapturedRequest]:
    """The prompts of one request (a completions batch gives several); one ``unsupported``
    item, holding no text, for a request whose prompt cannot be trained on. ``key``: the
    caller's key id (``key_id_of``), never the header."""
    try:
        if route == "chat":
            return [CapturedRequest(route, "chat", key, at, messages=prompt_messages(messages))]
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise Unsupported("a prompt of token ids")
        return [CapturedRequest(route, "text", key, at, text=p) for p in prompts[:MAX_BATCH_PROMPTS]]
    except Unsupported as exc:
        return [CapturedRequest(route, "unsupported", key, at, detail=str(exc))]


class CaptureMetrics:
    def __init__(self, registry: CollectorRegistry | None):
        r = registry or CollectorRegistry()
        self.offered = Counter("ssd_capture_offered_total", "Requests offered to prompt capture", registry=r)
        self.dropped = Counter(
            "ssd_capture_dropped_total",
            "Captures lost before storage: queue_full (the writer fell behind), error",
            ["reason"],
            registry=r,
        )
        self.stored = Counter(
            "ssd_capture_stored_total",
            "Captured prompts stored, by curation status (dropped rows hold no text)",
            ["status"],
            registry=r,
        )
        self.queue_depth = Gauge("ssd_capture_queue_depth", "Captures waiting for the writer", registry=r)


_STOP = object()


def safe_error(exc: BaseException) -> str:
    """What a log line may say about a sink's failure: the type, and the message only for
    errors that describe the system. Any other message may quote the prompt (a ``KeyError``
    of a message's text, a validation error echoing its input)."""
    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: [Errno {exc.errno}] {exc.strerror}"  # not the filename, not the args
    if isinstance(exc, (sqlite3.Error, StateError)):
        # SQLite's own text ("database or disk is full"; no bound values), or the store's
        # message built from it (path, free bytes)
        return f"{name}: {exc}"
    return name


class PromptCapture:
    """The bounded queue between the endpoint and the prompt sink, with its writer thread.

    ``sink(request) -> status`` runs on the writer thread only; what it returns ("kept",
    "dropped") is counted. ``on_start`` runs first on that thread (to warm the sink up
    without holding up the daemon's start)."""

    def __init__(
        self,
        sink: Callable[[CapturedRequest], str],
        registry: CollectorRegistry | None = None,
        maxsize: int = 256,
        on_start: Callable[[], None] | None = None,
    ):
        self.sink, self.on_start = sink, on_start
        self.metrics = CaptureMetrics(registry)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name="ssd-capture", daemon=True)
        self._pending = 0  # offered and not yet stored or dropped
        self._cond = threading.Condition()

    def start(self) -> PromptCapture:
        self._thread.start()
        return self

    def offer(self, route: str, payload: dict[str, Any], authorization: str) -> None:
        """Queue one request's prompt; never blocks, never raises."""
        try:
            self.metrics.offered.inc()
            messages = payload.get("messages")
            item = (route, list(messages) if isinstance(messages, list) else messages, payload.get("prompt"))
            with self._cond:
                self._queue.put_nowait((*item, key_id_of(authorization), utcnow()))
                self._pending += 1
            self.metrics.queue_depth.set(self._queue.qsize())
        except queue.Full:
            self.metrics.dropped.labels(reason="queue_full").inc()
        except Exception as exc:  # capture must never fail a request
            self.metrics.dropped.labels(reason="error").inc()
            log.warning("capture.offer_failed", error=safe_error(exc))

    def _run(self) -> None:
        if self.on_start is not None:
            try:
                self.on_start()
            except Exception:
                log.exception("capture.warmup_failed")
        while True:
            item = self._queue.get()
            self.metrics.queue_depth.set(self._queue.qsize())
            if item is _STOP:
                return
            try:
                route, messages, prompt, key, at = item
                for req in extract(route, messages, prompt, key, at):
                    self.metrics.stored.labels(status=self.sink(req)).inc()
            except Exception as exc:
                self.metrics.dropped.labels(reason="error").inc()
                # Not log.exception: its last line is the message, which may quote the prompt.
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error("capture.store_failed", error=safe_error(exc), traceback=frames)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """True once everything offered so far is stored or dropped (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Store what is queued (up to ``timeout_s``), then stop the writer."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)
