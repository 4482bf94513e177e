"""Decontamination: a prompt that overlaps a held-out problem is never used for training.

Two tests against every held-out problem (gate, sealed audit and calibration; prompt and
starter code), so the gate stays honest even when a user pastes a benchmark problem:

- **n-gram overlap** (13 words by default, as in common decontamination practice since GPT-3):
  the prompt shares any 13-word sequence with the problem after normalization (NFKC, case
  folding, punctuation dropped). A problem shorter than 13 words (but of 8 or more) matches when its
  whole word sequence appears in the prompt. This catches a problem pasted inside a longer request.
- **shingle containment**: at least ``containment_threshold`` (half) of a problem's 5-word
  shingles appear in the prompt (an exact inverted index; problems of 8+ shingles). This
  catches a lightly edited paste (a word changed every dozen) whose 13-grams are all broken,
  inside a longer request too.
- **near-duplicate index**: the MinHash/LSH index of ``ssd.traffic.curate`` over the problems'
  word shingles, at ``near_duplicate_threshold`` (0.3) estimated Jaccard: the whole prompt is
  a light rewording of one problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ssd.problems import Problem
from ssd.traffic.config import CurationConfig, DecontaminationConfig
from ssd.traffic.curate import NearDuplicateIndex, shingles, signature, words

MIN_CONTAINMENT_SHINGLES = 8  # fewer shingles: too little text to say "half of it is here"
# A problem shorter than the n-gram is matched whole only from this many words on: a shorter
# one ("reverse a string") is a phrase every user may type; the LSH test still covers it.
MIN_WHOLE_WORDS = 8


def _gram_key(ws: Sequence[str]) -> bytes:
    return hashlib.blake2b(" ".join(ws).encode(), digest_size=12).digest()


def problem_text(p: Problem) -> str:
    return p.prompt + ("\n" + p.starter_code if p.starter_code and p.starter_code not in p.prompt else "")


class Decontaminator:
    def __init__(self, problems: Sequence[Problem], cfg: DecontaminationConfig, curation: CurationConfig):
        self.cfg, self.curation = cfg, curation
        self.grams: dict[bytes, str] = {}  # n-gram -> problem id
        self.short: dict[int, dict[bytes, str]] = {}  # word count -> whole problem -> id
        self.index = NearDuplicateIndex(cfg.near_duplicate_threshold, curation.num_perm)
        self.shingle_owners: dict[bytes, list[str]] = {}  # shingle -> problems holding it
        self.shingle_counts: dict[str, int] = {}
        n = cfg.ngram
        for p in problems:
            text = problem_text(p)
            ws = words(text)
            if not ws:
                continue
            if MIN_WHOLE_WORDS <= len(ws) < n:
                self.short.setdefault(len(ws), {})[_gram_key(ws)] = p.id
            for i in range(len(ws) - n + 1):
                self.grams.setdefault(_gram_key(ws[i : i + n]), p.id)
            self.index.add(p.id, signature(text, curation.shingle_words, curation.num_perm))
            sh = shingles(text, curation.shingle_words)
            if len(sh) >= MIN_CONTAINMENT_SHINGLES and p.id not in self.shingle_counts:
                self.shingle_counts[p.id] = len(sh)
                for s in sh:
                    self.shingle_owners.setdefault(s, []).append(p.id)
        self.problems = len(problems)

    def check(self, text: str) -> str | None:
        """Why ``text`` overlaps a held-out problem, or None when it does not."""
        ws = words(text)
        n = self.cfg.ngram
        for i in range(len(ws) - n + 1):
            pid = self.grams.get(_gram_key(ws[i : i + n]))
            if pid is not None:
                return f"{n}-gram overlap with held-out problem {pid}"
        for m, table in self.short.items():
            for i in range(len(ws) - m + 1):
                pid = table.get(_gram_key(ws[i : i + m]))
                if pid is not None:
                    return f"contains the whole held-out problem {pid}"
        shared: dict[str, int] = {}
        for s in shingles(text, self.curation.shingle_words):
            for pid in self.shingle_owners.get(s, ()):
                shared[pid] = shared.get(pid, 0) + 1
        best = max(shared, key=lambda pid: shared[pid] / self.shingle_counts[pid], default=None)
        if best is not None and shared[best] / self.shingle_counts[best] >= self.cfg.containment_threshold:
            return f"holds {shared[best] / self.shingle_counts[best]:.0%} of held-out problem {best}'s word shingles"
        hits = self.index.query(signature(text, self.curation.shingle_words, self.curation.num_perm))
        if hits:
            pid, j = hits[0]
            return f"near-duplicate (~{j:.2f} Jaccard) of held-out problem {pid}"
        return None
