"""Per-problem evaluation counts and their alignment by problem id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

_MAX_IDS_IN_MESSAGE = 10


class ProblemCounts(BaseModel):
    """`c` of `n` samples passed on held-out problem `problem_id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    problem_id: str = Field(min_length=1)
    n: int = Field(ge=1)
    c: int = Field(ge=0)

    @model_validator(mode="after")
    def _c_within_n(self) -> ProblemCounts:
        if self.c > self.n:
            raise ValueError(f"problem {self.problem_id!r}: c={self.c} passes exceed n={self.n} samples")
        return self

    @property
    def rate(self) -> float:
        """c / n: this problem's unbiased pass@1 estimate."""
        return self.c / self.n


def pass_at_1(counts: Sequence[ProblemCounts]) -> float:
    """Macro pass@1: mean over problems of c/n (the unbiased pass@1 estimate per problem)."""
    if not counts:
        raise ValueError("pass_at_1 needs at least one problem")
    return sum(pc.rate for pc in counts) / len(counts)


def _show(ids: Sequence[str]) -> str:
    shown = sorted(ids)[:_MAX_IDS_IN_MESSAGE]
    more = len(ids) - len(shown)
    return repr(shown) + (f" (+{more} more)" if more else "")


def index_by_id(counts: Sequence[ProblemCounts], side: str) -> dict[str, ProblemCounts]:
    """Counts keyed by problem id; ValueError naming the ids that occur more than once."""
    index = {pc.problem_id: pc for pc in counts}
    if len(index) != len(counts):
        dups = [pid for pid, k in Counter(pc.problem_id for pc in counts).items() if k > 1]
        raise ValueError(f"{side}: duplicate problem ids {_show(dups)}")
    return index


def align(
    reference: Sequence[ProblemCounts],
    challenger: Sequence[ProblemCounts],
    *,
    reference_name: str = "reference",
    challenger_name: str = "challenger",
    allow_reference_superset: bool = False,
) -> list[tuple[ProblemCounts, ProblemCounts]]:
    """Pair the two arms by problem id, sorted by id so results do not depend on input order.

    Mismatched sets raise ValueError naming the ids on each side: a paired test over
    silently dropped problems would compare different things. With
    `allow_reference_superset`, extra reference problems are ignored (a reference evaluated
    on a larger set than the challenger), but every challenger problem must be present.
    """
    ref = index_by_id(reference, reference_name)
    ch = index_by_id(challenger, challenger_name)
    only_ch = ch.keys() - ref.keys()
    only_ref = ref.keys() - ch.keys()
    if only_ch or (only_ref and not allow_reference_superset):
        parts = []
        if only_ref and not allow_reference_superset:
            parts.append(f"only in {reference_name}: {_show(list(only_ref))}")
        if only_ch:
            parts.append(f"only in {challenger_name}: {_show(list(only_ch))}")
        raise ValueError("problem ids differ; " + "; ".join(parts))
    return [(ref[pid], ch[pid]) for pid in sorted(ch)]
