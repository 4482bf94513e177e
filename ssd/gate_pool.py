"""The gate pool: extra problems with tests that only the promotion gate uses.

The gate compares champion and candidate on the same problems, so it needs problems the
*training* never saw, not problems after the model's cut-off: any set with tests serves
(HumanEval, the starter set, every LiveCodeBench release). The sealed audit set stays what it
was (post-cutoff, reporting only). A gate-pool problem is dropped, with the reason, when:

* it has no tests (it could not be judged);
* its id, or its prompt after normalization, is a training prompt's or an audit /
  calibration problem's;
* it overlaps a training prompt or an audit / calibration problem by the decontamination
  rules the learning path uses (`ssd.traffic.decontaminate`: a shared 13-word run, half of
  its 5-word shingles, or a near-duplicate by MinHash), so the gate never scores a problem
  the candidate was trained on and the audit never shares a question with the gate.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from ssd.problems import Problem
from ssd.split import text_fingerprint
from ssd.traffic.config import CurationConfig, DecontaminationConfig
from ssd.traffic.decontaminate import Decontaminator, problem_text


class GatePoolReport(BaseModel):
    offered: int
    kept: int
    dropped: dict[str, str]  # problem id -> why


def decontaminated_gate_pool(
    candidates: Sequence[Problem],
    *,
    train: Sequence[Problem],
    sealed: Sequence[Problem],
    gate: Sequence[Problem] = (),
    decontamination: DecontaminationConfig = DecontaminationConfig(),
    curation: CurationConfig = CurationConfig(),
) -> tuple[list[Problem], GatePoolReport]:
    """The `candidates` that may join the gate set (`gate`: the gate problems it already has),
    in input order, and what was dropped and why (module docstring)."""
    ids_train = {p.id for p in train}
    ids_sealed = {p.id for p in sealed}
    ids_gate = {p.id for p in gate}
    texts = {text_fingerprint(p.prompt): ("training prompt", p.id) for p in train}
    texts.update({text_fingerprint(p.prompt): ("sealed problem", p.id) for p in sealed})
    texts.update({text_fingerprint(p.prompt): ("gate problem", p.id) for p in gate})
    near_train = Decontaminator(list(train), decontamination, curation)
    near_sealed = Decontaminator(list(sealed), decontamination, curation)
    kept: list[Problem] = []
    dropped: dict[str, str] = {}
    seen: set[str] = set()
    for p in candidates:
        why = None
        if p.tests is None:
            why = "no tests"
        elif p.id in seen:
            why = "repeated: the first occurrence was kept"
        elif p.id in ids_train or p.id in ids_sealed or p.id in ids_gate:
            why = "id already used by a training, sealed or gate problem"
        elif text_fingerprint(p.prompt) in texts:
            kind, other = texts[text_fingerprint(p.prompt)]
            why = f"same prompt as {kind} {other}"
        else:
            text = problem_text(p)
            hit = near_train.check(text)
            if hit is not None:
                why = "training prompt: " + hit.replace("held-out problem", "training prompt")
            else:
                hit = near_sealed.check(text)
                if hit is not None:
                    why = "sealed set: " + hit
        if why is None:
            kept.append(p)
            seen.add(p.id)
            texts[text_fingerprint(p.prompt)] = ("gate problem", p.id)
        else:
            dropped[p.id] = why
    return kept, GatePoolReport(offered=len(candidates), kept=len(kept), dropped=dropped)
