"""Swap latency and failed requests while the champion is swapped under streaming load.

For each swap: ``promote`` a new version (load + probe + pointer swap + retention), then time
the first request on the alias that starts after the swap (so it is served by the new
adapter). The reference, measured first under the same load, is that same one-token request
with no swap; the printed ratio is their medians'. Meanwhile N clients stream chat completions
through the endpoint in a loop; every exception or non-200 counts as a failure. Also times
rollbacks to the kept previous version.

    python bench/swap_latency.py                   # starts its own vLLM on 127.0.0.1:8202
    python bench/swap_latency.py --url http://127.0.0.1:8200   # attach to a running one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "serving"))

import openai  # noqa: E402

from daemon.serving.config import EndpointConfig  # noqa: E402
from daemon.serving.serve import ServingStack  # noqa: E402
from ssd.vllm_server import ServerConfig, VLLMServer  # noqa: E402

CHAT = [{"role": "user", "content": "Write a Python function that reverses a string."}]


def _pct(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 3), "max": round(xs[-1], 3), "min": round(xs[0], 3), "n": len(xs)}


async def _bench(stack: ServingStack, adapters: list[Path], clients: int, swaps: int, max_tokens: int) -> dict:
    c = openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=300)
    stop = asyncio.Event()
    ok, failures, chunks = 0, [], 0

    async def client_loop() -> None:
        nonlocal ok, chunks
        while not stop.is_set():
            try:
                stream = await c.chat.completions.create(
                    model="ssd", messages=CHAT, max_tokens=max_tokens, temperature=0.7, stream=True
                )
                async for _ in stream:
                    chunks += 1
                ok += 1
            except Exception as exc:
                failures.append(repr(exc)[:300])

    tag = time.strftime("%H%M%S")
    await asyncio.to_thread(stack.registry.promote, f"b{tag}-0", adapters[0])
    load = [asyncio.create_task(client_loop()) for _ in range(clients)]
    await asyncio.sleep(3.0)  # let the batch fill up
    # Reference, same load, no swap: what the same one-token request costs anyway. The ratio
    # below is then what a swap adds on top of queueing behind the streams.
    steady_s = []
    for _ in range(swaps):
        t0 = time.perf_counter()
        await c.completions.create(model="ssd", prompt="def f(x):", max_tokens=1, temperature=0)
        steady_s.append(time.perf_counter() - t0)
        await asyncio.sleep(1.0)
    promote_s, first_s = [], []
    for i in range(1, swaps + 1):
        t0 = time.perf_counter()
        await asyncio.to_thread(stack.registry.promote, f"b{tag}-{i}", adapters[i % len(adapters)])
        promote_s.append(time.perf_counter() - t0)
        await c.completions.create(model="ssd", prompt="def f(x):", max_tokens=1, temperature=0)
        first_s.append(time.perf_counter() - t0)
        await asyncio.sleep(1.0)
    rollback_s = []
    for _ in range(3):
        prev = stack.registry.snapshot().history[-1]
        t0 = time.perf_counter()
        await asyncio.to_thread(stack.registry.rollback, prev)
        await c.completions.create(model="ssd", prompt="def f(x):", max_tokens=1, temperature=0)
        rollback_s.append(time.perf_counter() - t0)
    stop.set()
    await asyncio.gather(*load)
    await c.close()
    return {
        "clients": clients,
        "swaps": swaps,
        "promote_s": _pct(promote_s),
        "promote_to_first_response_s": _pct(first_s),
        "rollback_to_first_response_s": _pct(rollback_s),
        "no_swap_response_s": _pct(steady_s),
        "ratio_first_response_vs_no_swap_p50": round(statistics.median(first_s) / statistics.median(steady_s), 2),
        "requests_ok": ok,
        "requests_failed": len(failures),
        "failures": failures[:5],
        "stream_chunks": chunks,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="attach to this vLLM server instead of starting one")
    ap.add_argument("--token-file", help="that server's bearer-token file (vllm.token beside its log)")
    ap.add_argument("--model-dir", default=str(REPO / ".data" / "models" / "smollm2-135m"))
    ap.add_argument("--vllm-port", type=int, default=8202)
    ap.add_argument("--port", type=int, default=8203, help="endpoint port")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--swaps", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--adapters-dir", default=str(REPO / ".data" / "bench" / "loras"))
    ap.add_argument("--out", help="write the JSON result here")
    args = ap.parse_args()

    from serving_loras import make_lora_adapters

    adapters = make_lora_adapters(Path(args.model_dir), Path(args.adapters_dir), (1, 2))
    tmp = Path(tempfile.mkdtemp(prefix="swapbench-"))
    if args.url:
        server = VLLMServer.attach(args.url, "smollm2-135m", ServerConfig(url=args.url, api_key_file=args.token_file))
    else:
        cfg = ServerConfig(port=args.vllm_port, cpu_kvcache_gib=2, max_lora_rank=16, max_loras=4)
        server = VLLMServer.start(Path(args.model_dir), "smollm2-135m", cfg, tmp / "vllm.log")
    stack = ServingStack(
        server, EndpointConfig(port=args.port), tmp / "registry.json", own_server=server.proc is not None
    )
    try:
        stack.start_in_thread()
        result = asyncio.run(_bench(stack, adapters, args.clients, args.swaps, args.max_tokens))
        stack.registry.unload_all()
    finally:
        stack.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
