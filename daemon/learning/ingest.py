"""From a captured or imported prompt to a row in the state DB: redact, curate, decontaminate.

One pipeline for both ways in (the endpoint's capture writer thread, ``ssdd add-prompts``):

1. **redact** every message (``ssd.traffic.redact``) before anything else sees the text;
2. **curate** (``ssd.traffic.curate``): length against the model's context, language,
   the coding rule, exact and near duplicates, and **decontamination** against the held-out
   problems (``ssd.traffic.decontaminate``);
3. **store**: a kept prompt with its redacted messages, its MinHash signature and its split
   (``check``: the traffic check's held-out slice, by a salted hash; else ``train``); a
   dropped one as a row with its reason and no text.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry

from daemon.config import DaemonConfig
from daemon.learning.store import PURGE_GENERATION, CapturedPromptRow, PromptStore, new_prompt_id
from daemon.serving.capture import CapturedRequest, PromptCapture
from daemon.state import Store, utcnow
from ssd.problem_sets import ProblemSets
from ssd.problems import Problem
from ssd.split import SplitConfig, score
from ssd.traffic.curate import Curator, PromptText
from ssd.traffic.decontaminate import Decontaminator
from ssd.traffic.mix import captured_problem
from ssd.traffic.redact import redact, redact_messages

if TYPE_CHECKING:
    from daemon.serving.serve import ServingStack

log = structlog.get_logger(__name__, stage="capture")

RETENTION_EVERY = 200  # ingests between retention sweeps on the writer thread
SYSTEM_ROLES = ("system", "developer")


def dedup_text(kind: str, messages: list[dict[str, str]] | None, text: str | None) -> str:
    """What a person reads and curation compares: the conversation without system turns."""
    if kind == "chat":
        return "\n\n".join(m["content"] for m in messages or [] if m["role"] not in SYSTEM_ROLES)
    return text or ""


def max_prompt_tokens(cfg: DaemonConfig) -> int:
    """The token budget a prompt may use: the context minus room for the sampled answer."""
    explicit = cfg.learning.curation.max_prompt_tokens
    return explicit if explicit is not None else max(1, cfg.server.max_model_len - cfg.sampling.params.max_tokens)


def heldout_problems(sets: ProblemSets) -> list[Problem]:
    """Every held-out problem a prompt must not overlap: gate, sealed audit, calibration."""
    return [*sets.gate, *sets.audit, *sets.calibration]


def _redacted(
    kind: str, messages: list[dict[str, str]] | None, text: str | None
) -> tuple[list[dict[str, str]] | None, str | None, dict[str, int]]:
    """(messages, text, redactions by kind) after redaction: chat prompts as messages, text as text."""
    if kind == "chat":
        red_messages, kinds = redact_messages(messages or [])
        return red_messages, None, dict(kinds)
    red = redact(text or "")
    return None, red.text, dict(red.kinds)


class PromptIngestor:
    """The pipeline; ``ingest`` is called from one thread at a time (the capture writer, or
    the CLI). Loads its tokenizer and indexes on first use (``warm``)."""

    def __init__(self, cfg: DaemonConfig, pstore: PromptStore, heldout: Sequence[Problem], model_dir: str | Path):
        self.cfg, self.pstore, self.heldout, self.model_dir = cfg, pstore, list(heldout), str(model_dir)
        self._lock = threading.Lock()
        self._curator: Curator | None = None
        self._generation: Any = None
        self._since_retention = 0
        self.tokenizer: Any = None

    # -- set-up ---------------------------------------------------------------------------------
    def warm(self) -> None:
        with self._lock:
            self._ready()

    def _ready(self) -> Curator:
        from ssd.prompts import load_tokenizer

        if self.tokenizer is None:
            self.tokenizer = load_tokenizer(self.model_dir)
        return self._reload_if_purged()

    def _reload_if_purged(self) -> Curator:
        gen = self.pstore.store.get_kv(PURGE_GENERATION, 0)
        if self._curator is None or gen != self._generation:
            lc = self.cfg.learning
            decon = Decontaminator(self.heldout, lc.decontamination, lc.curation)
            curator = Curator(lc.curation, max_prompt_tokens(self.cfg), decon.check)
            curator.load(self.pstore.kept_index())
            self._curator, self._generation = curator, gen
        return self._curator

    # -- the pipeline ---------------------------------------------------------------------------
    def count_tokens(self, problem: Problem) -> int:
        from ssd.prompts import render

        text = render(problem, self.tokenizer).text
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def ingest_request(self, req: CapturedRequest) -> str:
        """The capture writer's sink: store one captured request; returns kept / dropped."""
        row = self.ingest(
            kind=req.kind,
            messages=req.messages,
            text=req.text,
            key_id=req.key_id,
            at=req.at,
            source="capture",
            route=req.route,
            detail=req.detail,
        )
        self._since_retention += 1
        if self._since_retention >= RETENTION_EVERY:
            self._since_retention = 0
            from daemon.learning.purge import enforce_prompt_limits

            enforce_prompt_limits(self.cfg, self.pstore.store)
        return row.status

    def ingest(
        self,
        *,
        kind: str,
        messages: list[dict[str, str]] | None,
        text: str | None,
        key_id: str,
        source: str,
        route: str,
        at: str | None = None,
        detail: str = "",
    ) -> CapturedPromptRow:
        with self._lock:
            curator = self._ready()
            base: dict[str, Any] = dict(
                id=new_prompt_id(source), captured_at=at or utcnow(), key_id=key_id, source=source, route=route
            )
            if kind not in ("chat", "text"):
                return self._dropped(base, kind, "unsupported", detail)
            red_messages, red_text, kinds = _redacted(kind, messages, text)
            shown = dedup_text(kind, red_messages, red_text)
            problem = captured_problem(
                base["id"],
                "chat" if kind == "chat" else "text",
                red_messages,
                shown if kind == "chat" else red_text or "",
                source,
            )
            redactions = sum(kinds.values())
            try:
                tokens = self.count_tokens(problem)
            except Exception as exc:  # e.g. a chat template that insists on alternating roles
                return self._dropped(
                    base, kind, "unsupported", f"the model's chat template refused it: {exc}", redactions=redactions
                )
            judgement = curator.judge(PromptText(text=shown, tokens=tokens))
            if judgement.reason is not None:
                log.info("capture.dropped", reason=judgement.reason, detail=judgement.detail, redactions=redactions)
                return self._dropped(
                    base, kind, judgement.reason, judgement.detail, tokens=tokens, redactions=redactions
                )
            split = self._split_of(judgement.content_hash)
            row = self.pstore.add(
                CapturedPromptRow(
                    **base,
                    kind=kind,
                    status="kept",
                    messages_json=None if red_messages is None else _dumps(red_messages),
                    text=shown,
                    content_hash=judgement.content_hash,
                    signature=judgement.signature,
                    tokens=tokens,
                    redactions=redactions,
                    split=split,
                )
            )
            curator.admit(row.id, judgement)
            log.info("capture.kept", prompt_id=row.id, split=split, tokens=tokens, redactions=redactions)
            return row

    def _dropped(
        self,
        base: dict[str, Any],
        kind: str,
        reason: str,
        detail: str,
        *,
        tokens: int | None = None,
        redactions: int = 0,
    ) -> CapturedPromptRow:
        """A row that keeps only why it was dropped, never the text."""
        row = CapturedPromptRow(**base, kind=kind, status="dropped", reason=reason, detail=detail[:500])
        row.tokens, row.redactions = tokens, redactions
        return self.pstore.add(row)

    def _split_of(self, content_hash: str) -> str:
        """``check`` for the traffic check's held-out share (by a salted hash), else ``train``."""
        tc = self.cfg.learning.traffic_check
        held = score(content_hash, SplitConfig(heldout_frac=tc.heldout_frac, salt=tc.salt)) < tc.heldout_frac
        return "check" if held else "train"


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def open_capture(
    cfg: DaemonConfig, store: Store, registry: CollectorRegistry, model_dir: str | Path, sets: ProblemSets
) -> PromptCapture | None:
    """``learning.capture: true``: the endpoint's capture queue and its writer thread, to hand to
    the endpoint as it is built (``ServingStack(..., capture=...)``). None when capture is off."""
    if not cfg.learning.capture:
        return None
    ingestor = PromptIngestor(cfg, PromptStore(store), heldout_problems(sets), model_dir)
    capture = PromptCapture(ingestor.ingest_request, registry, cfg.learning.queue_size, on_start=ingestor.warm).start()
    log.warning(
        "capture.on",
        msg="learning.capture is on: the endpoint's prompts are stored (redacted) in the state database",
        db=str(store.path),
    )
    return capture


def start_capture(
    cfg: DaemonConfig, store: Store, stack: ServingStack, model_dir: str | Path, sets: ProblemSets
) -> PromptCapture | None:
    """``open_capture`` for an endpoint that already serves (the tests' stacks): the queue is
    put into its context. ``ssdd run`` builds its endpoint with the capture instead."""
    capture = open_capture(cfg, store, stack.metrics.registry, model_dir, sets)
    if capture is not None:
        stack.app.state.ctx.capture = capture
    return capture
