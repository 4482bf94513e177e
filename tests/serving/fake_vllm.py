"""A stand-in for vLLM's OpenAI server, for serving tests that need no model.

It speaks the parts of vLLM's API the endpoint and the registry use: ``/health``, ``/v1/models``
(with ``max_model_len``), runtime LoRA load/unload (400 when the name is taken, 404 when it
is unknown), ``/v1/completions`` and ``/v1/chat/completions`` (whole or streamed, usage,
top logprobs that depend on the adapter, so the registry's probe sees it applied) and
``/metrics`` with ``vllm:num_requests_running``. Like vLLM, it aborts a request whose
connection closes (``aborted`` counts them). Each token takes ``token_delay_s``.

In a thread: ``FakeVLLM(token_delay_s=0.01).start()``; as a process (to be SIGSTOPped or
killed): ``python tests/serving/fake_vllm.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

BASE = "smollm2-135m"


def make_fake_adapter(root: Path, name: str) -> Path:
    """A folder that passes adapter validation; its bytes (and so its vLLM name) depend on ``name``."""
    d = Path(root) / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA", "tag": name}))
    (d / "adapter_model.safetensors").write_bytes(name.encode() * 16)
    return d


class FakeState:
    def __init__(self, token_delay_s: float, max_model_len: int):
        self.token_delay_s = token_delay_s
        self.max_model_len = max_model_len
        self.loras: dict[str, str] = {}
        self.running = 0
        self.started = 0
        self.aborted = 0
        self.finished = 0
        self.requests: list[dict] = []


def _error(status: int, message: str, type_: str = "BadRequestError") -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": status}}, status_code=status
    )


def _offset(model: str) -> float:
    return 0.0 if model == BASE else int(hashlib.sha256(model.encode()).hexdigest()[:4], 16) / 65536 + 0.1


def _token(model: str, i: int) -> str:
    return f" {'b' if model == BASE else hashlib.sha256(model.encode()).hexdigest()[:3]}{i}"


router = APIRouter()


def _state(request: Request) -> FakeState:
    return request.app.state.fake


@router.get("/health")
async def health():
    return PlainTextResponse("")


@router.get("/v1/models")
async def models(request: Request):
    state = _state(request)
    cards = [{"id": BASE, "object": "model", "root": "/models/x", "parent": None, "max_model_len": state.max_model_len}]
    cards += [
        {"id": n, "object": "model", "root": p, "parent": BASE, "max_model_len": state.max_model_len}
        for n, p in state.loras.items()
    ]
    return {"object": "list", "data": cards}


@router.post("/v1/load_lora_adapter")
async def load(request: Request):
    state, body = _state(request), await request.json()
    name, path = body.get("lora_name"), body.get("lora_path")
    if name in state.loras:
        return _error(400, f"The lora adapter '{name}' has already been loaded.")
    if not path or not Path(path).is_dir():
        return _error(400, f"no adapter at {path}")
    state.loras[name] = path
    return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")


@router.post("/v1/unload_lora_adapter")
async def unload(request: Request):
    state, name = _state(request), (await request.json()).get("lora_name")
    if name not in state.loras:
        return _error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
    del state.loras[name]
    return PlainTextResponse("ok")


@router.get("/metrics")
async def metrics(request: Request):
    state = _state(request)
    return PlainTextResponse(
        f'vllm:num_requests_running{{model_name="{BASE}"}} {float(state.running)}\n'
        f'vllm:num_requests_waiting{{model_name="{BASE}"}} 0.0\n'
        f"fake:aborted_total {state.aborted}\nfake:started_total {state.started}\n"
    )


@router.post("/v1/completions")
async def completions(request: Request):
    return await generate(request, chat=False)


@router.post("/v1/chat/completions")
async def chat(request: Request):
    return await generate(request, chat=True)


async def generate(request: Request, chat: bool):
    state, body = _state(request), await request.json()
    state.requests.append(body)
    model = body.get("model")
    if model != BASE and model not in state.loras:
        return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
    n_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
    if n_tokens > state.max_model_len:
        return _error(400, f"max_tokens {n_tokens} is more than max_model_len {state.max_model_len}")
    if body.get("stream"):
        return StreamingResponse(stream(state, model, n_tokens, chat, body), media_type="text/event-stream")
    return await whole(request, state, model, n_tokens, chat, body)


async def tokens(state: FakeState, model: str, n: int):
    state.running += 1
    state.started += 1
    try:
        for i in range(n):
            await asyncio.sleep(state.token_delay_s)
            yield i, _token(model, i)
        state.finished += 1
    except (asyncio.CancelledError, GeneratorExit):
        state.aborted += 1
        raise
    finally:
        state.running -= 1


def choice(model: str, text: str, chat: bool, body: dict, final: bool = True) -> dict:
    if chat:
        return {
            "index": 0,
            "delta" if not final else "message": {"role": "assistant", "content": text},
            "finish_reason": "length" if final else None,
        }
    c = {"index": 0, "text": text, "finish_reason": "length" if final else None}
    if body.get("logprobs"):
        off = _offset(model)
        c["logprobs"] = {
            "tokens": [text],
            "token_logprobs": [-1.0 - off],
            "top_logprobs": [{f"a{k}": -1.0 - off - k for k in range(int(body["logprobs"]))}],
        }
    return c


async def whole(request: Request, state: FakeState, model: str, n: int, chat: bool, body: dict):
    async def work() -> str:
        return "".join([t async for _, t in tokens(state, model, n)])

    task = asyncio.ensure_future(work())

    async def watch() -> None:  # vLLM's @with_cancellation
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        text = await task
    except asyncio.CancelledError:
        return PlainTextResponse("", status_code=499)
    finally:
        watcher.cancel()
    return {
        "id": "x",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice(model, text, chat, body)],
        "usage": {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": n + 3},
    }


async def stream(state: FakeState, model: str, n: int, chat: bool, body: dict):
    obj = "chat.completion.chunk" if chat else "text_completion"
    async for i, t in tokens(state, model, n):
        c = choice(model, t, chat, body, final=False)
        if i == n - 1:
            c["finish_reason"] = "length"
        yield "data: " + json.dumps({"id": "x", "object": obj, "model": model, "choices": [c]}) + "\n\n"
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": n + 3}
        yield "data: " + json.dumps({"id": "x", "object": obj, "model": model, "choices": [], "usage": usage}) + "\n\n"
    yield "data: [DONE]\n\n"


def create_fake_app(state: FakeState) -> FastAPI:
    app = FastAPI()
    app.state.fake = state
    app.include_router(router)
    return app


class FakeVLLM:
    """The fake in a background thread of this process."""

    def __init__(self, token_delay_s: float = 0.005, max_model_len: int = 2048, port: int = 0):
        from net_util import free_port

        self.state = FakeState(token_delay_s, max_model_len)
        self.port = port or free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(create_fake_app(self.state), host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeVLLM:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake vLLM did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-delay-s", type=float, default=0.005)
    ap.add_argument("--max-model-len", type=int, default=2048)
    args = ap.parse_args()
    uvicorn.run(
        create_fake_app(FakeState(args.token_delay_s, args.max_model_len)),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
