#!/usr/bin/env bash
# Builds the sandbox image without any registry: debootstrap a Debian bookworm root filesystem
# (python3-minimal + the full stdlib), `docker import` it as a base, then layer the harness on
# top with deploy/sandbox/Dockerfile. Idempotent: exits early when the image for the current
# version and harness hash exists. Needs root, the Docker engine and `debootstrap`
# (apt-get install -y debootstrap).
#
# Environment:
#   SSD_ROOTFS_CACHE  an already debootstrapped rootfs to copy instead (development speed-up)
#   SSD_SANDBOX_IMAGE image tag to build (default ssd-sandbox:<SANDBOX_IMAGE_VERSION>)
#   SSD_SANDBOX_BASE  base image tag (default ssd-sandbox-base:bookworm-1)
#   DEBIAN_MIRROR     debootstrap mirror (default http://deb.debian.org/debian)
#   FORCE=1           rebuild even when up to date
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONFIG="$ROOT/sandbox/config.py"
REPO=$(sed -n 's/^SANDBOX_IMAGE_REPO = "\(.*\)"$/\1/p' "$CONFIG")
VERSION=$(sed -n 's/^SANDBOX_IMAGE_VERSION = "\(.*\)"$/\1/p' "$CONFIG")
[ -n "$REPO" ] && [ -n "$VERSION" ] || { echo "cannot read the image name from $CONFIG" >&2; exit 2; }
TAG="${SSD_SANDBOX_IMAGE:-$REPO:$VERSION}"
BASE="${SSD_SANDBOX_BASE:-$REPO-base:bookworm-1}"
# Must match sandbox/image.py:harness_hash().
HASH=$( (sha256sum < "$ROOT/sandbox/harness.py"; sha256sum < "$ROOT/sandbox/runner.py") | sha256sum | cut -c1-16)

docker info >/dev/null 2>&1 || { echo "Docker engine not reachable (is dockerd running?)" >&2; exit 3; }

have=$(docker image inspect "$TAG" --format '{{ index .Config.Labels "ssd.harness-hash" }}' 2>/dev/null || true)
if [ "$have" = "$HASH" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "$TAG is up to date (harness $HASH)"
  exit 0
fi

WORK=$(mktemp -d /tmp/ssd-sandbox-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "building the base root filesystem needs root" >&2; exit 4; }
  RFS="$WORK/rootfs"
  if [ -n "${SSD_ROOTFS_CACHE:-}" ] && [ -x "$SSD_ROOTFS_CACHE/usr/bin/python3" ]; then
    echo "copying cached rootfs $SSD_ROOTFS_CACHE"
    cp -a "$SSD_ROOTFS_CACHE/." "$RFS/"
  else
    command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install -y debootstrap" >&2; exit 5; }
    echo "debootstrapping bookworm into $RFS (about a minute)"
    debootstrap --variant=minbase --include=python3-minimal,libpython3.11-stdlib \
      bookworm "$RFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  fi
  # python3-minimal alone lacks json, decimal, resource...: make sure the full stdlib is there.
  if ! chroot "$RFS" python3 -I -c "import json, decimal, fractions, resource, statistics" 2>/dev/null; then
    echo "installing libpython3.11-stdlib into the rootfs"
    cp /etc/resolv.conf "$RFS/etc/resolv.conf"
    chroot "$RFS" apt-get update -qq
    chroot "$RFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpython3.11-stdlib
    : > "$RFS/etc/resolv.conf"
  fi
  chroot "$RFS" python3 -I -c "import json, decimal, fractions, resource, statistics"
  rm -rf "$RFS"/var/lib/apt/lists/* "$RFS"/var/cache/apt/archives/*.deb "$RFS"/var/cache/apt/*.bin
  echo "importing $BASE"
  tar --numeric-owner -C "$RFS" -c . | docker import --change 'CMD ["sleep", "infinity"]' - "$BASE" >/dev/null
  rm -rf "$RFS"
fi

# A minimal build context: the legacy builder would otherwise upload the whole repository.
mkdir -p "$WORK/ctx/sandbox"
cp "$ROOT/sandbox/harness.py" "$ROOT/sandbox/runner.py" "$WORK/ctx/sandbox/"
cp "$ROOT/deploy/sandbox/Dockerfile" "$WORK/ctx/Dockerfile"
echo "building $TAG (harness $HASH)"
DOCKER_BUILDKIT=0 docker build -q --network none \
  --build-arg BASE="$BASE" --build-arg HARNESS_HASH="$HASH" --build-arg SANDBOX_VERSION="$VERSION" \
  -t "$TAG" "$WORK/ctx" >/dev/null
echo "built $TAG (harness $HASH)"
