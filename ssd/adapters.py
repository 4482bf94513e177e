"""LoRA adapter folders produced by distillation: the manifest, and checks before use.

An adapter folder holds what PEFT saves (``adapter_config.json`` + weights) plus
``ssd_adapter.json``, our manifest pinning the exact base model and training data it came from.
Everything that consumes an adapter (the server, the next round's ``init_adapter``, promotion)
goes through ``validate_adapter`` so a half-written, foreign or mismatched folder is refused
with a message naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ssd.vllm_server import ADAPTER_REQUIRED_FILES, ADAPTER_WEIGHT_FILES, missing_adapter_files

MANIFEST = "ssd_adapter.json"
ADAPTER_CONFIG = "adapter_config.json"
MANIFEST_SCHEMA = 1
MAX_CONFIG_BYTES = 1 << 20  # a PEFT adapter_config.json is ~2 KB


# The fixed probe a server-side check replays after loading an adapter: the trainer records
# what the trained adapter (and the base) predict for the next token here, so the serving side
# can prove the weights it loaded are the ones trained, not merely "something different".
PROBE_PROMPT = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'
PROBE_TOP_K = 5


class ProbePrediction(BaseModel):
    """Top-k next-token log-probabilities on ``prompt`` (raw text, no chat template), sorted
    descending, as computed by the trainer with the adapter applied and with it disabled."""

    model_config = ConfigDict(frozen=True)
    prompt: str
    adapter_top_logprobs: list[float]
    base_top_logprobs: list[float]
    adapter_top_token: str
    precision: str


class AdapterError(ValueError):
    """An adapter folder is missing, incomplete, unreadable or does not fit its intended base."""


class LossPoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: int
    loss: float


class LoraSettings(BaseModel):
    """The LoRA shape actually trained (from the init adapter when continuing one)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]


class ParentAdapter(BaseModel):
    """The adapter a continued training started from (its weights were step 0's weights)."""

    model_config = ConfigDict(frozen=True)
    path: str
    content_hash: str  # adapter_content_hash: adapter_config.json and weights, names and bytes
    data_hash: str | None = None  # the data it was trained on; None for a foreign PEFT folder
    round_id: str | None = None


class ExampleCounts(BaseModel):
    rows: int = 0  # rows in the samples file
    used: int = 0  # examples trained on
    truncated: int = 0  # response cut at max_seq_len (kept)
    dropped: int = 0  # prompt alone fills max_seq_len, or overlong with overlong="drop"
    boundary_fallback: int = 0  # prompt tokens were not a prefix of the full tokenization
    no_eos: int = 0  # finish_reason "length": the model never stopped, so no EOS appended


class TokenCounts(BaseModel):
    train_tokens: int = 0  # all tokens of the used examples, one epoch
    response_tokens: int = 0  # tokens carrying loss, one epoch
    tokens_seen: int = 0  # non-padding input tokens the trainer actually consumed (all epochs/steps)


class AdapterManifest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer writers may add fields; old readers still work

    schema_version: int = MANIFEST_SCHEMA
    round_id: str | None = None
    base_model_name: str
    base_model_path: str
    base_model_hash: str
    parent: ParentAdapter | None = None  # None: a fresh LoRA on the base
    samples_path: str
    data_hash: str
    hyperparameters: dict
    lora: LoraSettings
    precision: str
    world_size: int = 1
    steps: int
    epochs: float
    loss_curve: list[LossPoint] = Field(default_factory=list)
    final_loss: float | None = None
    examples: ExampleCounts
    tokens: TokenCounts
    duration_s: float
    train_runtime_s: float
    steps_per_s: float
    tokens_per_s: float
    adapter_bytes: int = 0
    versions: dict[str, str]
    created_at: str
    probe: ProbePrediction | None = None


def load_manifest(folder: Path) -> AdapterManifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise AdapterError(f"adapter folder {folder} has no {MANIFEST} (not produced by ssd distill, or incomplete)")
    try:
        return AdapterManifest.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise AdapterError(f"{path} is not a valid adapter manifest: {exc}") from exc


def read_adapter_config(folder: Path) -> dict:
    path = Path(folder) / ADAPTER_CONFIG
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise AdapterError(f"cannot read {path}: {exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise AdapterError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not an adapter config")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AdapterError(f"{path} is not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise AdapterError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise AdapterError(f"{path}: JSON nested too deeply") from None
    if not isinstance(cfg, dict):
        raise AdapterError(f"{path} must hold a JSON object")
    if cfg.get("peft_type") not in (None, "LORA"):
        raise AdapterError(f"{path}: peft_type is {cfg.get('peft_type')!r}, only LORA adapters are supported")
    r = cfg.get("r")
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise AdapterError(f"{path}: rank 'r' must be a positive integer, got {r!r}")
    targets = cfg.get("target_modules")
    if not targets or not isinstance(targets, (list, str)):
        raise AdapterError(f"{path}: 'target_modules' is missing or empty")
    return cfg


def adapter_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).iterdir() if f.is_file() and f.name in ADAPTER_WEIGHT_FILES)


def adapter_content_hash(folder: Path) -> str:
    """sha256 over what defines the adapter's behaviour (``adapter_config.json`` and the weight
    files, names and bytes), stable across copies and independent of the manifest and logs.
    A bare hex digest, the form the daemon's adapter table stores."""
    h = hashlib.sha256()
    for name in (*ADAPTER_REQUIRED_FILES, *ADAPTER_WEIGHT_FILES):
        f = Path(folder) / name
        if not f.is_file():
            continue
        h.update(name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def validate_adapter(
    folder: Path, base_model_hash: str | None = None, *, max_rank: int | None = None, require_manifest: bool = True
) -> AdapterManifest | None:
    """Check an adapter folder is complete and fits the given base; returns its manifest.

    ``require_manifest=False`` accepts a plain PEFT folder (e.g. an adapter trained elsewhere,
    used as ``init_adapter``); a base hash can then not be checked and must not be asked for.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"adapter folder {folder} does not exist")
    missing = missing_adapter_files(folder)
    manifest_present = (folder / MANIFEST).is_file()
    if require_manifest and not manifest_present:
        missing.append(MANIFEST)
    if missing:
        raise AdapterError(f"adapter folder {folder} lacks {', '.join(missing)}")
    cfg = read_adapter_config(folder)
    if max_rank is not None and cfg["r"] > max_rank:
        raise AdapterError(f"adapter {folder} has LoRA rank {cfg['r']}, above the allowed maximum {max_rank}")
    manifest = load_manifest(folder) if manifest_present else None
    if manifest is not None and manifest.lora.rank != cfg["r"]:
        raise AdapterError(
            f"adapter {folder}: manifest says rank {manifest.lora.rank} but adapter_config has {cfg['r']}"
        )
    if base_model_hash is not None:
        if manifest is None:
            raise AdapterError(f"adapter {folder} has no {MANIFEST}, so its base model cannot be verified")
        if manifest.base_model_hash != base_model_hash:
            raise AdapterError(
                f"adapter {folder} was trained on base {manifest.base_model_hash} "
                f"({manifest.base_model_name}), not on the expected base {base_model_hash}"
            )
    return manifest
