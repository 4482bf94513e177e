"""A candidate that changes nothing (a zero LoRA: it loads, but serves the base model's output)
is rejected with that reason, before any evaluation and without spending gate budget; the
round neither fails nor retries. Real vLLM (the session server), real state database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from daemon_util import tiny_config  # noqa: E402
from serving_loras import make_lora_adapter  # noqa: E402

from daemon.config import load_daemon_config  # noqa: E402
from daemon.metrics import DaemonMetrics  # noqa: E402
from daemon.rounds.context import ProblemSets, RoundDeps  # noqa: E402
from daemon.rounds.runner import GATE_LEDGER, RoundRunner  # noqa: E402
from daemon.serving.adapter_registry import AdapterRegistry  # noqa: E402
from daemon.state import Store  # noqa: E402
from daemon.submit import store_submission  # noqa: E402
from ssd.model_store import ModelInfo  # noqa: E402

pytestmark = pytest.mark.vllm


@pytest.mark.parametrize("skip_gate", [False, True])
def test_a_candidate_that_changes_nothing_is_rejected_without_a_test(vllm_server, model_dir, tmp_path, skip_gate):
    zero = make_lora_adapter(model_dir, tmp_path / "zero", seed=3, scale=0.0)
    cfg = load_daemon_config(
        tiny_config(tmp_path, model_dir, vllm_server.base_url, api_key_file=vllm_server.config.api_key_file)
    )
    store = Store(tmp_path / "state.db")
    row = store_submission(
        store, zero, cfg.adapters_dir, "zero", model_dir, max_rank=16, skip_gate=skip_gate
    )  # queued at the evaluate stage, as `ssdd submit` leaves it
    registry = AdapterRegistry(vllm_server, tmp_path / "registry.json")
    deps = RoundDeps(
        cfg=cfg,
        store=store,
        registry=registry,
        sandbox=None,  # nothing may be judged: there is nothing to compare
        model=ModelInfo(name="smollm2-135m", path=str(model_dir), source="test", content_hash="x", created_at=""),
        sets=ProblemSets(train=[], gate=[], audit=[], calibration=[]),
        metrics=DaemonMetrics(CollectorRegistry()),
    )

    done = RoundRunner(deps).run(row)

    assert done.status == "done" and done.stage == "done" and done.attempts == row.attempts
    assert done.decision == "reject" and "changes nothing" in (done.reason or "")
    assert done.p_value is None and done.candidate_pass_at_1 is None
    assert store.adapter("zero").state == "rejected"
    assert [e.kind for e in store.events(kinds=["rejection", "promotion"])] == ["rejection"]
    assert store.get_kv(GATE_LEDGER) is None  # no test, no budget spent
    assert not (cfg.rounds_dir / row.name / "champion_eval.json").exists()
    assert registry.champion is None and registry.loaded_versions() == []
    assert not any(name.startswith("ssd-") for name in vllm_server.list_models())  # unloaded again
