"""Shared fixtures over the real parts: the prepared model, one vLLM server, the sandbox.

Each expensive part starts once per test session and is shared; tests that change server
state (adapters) use fresh, versioned adapter names so they cannot disturb each other.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


from net_util import free_port  # noqa: E402  (tests/ is on sys.path under pytest)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Where the prepared model lives (shared with `make test`'s bootstrap)."""
    root = Path(os.environ.get("SSD_TEST_DATA", REPO / ".data"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def model_dir(data_root: Path) -> Path:
    from ssd.model_store import prepare_smollm2

    return Path(prepare_smollm2(data_root).path)


@pytest.fixture(scope="session")
def vllm_server(model_dir: Path, tmp_path_factory):
    from ssd.vllm_server import ServerConfig, VLLMServer

    # Developer shortcut: reuse an already running server (same model, served as
    # "smollm2-135m", LoRA enabled) instead of paying a 60-90 s start per session.
    if os.environ.get("SSD_TEST_VLLM_URL"):
        yield VLLMServer.attach(os.environ["SSD_TEST_VLLM_URL"], "smollm2-135m")
        return
    cfg = ServerConfig(port=free_port(), cpu_kvcache_gib=2, max_lora_rank=16, max_loras=4, max_model_len=2048)
    log_path = tmp_path_factory.mktemp("vllm") / "vllm.log"
    server = VLLMServer.start(model_dir, "smollm2-135m", cfg, log_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_sandbox():
    from sandbox import SandboxConfig, open_sandbox

    with open_sandbox(SandboxConfig(backend="docker", workers=2)) as sb:
        yield sb
