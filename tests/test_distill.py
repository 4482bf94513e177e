"""Self-distillation training on the real SmolLM2-135M, on the CPU, with tiny budgets.

One adapter is trained once per module on examples whose completion is a fixed, distinctive
string with a high learning rate, so its effect on the real vLLM server's greedy output is
certain rather than statistical.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ssd.adapters import AdapterError, ParentAdapter, adapter_content_hash, load_manifest, validate_adapter
from ssd.child_process import group_members
from ssd.distill import (
    WATCH_PARENT_ENV,
    DistillConfig,
    DistillError,
    DistillInputError,
    TrainingExample,
    distill,
    parse_examples,
)
from ssd.distill_worker import IGNORE_INDEX, VLLM_LLAMA_LORA_MODULES, build_example
from ssd.vllm_auth import auth_headers

MAGIC = "ZEBRA QUOKKA MAGIC 42"
# Small and fast: a fixed string is learnt in ~10 steps at this rate; rank fits max_lora_rank=16.
FAST = dict(
    lora_rank=8,
    lora_alpha=16,
    learning_rate=5e-3,
    warmup_ratio=0.0,
    per_device_batch_size=4,
    grad_accum_steps=1,
    max_seq_len=256,
    log_every=2,
    cpu_threads=1,
)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def chat_prompt(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def magic_rows(tokenizer, n: int = 16) -> list[dict]:
    # Shaped like the sampler's rows, extra fields included, to prove the reader ignores them.
    return [
        {
            "problem_id": f"magic/{i}",
            "sample_index": 0,
            "prompt_text": chat_prompt(tokenizer, f"Say the magic word number {i}."),
            "completion": MAGIC,
            "finish_reason": "stop",
            "prompt_tokens": 30,
            "completion_tokens": 9,
        }
        for i in range(n)
    ]


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".tmp-" in p.name] if parent.exists() else []


@pytest.fixture(scope="module")
def magic_samples(tmp_path_factory, tokenizer) -> Path:
    return write_rows(tmp_path_factory.mktemp("samples") / "magic.jsonl", magic_rows(tokenizer))


@pytest.fixture(scope="module")
def magic_adapter(tmp_path_factory, model_dir, magic_samples) -> Path:
    out = tmp_path_factory.mktemp("adapters") / "magic-v1"
    distill(model_dir, magic_samples, out, DistillConfig(max_steps=10, **FAST), round_id="test-r1")
    return out


# -- building examples ------------------------------------------------------------------------


def test_labels_cover_only_response_and_eos(tokenizer):
    prompt = chat_prompt(tokenizer, "Write add(a, b).")
    ex = TrainingExample(prompt_text=prompt, completion="```python\ndef add(a, b):\n    return a + b\n```")
    b = build_example(tokenizer, ex, max_seq_len=256)
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert b.status == "ok" and not b.boundary_fallback
    assert b.prompt_len == len(prompt_ids) and b.input_ids[: b.prompt_len] == prompt_ids
    assert b.labels[: b.prompt_len] == [IGNORE_INDEX] * b.prompt_len
    assert b.labels[b.prompt_len :] == b.input_ids[b.prompt_len :]
    assert b.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(b.input_ids[b.prompt_len :]) == ex.completion + tokenizer.eos_token

    cut = build_example(tokenizer, ex.model_copy(update={"finish_reason": "length"}), max_seq_len=256)
    assert not cut.eos_appended and cut.input_ids == b.input_ids[:-1]


def test_boundary_merge_keeps_prompt_tokens_verbatim(tokenizer):
    # The completion-style prompt's prefill ends in "\n" and the body starts with indentation:
    # BPE merges "\n    " across the boundary, the common case for HumanEval-style prompts.
    prompt = chat_prompt(tokenizer, "Write add(a, b).") + "```python\ndef add(a, b):\n"
    completion = "    return a + b\n```"
    # Precondition: the merge really happens with this tokenizer, else the test is moot.
    assert (
        tokenizer(prompt + completion)["input_ids"][: len(tokenizer(prompt)["input_ids"])]
        != tokenizer(prompt)["input_ids"]
    )
    b = build_example(tokenizer, TrainingExample(prompt_text=prompt, completion=completion), max_seq_len=256)
    assert b.boundary_fallback
    assert b.input_ids[: b.prompt_len] == tokenizer(prompt)["input_ids"]
    assert tokenizer.decode(b.input_ids[b.prompt_len :]) == completion + tokenizer.eos_token
    assert all(x == IGNORE_INDEX for x in b.labels[: b.prompt_len])


def test_overlong_examples_are_truncated_or_dropped(tokenizer):
    ex = TrainingExample(prompt_text=chat_prompt(tokenizer, "Count."), completion=" one two" * 100)
    n = len(tokenizer(ex.prompt_text)["input_ids"])
    t = build_example(tokenizer, ex, max_seq_len=n + 10)
    assert t.status == "truncated" and len(t.input_ids) == len(t.labels) == n + 10
    assert build_example(tokenizer, ex, max_seq_len=n + 10, overlong="drop").status == "dropped"
    assert build_example(tokenizer, ex, max_seq_len=n).status == "dropped"  # no room for any response


# -- input validation (no worker starts) --------------------------------------------------------


def test_reader_ignores_extra_fields_and_names_the_bad_line(tmp_path, tokenizer):
    rows = magic_rows(tokenizer, 3)
    assert [e.completion for e in parse_examples("".join(json.dumps(r) + "\n" for r in rows).encode(), "x")] == [
        MAGIC
    ] * 3
    cases = {
        '{"prompt_text": "p", "completion": "c"}\n\n{"prompt_text": "p"}\n': ("s.jsonl:3", "completion"),
        '{"prompt_text": "p", "completion": "c"}\n{not json\n': ("s.jsonl:2", "invalid JSON"),
        "[1, 2]\n": ("s.jsonl:1", "JSON object"),
        '{"prompt_text": "", "completion": "c"}\n': ("s.jsonl:1", "prompt_text"),
    }
    for text, (where, what) in cases.items():
        with pytest.raises(DistillInputError) as err:
            parse_examples(text.encode(), "s.jsonl")
        assert where in str(err.value) and what in str(err.value), str(err.value)


def test_malformed_samples_file_fails_before_training_and_leaves_nothing(tmp_path, model_dir, tokenizer):
    rows = [json.dumps(r) for r in magic_rows(tokenizer, 4)]
    rows[2] = rows[2].replace('"completion"', '"completon"')
    samples = tmp_path / "bad.jsonl"
    samples.write_text("\n".join(rows) + "\n")
    out = tmp_path / "adapters" / "a1"
    with pytest.raises(DistillInputError, match=r"bad\.jsonl:3: completion: Field required"):
        distill(model_dir, samples, out, DistillConfig(max_steps=1, **FAST))
    assert not out.exists() and not leftovers(out.parent)

    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DistillInputError, match="no examples"):
        distill(model_dir, tmp_path / "empty.jsonl", out, DistillConfig(**FAST))


def test_missing_base_model_is_a_clear_error(tmp_path, magic_samples):
    out = tmp_path / "a1"
    with pytest.raises(DistillInputError, match=r"base model: model folder .*nowhere does not exist"):
        distill(tmp_path / "nowhere", magic_samples, out, DistillConfig(**FAST))
    assert not out.exists()


def test_config_rejects_unservable_or_unknown_settings():
    with pytest.raises(ValueError, match="lm_head"):
        DistillConfig(target_modules=["q_proj", "lm_head"])
    with pytest.raises(ValueError, match=r"lora_rank\n  Input should be greater than or equal to 1"):
        DistillConfig(lora_rank=0)
    with pytest.raises(ValueError, match=r"lr\n  Extra inputs are not permitted"):
        DistillConfig(learning_rate=2e-4, lr=1)  # extra=forbid catches typos
    assert DistillConfig().model_dump()["adam_beta2"] == 0.95


# -- real training runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_distill_writes_a_valid_adapter_and_manifest(magic_adapter, magic_samples, model_dir):
    from ssd.model_store import resolve

    base_hash = resolve(model_dir.parent.parent, str(model_dir)).content_hash
    m = validate_adapter(magic_adapter, base_hash, max_rank=16)
    assert m is not None and m == load_manifest(magic_adapter)
    assert m.round_id == "test-r1" and m.base_model_hash == base_hash
    assert m.data_hash == "sha256:" + hashlib.sha256(magic_samples.read_bytes()).hexdigest()
    cfg = json.loads((magic_adapter / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and set(cfg["target_modules"]) == set(VLLM_LLAMA_LORA_MODULES)
    assert (magic_adapter / "adapter_model.safetensors").stat().st_size == m.adapter_bytes > 0
    assert m.steps == 10 and [p.step for p in m.loss_curve] == list(range(1, 11))
    assert m.loss_curve[-1].loss < 0.2 * m.loss_curve[0].loss  # it learnt the fixed string
    assert m.examples.rows == m.examples.used == 16 and m.examples.dropped == 0
    assert 0 < m.tokens.response_tokens < m.tokens.train_tokens <= m.tokens.tokens_seen
    assert m.precision == "fp32" and m.versions["peft"] and m.hyperparameters["learning_rate"] == 5e-3
    assert not leftovers(magic_adapter.parent)
    with pytest.raises(AdapterError, match="rank 8, above the allowed maximum 4"):
        validate_adapter(magic_adapter, max_rank=4)


@pytest.mark.vllm
@pytest.mark.slow
def test_adapter_loads_into_vllm_and_changes_greedy_output(magic_adapter, vllm_server, tokenizer):
    name = f"magic-{uuid.uuid4().hex[:6]}"
    vllm_server.load_adapter(name, magic_adapter)
    assert name in vllm_server.list_models()
    prompt = chat_prompt(tokenizer, "Say the magic word number 99.")  # not a training prompt

    def complete(model: str) -> str:
        r = httpx.post(
            f"{vllm_server.base_url}/v1/completions",
            timeout=120,
            headers=auth_headers(vllm_server.base_url),
            json={"model": model, "prompt": prompt, "max_tokens": 12, "temperature": 0},
        )
        r.raise_for_status()
        return r.json()["choices"][0]["text"]

    try:
        base, tuned = complete(vllm_server.served_model_name), complete(name)
    finally:
        vllm_server.unload_adapter(name)  # the server is shared: later tests must not see it
    assert tuned != base
    assert "QUOKKA" in tuned and "QUOKKA" not in base, (base, tuned)


@pytest.mark.slow
def test_worker_crash_raises_with_log_tail_and_leaves_no_adapter(tmp_path, model_dir, magic_samples):
    out = tmp_path / "adapters" / "broken"
    with pytest.raises(DistillError) as err:
        distill(
            model_dir,
            magic_samples,
            out,
            DistillConfig(target_modules=["not_a_module"], max_steps=1, **FAST),
            on_line=lambda line: None,
        )
    assert "exited with code" in str(err.value)
    assert "not_a_module" in err.value.log_tail and "Traceback" in err.value.log_tail
    assert not out.exists() and not leftovers(out.parent)
    assert "not_a_module" in out.with_name("broken.failed.log").read_text()


@pytest.mark.slow
def test_continue_training_from_init_adapter(tmp_path, model_dir, magic_adapter, magic_samples):
    first = load_manifest(magic_adapter)
    out = tmp_path / "magic-v2"
    # lora_rank=32 is overridden: a continued adapter keeps its own shape (a warning says so).
    m = distill(
        model_dir,
        magic_samples,
        out,
        DistillConfig(max_steps=2, **{**FAST, "lora_rank": 32}),
        round_id="test-r2",
        init_adapter=magic_adapter,
    )
    assert m.parent == ParentAdapter(
        path=str(magic_adapter.resolve()),
        content_hash=adapter_content_hash(magic_adapter),
        data_hash=first.data_hash,
        round_id="test-r1",
    )
    assert m.parent.content_hash != adapter_content_hash(out)  # it trained on from there
    assert m.lora.rank == 8 and json.loads((out / "adapter_config.json").read_text())["r"] == 8
    # Step 1's loss is measured before any update: low only if the trained weights were loaded.
    assert m.loss_curve[0].loss < 0.5 < first.loss_curve[0].loss
    assert validate_adapter(out, first.base_model_hash, max_rank=16).parent == m.parent
    assert load_manifest(magic_adapter).parent is None  # trained from the base


@pytest.mark.slow
def test_init_adapter_weights_are_step_zero_weights(model_dir, magic_adapter):
    """The model the worker trains starts from exactly the init adapter's weights (by loading
    both), and a fresh LoRA does not."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from ssd.distill_worker import load_model

    saved = load_file(str(magic_adapter / "adapter_model.safetensors"))
    cfg = DistillConfig(**{**FAST, "lora_rank": 32})
    continued, lora = load_model(str(model_dir), cfg, str(magic_adapter), "fp32")
    start = get_peft_model_state_dict(continued)
    assert lora.rank == 8 and set(start) == set(saved) and len(saved) > 0
    assert all(torch.equal(start[k], saved[k]) for k in saved)
    assert sum(p.numel() for p in continued.parameters() if p.requires_grad) == sum(t.numel() for t in saved.values())

    fresh, _ = load_model(str(model_dir), DistillConfig(**FAST), None, "fp32")
    fresh_start = get_peft_model_state_dict(fresh)
    assert set(fresh_start) == set(saved)
    b_keys = [k for k in saved if "lora_B" in k]
    assert b_keys and all(not fresh_start[k].any() for k in b_keys)  # PEFT's init: B = 0
    assert all(saved[k].abs().max() > 1e-4 for k in b_keys)  # the trained adapter moved B


def test_init_adapter_is_checked_before_training(tmp_path, model_dir, magic_samples):
    peft_dir = tmp_path / "foreign"
    peft_dir.mkdir()
    (peft_dir / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]})
    )
    (peft_dir / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(DistillInputError, match="no adapter_model.safetensors; pickle weights"):
        distill(model_dir, magic_samples, tmp_path / "out", DistillConfig(**FAST), init_adapter=peft_dir)
    with pytest.raises(DistillInputError, match="init_adapter: adapter folder .*nowhere does not exist"):
        distill(model_dir, magic_samples, tmp_path / "out", DistillConfig(**FAST), init_adapter=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)
    with pytest.raises(ValueError, match="init"):
        DistillConfig(init="parent")
    assert DistillConfig().init == "champion"


@pytest.mark.slow
def test_adapter_validation_names_what_is_wrong(tmp_path, magic_adapter, model_dir, magic_samples):
    good = load_manifest(magic_adapter)
    bad = tmp_path / "copy"
    shutil.copytree(magic_adapter, bad)
    with pytest.raises(AdapterError, match="trained on base"):
        validate_adapter(bad, "sha256:other")
    with pytest.raises(DistillInputError, match="init_adapter .* was trained on base"):
        doctored = good.model_copy(update={"base_model_hash": "sha256:other"})
        (bad / "ssd_adapter.json").write_text(doctored.model_dump_json())
        distill(model_dir, magic_samples, tmp_path / "x", DistillConfig(**FAST), init_adapter=bad)
    (bad / "ssd_adapter.json").unlink()
    with pytest.raises(AdapterError, match="lacks ssd_adapter.json"):
        validate_adapter(bad)
    assert validate_adapter(bad, require_manifest=False) is None
    (bad / "adapter_config.json").write_text("{")
    with pytest.raises(AdapterError, match="adapter_config.json is not valid JSON"):
        validate_adapter(bad, require_manifest=False)
    (bad / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterError, match="lacks adapter_model.safetensors"):
        validate_adapter(bad, require_manifest=False)
    with pytest.raises(DistillInputError, match="already exists"):
        distill(model_dir, magic_samples, magic_adapter, DistillConfig(**FAST))


# -- failure paths: timeout, a killed parent ----------------------------------------------------

# Runs the worker under a shell that first starts a grandchild in the worker's process group
# (as accelerate's per-GPU ranks are) and prints both pids, then execs the interpreter.
LAUNCHER = ["sh", "-c", 'sleep 600 >/dev/null 2>&1 & echo "launcher pid=$$ child=$!"; exec "$0" "$@"', sys.executable]


def launcher_pids(lines: list[str]) -> tuple[int, int]:
    m = next(re.search(r"launcher pid=(\d+) child=(\d+)", line) for line in lines if "launcher pid=" in line)
    return int(m.group(1)), int(m.group(2))


def wait_group_gone(pgid: int, timeout_s: float = 15) -> list[int]:
    """Live members of group ``pgid`` left after waiting (zombies awaiting a reaper do not count)."""
    deadline = time.monotonic() + timeout_s
    while (alive := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@pytest.mark.slow
def test_timeout_kills_the_whole_worker_group(tmp_path, model_dir, magic_samples):
    lines: list[str] = []
    out = tmp_path / "adapters" / "slow"
    t0 = time.monotonic()
    with pytest.raises(DistillError, match=r"timed out after 6s \(its process group was killed\)") as err:
        distill(
            model_dir,
            magic_samples,
            out,
            DistillConfig(max_steps=10_000, **FAST),
            launcher=LAUNCHER,
            timeout_s=6,
            on_line=lines.append,
        )
    assert time.monotonic() - t0 < 30
    pgid, child = launcher_pids(lines)
    assert child != pgid and wait_group_gone(pgid) == []  # the worker and its grandchild
    assert "launcher pid=" in err.value.log_tail
    assert not out.exists() and not leftovers(out.parent)
    assert "launcher pid=" in out.with_name("slow.failed.log").read_text()


PARENT = """
import json, sys
from pathlib import Path
from ssd.distill import DistillConfig, distill
distill(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), DistillConfig.model_validate_json(sys.argv[4]),
        launcher=json.loads(sys.argv[5]))
"""


@pytest.mark.slow
def test_killed_parent_takes_its_worker_along_and_the_next_distill_cleans_up(tmp_path, model_dir, magic_samples):
    out = tmp_path / "adapters" / "orphan"
    cfg = DistillConfig(max_steps=10_000, **FAST)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PARENT,
            str(model_dir),
            str(magic_samples),
            str(out),
            cfg.model_dump_json(),
            json.dumps(LAUNCHER),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in parent.stderr], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any("distill.model" in line for line in seen):  # the worker is training
            assert time.monotonic() < deadline and parent.poll() is None, "".join(seen[-30:])
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        pgid, child = launcher_pids(seen)
        assert len(leftovers(out.parent)) == 1
        with pytest.raises(DistillInputError, match="another distill into .*orphan is running"):
            distill(model_dir, magic_samples, out, DistillConfig(max_steps=1, **FAST))
        parent.kill()
        parent.wait(10)
        # The worker reads EOF on the pipe its parent held and kills its group: no orphan trains on.
        assert wait_group_gone(pgid) == [], f"orphans: {group_members(pgid)}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    stale = leftovers(out.parent)
    assert len(stale) == 1 and not out.exists()  # what a SIGKILL leaves behind

    m = distill(model_dir, magic_samples, out, DistillConfig(max_steps=1, **FAST), on_line=lambda line: None)
    assert m.steps == 1 and out.is_dir()
    assert leftovers(out.parent) == [] and sorted(p.name for p in out.parent.iterdir()) == ["orphan"]


class FakeThread:
    started: list[str] = []

    def __init__(self, target, name, daemon):
        self.started.append(name)

    def start(self):
        pass


def test_worker_watches_its_parent_only_under_distill(monkeypatch):
    """Run by hand (stdin a terminal, or /dev/null under nohup) the worker must not kill itself."""
    from ssd import distill_worker

    monkeypatch.setattr(distill_worker.threading, "Thread", FakeThread)
    monkeypatch.setattr(FakeThread, "started", [])
    monkeypatch.delenv(WATCH_PARENT_ENV, raising=False)
    distill_worker.watch_parent()
    assert FakeThread.started == []
    monkeypatch.setenv(WATCH_PARENT_ENV, "1")
    distill_worker.watch_parent()
    assert FakeThread.started == ["watch-parent"]


# -- the trainer's probe prediction, checked by the serving registry ------------------------
@pytest.mark.slow
def test_manifest_predicts_the_probe_and_the_adapter_moves_it(magic_adapter):
    pred = load_manifest(magic_adapter).probe
    assert pred is not None and pred.precision == "fp32"
    assert len(pred.adapter_top_logprobs) == len(pred.base_top_logprobs) == 5
    assert pred.adapter_top_logprobs == sorted(pred.adapter_top_logprobs, reverse=True)
    # lr 5e-3 on a fixed string moves the next-token distribution well beyond float noise
    assert max(abs(a - b) for a, b in zip(pred.adapter_top_logprobs, pred.base_top_logprobs)) > 0.05


@pytest.mark.vllm
@pytest.mark.slow
def test_registry_accepts_the_trained_weights_and_refuses_a_wrong_prediction(magic_adapter, vllm_server, tmp_path):
    import shutil

    from daemon.serving.adapter_registry import AdapterRegistry, RegistryError

    registry = AdapterRegistry(vllm_server, tmp_path / "registry.json", alias="ssd")
    try:
        registry.promote("magic-ok", magic_adapter)
        assert registry.champion == "magic-ok"

        # Same weights, but a manifest that predicts other logprobs: not what was trained.
        forged = tmp_path / "forged"
        shutil.copytree(magic_adapter, forged)
        manifest = load_manifest(forged)
        wrong = [x - 1.0 for x in manifest.probe.adapter_top_logprobs]
        (forged / "ssd_adapter.json").write_text(
            manifest.model_copy(
                update={"probe": manifest.probe.model_copy(update={"adapter_top_logprobs": wrong})}
            ).model_dump_json()
        )
        with pytest.raises(RegistryError, match="not the weights that were trained"):
            registry.promote("magic-forged", forged)
        assert registry.champion == "magic-ok"
    finally:
        registry.unload_all()
        registry.close()
