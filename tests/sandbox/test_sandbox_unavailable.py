"""SandboxUnavailable: a missing or stale image is refused with a message that says the fix."""

from __future__ import annotations

import docker
import pytest

from sandbox import SandboxConfig, SandboxUnavailable, open_sandbox
from sandbox.image import harness_hash

pytestmark = pytest.mark.docker


def test_missing_image():
    with pytest.raises(SandboxUnavailable, match=r"missing.*python -m sandbox.image ensure"):
        open_sandbox(SandboxConfig(image="ssd-sandbox:no-such-version-0"))


def test_stale_image():
    client = docker.from_env()
    current = client.images.get(SandboxConfig().image)
    # The base image carries no harness label: as stale as an image can be.
    base = client.images.get("ssd-sandbox-base:bookworm-1")
    base.tag("ssd-sandbox", "stale-test")
    try:
        with pytest.raises(SandboxUnavailable, match=r"stale.*ensure"):
            open_sandbox(SandboxConfig(image="ssd-sandbox:stale-test"))
    finally:
        client.images.remove("ssd-sandbox:stale-test")
    assert current.labels["ssd.harness-hash"] == harness_hash()
