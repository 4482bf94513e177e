"""The collapse guard's lineage check at the end of the sample stage, in the round loop's fast
tier (``test_round_loop``'s harness: the real ``RoundRunner`` and ``RoundAttempts`` over a real
SQLite state database, fakes only at vLLM, the trainer and the per-batch evaluation). The
champion's samples are constructed: varied programs in the first rounds, then one short
program repeated for every prompt, the shape of a collapse."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import structlog
from test_round_loop import Models, make_deps

import daemon.rounds.runner as runner
from daemon.rounds.attempts import RoundAttempts
from daemon.rounds.context import RoundDeps
from daemon.rounds.health import LINEAGE_EVENT, check_round_lineage, lineage_history
from daemon.state import RoundRow, RoundStage, RoundStatus
from daemon.status import collect_status
from policies.health import HealthGuardConfig
from ssd.health import RoundHealth, load_round_health, sample_signals, save_round_health
from ssd.sampling import SampleRecord, SampleReport, SamplingParams

MIN_SAMPLES = 30  # above health.min_outputs (20): the check compares


def healthy(i: int) -> str:
    return (
        f"```python\ndef f{i}(xs):\n    total = 0\n    for x in xs:\n        if x % {i + 2} == 0:\n"
        f"            total += x * {i}\n    return total  # variant {i}\n```"
    )


def collapsed(i: int) -> str:
    return "```python\nprint(1)\n```"  # short, and the same for every prompt


def records(texts, problems=None) -> list[SampleRecord]:
    """Rows as ``ssd.sampling.sample`` writes them; at least MIN_SAMPLES of them."""
    ids = [p.id for p in problems] if problems else [f"p{i}" for i in range(MIN_SAMPLES)]
    per = math.ceil(MIN_SAMPLES / len(ids))
    rows = []
    for k, pid in enumerate(pid for pid in ids for _ in range(per)):
        text = texts(k)
        rows.append(
            SampleRecord(
                problem_id=pid,
                sample_index=k % per,
                prompt="<p>",
                prompt_style="stdin",
                completion=text,
                params=SamplingParams(),
                seed=0,
                prompt_tokens=1,
                completion_tokens=len(text.split()),
                finish_reason="stop",
                model="m",
                created_at="-",
            )
        )
    return rows


def earlier_rounds(deps: RoundDeps, names=("r1", "r2", "r3")) -> None:
    """Finished rounds whose health records say their samples were healthy: the baseline."""
    for name in names:
        deps.store.add(RoundRow(name=name, stage=RoundStage.DONE, status=RoundStatus.DONE, decision="reject"))
        rdir = deps.cfg.rounds_dir / name
        rdir.mkdir(parents=True, exist_ok=True)
        signals = sample_signals(records(healthy))
        save_round_health(RoundHealth(round_name=name, samples=signals, champion_eval=None, candidate_eval=None), rdir)


class DetailedModels(Models):
    """``Models`` whose per-sample details are rows ``ssd.health`` reads (the decide stage's
    guard reads both arms' outputs)."""

    def __call__(self, base_url, name, problems, model_dir, sandbox, cfg, **kw):
        details = kw.pop("details_path", None)
        report = super().__call__(base_url, name, problems, model_dir, sandbox, cfg, **kw)
        if details is not None:
            Path(details).parent.mkdir(parents=True, exist_ok=True)
            Path(details).write_text(
                "".join(
                    json.dumps(
                        {
                            "temperature": cfg.t_eval[0],
                            "problem_id": p.id,
                            "sample_index": 0,
                            "status": "ok",
                            "finish_reason": "stop",
                            "completion": healthy(i),
                            "program": healthy(i)[10:-3],
                            "completion_tokens": 30,
                        }
                    )
                    + "\n"
                    for i, p in enumerate(problems)
                )
            )
        return report


class Scripted:
    """The trainer's and the sampler's boundaries: ``sample`` writes the constructed rows,
    ``distill`` an adapter; both count their calls."""

    def __init__(self, texts):
        self.texts, self.sampled, self.distilled = texts, 0, 0

    def sample(self, base_url, model, problems, model_dir, params, out_path, **kw) -> SampleReport:
        self.sampled += 1
        rows = records(self.texts, problems)
        Path(out_path).write_text("".join(r.model_dump_json() + "\n" for r in rows))
        n = len(rows)
        return SampleReport(
            path=str(out_path),
            model=model,
            problems=len(problems),
            expected=n,
            already_done=0,
            generated=n,
            rejected=0,
            completion_tokens=n,
            elapsed_s=1.0,
            tokens_per_s=1.0,
        )

    def distill(self, base_dir, train_path, out_dir, cfg, **kw) -> None:
        self.distilled += 1
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "adapter_config.json").write_text("{}")


@pytest.fixture
def deps(tmp_path: Path) -> RoundDeps:
    d = make_deps(tmp_path)
    d.paused = lambda: bool(d.store.get_kv("paused", False))  # as the daemon reads it (daemon.app)
    ids = [p.id for p in d.sets.gate]
    d.evaluate = DetailedModels({"base": set(ids[:30]), "ssd-r1": set(), "ssd-r4": set()})  # candidates: rejected
    return d


def attempts(deps: RoundDeps) -> RoundAttempts:
    return RoundAttempts(
        deps.store,
        deps.cfg.schedule,
        deps.metrics,
        run_round=lambda row: runner.RoundRunner(deps).run(row),
        server_down=lambda: False,
        close_candidate=lambda v: None,
        stopping=threading.Event(),
        paused=deps.paused,
    )


def scripted(monkeypatch, texts) -> Scripted:
    s = Scripted(texts)
    monkeypatch.setattr(runner, "sample", s.sample)
    monkeypatch.setattr(runner, "distill", s.distill)
    return s


def drift_events(deps: RoundDeps):
    return deps.store.events(kinds=[LINEAGE_EVENT])


def test_drifted_samples_pause_the_daemon_which_starts_no_next_round(deps, monkeypatch):
    earlier_rounds(deps)
    script = scripted(monkeypatch, collapsed)
    job = attempts(deps)
    assert job.run_job(new_round=True) is None  # interrupted by the pause: nothing scheduled
    r4 = deps.store.rounds()[0]
    assert deps.store.get_kv("paused") is True
    # Stopped cleanly after sampling: at distill, not failed, and not counted as an attempt.
    assert (r4.name, r4.status, r4.stage, r4.attempts, r4.error) == ("r4", "running", "distill", 0, None)
    assert script.sampled == 1 and script.distilled == 0
    (event,) = drift_events(deps)
    assert event.round_name == "r4" and event.version is None  # drawn from the base (no champion yet)
    assert "rounds paused" in event.reason and "mean length fell" in event.reason and "distinct-2" in event.reason
    data = json.loads(event.data_json)
    assert data["action"] == "pause" and data["baseline_rounds"] == ["r1", "r2", "r3"]
    assert {"length_mean", "distinct_2"} <= {t["signal"] for t in data["trips"]}
    # Paused: the round job starts nothing, neither this round nor a new one.
    assert job.run_job(new_round=True) is None
    assert [r.name for r in deps.store.rounds()] == ["r4", "r3", "r2", "r1"] and script.distilled == 0
    # ssdd status --json shows the pause, the event and the round's stored signals.
    st = collect_status(deps.cfg, deps.store)
    assert st["daemon"]["paused"] is True
    assert st["events"][0]["kind"] == LINEAGE_EVENT and st["events"][0]["reason"] == event.reason
    health = st["running_round"]["health"]
    assert health["lineage"]["ok"] is False and health["samples"]["outputs"] >= MIN_SAMPLES
    assert health["champion_eval"] is None
    assert st["rounds"][1]["health"]["lineage"] is None  # a record from before the check: no verdict
    # /metrics: the drift counted once, the round's signals as gauges (NaN where unmeasured).
    reg = deps.metrics.registry
    assert reg.get_sample_value("ssd_health_drift_total", {"check": "lineage"}) == 1
    assert reg.get_sample_value("ssd_health_drift_total", {"check": "candidate"}) is None
    samples = health["samples"]
    for signal in ("length_mean", "truncated_frac", "repetition_rate", "outputs"):
        assert reg.get_sample_value("ssd_round_sample_signal", {"signal": signal}) == pytest.approx(samples[signal])
    assert reg.get_sample_value("ssd_round_sample_signal", {"signal": "distinct_2"}) == pytest.approx(
        samples["distinct"]["2"]
    )
    assert math.isnan(reg.get_sample_value("ssd_round_sample_signal", {"signal": "mean_logprob"}))


def test_resume_continues_the_round_at_distill_without_pausing_it_again(deps, monkeypatch):
    earlier_rounds(deps)
    script = scripted(monkeypatch, collapsed)
    job = attempts(deps)
    job.run_job(new_round=True)
    deps.store.set_kv("paused", False)  # ssdd resume (what daemon.jobs.maintenance does)
    job.run_job(new_round=False)
    r4 = deps.store.rounds()[0]
    assert r4.status == "done" and r4.decision == "reject"
    assert script.sampled == 1 and script.distilled == 1  # nothing sampled twice
    assert deps.store.get_kv("paused") is False and len(drift_events(deps)) == 1
    # The decide stage rewrote the record with both arms' outputs and kept the sample stage's verdict.
    record = load_round_health(deps.cfg.rounds_dir / "r4" / "health.json")
    assert record.candidate_eval is not None and record.lineage is not None and not record.lineage.ok


def test_on_lineage_drift_warn_records_the_event_and_the_round_goes_on(deps, monkeypatch):
    deps.cfg = deps.cfg.model_copy(update={"health": HealthGuardConfig(on_lineage_drift="warn")})
    earlier_rounds(deps)
    script = scripted(monkeypatch, collapsed)
    with structlog.testing.capture_logs() as logs:
        attempts(deps).run_job(new_round=True)
    r4 = deps.store.rounds()[0]
    assert r4.status == "done" and script.distilled == 1 and not deps.store.get_kv("paused", False)
    (event,) = drift_events(deps)
    assert "warning only" in event.reason and "mean length fell" in event.reason
    (warning,) = [e for e in logs if e["event"] == "round.lineage_drift"]
    assert warning["log_level"] == "warning" and warning["action"] == "warn" and warning["round_id"] == "r4"
    assert "length_mean" in warning["signals"] and warning["baseline"] == ["r1", "r2", "r3"]


def test_healthy_samples_and_a_first_round_neither_pause_nor_record(deps, monkeypatch):
    scripted(monkeypatch, healthy)
    attempts(deps).run_job(new_round=True)  # r1: no earlier rounds to compare with
    r1 = deps.store.rounds()[0]
    assert r1.status == "done" and not deps.store.get_kv("paused", False) and drift_events(deps) == []
    lineage = load_round_health(deps.cfg.rounds_dir / "r1" / "health.json").lineage
    assert lineage is not None and lineage.ok and not lineage.checked
    rdir = deps.cfg.rounds_dir / "r1"
    verdict = check_round_lineage(deps.store, deps.cfg, RoundRow(name="r9"), rdir)  # healthy vs r1: checked, ok
    assert verdict is not None and verdict.ok and verdict.checked


def test_the_baseline_is_the_first_rounds_that_sampled_and_a_drift_pauses_once(deps):
    cfg = deps.cfg.model_copy(update={"health": HealthGuardConfig(baseline_rounds=2)})
    root = cfg.rounds_dir
    S = RoundStage
    for name, stage in (("r1", S.SAMPLE), ("r2", S.DISTILL), ("r3", S.DONE), ("r4", S.DONE), ("r5", S.SAMPLE)):
        status = RoundStatus.DONE if stage == S.DONE else RoundStatus.FAILED
        deps.store.add(RoundRow(name=name, stage=stage, status=status))
        (root / name).mkdir(parents=True)
    # r1 stopped inside its sample stage (a partial file: no baseline); r2 is from before the
    # health record (its samples file is read); r3 and r4 have records, r3's with too few
    # outputs to anchor anything; r5 is the round checked.
    for name in ("r1", "r2"):
        (root / name / "samples.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records(healthy)))
    for name, rows in (("r3", records(healthy)[:5]), ("r4", records(healthy))):
        record = RoundHealth(round_name=name, samples=sample_signals(rows), champion_eval=None, candidate_eval=None)
        save_round_health(record, root / name)
    r5 = deps.store.rounds()[0]
    assert [name for name, _ in lineage_history(deps.store, root, r5, cfg.health)] == ["r2", "r4"]
    (root / "r5" / "samples.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records(collapsed)))
    first = check_round_lineage(deps.store, cfg, r5, root / "r5")
    assert first is not None and not first.ok and deps.store.get_kv("paused") is True
    deps.store.set_kv("paused", False)  # the operator resumed; the stage runs again after a crash
    again = check_round_lineage(deps.store, cfg, r5, root / "r5")
    assert again is not None and not again.ok
    assert deps.store.get_kv("paused") is False and len(drift_events(deps)) == 1
