"""Fixtures for the serving tests: real LoRA adapters and an endpoint over the shared vLLM, or
the same endpoint over a fake vLLM (``fake_vllm.py``) for tests that need no model."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from serving_loras import make_lora_adapter

_versions = itertools.count(1)


@pytest.fixture(scope="session")
def serving_server(request):
    """The session vLLM server, or one already running at $SSD_TEST_VLLM_URL (local iteration)."""
    url = os.environ.get("SSD_TEST_VLLM_URL")
    if not url:
        return request.getfixturevalue("vllm_server")
    from ssd.vllm_server import ServerConfig, VLLMServer

    token_file = os.environ.get("SSD_TEST_VLLM_TOKEN_FILE")
    return VLLMServer.attach(url, "smollm2-135m", ServerConfig(url=url, api_key_file=token_file))


@pytest.fixture(scope="session")
def lora_pair(model_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """Two perturbed rank-8 adapters whose greedy outputs differ from the base and each other."""
    root = tmp_path_factory.mktemp("loras")
    return make_lora_adapter(model_dir, root / "a", seed=1), make_lora_adapter(model_dir, root / "b", seed=2)


@pytest.fixture(scope="session")
def zero_lora(model_dir: Path, tmp_path_factory) -> Path:
    """A freshly initialised adapter (lora_B == 0): loads fine but changes nothing."""
    return make_lora_adapter(model_dir, tmp_path_factory.mktemp("loras0") / "zero", seed=3, scale=0.0)


@pytest.fixture
def new_version():
    """Unique versions per test: tests share one vLLM server and names are per version."""
    return lambda tag="v": f"{tag}{next(_versions)}"


@pytest.fixture
def make_stack(serving_server, tmp_path):
    from daemon.serving.config import EndpointConfig
    from daemon.serving.serve import ServingStack

    stacks = []

    def make(**endpoint_kw):
        cfg = EndpointConfig(port=0, **endpoint_kw)
        stack = ServingStack(serving_server, cfg, tmp_path / f"registry{len(stacks)}.json").start_in_thread()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.registry.unload_all()
        stack.close()


@pytest.fixture
def stack(make_stack):
    return make_stack()


# -- without a model: the fake vLLM ------------------------------------------------------------
@pytest.fixture
def fake_vllm():
    from fake_vllm import FakeVLLM

    fake = FakeVLLM(token_delay_s=0.01).start()
    yield fake
    fake.stop()


@pytest.fixture
def make_fake_stack(fake_vllm, tmp_path):
    """ServingStack (registry, supervisor, endpoint in a thread) over the fake vLLM."""
    from daemon.serving.config import EndpointConfig
    from daemon.serving.serve import ServingStack
    from ssd.vllm_server import VLLMServer

    stacks = []

    def make(**endpoint_kw):
        cfg = EndpointConfig(port=0, **{"health_interval_s": 0.2, **endpoint_kw})
        server = VLLMServer.attach(fake_vllm.url, "smollm2-135m")
        stack = ServingStack(server, cfg, tmp_path / f"fake-registry{len(stacks)}.json").start_in_thread()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()
