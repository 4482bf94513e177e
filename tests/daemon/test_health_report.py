"""``ssdd report``'s health panels (daemon.health_report), drawn with the real matplotlib from a
real state DB and the rounds' ``health.json`` records (constructed outputs, real signals)."""

from __future__ import annotations

from pathlib import Path

from daemon_util import ssdd, tiny_config

from daemon.config import DaemonConfig, load_daemon_config
from daemon.health_report import PANELS, health_report_path, write_health_report
from daemon.state import RoundRow, RoundStage, RoundStatus, Store
from policies.health import HealthVerdict
from ssd.health import Output, RoundHealth, compute_signals, save_round_health


def signals(variety: int, n: int = 30):
    """Signals of ``n`` programs drawn from ``variety`` distinct ones (no log-probs recorded)."""
    outs = []
    for i in range(n):
        k = i % variety
        program = f"def f{k}(xs):\n    return [x * {k} for x in xs if x > {k}]\n" * (1 + k % 3)
        outs.append(
            Output(text=program, finish_reason="stop", tokens=len(program.split()), program=program, code_prompt=True)
        )
    return compute_signals(outs)


def populate(cfg: DaemonConfig, store: Store) -> None:
    """r1..r6: r2 and r4 promoted, r3 without a record, r5's lineage drifted, r6's record corrupt."""
    drift = HealthVerdict(ok=False, checked=True, reason="samples vs the first 3 round(s): mean length fell 60%")
    for i, (decision, variety) in enumerate(
        [("reject", 30), ("promote", 28), ("reject", 25), ("promote", 20), ("reject", 3), ("reject", 2)], 1
    ):
        name = f"r{i}"
        store.add(RoundRow(name=name, stage=RoundStage.DONE, status=RoundStatus.DONE, decision=decision))
        rdir = cfg.rounds_dir / name
        rdir.mkdir(parents=True)
        if name == "r3":
            continue
        record = RoundHealth(
            round_name=name,
            samples=signals(variety),
            champion_eval=signals(variety),
            candidate_eval=signals(max(1, variety - 2)),
            lineage=drift if name == "r5" else None,
        )
        save_round_health(record, rdir)
    (cfg.rounds_dir / "r6" / "health.json").write_text("{not json")


def test_the_health_report_has_one_panel_per_signal_with_promotions_marked(tmp_path):
    cfg = DaemonConfig(data_dir=tmp_path / "data")
    store = Store(cfg.db_path)
    assert write_health_report(cfg, store, tmp_path / "none.png") is None  # no round yet: nothing written
    assert not (tmp_path / "none.png").exists()
    populate(cfg, store)
    out = health_report_path(tmp_path / "report.png")
    assert out.name == "report.health.png"
    plot = write_health_report(cfg, store, out)
    assert plot is not None and plot.path == out
    assert plot.panels == len(PANELS) == 7
    assert plot.rounds == 4  # r1, r2, r4, r5: r3 has no record and r6's cannot be read
    assert plot.promoted == 2
    assert plot.empty == ("mean log-prob per sampled token",)  # sampling did not ask for log-probs
    assert out.read_bytes()[:4] == b"\x89PNG" and 20_000 < out.stat().st_size < 400_000


def test_ssdd_report_writes_the_health_panels_next_to_the_report(tmp_path):
    config = tiny_config(tmp_path, Path("/nonexistent/model"), "http://127.0.0.1:9")
    cfg = load_daemon_config(config)
    store = Store(cfg.db_path)
    populate(cfg, store)
    png = tmp_path / "rounds.png"
    out = ssdd(config, "report", "--out", str(png)).stderr
    health = tmp_path / "rounds.health.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and health.read_bytes()[:4] == b"\x89PNG"
    assert "7 health panels over 4 rounds" in out
