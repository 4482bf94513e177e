"""One batch of the sequential gate: both arms evaluated on the same problems, one decoding.

`evaluate_pair_batch` is what a round calls for each batch that `policies.sequential.next_batch`
names: the champion (or parent) and the candidate (or champion) are evaluated with the same
`EvalConfig` (one temperature, n, max_tokens and seed) on exactly the batch's problems, and
the per-problem results come back as `policies.sequential.PairResult`, in batch order, ready
to be committed one row per problem before `policies.sequential.advance` sees them.

A batch is evaluated as a unit: the reference arm, then the challenger arm. A round killed in
between commits nothing of that batch, and the resumed round evaluates the rest of the batch
(`next_batch` after `replay`), so results are never half-paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from policies.provenance import EvalProvenance
from policies.sequential import PairResult
from ssd.evaluate import EvalConfig, EvalReport, evaluate
from ssd.problems import InputError, Problem
from ssd.split import problem_set_hash


def _batch_problems(problems: Sequence[Problem], batch_ids: Sequence[str]) -> list[Problem]:
    if not batch_ids:
        raise InputError("<gate batch>", None, "empty batch: the test is done or the plan is empty")
    if len(set(batch_ids)) != len(batch_ids):
        raise InputError("<gate batch>", None, "the batch lists a problem twice")
    by_id = {p.id: p for p in problems}
    missing = [pid for pid in batch_ids if pid not in by_id]
    if missing:
        raise InputError("<gate batch>", None, f"{len(missing)} batch problem(s) not in the gate pool: {missing[:10]}")
    return [by_id[pid] for pid in batch_ids]


def evaluate_pair_batch(
    base_url: str,
    reference_name: str,
    challenger_name: str,
    problems: Sequence[Problem],
    batch_ids: Sequence[str],
    model_dir: str | Path,
    sandbox: Any,
    cfg: EvalConfig,
    *,
    round_id: str | None = None,
    details_dir: Path | None = None,
    evaluate_fn: Callable[..., EvalReport] = evaluate,
    on_arm_done: Callable[[str, int], None] | None = None,
) -> list[PairResult]:
    """Evaluate both arms on the problems `batch_ids` (ids in `problems`, the gate pool) with
    one decoding (`cfg.t_eval` must hold exactly one temperature) and pair the results.

    `details_dir`: each arm's per-sample JSONL lands there as `<first id>-<arm>.samples.jsonl`.
    `on_arm_done(arm, problems)`: called as each arm ("reference", "challenger") has judged
    the batch's problems, for a caller that shows progress.
    Raises InputError on an empty batch, repeated or unknown ids, or several temperatures,
    and RuntimeError when an arm's report does not cover exactly the batch with one n.
    """
    if len(cfg.t_eval) != 1:
        raise InputError("<gate batch>", None, f"one decoding per comparison: t_eval has {cfg.t_eval}")
    batch = _batch_problems(problems, batch_ids)
    t = cfg.t_eval[0]
    counts: list[dict[str, tuple[int, int]]] = []
    for arm, name in (("reference", reference_name), ("challenger", challenger_name)):
        details = None if details_dir is None else details_dir / f"{batch_ids[0]}-{arm}.samples.jsonl"
        report = evaluate_fn(
            base_url, name, batch, model_dir, sandbox, cfg, progress=False, details_path=details, round_id=round_id
        )
        rows = {r.problem_id: (r.n, r.c) for r in report.at(t).per_problem}
        if set(rows) != set(batch_ids):
            raise RuntimeError(f"{arm} arm's report covers {sorted(rows)[:10]}, not the batch {list(batch_ids)[:10]}")
        counts.append(rows)
        if on_arm_done is not None:
            on_arm_done(arm, len(batch))
    ref, ch = counts
    out = []
    for pid in batch_ids:
        (n_ref, c_ref), (n_ch, c_ch) = ref[pid], ch[pid]
        if n_ref != n_ch:
            raise RuntimeError(f"problem {pid!r}: the arms drew n={n_ref} and n={n_ch} samples; never compared")
        out.append(PairResult(problem_id=pid, n=n_ref, reference_c=c_ref, challenger_c=c_ch))
    return out


def arm_provenance(
    ev: EvalConfig, *, sandbox_image: str, vllm_version: str, model_hash: str, problems: Sequence[Problem]
) -> EvalProvenance:
    """How an arm is evaluated with ``ev`` (its first temperature): the gate refuses to compare
    arms whose provenance differs, so ``ssd round`` and the daemon build it the same way."""
    t = ev.t_eval[0]
    return EvalProvenance(
        temperature=t,
        top_p=ev.top_p,
        top_k=ev.top_k,
        n=ev.params_for(t).n,
        max_tokens=ev.max_tokens,
        seed=ev.seed,
        sandbox_image=sandbox_image,
        vllm_version=vllm_version,
        model_hash=model_hash,
        problem_set_hash=problem_set_hash(problems),
    )
