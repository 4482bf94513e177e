"""Efficiency and error control of the sequential gate against today's fixed-size gate.

Everything through the real deciders (`policies.sequential_gate` with its ledgers; the
fixed-size reference through `policies.gate.decide_gate`), in one run, on synthetic pools
with a realistic spread of per-problem pass rates (`policies.simulate.REALISTIC`: 45% hard,
15% easy, 40% in between):

* P(any false promotion) over a life of `--null-rounds` null rounds (candidate exactly as good
  as the champion), each sequential test killed mid-test with probability 0.1 after a batch
  and resumed by replay; P(any false rollback) over as many re-evaluations;
* power for +2 / +5 / +10 points in one round and within 10 rounds, at the GPU example's
  design (`--pool` problems x n=4);
* expected generations per decision (both arms) for a clear loser (-5 points), a null
  candidate, the design's own 80%-power gain and a clear winner (+10), against the fixed-size
  gate sized for the same one-round power at that 80%-power gain (smallest size by bisection,
  measured in the same run). The ratio is fixed / sequential (target >= 2 for losers and
  winners).

Prints one JSON line. Every figure goes through the real deciders, so the cost is the
deciders' own: about 0.6 ms per simulated test of a 60-problem pool on one core, and about
6 minutes for the defaults (500 lives of 500 null rounds, 500 of 500 re-evaluations, 500
candidates per power figure) with ``--jobs 1``.

    python bench/gate_efficiency.py [--sims 500] [--null-rounds 500] [--pool 800] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_util import loadavg

from policies import gate_power
from policies.simulate import (
    REALISTIC,
    SeqCase,
    draw_rates,
    fixed_gate_problems_at_power,
    seq_false_rollbacks,
    seq_null_fwer,
    seq_power_within,
)


def _job(job: tuple):
    kind, args, kw = job
    fn = {"null": seq_null_fwer, "rollback": seq_false_rollbacks, "power": seq_power_within}[kind]
    return fn(*args, **kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=500, help="simulated lives / candidates per figure")
    ap.add_argument("--null-rounds", type=int, default=500)
    ap.add_argument("--null-pool", type=int, default=100, help="pool of the null lives (validity needs no size)")
    ap.add_argument("--pool", type=int, default=800, help="gate pool of the power and cost figures")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    null_case = SeqCase(label="null", n_problems=args.null_pool, n=args.n, rounds=args.null_rounds, crash_prob=0.1)
    design = SeqCase(label="design", n_problems=args.pool, n=args.n, crash_prob=0.1)
    sims, seed = args.sims, args.seed
    # The design's own 80%-power gain at test 1, from `gate_power` (the status page's figure).
    import numpy as np

    from policies import spending
    from policies.gate import GateConfig

    cfg = GateConfig()
    level = spending.next_level(cfg.alpha, 0, 0.0, cfg)
    rates = draw_rates(np.random.default_rng(seed), 20 * args.pool, REALISTIC)
    mdg = gate_power.min_detectable_gain(
        gate_power.Design(pool_problems=args.pool, n=args.n, level=level, settings=cfg), rates, sims=300, seed=seed
    )
    target = round(mdg.min_gain or 0.05, 4)
    jobs: list[tuple] = [
        ("null", (null_case,), dict(sims=sims, seed=seed)),
        ("rollback", (null_case,), dict(sims=sims, seed=seed + 1)),
    ]
    gains = (0.02, 0.05, 0.10)
    jobs += [("power", (d, design), dict(sims=sims, seed=seed + 2, horizons=(1, 10))) for d in gains]
    jobs += [("power", (d, design), dict(sims=sims, seed=seed + 3, horizons=(1,))) for d in (-0.05, 0.0, target)]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            out = list(pool.map(_job, jobs))
    else:
        out = [_job(j) for j in jobs]
    null, rollback, *rest = out
    power = dict(zip(gains, rest[:3]))
    loser, zero, at_target = rest[3:]
    seq_power_at_target = at_target.within[1]
    m_fixed, fixed_power = fixed_gate_problems_at_power(
        seq_power_at_target, target, args.n, sims=sims, seed=seed + 4, population=REALISTIC
    )
    fixed_gens = 2 * args.n * m_fixed
    cost = {
        "clear_loser_-5": loser.first_round_generations,
        "null_0": zero.first_round_generations,
        f"target_{target:+.3f}": at_target.first_round_generations,
        "clear_winner_+10": power[0.10].first_round_generations,
    }
    res = {
        "bench": "gate_efficiency",
        "sims": sims,
        "null": {
            "rounds": args.null_rounds,
            "pool": args.null_pool,
            "n": args.n,
            "p_any_false_promotion": null.estimate.rate,
            "upper95": null.estimate.upper95,
            "tests_per_life": null.estimate.mean_tests,
            "resumed_tests": null.resumed,
        },
        "rollback": {
            "reevaluations": args.null_rounds,
            "p_any_false_rollback": rollback.estimate.rate,
            "upper95": rollback.estimate.upper95,
        },
        "design": {"pool": args.pool, "n": args.n, "level_test_1": level, "batch_size": cfg.batch_size},
        "power": {
            f"+{int(d * 100)}": {
                "round_1": p.within[1],
                "within_10": p.within[10],
                "problems_round_1": p.first_round_problems,
            }
            for d, p in power.items()
        },
        "min_detectable_gain_80": mdg.min_gain,
        "sequential_power_at_target": seq_power_at_target,
        "fixed_gate": {"problems": m_fixed, "power_at_target": fixed_power, "generations": fixed_gens},
        "generations_per_decision": cost,
        "ratio_fixed_over_sequential": {k: round(fixed_gens / v, 2) if v else None for k, v in cost.items()},
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg": loadavg(),
    }
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
