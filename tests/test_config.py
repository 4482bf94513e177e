"""One config loader for every command: file, then SSD_ environment variables, then --set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from daemon.cli import app as ssdd_app
from daemon.config import DaemonConfig, load_daemon_config
from ssd.cli import app as ssd_app
from ssd.config import env_overrides
from ssd.problems import InputError

REPO = Path(__file__).resolve().parents[1]
CPU_DEFAULT = REPO / "deploy" / "config" / "cpu-default.yaml"


def test_environment_overrides_the_file_and_set_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("SSD_SAMPLING__PARAMS__TEMPERATURE", "1.1")
    monkeypatch.setenv("ssd_sampling__concurrency", "7")  # any case
    monkeypatch.setenv("SSD_EVALUATION__T_EVAL", "[0.2, 0.4]")
    cfg = load_daemon_config(CPU_DEFAULT, ["sampling.params.temperature=1.3"])
    assert cfg.sampling.params.temperature == 1.3  # --set wins over the environment
    assert cfg.sampling.concurrency == 7 and cfg.evaluation.t_eval == [0.2, 0.4]
    assert cfg.sampling.params.top_k == 20  # the file's value where nothing overrides it


def test_top_level_keys_and_secrets_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SSD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SSD_ENDPOINT__API_KEYS", '["k-from-env"]')
    cfg = load_daemon_config(CPU_DEFAULT)
    assert cfg.data_dir == tmp_path and cfg.db_path == tmp_path / "ssdd" / "state.db"
    assert [k.get_secret_value() for k in cfg.endpoint.api_keys] == ["k-from-env"]


def test_other_tools_variables_are_not_config():
    env = {
        "SSD_EXTRA": "gpu",
        "SSD_ROOTFS_CACHE": "/x",
        "SSD_DISTILL_WATCH_PARENT": "1",
        "SSDD_FAULT_KILL_AT": "sample",
        "SSD_SERVER__PORT": "9000",
        "SSD_SERVER____PORT": "1",  # an empty level is not a key path
    }
    assert env_overrides(DaemonConfig, env) == [("SSD_SERVER__PORT", "server.port", "9000")]


def test_a_bad_environment_value_is_rejected_naming_the_key_and_the_variable(monkeypatch):
    monkeypatch.setenv("SSD_SAMPLING__PARAMS__TOP_P", "1.5")
    with pytest.raises(InputError) as exc:
        load_daemon_config(CPU_DEFAULT)
    assert "sampling.params.top_p" in str(exc.value) and "SSD_SAMPLING__PARAMS__TOP_P" in str(exc.value)
    monkeypatch.setenv("SSD_SAMPLING__PARAMS__TOP_P", "0.9")
    monkeypatch.setenv("SSD_SAMPLING__PARAMS__SEED__X", "1")
    with pytest.raises(InputError, match="SSD_SAMPLING__PARAMS__SEED__X: .*seed is not a section"):
        load_daemon_config(CPU_DEFAULT)


def _commands_with_a_config() -> list[tuple[str, typer.Typer, list[str], Any]]:
    """(label, app, argv path, command) of every command, in both CLIs, that takes --config."""
    found = []

    def walk(label: str, app: typer.Typer, group: Any, prefix: list[str]) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):  # a sub-group (typer brings its own click)
                walk(label, app, cmd, prefix + [name])
            elif any(p.name == "config" for p in cmd.params):
                found.append((" ".join([label, *prefix, name]), app, prefix + [name], cmd))

    walk("ssd", ssd_app, typer.main.get_command(ssd_app), [])
    walk("ssdd", ssdd_app, typer.main.get_command(ssdd_app), [])
    return found


COMMANDS = _commands_with_a_config()
# Commands that check their own options before reading the config need valid ones here.
OWN_OPTIONS = {"ssdd prompts purge": ["--all"]}


def test_every_command_with_a_config_is_covered():
    names = {c[0] for c in COMMANDS}
    assert {"ssd sample", "ssd distill", "ssd evaluate", "ssd round"} <= names
    assert {"ssdd run", "ssdd serve", "ssdd status", "ssdd submit", "ssdd doctor", "ssdd pause"} <= names


class _LoadedConfig(Exception):
    """Raised right after the loader returns, so that no command goes on to do real work."""

    def __init__(self, cfg: Any):
        super().__init__("config loaded")
        self.cfg = cfg


@pytest.fixture
def stop_after_loading(monkeypatch):
    """The real loader, then a stop: `daemon.config` holds its own reference to it."""
    import daemon.config
    import ssd.config

    real = ssd.config.load_config

    def load_then_stop(*args, **kwargs):
        raise _LoadedConfig(real(*args, **kwargs))

    monkeypatch.setattr(ssd.config, "load_config", load_then_stop)
    monkeypatch.setattr(daemon.config, "load_config", load_then_stop)


@pytest.mark.parametrize("via", ["--set", "env"])
@pytest.mark.parametrize("label, app, path, cmd", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_with_a_config_takes_set_and_environment(label, app, path, cmd, via, stop_after_loading):
    args = list(path) + OWN_OPTIONS.get(label, [])
    for p in cmd.params:  # required arguments and options get a dummy; the config is read first
        if p.required:
            args += ["dummy"] if p.param_type_name == "argument" else [p.opts[0], "dummy"]
    args += ["--config", str(CPU_DEFAULT)]
    env = {}
    if via == "--set":
        args += ["--set", "sampling.concurrency=7"]
    else:
        env["SSD_SAMPLING__CONCURRENCY"] = "7"
    result = CliRunner().invoke(app, args, env=env)
    assert isinstance(result.exception, _LoadedConfig), (label, result.output, result.exception)
    assert result.exception.cfg.sampling.concurrency == 7, label
