"""Crash safety of the daemon on the real stack: SIGKILL during every stage of a round (and in
the middle of the sequential gate test, after a committed batch), then a restart. The round
resumes at its stage (no duplicate round or adapter, no stray folder, no orphan distillation
worker; the gate test from its committed rows, with the same plan), DB and disk agree, and the
endpoint serves the recorded champion. SIGTERM stops the daemon cleanly within its bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from daemon_util import DaemonProcess, ssdd, tiny_config, unload_adapters, wait_for

pytestmark = [pytest.mark.daemon_e2e, pytest.mark.vllm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3600)]


def _store(cfg):
    from daemon.state import Store

    return Store(cfg.db_path, create=False)


def _running_stage(cfg) -> str | None:
    rows = _store(cfg).running_rounds()
    return rows[0].stage if rows else None


def _worker_pids(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"ssd.distill_worker.*{marker}"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_sigkill_at_every_stage_then_resume(tmp_path, model_dir, vllm_server):
    from daemon.config import load_daemon_config

    config = tiny_config(
        tmp_path,
        model_dir,
        vllm_server.base_url,
        api_key_file=vllm_server.config.api_key_file,
        distill__max_steps=6,
        schedule__rounds="every: 24h",
        gate__batch_size=2,  # the 7-problem gate pool in batches of 2: a kill can land mid-test
        gate__min_problems=2,
        # Bold betting, as in the life test, so the reference submission is promoted early.
        gate__bet_cap=0.95,
        gate__prior_weight=1.0,
    )
    cfg = load_daemon_config(config)
    log = tmp_path / "daemon.log"
    seen: list[str] = []

    # Killed from outside while a stage really runs: sampling, then inside the distill worker.
    for stage in ("sample", "distill"):
        d = DaemonProcess(config, log).start()
        if stage == "sample":
            ssdd(config, "round-now")  # rounds run every 24h: this one is the only one
        wait_for(lambda stage=stage: _running_stage(cfg) == stage, 600, f"stage {stage}", d, every=0.2)
        if stage == "distill":
            wait_for(lambda: _worker_pids(str(cfg.adapters_dir)), 300, "the distill worker", d, every=0.2)
            time.sleep(3)
        d.kill(signal.SIGKILL)
        seen.append(stage)
        assert _running_stage(cfg) == stage
        if stage == "distill":  # the worker dies with its parent, even on SIGKILL
            wait_for(lambda: not _worker_pids(str(cfg.adapters_dir)), 60, "the orphan worker to exit")
    # Killed by the fault hook (a marker makes it once each): at the start of the short stages,
    # inside the gate test between a batch's two arms ("gate_arm": nothing of the batch
    # committed) and right after its first batch was committed ("gate_batch").
    before_kill: list = []
    for point in ("evaluate", "gate_arm", "gate_batch", "decide", "promote"):
        d = DaemonProcess(config, log, fault=point).start()
        code = d.proc.wait(900)
        assert code == -signal.SIGKILL, d.log_tail()
        assert _running_stage(cfg) == ("evaluate" if point.startswith("gate_") else point)
        if point == "gate_arm":  # the reference arm was judged, but no row of the batch is kept
            assert _store(cfg).pair_results("r1", "gate") == []
        if point == "gate_batch":  # one whole batch on disk, the test not finished, the plan first
            store = _store(cfg)
            test = store.sequential_test("r1", "gate")
            before_kill = [(r.problem_id, r.reference_c, r.challenger_c) for r in store.pair_results("r1", "gate")]
            assert test is not None and test.plan_json and test.decided_at is None
            assert len(before_kill) == 2, before_kill
            plan_before = test.plan_json
        seen.append(point)

    d = DaemonProcess(config, log).start()
    try:
        wait_for(lambda: _running_stage(cfg) is None, 900, "the round to finish", d)
        store = _store(cfg)
        rounds = store.rounds()
        assert [r.name for r in rounds] == ["r1"] and rounds[0].status == "done", rounds
        assert rounds[0].decision in ("promote", "reject")
        # The resumed gate test kept its plan and its committed rows, and decided what the
        # committed rows say (the replay of all of them gives the recorded outcome).
        from policies.sequential import PairResult, SequentialPlan, replay

        test = store.sequential_test("r1", "gate")
        rows = store.pair_results("r1", "gate")
        assert test.plan_json == plan_before and test.decided_at is not None
        assert [(r.problem_id, r.reference_c, r.challenger_c) for r in rows][:2] == before_kill
        plan = SequentialPlan.model_validate_json(test.plan_json)
        state = replay(
            plan,
            [
                PairResult(problem_id=r.problem_id, n=r.n, reference_c=r.reference_c, challenger_c=r.challenger_c)
                for r in rows
            ],
        )
        assert state.done and state.outcome == test.outcome
        assert (rounds[0].decision == "promote") == (test.outcome == "efficacy")
        # One adapter row, one folder, no temp folders left behind.
        assert [a.version for a in store.adapters()] == ["r1"]
        assert sorted(p.name for p in cfg.adapters_dir.iterdir()) == ["r1"]
        champion_r1 = store.champion()
        ep = store.get_kv("daemon")["endpoint"]  # the endpoint serves what the DB says
        served = httpx.get(ep + "/health", timeout=10).json()["champion"]
        assert served == (champion_r1.version if champion_r1 else None)
        assert d.kill(signal.SIGTERM, timeout=90) == 0, d.log_tail()
    finally:
        if d.alive():
            d.kill(signal.SIGKILL)
    _promotion_killed_after_the_live_swap(config, cfg, log, model_dir, champion_r1, vllm_server)
    seen.append("promote_registry")
    kinds = [e.kind for e in _store(cfg).events(200)]
    assert kinds.count("restart") == len(seen) + 2  # and the two clean starts that finished a round
    assert seen == ["sample", "distill", "evaluate", "gate_arm", "gate_batch", "decide", "promote", "promote_registry"]


def _promotion_killed_after_the_live_swap(config, cfg, log, model_dir, champion_before, vllm_server) -> None:
    """A reference-trained submission the gate promotes, the daemon SIGKILLed after the live
    swap and before the champion row: the restart serves the recorded champion, the resumed
    promote stage records the promotion once, and the gate's ledger counts the test once."""
    from fixture_adapters import fixture

    from daemon.rounds.runner import GATE_LEDGER
    from policies.gate import GateLedger

    d = DaemonProcess(config, log, fault="promote_registry").start()
    ssdd(config, "submit", str(fixture("ref", Path(model_dir))), "--name", "ref1")
    assert d.proc.wait(1200) == -signal.SIGKILL, d.log_tail()
    store = _store(cfg)
    (row,) = [r for r in store.rounds() if r.candidate == "ref1"]
    assert row.stage == "promote" and row.decision == "promote", row
    champion = store.champion()
    assert (champion and champion.version) == (champion_before and champion_before.version)  # row not written
    d = DaemonProcess(config, log).start()
    try:
        wait_for(lambda: _running_stage(cfg) is None, 600, "the promotion to finish", d)
        store = _store(cfg)
        assert store.champion().version == "ref1"
        promotions = [e for e in store.events(200) if e.kind == "promotion"]
        assert [e.version for e in promotions].count("ref1") == 1, promotions
        ledger = GateLedger.model_validate(store.get_kv(GATE_LEDGER))
        assert ledger.tests == 2 and ledger.promotions == len(promotions), ledger
        ep = store.get_kv("daemon")["endpoint"]
        assert httpx.get(ep + "/health", timeout=10).json()["champion"] == "ref1"
        # SIGTERM: a clean, bounded stop.
        t0 = time.monotonic()
        assert d.kill(signal.SIGTERM, timeout=90) == 0, d.log_tail()
        assert time.monotonic() - t0 < 60
        assert _store(cfg).get_kv("daemon")["pid"] is None
    finally:
        if d.alive():
            d.kill(signal.SIGKILL)
        unload_adapters(vllm_server)  # the daemon keeps its champion loaded on the server it attached to


def test_unwritable_data_dir_is_a_clear_error(tmp_path, model_dir, vllm_server):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the data dir should be")
    config = tiny_config(
        tmp_path,
        model_dir,
        vllm_server.base_url,
        api_key_file=vllm_server.config.api_key_file,
        data_dir=str(blocker / "data"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "run", "-c", str(config)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "cannot create" in proc.stderr and "Traceback" not in proc.stderr
    assert blocker.read_text() == "a file where the data dir should be"


@pytest.mark.daemon_extra  # starts its own vLLM (~2 minutes) and waits out a restart: make test-daemon
def test_vllm_killed_mid_round_is_restarted_and_the_stage_retried(tmp_path, model_dir):
    """The daemon's own vLLM, SIGKILLed while a round evaluates: the supervisor starts a new
    one, the stage is retried, the round finishes, and the endpoint answers again."""
    from net_util import free_port

    from daemon.config import load_daemon_config
    from ssd.child_process import ProcessRecord

    config = tiny_config(
        tmp_path,
        model_dir,
        None,
        schedule__rounds="every: 24h",
        server__port=free_port(),
        server__cpu_kvcache_gib=1.0,
        endpoint__port=free_port(),
    )
    cfg = load_daemon_config(config)
    pidfile = cfg.daemon_dir / "vllm.pid"  # next to the vllm.log the daemon gives its server
    d = DaemonProcess(config, tmp_path / "daemon.log").start(ready_timeout_s=900)
    try:
        first = ProcessRecord.read(pidfile)
        assert first is not None and first.is_running()
        ssdd(config, "round-now")
        wait_for(lambda: _running_stage(cfg) == "evaluate", 900, "the evaluate stage", d, every=0.2)
        os.killpg(first.pgid, signal.SIGKILL)
        wait_for(lambda: _running_stage(cfg) is None, 1500, "the round to finish", d)
        (row,) = _store(cfg).rounds()
        assert row.status == "done" and row.decision in ("promote", "reject"), row
        log_text = d.log_path.read_text()
        assert '"event": "serve.vllm_restart"' in log_text
        assert '"event": "round.failed"' in log_text, "the stage that lost its server failed, then was retried"
        assert row.attempts == 1, "failures while the server was down do not use up the round's attempts"
        second = ProcessRecord.read(pidfile)
        assert second is not None and second.pid != first.pid and second.is_running()
        ep = _store(cfg).get_kv("daemon")["endpoint"]
        r = httpx.post(
            ep + "/v1/completions", json={"model": "ssd", "prompt": "def f():", "max_tokens": 4}, timeout=120
        )
        assert r.status_code == 200, r.text
        assert d.kill(signal.SIGTERM, timeout=90) == 0, d.log_tail()
        assert not second.is_running(), "vLLM stops with the daemon"
    finally:
        if d.alive():
            d.kill(signal.SIGKILL)
