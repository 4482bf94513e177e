"""`ssd round` end to end on the real stack, with tiny budgets; resume after a cached run and
after a SIGKILL during sampling and during distillation; set disjointness. The gate test's own
plan, resume and decision without vLLM: tests/test_round_gate.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ssd.child_process import group_members, proc_cmdline
from ssd.config import SSDConfig
from ssd.problem_sets import build_split_sets as build_problem_sets
from ssd.round import run_round
from ssd.sampling import read_samples
from ssd.split import OverlapError

REPO = Path(__file__).resolve().parents[1]


def tiny_config(tmp_path: Path, model_dir: Path, server_url: str, **data) -> SSDConfig:
    return SSDConfig.model_validate(tiny_settings(tmp_path, model_dir, server_url, **data))


def tiny_settings(tmp_path: Path, model_dir: Path, server_url: str, **data) -> dict:
    return {
        "data_dir": str(tmp_path / "data"),
        "run_name": "tiny",
        "model": str(model_dir),
        "served_model_name": "smollm2-135m",
        "server": {"url": server_url, "max_lora_rank": 16},
        "sandbox": {"workers": 2},
        "data": {
            "sources": [{"kind": "starter"}],
            "split": {"heldout_frac": 0.4},
            "max_train_prompts": 6,
            "max_heldout": 6,
            **data,
        },
        "sampling": {"params": {"max_tokens": 48, "n": 1}, "concurrency": 8},
        "distill": {
            "lora_rank": 8,
            "lora_alpha": 16,
            "max_steps": 2,
            "per_device_batch_size": 2,
            "grad_accum_steps": 1,
            "max_seq_len": 384,
        },
        "evaluation": {"t_eval": [0.0], "n": 1, "max_tokens": 48, "concurrency": 8},
        "promotion": {"min_problems": 1},
    }


@pytest.mark.docker
@pytest.mark.vllm
@pytest.mark.slow
def test_round_runs_end_to_end_and_resumes(tmp_path, model_dir, vllm_server):
    cfg = tiny_config(tmp_path, model_dir, vllm_server.base_url)
    report = run_round(cfg, progress=False)
    rdir = cfg.run_dir / report.round_id
    assert report.round_id == "r1"
    for name in ("gate_test.json", "samples.jsonl", "train.jsonl", "gate_results.jsonl", "round.json"):
        assert (rdir / name).is_file(), name
    assert (rdir / "adapter" / "ssd_adapter.json").is_file()
    assert report.train_prompts == 6 and report.heldout_problems == report.gate_pool_problems == 6
    assert report.sampling is not None and report.sampling.generated == 6
    # min_problems 1 and batches of 25: one batch of all 6, then the test has to stop.
    assert report.problems_evaluated == report.decision.summary.problems_evaluated == 6
    assert report.outcome in ("efficacy", "futility", "exhausted") and report.alpha == 0.05
    assert report.p_value == report.decision.summary.p_value and report.e_value > 0
    assert report.kept_samples > 0 and report.distill_loss_first is not None and report.distill_loss_last is not None
    assert report.t_eval == 0.0 and report.times.sample_s > 0 and report.times.distill_s > 1.0
    results = [json.loads(line) for line in (rdir / "gate_results.jsonl").read_text().splitlines()]
    assert len(results) == 6 and report.base_pass_at_1 == sum(r["reference_c"] for r in results) / 6
    assert report.candidate_pass_at_1 == sum(r["challenger_c"] for r in results) / 6
    assert report.adapter_name in vllm_server.list_models()
    saved = json.loads((rdir / "round.json").read_text())
    assert saved["decision"]["promote"] == report.decision.promote

    # The same round again reuses every stage's saved result: nothing is sampled or trained anew.
    manifest_stat = (rdir / "adapter" / "ssd_adapter.json").stat()
    results_stat = (rdir / "gate_results.jsonl").stat()
    again = run_round(cfg, round_id="r1", progress=False)
    assert again.sampling.generated == 0 and again.sampling.already_done == 6
    assert again.adapter_name == report.adapter_name
    assert again.candidate_pass_at_1 == report.candidate_pass_at_1 and again.decision == report.decision
    assert (rdir / "gate_results.jsonl").stat().st_mtime_ns == results_stat.st_mtime_ns  # nothing evaluated again
    after = (rdir / "adapter" / "ssd_adapter.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (manifest_stat.st_ino, manifest_stat.st_mtime_ns)  # not retrained
    # ...and without a round id the next round starts.
    from ssd.round import next_round_id

    assert next_round_id(cfg.run_dir) == "r2"
    vllm_server.unload_adapter(report.adapter_name)  # the server is shared with later tests


# -- resume after a SIGKILL ----------------------------------------------------------------------
def start_round(config: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ssd.cli", "round", "--config", str(config), "--round-id", "r1"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(proc: subprocess.Popen, cond, what: str, log: Path, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert proc.poll() is None, (
            f"`ssd round` ended (code {proc.returncode}) before {what}:\n" + log.read_text()[-3000:]
        )
        assert time.monotonic() < deadline, f"no {what} within {timeout_s}s"
        time.sleep(0.1)


def distill_workers(rdir: Path) -> list[int]:
    """Live distill worker processes training for this round (matched by their spec's path)."""
    found = []
    for entry in os.scandir("/proc"):
        cmd = proc_cmdline(int(entry.name)) if entry.name.isdigit() else None
        if cmd and "ssd.distill_worker" in cmd and any(str(rdir) in arg for arg in cmd):
            found.append(int(entry.name))
    return found


def sample_rows(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


@pytest.mark.docker
@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_round_killed_while_sampling_and_while_distilling_resumes_and_leaves_nothing(tmp_path, model_dir, vllm_server):
    settings = tiny_settings(tmp_path, model_dir, vllm_server.base_url)
    settings["server"]["api_key_file"] = str(vllm_server.config.api_key_file)  # `ssd round` runs in a child
    # 24 samples two at a time: sampling lasts long enough to be caught in the middle.
    settings["sampling"] = {"params": {"max_tokens": 48, "n": 4}, "concurrency": 2}
    cfg = SSDConfig.model_validate(settings)  # what the last, uninterrupted run uses
    # The killed runs would train for hours: an orphaned worker could not finish unnoticed.
    settings["distill"]["max_steps"] = 10_000
    config = tmp_path / "round.yaml"
    config.write_text(yaml.safe_dump(settings))
    rdir = cfg.run_dir / "r1"
    samples = rdir / "samples.jsonl"

    # 1. SIGKILL while sampling: some rows are written, not all.
    log1, log2 = tmp_path / "first.log", tmp_path / "second.log"
    first = start_round(config, log1)
    try:
        wait_for(first, lambda: sample_rows(samples) >= 3, "3 sampled rows", log1)
        kill(first)
    finally:
        first.kill()
    before = read_samples(samples)
    assert 3 <= len(before) < 24, len(before)
    assert not (rdir / "adapter").exists() and not (rdir / "gate_test.json").exists()

    # 2. The same round again: it resumes sampling after those rows; SIGKILL once the distill
    # worker is training.
    second = start_round(config, log2)
    try:
        wait_for(
            second,
            lambda: any("distill.model" in p.read_text() for p in rdir.glob(".adapter.tmp-*/distill.log")),
            "a training distill worker",
            log2,
        )
        workers = distill_workers(rdir)
        assert workers, "no distill worker process found"
        kill(second)
    finally:
        second.kill()
    assert f"already_done={len(before)}" in log2.read_text()  # resumed, not restarted
    rows = read_samples(samples)
    keys = [(r.problem_id, r.sample_index) for r in rows]
    assert len(keys) == len(set(keys)) == 24 and rows[: len(before)] == before  # kept, none twice
    # The worker notices its parent is gone and takes its whole group down: no orphan trains on.
    deadline = time.monotonic() + 30
    while (
        left := [p for w in workers for p in group_members(w)] + distill_workers(rdir)
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"orphaned distill processes: {left}"
    assert len(list(rdir.glob(".adapter.tmp-*"))) == 1 and not (rdir / "adapter").exists()  # what a kill leaves

    # 3. Once more, to the end: every sample is reused, the stale temp folder is gone.
    report = run_round(cfg, round_id="r1", progress=False)
    try:
        assert report.sampling.generated == 0 and report.sampling.already_done == 24
        assert report.problems_evaluated == 6 and (rdir / "gate_results.jsonl").is_file()
        assert report.kept_samples > 0 and report.distill_loss_first is not None
        assert (rdir / "adapter" / "ssd_adapter.json").is_file() and (rdir / "round.json").is_file()
        assert sorted(p.name for p in rdir.iterdir() if p.name.startswith(".")) == []  # no temp folder, no lock
        assert distill_workers(rdir) == []
    finally:
        vllm_server.unload_adapter(report.adapter_name)


def test_overlapping_train_and_heldout_sources_are_refused(tmp_path, model_dir):
    cfg = tiny_config(tmp_path, model_dir, "http://127.0.0.1:9", heldout=[{"kind": "starter"}])
    with pytest.raises(OverlapError, match=r"overlap: 6 id\(s\) in both: starter/001-sum-list"):
        build_problem_sets(cfg)
