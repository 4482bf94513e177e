"""Builders for paired held-out counts used by the policy tests."""

from __future__ import annotations

import numpy as np

from policies.counts import ProblemCounts


def binary_pair(both: int, only_ref: int, only_ch: int, neither: int, prefix: str = "p"):
    """Two aligned n=1 arms with the given paired 2x2 table (reference, challenger)."""
    ref: list[ProblemCounts] = []
    ch: list[ProblemCounts] = []
    i = 0
    for r, c, k in ((1, 1, both), (1, 0, only_ref), (0, 1, only_ch), (0, 0, neither)):
        for _ in range(k):
            pid = f"{prefix}{i:04d}"
            ref.append(ProblemCounts(problem_id=pid, n=1, c=r))
            ch.append(ProblemCounts(problem_id=pid, n=1, c=c))
            i += 1
    return ref, ch


def from_arrays(cs, n, prefix: str = "p") -> list[ProblemCounts]:
    return [ProblemCounts(problem_id=f"{prefix}{i:04d}", n=n, c=int(c)) for i, c in enumerate(cs)]


def simulate_pair(rng: np.random.Generator, m: int, n: int, shift: float = 0.0):
    """Per-problem difficulty p_i ~ U(0,1); the challenger's rate is p_i + shift (clipped)."""
    p = rng.uniform(0, 1, m)
    q = np.clip(p + shift, 0, 1)
    return from_arrays(rng.binomial(n, p), n), from_arrays(rng.binomial(n, q), n)


def prov(**kw):
    """An `EvalProvenance` with plausible defaults; override any field."""
    from policies.provenance import EvalProvenance

    base = dict(
        temperature=0.6,
        top_p=0.95,
        top_k=20,
        n=1,
        max_tokens=1024,
        seed=7,
        sandbox_image="sha256:abc",
        vllm_version="0.33.0",
        model_hash="sha256:base",
        problem_set_hash="sha256:set",
    )
    base.update(kw)
    return EvalProvenance(**base)
