"""`ssd round` end to end on the real stack, with tiny budgets; resume; set disjointness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssd.config import SSDConfig
from ssd.round import build_problem_sets, run_round
from ssd.split import OverlapError


def tiny_config(tmp_path: Path, model_dir: Path, server_url: str, **data) -> SSDConfig:
    return SSDConfig.model_validate(
        {
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
    )


@pytest.mark.docker
@pytest.mark.vllm
@pytest.mark.slow
def test_round_runs_end_to_end_and_resumes(tmp_path, model_dir, vllm_server):
    cfg = tiny_config(tmp_path, model_dir, vllm_server.base_url)
    report = run_round(cfg, progress=False)
    rdir = cfg.run_dir / report.round_id
    assert report.round_id == "r1"
    for name in ("base_eval.json", "samples.jsonl", "train.jsonl", "candidate_eval.json", "round.json"):
        assert (rdir / name).is_file(), name
    assert (rdir / "adapter" / "ssd_adapter.json").is_file()
    assert report.train_prompts == 6 and report.heldout_problems == 6
    assert report.sampling is not None and report.sampling.generated == 6
    assert report.decision.n_problems == 6
    assert report.kept_samples > 0 and report.distill_loss_first is not None and report.distill_loss_last is not None
    assert report.t_eval == 0.0 and report.times.sample_s > 0 and report.times.distill_s > 1.0
    per_problem = json.loads((rdir / "base_eval.json").read_text())["temperatures"][0]["per_problem"]
    assert report.base_pass_at_1 == sum(p["c"] for p in per_problem) / 6
    assert report.adapter_name in vllm_server.list_models()
    saved = json.loads((rdir / "round.json").read_text())
    assert saved["decision"]["promote"] == report.decision.promote

    # The same round again reuses every stage's saved result: nothing is sampled or trained anew.
    manifest_stat = (rdir / "adapter" / "ssd_adapter.json").stat()
    again = run_round(cfg, round_id="r1", progress=False)
    assert again.sampling.generated == 0 and again.sampling.already_done == 6
    assert again.adapter_name == report.adapter_name
    assert again.candidate_pass_at_1 == report.candidate_pass_at_1
    assert again.times.base_eval_s == again.times.candidate_eval_s == 0.0
    after = (rdir / "adapter" / "ssd_adapter.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (manifest_stat.st_ino, manifest_stat.st_mtime_ns)  # not retrained
    # ...and without a round id the next round starts.
    from ssd.round import next_round_id

    assert next_round_id(cfg.run_dir) == "r2"


def test_overlapping_train_and_heldout_sources_are_refused(tmp_path, model_dir):
    cfg = tiny_config(tmp_path, model_dir, "http://127.0.0.1:9", heldout=[{"kind": "starter"}])
    with pytest.raises(OverlapError):
        build_problem_sets(cfg)
