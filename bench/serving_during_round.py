"""Latency of a short assistant request while a round samples, against the engine idle.

What is measured. The probe is what a coding assistant sends: a chat completion, greedy,
``max_tokens`` 16 (``ignore_eos``, so every probe decodes exactly 16 tokens), one at a time
with a short random gap. The load is exactly what a round's sampling stage sends:
``ssd.sampling.agenerate`` over the training prompts of the CPU default's split (starter set,
``heldout_frac`` 0.4) at T 1.6 / top-k 20 / top-p 0.8, ``max_tokens`` 256, with the arm's
concurrency and priority. For each arm the load starts, the bench waits until the engine runs
the arm's full batch (and ``--settle`` seconds more), sends ``--probes`` probes (none started
after ``--probe-window-s``), then cancels the load and waits until the engine is idle again.

    p50 ratio = p50(probe latency under the arm's load) / p50(probe latency, engine idle)
    p95 ratio = the same with p95

Arms (``--arms``; ``--list`` prints them), each against the idle reference of its own server:

    fcfs-32  the default scheduler (FCFS), round concurrency 32 (= --max-num-seqs 32)
    prio-32  --scheduling-policy priority, round requests at priority 10, assistant at 0
    fcfs-8   the default scheduler, round concurrency 8
    fcfs-28  the default scheduler, round concurrency 28: 4 of the 32 engine slots stay free
    (more: prio-8, prio-48; see --list)

By default one server runs, with ``--scheduling-policy priority``, and the FCFS arms send the
round's requests at the assistant's priority (0): vLLM's priority queue orders by (priority,
arrival time), so equal priorities are served first come, first served, and its preemption
victim is then the latest arrival, as FCFS's. ``--fcfs-server`` runs those arms on a second
server with the default FCFS policy instead (side by side; an idle server costs no CPU but about
4 GB of memory). The arms are interleaved, repeated ``--repeats`` times in rotating order; figures are over all probes
of an arm. Also reported: the engine's generation throughput during the arm (vLLM's generation
token counter over the probe window, probes included), which is what a lower round
concurrency costs.

Reading vLLM 0.32's scheduler (``vllm/v1/core/sched/scheduler.py``): a waiting request is
admitted only while fewer than ``max_num_seqs`` run, whatever the policy; the priority policy
orders the *waiting* queue and picks preemption victims when KV cache runs out, but does not
preempt to free a running slot. So with the round's client holding exactly ``max_num_seqs``
requests in flight, the assistant waits for a round request to finish under either policy.

    .venv/bin/python bench/serving_during_round.py
    .venv/bin/python bench/serving_during_round.py --arms fcfs-32,prio-32,fcfs-8,prio-8 --repeats 3

Prints the machine load average at start and end, a table, and (``--out``) JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from bench_util import free_port, loadavg  # noqa: E402

from ssd.vllm_auth import auth_headers  # noqa: E402

QUESTIONS = [
    "How do I reverse a list in Python?",
    "What does the `yield` keyword do?",
    "Write a one-line Python expression that sums the squares of 1..10.",
    "How do I read a file line by line in Python?",
    "What is the difference between a list and a tuple?",
    "How do I sort a dict by its values?",
]


@dataclass(frozen=True)
class Arm:
    name: str
    server: str  # "fcfs" or "prio"
    concurrency: int  # round requests in flight (0: idle reference)
    priority: int | None  # the round requests' priority (assistant probes carry 0)
    about: str


ARMS: dict[str, Arm] = {
    a.name: a
    for a in [
        Arm("fcfs-32", "fcfs", 32, None, "(a) default FCFS scheduler, round concurrency 32"),
        Arm("prio-32", "prio", 32, 10, "(b) --scheduling-policy priority, round at priority 10, concurrency 32"),
        Arm("fcfs-8", "fcfs", 8, None, "(c) default FCFS scheduler, round concurrency 8"),
        Arm("prio-8", "prio", 8, 10, "priority policy and round concurrency 8"),
        Arm("fcfs-28", "fcfs", 28, None, "FCFS, round concurrency 28: 4 of 32 engine slots kept free"),
        Arm("prio-48", "prio", 48, 10, "priority policy, round concurrency 48 (> max-num-seqs: a waiting queue)"),
    ]
}
DEFAULT_ARMS = "fcfs-32,prio-32,fcfs-8,fcfs-28"


def pct(xs: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    """Sum of one metric's samples in vLLM's /metrics (0 when absent)."""
    r = await client.get("/metrics", timeout=30)
    total = 0.0
    for line in r.text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_for(client: httpx.AsyncClient, pred, timeout_s: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        running = await metric(client, "vllm:num_requests_running")
        waiting = await metric(client, "vllm:num_requests_waiting")
        if pred(running, waiting):
            return time.monotonic() - t0
        await asyncio.sleep(0.5)
    print(f"    (timed out after {timeout_s:.0f} s waiting for {what})", flush=True)
    return time.monotonic() - t0


class Bench:
    def __init__(self, args, servers: dict, model: str, prompts: list):
        # servers: "prio" always; "fcfs" only with --fcfs-server (else FCFS arms run on "prio")
        self.args = args
        self.servers = servers  # name -> VLLMServer
        self.model = model
        self.prompts = prompts  # rendered training prompts
        self.offset = 0
        self.rng = random.Random(0)

    async def probe(self, client: httpx.AsyncClient, prio_server: bool) -> float:
        body = {
            "model": self.model,
            "max_tokens": self.args.probe_tokens,
            "temperature": 0.0,
            "ignore_eos": True,
            "messages": [{"role": "user", "content": self.rng.choice(QUESTIONS)}],
        }
        if prio_server:
            body["priority"] = 0
        t0 = time.perf_counter()
        r = await client.post("/v1/chat/completions", json=body, timeout=900)
        lat = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"probe failed: HTTP {r.status_code}: {r.text[:300]}")
        return lat

    async def segment(self, arm: Arm) -> tuple[list[float], float | None]:
        from ssd.sampling import SamplingParams, agenerate

        srv = self.servers[self.server_of(arm)]
        args = self.args
        async with httpx.AsyncClient(base_url=srv.base_url, headers=auth_headers(srv.base_url)) as client:
            task = None
            if arm.concurrency:
                # Rotate the prompts so every segment starts on prompts not just sampled.
                n = len(self.prompts)
                prompts = [self.prompts[(self.offset + i) % n] for i in range(3 * n)]
                self.offset += 2 * arm.concurrency
                params = SamplingParams(
                    temperature=1.6, top_k=20, top_p=0.8, max_tokens=args.round_tokens, n=1, seed=self.offset
                )
                task = asyncio.create_task(
                    agenerate(
                        srv.base_url,
                        self.model,
                        prompts,
                        params,
                        concurrency=arm.concurrency,
                        priority=arm.priority,
                        progress=False,
                        retries=0,
                    )
                )
                want = min(arm.concurrency, args.max_num_seqs)
                await wait_for(client, lambda r, w: r >= want, 120, f"{want} running")
                await asyncio.sleep(args.settle)
            tok0, t0 = await metric(client, "vllm:generation_tokens_total"), time.monotonic()
            lats = []
            for _ in range(args.probes):
                if len(lats) >= 2 and time.monotonic() - t0 > args.probe_window_s:
                    break  # bounded segments: an arm that makes probes wait minutes gets fewer
                lats.append(await self.probe(client, self.server_of(arm) == "prio"))
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            tput = (await metric(client, "vllm:generation_tokens_total") - tok0) / (time.monotonic() - t0)
            if task is not None:
                if task.done():
                    print("    (the round load ran out before the probes finished)", flush=True)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await wait_for(client, lambda r, w: r + w == 0, 300, "the engine to drain")
        return lats, (tput if arm.concurrency else None)

    def server_of(self, arm: Arm) -> str:
        return arm.server if arm.server in self.servers else "prio"

    async def run(self, arms: list[Arm]) -> dict[str, list[float]]:
        idle = {s: Arm(f"idle-{s}", s, 0, None, f"engine idle ({s} server)") for s in self.servers}
        plan = list(idle.values()) + arms
        lats: dict[str, list[float]] = {a.name: [] for a in plan}
        tputs: dict[str, list[float]] = {a.name: [] for a in plan}
        # Warm-up outside the measurement: first chat request, first sampling requests.
        for s in self.servers:
            base = self.servers[s].base_url
            async with httpx.AsyncClient(base_url=base, headers=auth_headers(base)) as c:
                await self.probe(c, s == "prio")
        for rep in range(self.args.repeats):
            k = rep % len(plan)
            for arm in plan[k:] + plan[:k]:
                print(f"  rep {rep} {arm.name:<9} load {loadavg()}", flush=True)
                ls, tp = await self.segment(arm)
                lats[arm.name] += ls
                if tp is not None:
                    tputs[arm.name].append(tp)
                print(
                    f"    probes p50 {pct(ls, 0.5):6.2f} s  max {max(ls):6.2f} s"
                    + (f"  engine {tp:6.1f} tok/s" if tp is not None else ""),
                    flush=True,
                )
        self.plan = plan
        self.tputs = tputs
        return lats


def start_servers(names: set[str], args, tmp: Path) -> dict:
    """Start the needed servers side by side (their start-ups overlap)."""
    from ssd.vllm_server import ServerConfig, VLLMServer

    out, errs = {}, {}

    def one(name: str) -> None:
        extra = ["--scheduling-policy", "priority"] if name == "prio" else []
        cfg = ServerConfig(
            port=free_port(),
            cpu_kvcache_gib=args.kv_gib,
            max_num_seqs=args.max_num_seqs,
            max_model_len=2048,
            max_lora_rank=args.max_lora_rank,
            max_loras=4,
            extra_args=extra,
            startup_timeout_s=args.startup_timeout_s,
        )
        try:
            out[name] = VLLMServer.start(Path(args.model_dir), "base", cfg, tmp / f"vllm-{name}.log")
        except Exception as exc:
            errs[name] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in sorted(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errs:
        for s in out.values():
            s.stop()
        raise RuntimeError(f"server start failed: {errs}")
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", default=DEFAULT_ARMS, help=f"comma-separated arms (default {DEFAULT_ARMS})")
    ap.add_argument("--list", action="store_true", help="list the arms and exit")
    ap.add_argument("--model-dir", default=str(REPO / ".data" / "models" / "smollm2-135m"))
    ap.add_argument("--probes", type=int, default=6, help="assistant requests per arm and repeat")
    ap.add_argument("--probe-tokens", type=int, default=16)
    ap.add_argument(
        "--probe-window-s",
        type=float,
        default=150.0,
        help="no new probe starts after this many seconds of a segment (once 2 are done)",
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--round-tokens", type=int, default=256, help="max_tokens of the round's requests")
    ap.add_argument(
        "--settle", type=float, default=10.0, help="seconds of load after the full batch runs, before probing"
    )
    ap.add_argument("--max-num-seqs", type=int, default=32, help="the servers' --max-num-seqs")
    ap.add_argument("--max-lora-rank", type=int, default=32)
    ap.add_argument("--kv-gib", type=float, default=1.0)
    ap.add_argument(
        "--fcfs-server", action="store_true", help="run the FCFS arms on a second server with the default FCFS policy"
    )
    ap.add_argument("--startup-timeout-s", type=float, default=1500.0)
    ap.add_argument(
        "--adapter-rank",
        type=int,
        default=0,
        help="with N > 0, round and probes decode with a rank-N all-linear adapter (as "
        "once a champion exists); default 0: the base model",
    )
    ap.add_argument("--adapters-dir", default=str(REPO / ".data" / "bench" / "loras"))
    ap.add_argument("--out", help="write the JSON result here")
    args = ap.parse_args()
    unknown = [n for n in arm_names(args) if n not in ARMS]
    if unknown and not args.list:
        ap.error(f"unknown arm(s) {unknown}; known: {sorted(ARMS)}")
    return args


def arm_names(args: argparse.Namespace) -> list[str]:
    return [n.strip() for n in args.arms.split(",") if n.strip()]


def load_champion(args: argparse.Namespace, servers: dict) -> str:
    """The model both the round and the probes decode with: a rank-N adapter, or the base."""
    if not args.adapter_rank:
        return "base"
    sys.path.insert(0, str(REPO / "bench"))
    from lora_decode import ALL_LINEAR, Adapter, make_adapter

    path = make_adapter(
        Path(args.model_dir),
        Path(args.adapters_dir) / Adapter("champion", args.adapter_rank).dirname,
        args.adapter_rank,
        ALL_LINEAR,
    )
    for s in servers.values():
        s.load_adapter("champion", path)
    return "champion"


def result_rows(bench: Bench, lats: dict[str, list[float]]) -> list[dict]:
    """One row per arm, its latencies against the idle reference of its own server."""
    rows = []
    for a in bench.plan:
        server = bench.server_of(a)
        ref = lats[f"idle-{server}"]
        ls = lats[a.name]
        prio = a.priority if a.priority is not None else (0 if server == "prio" else None)
        tputs = bench.tputs[a.name]
        rows.append(
            {
                "arm": a.name,
                "about": a.about,
                "policy": a.server if a.concurrency else "-",
                "server": server,
                "round_concurrency": a.concurrency,
                "round_priority": prio if a.concurrency else None,
                "probes": len(ls),
                "p50_s": round(pct(ls, 0.5), 3),
                "p95_s": round(pct(ls, 0.95), 3),
                "p50_ratio": round(pct(ls, 0.5) / pct(ref, 0.5), 2),
                "p95_ratio": round(pct(ls, 0.95) / pct(ref, 0.95), 2),
                "engine_tok_s": round(sum(tputs) / len(tputs), 1) if tputs else None,
                "latencies_s": [round(x, 3) for x in ls],
            }
        )
    return rows


def print_table(args: argparse.Namespace, rows: list[dict], elapsed_s: float) -> None:
    print()
    print(
        f"Assistant latency while a round samples: chat completion, {args.probe_tokens} tokens, "
        f"{'adapter rank ' + str(args.adapter_rank) if args.adapter_rank else 'base model'}; round: "
        f"T 1.6, {args.round_tokens} tokens; --max-num-seqs {args.max_num_seqs}; {args.repeats} interleaved "
        f"repeats; {elapsed_s:.0f} s"
    )
    head = (
        f"{'arm':<10} {'policy':<6} {'server':<6} {'conc':>4} {'prio':>4} {'n':>3} {'p50 s':>7} {'p95 s':>7} "
        f"{'p50 ratio':>9} {'p95 ratio':>9} {'engine tok/s':>12}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        tp = f"{r['engine_tok_s']:>12.1f}" if r["engine_tok_s"] is not None else f"{'-':>12}"
        print(
            f"{r['arm']:<10} {r['policy']:<6} {r['server']:<6} {r['round_concurrency']:>4} "
            f"{'-' if r['round_priority'] is None else r['round_priority']:>4} {r['probes']:>3} "
            f"{r['p50_s']:>7.2f} {r['p95_s']:>7.2f} {r['p50_ratio']:>9.2f} {r['p95_ratio']:>9.2f} {tp}"
        )
    print(
        "policy: the scheduling the arm stands for (fcfs on the prio server = every request at priority 0);\n"
        "prio: the round requests' priority (assistant: 0); ratios: against the idle reference of the same "
        "server;\nengine tok/s: all generated tokens per second during the probe window (round + probes)"
    )


def main() -> int:
    args = parse_args()
    if args.list:
        for a in ARMS.values():
            print(f"{a.name:<9} {a.about}")
        return 0
    arms = [ARMS[n] for n in arm_names(args)]

    from ssd.prompts import render_for_model
    from ssd.sources.starter import load_starter
    from ssd.split import SplitConfig, split

    start_load = loadavg()
    print(f"load average at start: {start_load}  (cores: {os.cpu_count()})", flush=True)
    train = split(load_starter(), SplitConfig(heldout_frac=0.4, seed=0)).train
    prompts = [render_for_model(p, args.model_dir) for p in train]
    tmp = Path(tempfile.mkdtemp(prefix="serving-round-"))
    t0 = time.monotonic()
    wanted = {a.server for a in arms} if args.fcfs_server else {"prio"}
    print(f"starting servers {sorted(wanted)} (logs in {tmp})", flush=True)
    servers = start_servers(wanted, args, tmp)
    print(f"  started in {time.monotonic() - t0:.0f} s", flush=True)
    try:
        bench = Bench(args, servers, load_champion(args, servers), prompts)
        lats = asyncio.run(bench.run(arms))
    finally:
        for s in servers.values():
            s.stop()
    end_load = loadavg()
    rows = result_rows(bench, lats)
    print_table(args, rows, time.monotonic() - t0)
    print(f"load average at start: {start_load}; at end: {end_load}  (cores: {os.cpu_count()})")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"load_start": start_load, "load_end": end_load, "args": vars(args), "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
