"""One config root: ``ssdd serve`` reads the daemon's file (``DaemonConfig.serve_config()``),
there is no serve-only format to guess from a file's keys, and ``endpoint.champion_file`` is
for ``ssdd serve`` alone."""

from __future__ import annotations

import pytest
import yaml

from daemon.app import Daemon
from daemon.config import load_daemon_config
from ssd.problems import InputError


def write(tmp_path, cfg: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), **cfg}))
    return path


def test_serve_takes_its_sections_from_the_one_file(tmp_path):
    cfg = load_daemon_config(write(tmp_path, {"endpoint": {"port": 8123, "champion_file": str(tmp_path / "c.json")}}))
    serve = cfg.serve_config()
    assert serve.endpoint.port == 8123 and serve.champion_file == tmp_path / "c.json"
    assert serve.state_path == cfg.daemon_dir / "registry.json" and serve.model == cfg.model


def test_a_serve_only_file_is_refused_with_the_key_named(tmp_path):
    with pytest.raises((InputError, ValueError), match="champion_file"):
        load_daemon_config(write(tmp_path, {"champion_file": str(tmp_path / "c.json")}))


def test_ssdd_run_refuses_a_champion_file(tmp_path):
    cfg = load_daemon_config(write(tmp_path, {"endpoint": {"champion_file": str(tmp_path / "c.json")}}))
    daemon = Daemon(cfg)
    try:
        with pytest.raises(ValueError, match="champion_file is for ssdd serve only"):
            daemon.start()
    finally:
        daemon.store.close()
