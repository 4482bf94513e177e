"""The ``learning:`` section: opt-in capture of the endpoint's prompts and how rounds use them.

Capture is OFF by default. Everything else here only matters once prompts exist (captured, or
imported with ``ssdd add-prompts``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policies.traffic import TrafficPolicyConfig

Script = Literal["latin", "cyrillic", "greek", "arabic", "hebrew", "han", "kana", "hangul", "devanagari", "thai"]

# A prompt counts as a coding request when any of these matches (case-insensitive): a word
# from ``keywords`` or a regular expression from ``patterns``. Kept broad on purpose: the rule
# only has to keep small talk ("thanks!", "hi") out of training.
DEFAULT_CODING_KEYWORDS = [
    "code",
    "function",
    "program",
    "script",
    "python",
    "implement",
    "algorithm",
    "bug",
    "debug",
    "error",
    "exception",
    "traceback",
    "compile",
    "refactor",
    "class",
    "method",
    "variable",
    "loop",
    "regex",
    "sql",
    "api",
    "test",
    "unit test",
    "library",
    "module",
    "import",
    "return",
    "string",
    "list",
    "array",
    "dictionary",
    "integer",
    "parse",
    "json",
    "write a",
]
DEFAULT_CODE_PATTERNS = [
    r"```",  # a fenced block
    r"^\s*(def|class|import|from|for|while|if|return)\b",  # a line of Python
    r"[A-Za-z_]\w*\([^()]*\)",  # a call
    r"[{};]\s*$",  # a line of a C-like language
    r"\b(stdin|stdout|O\(n)",
]


class RetentionConfig(BaseModel):
    """Captured prompts are deleted (and scrubbed from derived files) past either limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_prompts: int = Field(20_000, ge=1, description="prompts kept, newest first (all statuses)")
    max_age_days: float = Field(90.0, gt=0)


class CodingRuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_CODING_KEYWORDS))
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_CODE_PATTERNS))

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"pattern {p!r} is not a regular expression: {exc}") from exc
        return v


class CurationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_chars: int = Field(16, ge=1, description="shorter prompts (after redaction, system turns left out) drop")
    max_prompt_tokens: int | None = Field(
        None, ge=1, description="default: server.max_model_len - sampling.params.max_tokens (room for the answer)"
    )
    # (LSH needs at least two bands: above 0.95 it cannot be built with 128 permutations.)
    near_duplicate_threshold: float = Field(
        0.85, gt=0.0, le=0.95, description="estimated Jaccard similarity (word shingles) above which a prompt drops"
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    shingle_words: int = Field(5, ge=1, le=20)
    # Optional language filter by writing system of the prose (code blocks left out), e.g.
    # [latin]; None keeps every language.
    scripts: list[Script] | None = None
    min_script_share: float = Field(0.6, gt=0.0, le=1.0)
    coding: CodingRuleConfig = CodingRuleConfig()


class DecontaminationConfig(BaseModel):
    """A prompt sharing any ``ngram``-word sequence with a held-out problem (gate, audit or
    calibration), holding most of one's word shingles, or a near-duplicate of one, is never
    used for training (``ssd.traffic.decontaminate``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ngram: int = Field(13, ge=4, le=50)
    containment_threshold: float = Field(0.5, gt=0.0, le=1.0, description="share of a problem's shingles in a prompt")
    # Lower than curation's: a word changed every dozen (enough to break every 13-gram)
    # leaves ~0.4 Jaccard over 5-word shingles.
    near_duplicate_threshold: float = Field(0.3, gt=0.0, le=0.95)


class MixConfig(BaseModel):
    """How a round draws its training prompts. ``captured_frac`` of ``prompts_per_round``
    come from captured and imported prompts (never-used first, newest first), the rest from
    the problem pool; when too few captured prompts exist, the pool fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    captured_frac: float = Field(0.5, ge=0.0, le=1.0)
    prompts_per_round: int | None = Field(None, ge=1, description="default: the size of the problem pool")


class TrafficCheckConfig(TrafficPolicyConfig):
    """The label-free check beside the gate (``policies.traffic``): ``heldout_frac`` of the
    kept captured prompts (by a salted hash) are never trained on; the newest ``slice_size``
    of them are answered by champion and candidate each round."""

    enabled: bool = True
    heldout_frac: float = Field(0.2, gt=0.0, lt=1.0)
    slice_size: int = Field(32, ge=1)
    max_tokens: int = Field(384, ge=1)
    salt: str = "ssd-traffic-v1"


class LearningConfig(BaseModel):
    """``learning.capture: true`` records the endpoint's prompts (redacted) in the state DB."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capture: bool = False
    queue_size: int = Field(256, ge=1, description="captures waiting for the writer; a full queue drops (counted)")
    retention: RetentionConfig = RetentionConfig()
    curation: CurationConfig = CurationConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    mix: MixConfig = MixConfig()
    traffic_check: TrafficCheckConfig = TrafficCheckConfig()
