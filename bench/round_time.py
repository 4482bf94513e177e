"""One CPU-default round's stages on the real stack, timed, and distillation at 1 vs 2 threads.

What runs (the project's own functions, one vLLM server started here on a free loopback port,
the configured sandbox):

1. **sampling**: ``ssd.sampling.sample`` over the config's training prompts (the problem pool's
   train split, as a round without captured prompts uses it) at ``sampling.params``, with the
   round's concurrency and priority;
2. **filter**: ``ssd.filters.filter_samples`` (seconds only: it is pure Python);
3. **distillation**: ``ssd.distill.distill`` of a fresh LoRA (the first round's case; later
   rounds continue the champion's adapter, same cost) with the config's ``distill`` section,
   the server idle beside it, as in a round;
4. **evaluation** (``--skip-eval`` leaves it out): the candidate is loaded into the server and
   both arms (the base as champion, the candidate) are evaluated with ``ssd.evaluate.evaluate``
   at the first ``evaluation.t_eval`` on ``gate.max_problems`` problems of the gate pool (a
   seeded sample of it; the sequential gate evaluates at most that many a test, so this is a
   round's longest evaluation).

Then the **comparison** the round-time question needs: the same distillation (same kept
samples, ``--compare-steps`` optimizer steps) at ``cpu_threads`` 1 and 2, first with the
server idle beside it, then (``--trickle-interval-s`` > 0) with the server answering a steady
trickle of short assistant requests (one greedy ``--trickle-tokens``-token completion every
``--trickle-interval-s`` seconds, start to start; a slower answer delays the next). For every
distillation it also records the worker's CPU seconds (the child's rusage) and the CPU the
vLLM process tree burnt meanwhile (``/proc``), so a server that spins while idle shows up as
vLLM cores used with nothing to serve. The vLLM tree's CPU is also sampled for
``--idle-probe-s`` seconds with nothing running at all.

    speedup_2_over_1 = training tokens/s at 2 threads / training tokens/s at 1 thread

(same data and steps, so it equals the steps/s ratio; > 1: 2 threads are faster). Training
tokens/s and steps/s are the worker's own (``train_runtime_s`` in the adapter manifest: model
loading excluded); ``wall_s`` is the whole ``distill()`` call.

Output: progress on stderr, then one JSON line on stdout (also written to ``--out``). Run it
where nothing else heavy runs, or under the shared lock:

    flock /tmp/ssd-heavy.lock .venv/bin/python bench/round_time.py --limit-prompts 8 --max-steps 4
    flock /tmp/ssd-heavy.lock .venv/bin/python bench/round_time.py            # a full-size round
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx
from bench_util import free_port, loadavg

from daemon.config import DaemonConfig, load_daemon_config
from ssd import model_store
from ssd.distill import DistillConfig, distill
from ssd.evaluate import evaluate
from ssd.filters import filter_samples
from ssd.problem_sets import build_problem_sets
from ssd.problems import Problem
from ssd.sampling import read_samples, sample
from ssd.vllm_auth import auth_headers
from ssd.vllm_open import open_vllm
from ssd.vllm_server import VLLMServer

TRICKLE_PROMPT = 'def is_palindrome(s: str) -> bool:\n    """Return True if s reads the same backwards."""\n'
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg} (load {loadavg()})", file=sys.stderr, flush=True)


# -- CPU accounting ---------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system, all threads) per process name of ``pid``'s tree."""
    by_name: dict[str, float] = {}
    for p in _tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return by_name


@contextmanager
def cpu_meter(server_pid: int | None) -> Iterator[dict[str, Any]]:
    """Wall seconds, reaped children's CPU seconds (the distill worker) and the vLLM tree's
    cores used over the block, into the yielded dict when it ends."""
    out: dict[str, Any] = {}
    v0 = tree_cpu(server_pid) if server_pid else {}
    r0, t0, load0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic(), os.getloadavg()[0]
    try:
        yield out
    finally:
        wall = time.monotonic() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        v1 = tree_cpu(server_pid) if server_pid else {}
        child_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        used = {k: v - v0.get(k, 0.0) for k, v in v1.items()}
        out.update(
            wall_s=round(wall, 2),
            child_cpu_s=round(child_cpu, 2),
            vllm_cores=round(sum(used.values()) / wall, 3) if server_pid else None,
            vllm_cores_by_process={k: round(v / wall, 3) for k, v in used.items() if v > 0.005 * wall},
            load_1m_start=round(load0, 2),
            load_1m_end=round(os.getloadavg()[0], 2),
        )


# -- the trickle of assistant requests ----------------------------------------------------------


class Trickle:
    """One short greedy completion every ``interval_s`` seconds (start to start) in a thread."""

    def __init__(self, server: VLLMServer, interval_s: float, tokens: int):
        self.server, self.interval_s, self.tokens = server, interval_s, tokens
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def _run(self) -> None:
        body = {
            "model": self.server.served_model_name,
            "prompt": TRICKLE_PROMPT,
            "max_tokens": self.tokens,
            "temperature": 0.0,
            "priority": 0,  # an assistant's request (the round's carry sampling.priority)
        }
        base = self.server.base_url
        with httpx.Client(base_url=base, headers=auth_headers(base), timeout=600) as client:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    r = client.post("/v1/completions", json=body)
                    if r.status_code == 200:
                        self.latencies.append(time.monotonic() - t0)
                    else:
                        self.errors.append(f"HTTP {r.status_code}: {r.text[:120]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc)[:160])
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - t0)))

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=660)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "interval_s": self.interval_s,
            "tokens": self.tokens,
            "answered": len(lat),
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
            "p50_s": round(statistics.median(lat), 3) if lat else None,
            "max_s": round(lat[-1], 3) if lat else None,
        }


# -- the stages ---------------------------------------------------------------------------------


def sampling_stage(cfg: DaemonConfig, server: VLLMServer, model, train: list[Problem], work: Path) -> dict:
    with cpu_meter(None) as m:
        report = sample(
            server.base_url,
            server.served_model_name,
            train,
            model.path,
            cfg.sampling.params,
            work / "samples.jsonl",
            concurrency=cfg.sampling.concurrency,
            progress=False,
            priority=cfg.sampling.priority,
        )
    s = m["wall_s"]
    return {
        "seconds": s,
        "prompts": len(train),
        "samples": report.generated,
        "rejected": report.rejected,
        "generated_tokens": report.completion_tokens,
        "prompts_per_s": round(len(train) / s, 4),
        "generated_tokens_per_s": round(report.completion_tokens / s, 2),
        "max_tokens": cfg.sampling.params.max_tokens,
        "concurrency": cfg.sampling.concurrency,
    }


def filter_stage(cfg: DaemonConfig, work: Path) -> tuple[dict, Path]:
    t0 = time.monotonic()
    report = filter_samples(read_samples(work / "samples.jsonl"), cfg.sampling.filters)
    train_path = work / "train.jsonl"
    train_path.write_text("".join(r.model_dump_json() + "\n" for r in report.kept))
    return {
        "seconds": round(time.monotonic() - t0, 3),
        "kept": report.kept_count,
        "dropped": report.dropped,
    }, train_path


def timed_distill(
    model_dir: Path, train_path: Path, out_dir: Path, dcfg: DistillConfig, server_pid: int | None
) -> dict[str, Any]:
    """``distill()`` into ``out_dir``, with the worker's own rates and the CPU both sides used."""
    tail: list[str] = []

    def on_line(line: str) -> None:
        tail.append(line)
        del tail[:-20]
        if "distill.progress" in line:
            print("    " + line[-160:], file=sys.stderr, flush=True)

    with cpu_meter(server_pid) as m:
        manifest = distill(model_dir, train_path, out_dir, dcfg, round_id=out_dir.parent.name, on_line=on_line)
    steps, runtime = manifest.steps, manifest.train_runtime_s
    losses = [p.loss for p in manifest.loss_curve]
    return {
        "cpu_threads": dcfg.cpu_threads,
        "seconds": m["wall_s"],
        "train_runtime_s": round(runtime, 2),
        "steps": steps,
        "s_per_step": round(runtime / steps, 2) if steps else None,
        "steps_per_s": round(manifest.steps_per_s, 5),
        "training_tokens": manifest.tokens.tokens_seen,
        "training_tokens_per_s": round(manifest.tokens_per_s, 2),
        "examples": manifest.examples.used,
        "worker_cpu_s": m["child_cpu_s"],
        "worker_cores": round(m["child_cpu_s"] / m["wall_s"], 3),
        "vllm_cores": m["vllm_cores"],
        "vllm_cores_by_process": m["vllm_cores_by_process"],
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "load_1m": [m["load_1m_start"], m["load_1m_end"]],
    }


def gate_problems(cfg: DaemonConfig, pool: list[Problem], limit: int | None) -> list[Problem]:
    """A seeded sample of the gate pool, as many as one sequential test evaluates at most."""
    k = min(len(pool), cfg.gate.max_problems or len(pool), limit or len(pool))
    return random.Random(0).sample(pool, k)


def evaluation_stage(
    cfg: DaemonConfig, server: VLLMServer, model, sandbox, problems: list[Problem], adapter_dir: Path, work: Path
) -> dict:
    """Load the candidate, then both arms on the same problems at one decoding (as the gate)."""
    ev = cfg.evaluation.model_copy(update={"t_eval": [cfg.evaluation.t_eval[0]]})
    t = ev.t_eval[0]
    t0 = time.monotonic()
    server.load_adapter("round-time-candidate", adapter_dir)
    load_s = time.monotonic() - t0
    arms = {}
    for arm, name in (("champion", server.served_model_name), ("candidate", "round-time-candidate")):
        log(f"evaluate {arm} ({name}) on {len(problems)} problems")
        with cpu_meter(None) as m:
            report = evaluate(
                server.base_url,
                name,
                problems,
                model.path,
                sandbox,
                ev,
                progress=False,
                details_path=work / f"{arm}_eval.samples.jsonl",
            )
        at = report.at(t)
        arms[arm] = {
            "seconds": m["wall_s"],
            "generate_s": round(at.generate_s, 2),
            "judge_s": round(at.judge_s, 2),
            "generated_tokens": at.completion_tokens,
            "generated_tokens_per_s": round(at.completion_tokens / at.generate_s, 2) if at.generate_s else None,
            "truncated": at.truncated,
            "pass_at_1": round(at.pass_at_k[1], 4),
        }
    s = load_s + sum(a["seconds"] for a in arms.values())
    tokens = sum(a["generated_tokens"] for a in arms.values())
    return {
        "seconds": round(s, 2),
        "adapter_load_s": round(load_s, 2),
        "problems": len(problems),
        "t_eval": t,
        "n": ev.params_for(t).n,
        "max_tokens": ev.max_tokens,
        "problem_arm_pairs_per_s": round(2 * len(problems) / s, 4),
        "s_per_problem_pair": round(s / len(problems), 2),
        "generated_tokens": tokens,
        "generated_tokens_per_s": round(tokens / s, 2),
        "arms": arms,
    }


def comparison(
    args: argparse.Namespace, cfg: DaemonConfig, server: VLLMServer, model, train_path: Path, work: Path
) -> dict:
    """Distillation at each of ``--compare-threads`` beside the idle server, then under a trickle."""
    pid = server.proc.pid if server.proc is not None else None
    threads = [int(x) for x in args.compare_threads.split(",")]
    conditions: list[tuple[str, Callable[[], Any]]] = [("idle", nullcontext)]
    if args.trickle_interval_s > 0:
        conditions.append(("trickle", lambda: Trickle(server, args.trickle_interval_s, args.trickle_tokens)))
    runs: list[dict] = []
    for cond, make in conditions:
        for n in threads:
            dcfg = cfg.distill.model_copy(update={"cpu_threads": n, "max_steps": args.compare_steps})
            log(f"compare: distill {args.compare_steps} steps at {n} thread(s), server {cond}")
            with make() as load:
                run = timed_distill(Path(model.path), train_path, work / f"compare-{cond}-{n}" / "adapter", dcfg, pid)
            run["server"] = cond
            if isinstance(load, Trickle):
                run["trickle"] = load.summary()
            log(
                f"  {run['train_runtime_s']:.1f} s for {run['steps']} steps = {run['training_tokens_per_s']:.1f} "
                f"tokens/s; worker {run['worker_cores']:.2f} cores, vLLM {run['vllm_cores']} cores"
            )
            runs.append(run)
    ratios = {}
    for cond, _ in conditions:
        by = {r["cpu_threads"]: r for r in runs if r["server"] == cond}
        if 1 in by and 2 in by:
            ratios[cond] = round(by[2]["training_tokens_per_s"] / by[1]["training_tokens_per_s"], 3)
    return {"steps": args.compare_steps, "runs": runs, "speedup_2_over_1": ratios}


def idle_probe(pid: int | None, seconds: float) -> dict:
    """The vLLM tree's CPU over ``seconds`` with nothing sent to it."""
    with cpu_meter(pid) as m:
        time.sleep(seconds)
    return {"seconds": m["wall_s"], "vllm_cores": m["vllm_cores"], "vllm_cores_by_process": m["vllm_cores_by_process"]}


def run(args: argparse.Namespace) -> dict:
    cfg = load_daemon_config(Path(args.config))
    if cfg.server.url:
        raise SystemExit("round_time starts its own server; the config names server.url")
    model = model_store.resolve(cfg.data_dir, cfg.model)
    sets = build_problem_sets(cfg, cfg.heldout)
    train = sets.train[: args.limit_prompts] if args.limit_prompts else sets.train
    if args.max_steps:
        cfg = cfg.model_copy(update={"distill": cfg.distill.model_copy(update={"max_steps": args.max_steps})})
    problems = gate_problems(cfg, sets.gate, args.limit_prompts)
    server_cfg = cfg.server.model_copy(update={"port": free_port()})
    result: dict[str, Any] = {
        "bench": "round_time",
        "config": args.config,
        "model": model.name,
        "cores": os.cpu_count(),
        "load_start": loadavg(),
        "distill": json.loads(cfg.distill.model_dump_json(include={"lora_rank", "epochs", "cpu_threads", "max_steps"})),
    }
    bench_dir = cfg.data_dir / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="round-time-", dir=bench_dir) as tmp:
        work = Path(tmp)
        log(f"starting vLLM on port {server_cfg.port}")
        t0 = time.monotonic()
        with open_vllm(server_cfg, cfg.served_model_name or model.name, model, work / "vllm.log") as server:
            pid = server.proc.pid if server.proc is not None else None
            result["server_start_s"] = round(time.monotonic() - t0, 1)
            sandbox_cm: Any = nullcontext(None)
            if not args.skip_eval:
                from sandbox import open_sandbox

                sandbox_cm = open_sandbox(cfg.sandbox)
            with sandbox_cm as sandbox:
                stages: dict[str, Any] = {}
                log(f"sampling {len(train)} prompts")
                stages["sampling"] = sampling_stage(cfg, server, model, train, work)
                stages["filter"], train_path = filter_stage(cfg, work)
                result["vllm_idle_after_sampling"] = idle_probe(pid, args.idle_probe_s)
                log(f"distilling {stages['filter']['kept']} samples at {cfg.distill.cpu_threads} thread(s)")
                adapter_dir = work / "round" / "adapter"
                stages["distillation"] = timed_distill(Path(model.path), train_path, adapter_dir, cfg.distill, pid)
                if not args.skip_eval:
                    stages["evaluation"] = evaluation_stage(cfg, server, model, sandbox, problems, adapter_dir, work)
                result["stages"] = stages
                result["round_s"] = round(sum(s["seconds"] for s in stages.values()), 1)
                if args.compare_steps:
                    result["vllm_idle_before_comparison"] = idle_probe(pid, args.idle_probe_s)
                    result["comparison"] = comparison(args, cfg, server, model, train_path, work)
    result["load_end"] = loadavg()
    result["wall_s"] = round(time.monotonic() - t_all, 1)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "deploy" / "config" / "cpu-default.yaml"))
    ap.add_argument("--limit-prompts", type=int, help="sample only the first N training prompts (and evaluate N)")
    ap.add_argument("--max-steps", type=int, help="cap the round's distillation at N optimizer steps")
    ap.add_argument("--skip-eval", action="store_true", help="leave out the evaluation of both arms")
    ap.add_argument("--compare-steps", type=int, default=2, help="steps of each comparison distill (0: none)")
    ap.add_argument("--compare-threads", default="1,2", help="the cpu_threads values compared")
    ap.add_argument(
        "--trickle-interval-s", type=float, default=1.0, help="one assistant request this often (0: no trickle arms)"
    )
    ap.add_argument("--trickle-tokens", type=int, default=16)
    ap.add_argument("--idle-probe-s", type=float, default=5.0, help="vLLM CPU sampled this long with nothing to do")
    ap.add_argument("--out", type=Path, help="also write the JSON result here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import structlog

    args = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    result = run(args)
    line = json.dumps(result)
    if args.out:
        args.out.write_text(line + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
