"""Secrets redaction for captured prompts, before anything is stored.

Three layers, each replacing what it finds with ``[REDACTED:<kind>]``:

1. Shapes this module knows whole: PEM private-key blocks (every line up to the END marker,
   which a line scanner cannot see), passwords in URLs (the userinfo up to the last ``@``
   before the host, so a password may hold ``/`` or an unencoded ``@``), well-known token
   formats (AWS access key ids, GitHub / GitLab / Slack / OpenAI / Stripe / Google keys,
   JWTs), then by class:

   - a line whose key is secret-named, in any case and any config syntax (``.env``, YAML,
     INI, Spring ``.properties``, TOML, JSON): the value to the end of the line, or the whole
     quoted string, spaces included. A value that reads as code (a call, an attribute, a
     subscript, a type annotation, a secret-named variable, ``None``) or as a reference
     (``${VAR}``, ``{{ x }}``, ``$VAR``) is left: ``password = getpass()`` holds no secret;
   - ``.netrc`` lines (``machine h login u password p``);
   - credential flags of common CLIs: ``--password[=| ]x`` and kin anywhere, ``curl -u
     user:pass``, ``mysql -pPASS``, ``sshpass -p``, ``docker login -p``, ``redis-cli -a``,
     ``ldapsearch -w``, ``sqlcmd -P``, ``smbclient -U user%pass``, ``openssl -passin pass:x``;
   - ``Authorization:`` / ``X-Api-Key:`` style header values, and ``name=value`` pairs with a
     secret name inside a line (query strings, ``PGPASSWORD=x psql``);
   - upper-case ``.env`` assignments and quoted secret literals in code.
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

# The password runs to the LAST "@" that a host follows: a password may hold "/" or "@".
_URL_PASSWORD = re.compile(
    r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"\[\]]*:)(?P<secret>[^\s'\"<>]+)"
    r"(?=@[A-Za-z0-9\[][A-Za-z0-9.\-\[\]:]*(?:[/?#\s'\"<>),;]|$))"
)
_PORT_AND_PATH = re.compile(r"\d{1,5}(?:[/?#]|$)")  # "http://host:8000/users/@me": a port, not a password
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

# -- secret-named keys, by class (see the module docstring) --
# A key is secret-named when its last part is a secret word: db_password, spring.datasource.
# password, apiKey, AWS_SECRET_ACCESS_KEY, PGPASSWORD; not max_tokens, tokenizer, sort_key.
_KEY = (
    r"(?:[A-Za-z0-9]+[_.-])*"
    r"(?:[A-Za-z0-9]*(?:password|passwd|passphrase|secret|token|apikey|credentials?)"
    r"|(?:api|access|secret|private|auth|client|signing|encryption|master|app)[_.-]?key"
    r"|pass|pwd|auth|dsn|cookie)\d*"
)
_SECRET_NAMED = re.compile(r"(?i)_?" + _KEY)
_KEY_LINE = re.compile(
    r"(?im)^(?P<pre>[ \t]*(?:[-*][ \t]+)?(?:(?:export|set|setx)[ \t]+)?[\"']?" + _KEY + r"[\"']?"
    r"[ \t]*(?:=>|:=|=(?!=)|:(?![:/]))[ \t]*)(?P<value>[^\n]*?)[ \t]*$"
)
# "name=value" inside a line: query strings, `PGPASSWORD=x psql`, `--opt token=x`.
_KEY_INLINE = re.compile(
    r"(?i)(?<![\w.$-])(?P<pre>" + _KEY + r"=(?!=))(?P<value>[^\s&'\"`,;()\[\]{}<>]+)(?P<after>[(\[,)]?)"
)
_NETRC_LINE = re.compile(
    r"(?im)^[ \t]*(?:(?:machine|login|password|passwd|account|port)[ \t]+\S+[ \t]*|default[ \t]*)+$"
)
_NETRC_PASSWORD = re.compile(r"(?i)(?<!\S)(?P<pre>(?:password|passwd|account)[ \t]+)(?P<secret>\S+)")
_FLAG_VALUE = r"(?P<secret>\"[^\"\n]*\"|'[^'\n]*'|(?!-)[^\s'\"]+)"
# Long (and keytool-style single-dash) flags named for a secret, anywhere.
_CLI_LONG_FLAG = re.compile(
    r"(?i)(?<![\w-])(?P<pre>--?(?:[a-z0-9]+-)*(?:password|passwd|pass|pwd|secret|token|api-?key|access-key"
    r"|secret-key|passphrase|storepass|keypass|srcstorepass|deststorepass|passin|passout)(?:=|[ \t]+))" + _FLAG_VALUE
)
# Short flags mean a password only for some tools: (the tool on the line, its flag). Glued
# values ("-pPASS") count where the tool takes them.
_CLI_SHORT_FLAGS: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        re.compile(r"(?i)\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mariadb)\b"),
        re.compile(r"(?<!\S)(?P<pre>-p)" + _FLAG_VALUE),
    ),
    (re.compile(r"(?i)\bsshpass\b"), re.compile(r"(?<!\S)(?P<pre>-p[ \t]*)" + _FLAG_VALUE)),
    (
        re.compile(r"(?i)\b(?:docker|podman|nerdctl|helm|buildah|skopeo|oras)\b.*\blogin\b"),
        re.compile(r"(?<!\S)(?P<pre>-p[ \t]*)" + _FLAG_VALUE),
    ),
    (re.compile(r"(?i)\bredis-cli\b"), re.compile(r"(?<!\S)(?P<pre>-a[ \t]*)" + _FLAG_VALUE)),
    (
        re.compile(r"(?i)\b(?:mongo|mongosh|mongodump|mongorestore)\b"),
        re.compile(r"(?<!\S)(?P<pre>-p[ \t]*)" + _FLAG_VALUE),
    ),
    (re.compile(r"(?i)\bldap[a-z]+\b"), re.compile(r"(?<!\S)(?P<pre>-w[ \t]*)" + _FLAG_VALUE)),
    (re.compile(r"(?i)\b(?:sqlcmd|bcp)\b"), re.compile(r"(?<!\S)(?P<pre>-P[ \t]*)" + _FLAG_VALUE)),
    # user:password (curl, wget, httpie) and user%password (smbclient)
    (
        re.compile(r"(?i)\b(?:curl|wget|http|https|httpie)\b"),
        re.compile(
            r"(?<!\S)(?P<pre>(?:-u|--user|-U|--proxy-user|-a|--auth)(?:[ \t]+|=)?(?P<q>[\"'])?[^\s:'\"]*:)"
            r"(?P<secret>(?(q)[^\"'\n]+|[^\s'\"]+))"
        ),
    ),
    (
        re.compile(r"(?i)\bsmbclient\b|\bsmbget\b|\brpcclient\b"),
        re.compile(r"(?<!\S)(?P<pre>(?:-U|--user)(?:[ \t]+|=)?[\"']?[^\s%'\"]*%)(?P<secret>[^\s'\"]+)"),
    ),
]
_AUTH_HEADER = re.compile(
    r"(?i)\b(?P<pre>(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[rbuf]?[\"']?"
    r"(?:(?:bearer|basic|token|digest|apikey|key)[ \t]+)?)(?P<secret>[^\s'\"]{6,})"
)
_HEADER_KEY = re.compile(
    r"(?i)(?P<pre>(?:-H|--header)[ \t]+(?P<q>[\"'])(?:x-)?" + _KEY + r"[ \t]*:[ \t]*)(?P<secret>[^\"'\n]+)(?=(?P=q))"
)
_NO_SECRET = re.compile(
    r"(?i)(?:none|null|nil|undefined|true|false|yes|no|~|\*+|x{3,}|changeme|"
    r"<[^<>]*>|\$\{\{.*\}\}|\$\{[^}]*\}|\$\(.*\)|\$[A-Za-z_]\w*|\{\{.*\}\}|%\([^)]*\)s|\{[A-Za-z_][\w.]*\})"
)
_TYPE = (
    r"(?:Optional|Union|List|Dict|Tuple|Set|Sequence|Mapping|Any|Literal|Annotated|SecretStr|SecretBytes|"
    r"str|bytes|int|float|bool|list|dict|tuple|set|None|typing\.\w+)(?:\[[\w\[\]., |]*\])?"
)
# `password: str`, `token: Optional[str] = None`, `api_key: str | None = Field(...)`
_TYPE_ANNOTATION = re.compile(_TYPE + r"(?:[ \t]*\|[ \t]*" + _TYPE + r")*(?:[ \t]*=.*)?")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CODE_VALUE = re.compile(
    r"(?:" + _IDENT + r"(?:\." + _IDENT + r")+[ \t]*(?:[(\[].*)?"  # attribute chains, calls on them
    r"|" + _IDENT + r"[ \t]*[(\[].*"  # calls, subscripts
    r"|[(\[{].*|(?:lambda|await|yield|not|new)[ \t].*)[,;)]*"  # tuples, literals, expressions
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


def _is_code_or_reference(value: str, sep: str = "=") -> bool:
    """A value under a secret-named key that holds no secret: code (``getpass()``, ``self.pw``,
    ``tokens[0]``, a secret-named variable, a type annotation) or a reference to one."""
    v = value.strip().rstrip(",;")
    if not v or _NO_SECRET.fullmatch(v) or _PLACEHOLDER_RE.match(v):
        return True
    if ":" in sep and _TYPE_ANNOTATION.fullmatch(v):
        return True
    if _CODE_VALUE.fullmatch(v):
        return True
    return bool(re.fullmatch(_IDENT, v) and _SECRET_NAMED.fullmatch(v))


def _quoted_inner(value: str) -> tuple[int, int] | None:
    """Where the text of a value that starts with a quoted string lies (``[rbuf]?"..."``)."""
    m = re.match(r"[rbuf]{0,2}(?P<q>[\"'])", value, re.I)
    if m is None:
        return None
    end = value.find(m.group("q"), m.end())
    return (m.end(), end if end >= 0 else len(value))


def _redact_key_lines(text: str, kinds: Counter[str]) -> str:
    """Secret-named keys at a line's start: the value to the end of the line, or the quoted
    string whole (spaces and all)."""

    def repl(m: re.Match[str]) -> str:
        pre, value = m.group("pre"), m.group("value")
        span = _quoted_inner(value)
        if span is not None:
            inner = value[span[0] : span[1]]
            if not inner.strip() or _NO_SECRET.fullmatch(inner.strip()) or _PLACEHOLDER_RE.fullmatch(inner):
                return m.group(0)
            kinds["secret-value"] += 1
            return pre + value[: span[0]] + _mark("secret-value") + value[span[1] :]
        if _is_code_or_reference(value, pre):
            return m.group(0)
        kinds["secret-value"] += 1
        return pre + _mark("secret-value")

    return _KEY_LINE.sub(repl, text)


def _redact_key_inline(text: str, kinds: Counter[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        value = m.group("value")
        if m.start() > 0 and text[m.start() - 1] in "?&":
            # A URL's query: the value is data even when it reads like code (`?token=ab.Cd3`).
            if _NO_SECRET.fullmatch(value) or _PLACEHOLDER_RE.match(value):
                return m.group(0)
        elif m.group("after") or _is_code_or_reference(value):  # an argument, a call: code
            return m.group(0)
        kinds["secret-value"] += 1
        return m.group("pre") + _mark("secret-value") + m.group("after")

    return _KEY_INLINE.sub(repl, text)


def _sub_secret(pattern: re.Pattern[str], kind: str, text: str, kinds: Counter[str]) -> str:
    """Like ``_sub_group`` but keeps what follows the secret in the match, and leaves
    references, placeholders and quotes' delimiters alone."""

    def repl(m: re.Match[str]) -> str:
        secret = m.group("secret")
        start, end = m.span("secret")
        if secret[:1] in "\"'" and secret[-1:] == secret[:1] and len(secret) >= 2:
            secret, start, end = secret[1:-1], start + 1, end - 1
        if not secret.strip() or _NO_SECRET.fullmatch(secret.strip()) or _PLACEHOLDER_RE.match(secret):
            return m.group(0)
        kinds[kind] += 1
        whole, base = m.group(0), m.start()
        return whole[: start - base] + _mark(kind) + whole[end - base :]

    return pattern.sub(repl, text)


def _redact_url_passwords(text: str, kinds: Counter[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        secret = m.group("secret")
        if _PLACEHOLDER_RE.fullmatch(secret) or _PORT_AND_PATH.match(secret):
            return m.group(0)
        kinds["url-password"] += 1
        return m.group("pre") + _mark("url-password")

    return _URL_PASSWORD.sub(repl, text)


def _redact_cli(text: str, kinds: Counter[str]) -> str:
    text = _sub_secret(_CLI_LONG_FLAG, "cli-credential", text, kinds)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        for tool, flag in _CLI_SHORT_FLAGS:
            if tool.search(line):
                line = _sub_secret(flag, "cli-credential", line, kinds)
        if _NETRC_LINE.match(line):
            line = _sub_secret(_NETRC_PASSWORD, "netrc-password", line, kinds)
        lines[i] = line
    text = "\n".join(lines)
    text = _sub_secret(_HEADER_KEY, "auth-header", text, kinds)
    return _sub_secret(_AUTH_HEADER, "auth-header", text, kinds)


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
    text = _redact_url_passwords(text, kinds)
    for kind, pattern in _TOKENS:
        text = _sub_whole(pattern, kind, text, kinds)
    text = _redact_key_lines(text, kinds)
    text = _redact_cli(text, kinds)
    text = _redact_key_inline(text, kinds)
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
