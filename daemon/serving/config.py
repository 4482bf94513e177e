"""The serving side's configuration: the ``endpoint:`` section of the one config file
(``daemon.config.DaemonConfig``) and ``ServeConfig``, the view of that file the serving stack
is built from (``DaemonConfig.serve_config()``, for ``ssdd run`` and ``ssdd serve`` alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ssd.vllm_server import ServerConfig


class EndpointConfig(BaseModel):
    """The public endpoint: address, keys, request caps, and how vLLM behind it is supervised."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535, description="0 picks a free port")
    alias: str = Field(
        "ssd",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="stable model name that always serves the champion",
    )
    api_keys: list[SecretStr] = Field(default_factory=list, description="empty: no auth")
    max_body_bytes: int = Field(1 << 20, ge=1024)
    request_timeout_s: float = Field(300.0, gt=0, description="longest silence from vLLM mid-request")
    connect_timeout_s: float = Field(5.0, gt=0)
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503 while vLLM is down")
    health_interval_s: float = Field(2.0, gt=0)
    health_timeout_s: float = Field(5.0, gt=0)
    health_failures: int = Field(3, ge=1, description="consecutive failed checks that count as a hang")
    restart_policy: Literal["always", "never"] = Field(
        "always", description="restart a vLLM that we started when it dies or hangs"
    )
    max_restarts: int = Field(5, ge=0, description="within restart_window_s; then stay down")
    restart_window_s: float = Field(3600.0, gt=0)
    keep_previous: int = Field(1, ge=0, description="former champions kept loaded for rollback")
    max_concurrency: int = Field(256, ge=1, description="connections to vLLM")
    # What one request may ask for (400 beyond), and one client may hold open (429 beyond).
    max_n: int = Field(8, ge=1, description="completions per request ('n')")
    max_best_of: int = Field(8, ge=1, description="'best_of' (completions route)")
    max_prompts: int = Field(16, ge=1, description="prompts in one batched completions request")
    max_tokens: int | None = Field(None, ge=1, description="'max_tokens' cap; default: the model's context length")
    max_total_tokens: int | None = Field(
        None,
        ge=1,
        description="prompts x n x max_tokens per request (a missing max_tokens counts as "
        "the context length); default: max_n x the context length",
    )
    max_concurrent_per_client: int = Field(
        32, ge=1, description="open requests per API key (without keys: per client address)"
    )
    limit_retry_after_s: int = Field(1, ge=1, description="Retry-After sent with 429")
    shutdown_timeout_s: float = Field(
        20.0, gt=0, description="bound on a graceful shutdown (open streams, then vLLM's own exit)"
    )
    champion_file: Path | None = Field(
        None,
        description="ssdd serve only: JSON {version, path} written by another process; promoted when it changes",
    )

    @field_validator("api_keys")
    @classmethod
    def _no_empty_keys(cls, v: list[SecretStr]) -> list[SecretStr]:
        if any(not k.get_secret_value().strip() for k in v):
            raise ValueError("api_keys must not contain empty keys")
        return v


class ServeConfig(BaseModel):
    """What the serving stack needs, taken from the one config file (not a file format of its own)."""

    model_config = ConfigDict(extra="forbid")
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    model: str = Field("smollm2-135m", description="model store name or folder of the base model")
    served_model_name: str | None = Field(None, description="default: the model's store name")
    data_dir: Path = Path(".data")
    state_path: Path | None = Field(None, description="default: <data_dir>/serve/registry.json")
    vllm_log: Path | None = Field(None, description="default: <data_dir>/serve/vllm.log")
    champion_file: Path | None = Field(None, description="endpoint.champion_file")

    def resolved_state_path(self) -> Path:
        return self.state_path or Path(self.data_dir) / "serve" / "registry.json"

    def resolved_vllm_log(self) -> Path:
        return self.vllm_log or Path(self.data_dir) / "serve" / "vllm.log"
