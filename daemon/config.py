"""The one config file of the daemon: every section in one YAML, validated strictly.

``DaemonConfig`` extends the method's ``SSDConfig`` (model, server, sandbox, data, sampling,
distill, evaluation) with what a long-running service needs: the endpoint, the schedule, the
gate's lifetime error budget, re-evaluation, the held-out partition (``ssd.problem_sets``),
the disk sweep (``retention``), the GPU plan and learning. It is the one config root: every
command, ``ssd`` and ``ssdd`` alike (``ssdd serve`` too, through ``serve_config()``), loads
this one file through ``load_daemon_config``; the ``endpoint:`` section's schema lives with
the serving code (``daemon.serving.config``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from daemon.serving.config import EndpointConfig, ServeConfig
from policies.gate import GateConfig
from policies.health import HealthGuardConfig
from policies.rollback import ReevalConfig
from ssd.config import SSDConfig, load_config
from ssd.problem_sets import HeldoutConfig
from ssd.traffic.config import LearningConfig

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"1d"`` -> timedelta (ValueError naming the text)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 6h or 1d")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


class ScheduleConfig(BaseModel):
    """When rounds run. ``rounds``: ``continuous`` (back to back), ``every: 6h``, or
    ``cron: "0 3 * * *"`` (a crontab line, the daemon's local time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rounds: str = "continuous"
    reevaluate: str = Field("every: 6h", description="champion re-evaluation: 'every: D', 'cron: ...', or 'off'")
    retention: str = Field("every: 1h", description="the disk sweep of adapter folders and old round files")
    misfire_grace_s: int = Field(3600, ge=1)
    retry_backoff_s: list[float] = Field(default_factory=lambda: [30.0, 120.0, 600.0, 1800.0], min_length=1)
    max_attempts_per_round: int = Field(3, ge=1, description="a round that failed this often is closed as failed")
    backoff_after_rejections: int = Field(3, ge=1, description="rejected rounds in a row before backing off")
    backoff_factor: float = Field(2.0, ge=1.0)
    backoff_max_s: float = Field(24 * 3600.0, gt=0)
    backoff_base_s: float = Field(600.0, gt=0, description="first back-off pause in continuous mode")
    control_poll_s: float = Field(1.0, gt=0)
    watchdog_s: float = Field(30.0, gt=0)
    # SIGTERM -> exit within this bound even if closing the endpoint or the sandbox hangs;
    # keep it inside the systemd unit's TimeoutStopSec (90 s).
    stop_timeout_s: float = Field(45.0, gt=0, le=600)

    @field_validator("rounds", "reevaluate", "retention")
    @classmethod
    def _spec(cls, v: str, info) -> str:
        parse_trigger_spec(v, allow_continuous=info.field_name == "rounds", allow_off=info.field_name != "rounds")
        return v


def parse_trigger_spec(spec: str, *, allow_continuous: bool = False, allow_off: bool = False) -> tuple[str, object]:
    """-> ("continuous", None) | ("off", None) | ("every", timedelta) | ("cron", crontab text)."""
    s = spec.strip()
    if s == "continuous" and allow_continuous:
        return "continuous", None
    if s == "off" and allow_off:
        return "off", None
    kind, _, rest = s.partition(":")
    kind, rest = kind.strip(), rest.strip()
    if kind == "every":
        return "every", parse_duration(rest)
    if kind == "cron":
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(rest)
        except ValueError as exc:
            raise ValueError(f"{spec!r}: not a crontab line ({exc})") from exc
        return "cron", rest
    allowed = (
        ["every: 6h", "cron: '0 3 * * *'"]
        + (["continuous"] if allow_continuous else [])
        + (["off"] if allow_off else [])
    )
    raise ValueError(f"{spec!r}: expected one of {', '.join(allowed)}")


class DiskSweepSection(BaseModel):
    """The ``retention:`` section: what the disk sweep (``daemon.jobs.maintenance.disk_sweep``,
    scheduled by ``schedule.retention``) keeps on disk. Not the adapters kept *loaded* in vLLM
    (``endpoint.keep_previous``) nor the captured prompts' limits (``learning.retention``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_rejected: int = Field(3, ge=0, description="rejected candidates kept on disk (newest first)")
    keep_former: int = Field(5, ge=1, description="former champions kept on disk as rollback targets")
    delete_rolled_back: bool = True
    keep_round_files: int = Field(20, ge=1, description="rounds whose samples/eval files are kept")


class GpuPlan(BaseModel):
    """Which devices vLLM and the distillation worker use on a GPU box."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    serve_devices: list[int] = Field(default_factory=lambda: [0])
    train_devices: list[int] = Field(default_factory=lambda: [0])
    train_memory_gib: float = Field(20.0, gt=0, description="what training needs on a shared device")


class DaemonConfig(SSDConfig):
    """The whole config: the method's sections plus the service's."""

    endpoint: EndpointConfig = EndpointConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    gate: GateConfig = GateConfig()
    reevaluation: ReevalConfig = ReevalConfig()
    heldout: HeldoutConfig = HeldoutConfig()
    retention: DiskSweepSection = DiskSweepSection()  # the disk sweep's keep counts
    gpu: GpuPlan | None = None
    learning: LearningConfig = LearningConfig()  # opt-in prompt capture and its use (off by default)
    health: HealthGuardConfig = HealthGuardConfig()  # collapse guard over the rounds' health signals
    state_db: Path | None = Field(None, description="default: <data_dir>/ssdd/state.db")

    @model_validator(mode="after")
    def _gpu_plan(self) -> DaemonConfig:
        if self.server.device == "gpu" and self.gpu is None:
            raise ValueError("server.device is gpu: add a 'gpu' section saying which devices serve and train")
        if self.gpu is not None and self.server.device != "gpu":
            raise ValueError("a 'gpu' section needs server.device: gpu")
        return self

    @property
    def daemon_dir(self) -> Path:
        return self.data_dir / "ssdd"

    @property
    def db_path(self) -> Path:
        return self.state_db or self.daemon_dir / "state.db"

    @property
    def adapters_dir(self) -> Path:
        return self.daemon_dir / "adapters"

    @property
    def rounds_dir(self) -> Path:
        return self.daemon_dir / "rounds"

    def serve_config(self) -> ServeConfig:
        """The serving side's view of this config (``ssdd serve`` and ``ssdd run``)."""
        return ServeConfig(
            endpoint=self.endpoint,
            server=self.server,
            model=self.model,
            served_model_name=self.served_model_name,
            data_dir=self.data_dir,
            state_path=self.daemon_dir / "registry.json",
            vllm_log=self.daemon_dir / "vllm.log",
            champion_file=self.endpoint.champion_file,
        )


def load_daemon_config(path: Path | None, overrides: list[str] | None = None) -> DaemonConfig:
    """The one loader: YAML/JSON file + ``--set section.key=value`` overrides, strictly validated."""
    return load_config(path, overrides, model=DaemonConfig)
