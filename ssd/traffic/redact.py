"""Secrets redaction for captured prompts, before anything is stored.

Three layers, each replacing what it finds with ``[REDACTED:<kind>]``:

1. Shapes this module knows whole: PEM private-key blocks (every line up to the END marker,
   which a line scanner cannot see), passwords in URLs, well-known token formats (AWS access
   key ids, GitHub / GitLab / Slack / OpenAI / Stripe / Google keys, JWTs), secret-named
   ``.env`` / config assignments and quoted secret literals.
2. ``detect-secrets`` (Yelp's maintained detector) over every line, with all its plugins
   except the two high-entropy ones, whose ad-hoc "eager" mode flags ordinary words. A
   finding is widened to the whole token around it (its GitHub plugin reports only the
   ``ghp`` prefix, for one).
3. High-entropy strings: a token of 20+ base64-ish characters mixing letters and digits with
   Shannon entropy >= 4.0 bits/char, or 32+ hex digits with >= 3.0; identifiers
   (``snake_case``/``CamelCase`` words) are left alone.

Then ``detect-secrets`` runs again over the result, and a leftover finding is redacted again:
the result is what the store, the training files and the logs ever see. It errs towards
redacting (a git hash or a base64 test vector goes too): a lost token costs a training
prompt little, a stored key costs its owner much.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

PLACEHOLDER = "[REDACTED:{kind}]"
_PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY_LINE = re.compile(r"^(?:[A-Za-z0-9+/=]+|[A-Za-z-]+: .*)$")

_URL_PASSWORD = re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"\[\]]*:)(?P<secret>[^\s@/'\"\[\]]+)(?=@)")
_TOKENS: list[tuple[str, re.Pattern[str]]] = [
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("api-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("google-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
]
_SECRET_WORDS = r"(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|PWD|PASS|CREDENTIALS?|AUTH|PRIVATE|DSN|SALT|COOKIE|SESSION)"
_SECRET_NAME = r"[A-Za-z0-9_.-]*" + _SECRET_WORDS + r"[A-Za-z0-9_.-]*"
# .env style: an upper-case secret name, any value (quoted or not).
_ENV_ASSIGN = re.compile(
    r"(?m)^(?P<pre>[ \t]*(?:export[ \t]+)?[A-Z0-9_]*" + _SECRET_WORDS + r"[A-Z0-9_]*[ \t]*[=:][ \t]*[\"']?)"
    r"(?P<secret>[^\s\"'#]+)"
)
# Code and config: a secret-named key given a quoted literal (`password = "..."`, `"token": "..."`).
_QUOTED_ASSIGN = re.compile(
    r"(?i)(?P<pre>\b" + _SECRET_NAME + r"[\"']?\s*(?:=|:|=>)\s*[rbuf]?[\"'])(?P<secret>[^\"'\s]{4,})(?=[\"'])"
)
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_IDENTIFIER = re.compile(r"^(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|(?:[A-Z]?[a-z]+)+)$")
_LEFT_CHARS = re.compile(r"[A-Za-z0-9_\-+/]")
_RIGHT_CHARS = re.compile(r"[A-Za-z0-9_\-+/=]")

# detect-secrets plugins that run (all but the two high-entropy ones; see the module docstring).
_DS_PLUGINS = [
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
]
_DS_LOCK = threading.Lock()  # detect-secrets keeps its settings in module globals


@dataclass
class Redacted:
    text: str
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.kinds.values())


def shannon_entropy(s: str) -> float:
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _mark(kind: str) -> str:
    return PLACEHOLDER.format(kind=kind)


def _redact_pem(text: str, kinds: Counter[str]) -> str:
    out: list[str] = []
    pos = 0
    while (m := _PEM_BEGIN.search(text, pos)) is not None:
        out.append(text[pos : m.start()])
        end = _PEM_END.search(text, m.end())
        if end is not None:
            pos = end.end()
        else:  # a truncated paste: the key's body runs to the first line that is not base64
            pos = m.end()
            for i, line in enumerate(text[m.end() :].splitlines(keepends=True)):
                body = line.strip()
                if (i == 0 and not body) or (body and _PEM_BODY_LINE.match(body)):
                    pos += len(line)
                    continue
                break
        out.append(_mark("private-key"))
        kinds["private-key"] += 1
    out.append(text[pos:])
    return "".join(out)


def _sub_group(pattern: re.Pattern[str], kind: str, text: str, kinds: Counter[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if _PLACEHOLDER_RE.fullmatch(m.group("secret")):
            return m.group(0)
        kinds[kind] += 1
        return m.group("pre") + _mark(kind)

    return pattern.sub(repl, text)


def _sub_whole(pattern: re.Pattern[str], kind: str, text: str, kinds: Counter[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        kinds[kind] += 1
        return _mark(kind)

    return pattern.sub(repl, text)


def _high_entropy(token: str) -> bool:
    if _IDENTIFIER.match(token) or _PLACEHOLDER_RE.search(token):
        return False
    if not (re.search(r"[A-Za-z]", token) and re.search(r"[0-9]", token)):
        return False
    return shannon_entropy(token) >= 4.0


def _redact_entropy(text: str, kinds: Counter[str]) -> str:
    def hex_repl(m: re.Match[str]) -> str:
        if shannon_entropy(m.group(0)) >= 3.0:
            kinds["high-entropy"] += 1
            return _mark("high-entropy")
        return m.group(0)

    text = _HEX.sub(hex_repl, text)

    def b64_repl(m: re.Match[str]) -> str:
        if _high_entropy(m.group(0)):
            kinds["high-entropy"] += 1
            return _mark("high-entropy")
        return m.group(0)

    return _CANDIDATE.sub(b64_repl, text)


def _widen(line: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and _LEFT_CHARS.match(line[start - 1]):
        start -= 1
    while end < len(line) and _RIGHT_CHARS.match(line[end]):
        end += 1
    return start, end


def detect_secrets_findings(lines: Iterable[str]) -> list[tuple[int, str, str]]:
    """(line index, plugin type, secret value) for every finding of detect-secrets."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    found: list[tuple[int, str, str]] = []
    with _DS_LOCK, transient_settings({"plugins_used": [{"name": n} for n in _DS_PLUGINS]}):
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            for secret in scan_line(line):
                if secret.secret_value:
                    found.append((i, secret.type, secret.secret_value))
    return found


def _kind_of(ds_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ds_type.lower()).strip("-") or "secret"


def _redact_detect_secrets(text: str, kinds: Counter[str]) -> str:
    lines = text.split("\n")
    for i, ds_type, value in detect_secrets_findings(lines):
        line, pos = lines[i], 0
        while (at := line.find(value, pos)) >= 0:
            start, end = _widen(line, at, at + len(value))
            if any(s < end and start < e for s, e in (m.span() for m in _PLACEHOLDER_RE.finditer(line))):
                pos = end  # inside one of our own placeholders
                continue
            kind = _kind_of(ds_type)
            kinds[kind] += 1
            line = line[:start] + _mark(kind) + line[end:]
            pos = start + len(_mark(kind))
        lines[i] = line
    return "\n".join(lines)


def redact(text: str) -> Redacted:
    """``text`` with every secret this module finds replaced (see the module docstring)."""
    kinds: Counter[str] = Counter()
    text = _redact_pem(text, kinds)
    text = _sub_group(_URL_PASSWORD, "url-password", text, kinds)
    for kind, pattern in _TOKENS:
        text = _sub_whole(pattern, kind, text, kinds)
    text = _sub_group(_ENV_ASSIGN, "env-secret", text, kinds)
    text = _sub_group(_QUOTED_ASSIGN, "secret-literal", text, kinds)
    text = _redact_detect_secrets(text, kinds)
    text = _redact_entropy(text, kinds)
    for _ in range(2):  # whatever the maintained detector still sees goes too
        before = sum(kinds.values())
        text = _redact_detect_secrets(text, kinds)
        if sum(kinds.values()) == before:
            break
    return Redacted(text=text, kinds=kinds)


def redact_messages(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], Counter[str]]:
    """Every message's content redacted; roles kept."""
    kinds: Counter[str] = Counter()
    out = []
    for m in messages:
        r = redact(m["content"])
        kinds.update(r.kinds)
        out.append({"role": m["role"], "content": r.text})
    return out, kinds
