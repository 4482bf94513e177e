"""The sandbox image: its expected harness hash, a staleness check, and building it.

python -m sandbox.image check    # exit 0 when the image exists and matches the harness
python -m sandbox.image ensure   # build it (deploy/sandbox/build_image.sh, needs root)
python -m sandbox.image hash     # the harness hash the image must carry
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxUnavailable

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
BUILD_SCRIPT = REPO_ROOT / "deploy" / "sandbox" / "build_image.sh"
HASH_LABEL = "ssd.harness-hash"
HARNESS_FILES = ("harness.py", "runner.py")
REBUILD_HINT = "run: python -m sandbox.image ensure  (or: sudo bash deploy/sandbox/build_image.sh)"


def harness_hash() -> str:
    """Same value as build_image.sh: sha256 over the `sha256sum -` lines of the harness files."""
    lines = "".join(hashlib.sha256((PACKAGE_DIR / name).read_bytes()).hexdigest() + "  -\n" for name in HARNESS_FILES)
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def docker_client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise SandboxUnavailable(
            f"Docker engine not reachable ({exc}); start dockerd (e.g. `dockerd --bridge=none "
            "--iptables=false &`) or use SandboxConfig(backend='local')"
        ) from exc
    return client


def check_image(client, image: str) -> None:
    from docker.errors import ImageNotFound

    try:
        img = client.images.get(image)
    except ImageNotFound:
        raise SandboxUnavailable(f"sandbox image {image!r} is missing; {REBUILD_HINT}") from None
    have = (img.labels or {}).get(HASH_LABEL)
    want = harness_hash()
    if have != want:
        raise SandboxUnavailable(
            f"sandbox image {image!r} is stale (harness {have!r}, source {want!r}); {REBUILD_HINT}"
        )


def ensure(image: str | None = None) -> None:
    env = dict(os.environ)
    if image:
        env["SSD_SANDBOX_IMAGE"] = image
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "check"
    image = SandboxConfig().image
    if cmd == "hash":
        print(harness_hash())
        return 0
    if cmd == "ensure":
        try:
            ensure()
        except subprocess.CalledProcessError as exc:
            print(f"image build failed (exit {exc.returncode})", file=sys.stderr)
            return 1
        cmd = "check"
    if cmd == "check":
        try:
            check_image(docker_client(), image)
        except SandboxUnavailable as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"{image} is ready (harness {harness_hash()})")
        return 0
    print("usage: python -m sandbox.image [check|ensure|hash]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
