"""Curation of captured and imported prompts: which ones may become training prompts.

A prompt is dropped, with one reason (the first rule it fails, in this order), when it is:

- ``unsupported``: not plain text (images, tool calls, token ids, no user turn);
- ``too_short`` / ``too_long``: under ``min_chars`` characters (system turns left out), or
  over the token budget the model's context leaves once the answer has room;
- ``language``: its prose (code blocks left out) is mostly in a writing system not allowed
  by ``curation.scripts`` (off by default);
- ``not_coding``: nothing in it matches the configured coding rule;
- ``duplicate``: the same text as a kept prompt after normalization (NFKC, case folding,
  whitespace collapsed);
- ``contaminated``: it overlaps a held-out problem (``ssd.traffic.decontaminate``);
- ``near_duplicate``: MinHash/LSH (``datasketch``) over word shingles estimates its Jaccard
  similarity to a kept prompt at ``near_duplicate_threshold`` or more.

Dedup text is the conversation without its system turns: assistants send the same long
system prompt with every request, which would make every prompt a near-duplicate of every
other.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from ssd.split import normalize_text
from ssd.traffic.config import CodingRuleConfig, CurationConfig

DROP_REASONS = (
    "unsupported",
    "too_short",
    "too_long",
    "language",
    "not_coding",
    "duplicate",
    "contaminated",
    "near_duplicate",
)
# Fixed: signatures are stored and compared across daemon restarts (and datasketch versions).
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"

_WORD = re.compile(r"\w+")
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_SCRIPT_OF = {
    "LATIN": "latin",
    "CYRILLIC": "cyrillic",
    "GREEK": "greek",
    "ARABIC": "arabic",
    "HEBREW": "hebrew",
    "CJK": "han",
    "HIRAGANA": "kana",
    "KATAKANA": "kana",
    "HANGUL": "hangul",
    "DEVANAGARI": "devanagari",
    "THAI": "thai",
}


@dataclass(frozen=True)
class PromptText:
    """What curation looks at: ``text`` is the conversation without system turns (user and
    assistant contents, in order); ``tokens`` the length of the prompt as served."""

    text: str
    tokens: int


def content_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize_text(text))


def shingles(text: str, k: int) -> set[bytes]:
    w = words(text)
    if len(w) < k:
        return {" ".join(w).encode()} if w else set()
    return {" ".join(w[i : i + k]).encode() for i in range(len(w) - k + 1)}


def signature(text: str, k: int, num_perm: int):
    """The MinHash of ``text``'s ``k``-word shingles (``datasketch.MinHash``)."""
    from datasketch import MinHash

    mh = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    sh = shingles(text, k)
    if sh:
        mh.update_batch(list(sh))
    return mh


def signature_bytes(mh) -> bytes:
    return np.asarray(mh.hashvalues, dtype=np.uint64).tobytes()


def signature_from_bytes(data: bytes, num_perm: int):
    from datasketch import MinHash

    values = np.frombuffer(data, dtype=np.uint64)
    if len(values) != num_perm:
        raise ValueError(f"a stored signature has {len(values)} permutations, the config says {num_perm}")
    return MinHash(num_perm=num_perm, seed=MINHASH_SEED, hashvalues=values.copy(), scheme=MINHASH_SCHEME)


class NearDuplicateIndex:
    """MinHash LSH (``datasketch.MinHashLSH``) at a Jaccard threshold: keys whose estimated
    similarity to a query is at least ``threshold`` (LSH finds them with high probability;
    the estimate then confirms each)."""

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import MinHashLSH

        self.threshold, self.num_perm = threshold, num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._sigs: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def add(self, key: str, mh) -> None:
        if key in self._sigs:
            return
        self._lsh.insert(key, mh)
        self._sigs[key] = mh

    def remove(self, key: str) -> None:
        if key in self._sigs:
            self._lsh.remove(key)
            del self._sigs[key]

    def query(self, mh) -> list[tuple[str, float]]:
        """(key, estimated Jaccard) of the near-duplicates of ``mh``, most similar first."""
        hits = []
        for key in self._lsh.query(mh):
            j = float(mh.jaccard(self._sigs[key]))
            if j >= self.threshold:
                hits.append((key, j))
        return sorted(hits, key=lambda kv: -kv[1])


def prose(text: str) -> str:
    """``text`` without fenced code blocks."""
    return _FENCED.sub(" ", text)


def script_shares(text: str) -> dict[str, float]:
    """Share of each writing system among the letters of ``text`` ("other" for the rest)."""
    counts: Counter[str] = Counter()
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        counts[_SCRIPT_OF.get(name.split(" ")[0], "other")] += 1
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def language_ok(text: str, scripts: Sequence[str] | None, min_share: float) -> bool:
    """True when no filter is set, the prose has no letters, or the allowed scripts hold at
    least ``min_share`` of its letters."""
    if not scripts:
        return True
    shares = script_shares(prose(text))
    if not shares:
        return True
    return sum(shares.get(s, 0.0) for s in scripts) >= min_share


def is_coding_request(text: str, rule: CodingRuleConfig) -> bool:
    if not rule.enabled:
        return True
    low = text.lower()
    for kw in rule.keywords:
        if re.search(r"(?<!\w)" + re.escape(kw.lower()) + r"(?!\w)", low):
            return True
    return any(re.search(p, text, re.MULTILINE | re.IGNORECASE) for p in rule.patterns)


def rule_verdict(prompt: PromptText, cfg: CurationConfig, max_tokens: int | None) -> str | None:
    """The per-prompt rules (no index needed): the drop reason, or None."""
    if len(prompt.text.strip()) < cfg.min_chars:
        return "too_short"
    if max_tokens is not None and prompt.tokens > max_tokens:
        return "too_long"
    if not language_ok(prompt.text, cfg.scripts, cfg.min_script_share):
        return "language"
    if not is_coding_request(prompt.text, cfg.coding):
        return "not_coding"
    return None


class Judgement(BaseModel):
    reason: str | None  # None: keep
    detail: str = ""
    content_hash: str
    signature: bytes | None = None


class CurationReport(BaseModel):
    """How many prompts were kept, and why the others were dropped."""

    kept: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)

    def add(self, reason: str | None) -> None:
        if reason is None:
            self.kept += 1
        else:
            self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def describe(self) -> str:
        drops = ", ".join(f"{n} {r}" for r, n in sorted(self.dropped.items(), key=lambda kv: -kv[1]))
        return f"kept {self.kept}, dropped {sum(self.dropped.values())}" + (f" ({drops})" if drops else "")


class Curator:
    """The curation rules over a growing set of kept prompts (exact hashes and the LSH
    index). ``contamination`` says why a text overlaps a held-out problem (or None)."""

    def __init__(
        self,
        cfg: CurationConfig,
        max_tokens: int | None,
        contamination: Callable[[str], str | None] = lambda _text: None,
    ):
        self.cfg, self.max_tokens, self.contamination = cfg, max_tokens, contamination
        self.hashes: dict[str, str] = {}  # content hash -> key
        self.index = NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.num_perm)

    def load(self, kept: Iterable[tuple[str, str, bytes | None]]) -> None:
        """Index already kept prompts: (key, content hash, stored signature)."""
        for key, h, sig in kept:
            self.hashes[h] = key
            if sig is not None:
                self.index.add(key, signature_from_bytes(sig, self.cfg.num_perm))

    def judge(self, prompt: PromptText) -> Judgement:
        h = content_hash(prompt.text)
        reason = rule_verdict(prompt, self.cfg, self.max_tokens)
        if reason is not None:
            return Judgement(reason=reason, content_hash=h)
        if h in self.hashes:
            return Judgement(reason="duplicate", detail=f"same text as {self.hashes[h]}", content_hash=h)
        why = self.contamination(prompt.text)
        if why is not None:
            return Judgement(reason="contaminated", detail=why, content_hash=h)
        mh = signature(prompt.text, self.cfg.shingle_words, self.cfg.num_perm)
        hits = self.index.query(mh)
        if hits:
            key, j = hits[0]
            return Judgement(reason="near_duplicate", detail=f"~{j:.2f} Jaccard with {key}", content_hash=h)
        return Judgement(reason=None, content_hash=h, signature=signature_bytes(mh))

    def admit(self, key: str, judgement: Judgement) -> None:
        """Record a kept prompt so later ones are compared with it."""
        self.hashes[judgement.content_hash] = key
        if judgement.signature is not None:
            self.index.add(key, signature_from_bytes(judgement.signature, self.cfg.num_perm))

    def forget(self, keys: Iterable[str]) -> None:
        gone = set(keys)
        for key in gone:
            self.index.remove(key)
        self.hashes = {h: k for h, k in self.hashes.items() if k not in gone}
