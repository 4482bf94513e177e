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
    # "smollm2-135m", LoRA enabled) instead of paying a 60-90 s start per session;
    # $SSD_TEST_VLLM_TOKEN_FILE: its bearer-token file (vllm.token next to its log).
    if os.environ.get("SSD_TEST_VLLM_URL"):
        url, token_file = os.environ["SSD_TEST_VLLM_URL"], os.environ.get("SSD_TEST_VLLM_TOKEN_FILE")
        yield VLLMServer.attach(url, "smollm2-135m", ServerConfig(url=url, api_key_file=token_file))
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


# -- marker drift ------------------------------------------------------------------------------
# `-m "not vllm"` / `-m "not docker"` must really leave those parts alone. A test that needs a
# shared real part through a fixture must carry the part's marker, and so must one that starts
# vLLM or talks to Docker in this process (guarded below). Parts started in a child process
# (`ssdd serve`, `ssd round`) are not seen here: those modules mark themselves.
FIXTURE_MARKERS = {"vllm_server": "vllm", "serving_server": "vllm", "docker_sandbox": "docker"}
_running: list[pytest.Item] = []  # the test being set up, run or torn down


def _markers(item: pytest.Item) -> set[str]:
    return {m.name for m in item.iter_markers()}


def missing_markers(item: pytest.Item) -> list[str]:
    """What ``item`` lacks: its fixtures (transitively) need these markers."""
    have = _markers(item)
    names = getattr(item, "fixturenames", ())
    return [f"{fx} needs @pytest.mark.{m}" for fx, m in FIXTURE_MARKERS.items() if fx in names and m not in have]


class MarkerDrift(RuntimeError):
    pass


def _guard(part: str, marker: str) -> None:
    item = _running[-1] if _running else None
    if item is not None and marker not in _markers(item):
        raise MarkerDrift(f"{item.nodeid} {part} without @pytest.mark.{marker}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = missing_markers(item)
    if missing:
        pytest.fail(f"marker drift: {item.nodeid}: {'; '.join(missing)}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()


@pytest.fixture(scope="session", autouse=True)
def _guard_real_parts():
    """Starting vLLM, or any Docker client, from a test without the marker fails that test."""
    import docker.api.client

    from ssd.vllm_server import VLLMServer

    start, docker_init = VLLMServer.start.__func__, docker.api.client.APIClient.__init__

    def guarded_start(cls, *a, **kw):
        _guard("starts vLLM", "vllm")
        return start(cls, *a, **kw)

    def guarded_docker(self, *a, **kw):
        _guard("uses Docker", "docker")
        docker_init(self, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(VLLMServer, "start", classmethod(guarded_start))
    mp.setattr(docker.api.client.APIClient, "__init__", guarded_docker)
    yield
    mp.undo()


# -- adapters left on the shared server ----------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_adapter_left_on_the_shared_server(request):
    """Tests share one vLLM server: an adapter a test leaves loaded would make later results
    depend on test order (model lists, LoRA slots). Fail the test that leaves one, and unload it."""
    yield
    shared = [f for f in ("serving_server", "vllm_server") if f in request.fixturenames]
    if not shared:
        return
    server = request.getfixturevalue(shared[0])
    left = [m for m in server.list_models() if m != server.served_model_name]
    for name in left:
        server.unload_adapter(name)
    assert not left, f"the test left adapters loaded on the shared vLLM server: {left}"


# -- the process umask -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _keep_the_umask():
    """The CLIs set umask 0077 (ssd.file_modes); one invoked in this process (CliRunner) must
    not change the modes of what later tests create."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)
