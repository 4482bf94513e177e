"""The one config file every command reads (YAML or JSON), validated strictly.

Unknown keys are rejected at every level and every value is checked by the section's own
model. Values come from three places, later ones winning: the file, environment variables
``SSD_<SECTION>__<KEY>=value`` (``__`` between levels, any case, e.g.
``SSD_SAMPLING__PARAMS__TEMPERATURE=1.2`` or ``SSD_DATA_DIR=/srv/ssd``), and command-line
overrides with dotted paths (``--set sampling.params.temperature=1.2``). Environment and
``--set`` values are read as YAML scalars (``1.2``, ``true``, ``[0.6, 0.8]``). Only variables
whose first part names a top-level key count: ``SSD_EXTRA`` and the like belong to other tools.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies.promotion import PromotionConfig
from sandbox.config import SandboxConfig
from ssd.distill import DistillConfig
from ssd.evaluate import EvalConfig
from ssd.filters import FilterConfig
from ssd.problems import InputError, validation_message
from ssd.sampling import SamplingParams
from ssd.sources.registry import SourceSpec
from ssd.split import SplitConfig
from ssd.vllm_server import ServerConfig


class SamplingSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: SamplingParams = SamplingParams()
    concurrency: int = Field(32, ge=1, le=1024)
    filters: FilterConfig = FilterConfig()
    # vLLM request priority of round traffic (lower runs first; assistants send 0). Needs
    # server.extra_args [--scheduling-policy, priority]; None sends none.
    priority: int | None = None


class DataSection(BaseModel):
    """Where problems come from. With only ``sources``, a deterministic split makes the
    held-out set; with ``heldout`` given too, ``sources`` are all training prompts and the two
    must not overlap (checked at start)."""

    model_config = ConfigDict(extra="forbid")
    sources: list[SourceSpec] = Field(min_length=1)
    heldout: list[SourceSpec] = Field(default_factory=list)
    split: SplitConfig = SplitConfig(heldout_frac=0.3)
    max_train_prompts: int | None = Field(None, ge=1)
    max_heldout: int | None = Field(None, ge=1)
    # Sources that feed only the promotion gate (never training, never the sealed audit or
    # calibration): the gate compares two arms on the same problems, so pre-cutoff problems
    # serve it as well as post-cutoff ones. Decontaminated against the training prompts and
    # the audit/calibration problems at every start (`ssd.gate_pool`).
    gate_pool: list[SourceSpec] = Field(default_factory=list)


class SSDConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: Path = Path(".data")
    run_name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str = "smollm2-135m"
    served_model_name: str | None = None
    server: ServerConfig = ServerConfig()
    sandbox: SandboxConfig = SandboxConfig()
    data: DataSection = DataSection(sources=[{"kind": "starter"}])  # type: ignore[list-item]
    sampling: SamplingSection = SamplingSection()
    distill: DistillConfig = DistillConfig()
    evaluation: EvalConfig = EvalConfig()
    promotion: PromotionConfig = PromotionConfig()

    @model_validator(mode="after")
    def _checks(self) -> SSDConfig:
        wants_priority = self.sampling.priority is not None or self.evaluation.priority is not None
        args = " ".join(self.server.extra_args)
        if wants_priority and "--scheduling-policy priority" not in args and "--scheduling-policy=priority" not in args:
            raise ValueError(
                "sampling.priority / evaluation.priority need server.extra_args "
                "[--scheduling-policy, priority]: vLLM rejects priorities under its default FCFS policy"
            )
        if self.distill.lora_rank > self.server.max_lora_rank:
            raise ValueError(
                f"distill.lora_rank {self.distill.lora_rank} exceeds server.max_lora_rank "
                f"{self.server.max_lora_rank}: vLLM could not load the adapter"
            )
        return self

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "runs" / self.run_name


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


ENV_PREFIX = "SSD_"
ENV_NESTED_DELIMITER = "__"


def _set_path(raw: dict, key: str, value: str, source: str) -> None:
    parts = key.strip().split(".")
    node = raw
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise InputError(source, None, f"{key}: {p} is not a section")
        node = nxt
    node[parts[-1]] = _parse_scalar(value)


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``--set section.key=value`` items to the raw (not yet validated) config."""
    for item in overrides:
        if "=" not in item:
            raise InputError("--set", None, f"{item!r} is not KEY=VALUE (e.g. sampling.params.temperature=1.2)")
        key, value = item.split("=", 1)
        _set_path(raw, key, value, "--set")
    return raw


def env_overrides(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """The ``SSD_...`` environment variables that set a value of ``model``, as (variable,
    dotted key, value), sorted by variable name."""
    env = os.environ if environ is None else environ
    found = []
    for name, value in sorted(env.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)
        if parts[0] in model.model_fields and all(parts):
            found.append((name, ".".join(parts), value))
    return found


def apply_env(raw: dict, model: type[BaseModel], environ: Mapping[str, str] | None = None) -> list[str]:
    """Apply the ``SSD_...`` variables to the raw config; returns the names of those used."""
    used = env_overrides(model, environ)
    for name, key, value in used:
        _set_path(raw, key, value, name)
    return [name for name, _, _ in used]


ConfigT = TypeVar("ConfigT", bound=SSDConfig)


def load_config(path: Path | None, overrides: list[str] | None = None, model: type[ConfigT] = SSDConfig) -> ConfigT:  # type: ignore[assignment]
    """The one loader: read the file (``path``; None: defaults only), apply the ``SSD_...``
    environment variables, then ``overrides`` (``--set`` items), and validate. ``model`` is the
    schema: ``SSDConfig`` for the method's sections alone, ``daemon.config.DaemonConfig`` for
    the whole file (every ``ssdd`` command, ``ssdd serve`` included)."""
    raw: dict = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(path, None, f"cannot read config: {exc.strerror or exc}") from exc
        try:
            raw = (json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)) or {}
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise InputError(path, None, f"not valid YAML/JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise InputError(path, None, "the config must be a mapping at the top level")
    from_env = apply_env(raw, model)
    raw = apply_overrides(raw, overrides or [])
    try:
        cfg = model.model_validate(raw)
    except ValidationError as exc:
        msg = "invalid config:\n  " + validation_message(exc, empty="<top>", limit=10, sep="\n  ")
        if from_env:
            msg += f"\n  (values set by environment variables: {', '.join(from_env)})"
        raise InputError(path or "<config>", None, msg) from exc
    if path is not None and not cfg.data_dir.is_absolute():
        # Relative data dirs are relative to where the command runs (the repo for `make round`).
        cfg = cfg.model_copy(update={"data_dir": Path.cwd() / cfg.data_dir})
    return cfg
