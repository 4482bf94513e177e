"""Provenance of an evaluation: two evaluations are compared only if every field is equal."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from policies.counts import ProblemCounts


class ProvenanceMismatch(ValueError):
    """Two evaluations with different provenance were about to be compared."""

    def __init__(self, fields: Sequence[str], message: str):
        super().__init__(message)
        self.fields = tuple(fields)


class EvalProvenance(BaseModel):
    """Everything that can change a pass rate besides the model under test.

    `seed` is the evaluation run's seed (both arms of one run share it; it must be fresh for
    each run). `model_hash` is the base model's, `problem_set_hash` the evaluated problem
    set's (e.g. `hash_problem_ids`), `sandbox_image` the sandbox image digest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(ge=0.0)
    top_p: float = Field(gt=0.0, le=1.0)
    top_k: int = Field(ge=-1)  # -1 = disabled, as in vLLM
    n: int = Field(ge=1)
    max_tokens: int = Field(ge=1)
    seed: int
    sandbox_image: str = Field(min_length=1)
    vllm_version: str = Field(min_length=1)
    model_hash: str = Field(min_length=1)
    problem_set_hash: str = Field(min_length=1)


def check_comparable(a: EvalProvenance, b: EvalProvenance) -> None:
    """Raise `ProvenanceMismatch` (a ValueError) naming every field where `a` and `b` differ.

    Exact equality throughout, temperatures included: two decodings that differ at all are
    two experiments, and a paired test across them measures the decoding, not the adapter.
    """
    differing = [name for name in EvalProvenance.model_fields if getattr(a, name) != getattr(b, name)]
    if differing:
        detail = "; ".join(f"{name}: {getattr(a, name)!r} vs {getattr(b, name)!r}" for name in differing)
        raise ProvenanceMismatch(differing, f"evaluations with different provenance are never compared ({detail})")


def check_counts_match(counts: Sequence[ProblemCounts], provenance: EvalProvenance, side: str) -> None:
    """Raise ValueError unless every problem was sampled exactly `provenance.n` times."""
    bad = sorted(pc.problem_id for pc in counts if pc.n != provenance.n)
    if bad:
        shown = bad[:10] + ([f"+{len(bad) - 10} more"] if len(bad) > 10 else [])
        raise ValueError(f"{side}: provenance says n={provenance.n} samples per problem, but n differs on {shown}")


def hash_problem_ids(problem_ids: Iterable[str]) -> str:
    """A stable hash of a problem set (order-free): sha256 of the sorted, newline-joined ids."""
    ids = sorted(set(problem_ids))
    return "sha256:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()
