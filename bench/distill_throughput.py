"""Distillation throughput: our worker (``ssd.distill``) against TRL's ``SFTTrainer``, in one run.

Same model (SmolLM2-135M, prepared under ``.data/models``), same data (starter problems rendered
with the server's chat template, their reference solutions as completions), same LoRA settings,
same optimizer settings and the same number of optimizer steps, on the same CPU thread budget.

Arms (each run in its own process, alternating, ``--repeats`` times; the median is reported):

- ``ours``: ``ssd.distill.distill()`` exactly as the daemon calls it (worker subprocess,
  hand-built examples, HF ``Trainer``); tokens/s from its manifest.
- ``trl``: ``SFTTrainer`` on conversational prompt-completion data (``prompt`` = the system and
  user messages, ``completion`` = the assistant message) with ``completion_only_loss=True``:
  TRL tokenizes with the chat template itself.
- ``trl-ids`` (``--arms``): ``SFTTrainer`` on our own token ids and labels (TRL skips its
  tokenization when ``input_ids`` and ``labels`` are given), to separate TRL's trainer from
  TRL's tokenization.

tokens/s = non-padding input tokens the trainer consumed / ``train_runtime`` (both trainers count
them the same way, ``include_num_input_tokens_seen="non_padding"``), so model loading and data
preparation are excluded from both. It also checks, on every example, that each arm's token ids
and loss mask equal what the server saw (the prompt tokenized as vLLM tokenizes it for
``/v1/completions``, then the completion, then EOS) and prints the first difference.

    .venv/bin/python bench/distill_throughput.py [--steps 4] [--examples 16] [--repeats 2] [--arms ours,trl,trl-ids]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

IGNORE = -100


def model_dir() -> Path:
    from ssd.model_store import prepare_smollm2

    return Path(prepare_smollm2(REPO / ".data").path)


def bench_config(steps: int):
    from ssd.distill import DistillConfig

    return DistillConfig(
        lora_rank=16,
        lora_alpha=32,
        lora_dropout=0.05,
        learning_rate=2e-4,
        warmup_ratio=0.0,
        per_device_batch_size=4,
        grad_accum_steps=1,
        max_seq_len=1024,
        max_steps=steps,
        cpu_threads=1,
        log_every=100,
    )


def build_data(mdir: Path, n: int) -> list[dict]:
    """Rows with the rendered prompt (what the sampler sends), its messages and a completion."""
    from ssd.prompts import SYSTEM_PROMPT, load_tokenizer, render, user_message
    from ssd.sources.starter import load_starter, starter_solutions

    tok = load_tokenizer(str(mdir))
    programs = {s.problem_id: s.program for s in starter_solutions("reference")}
    rows = []
    for p in load_starter()[:n]:
        r = render(p, tok)
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_message(p, r.style)}]
        rows.append(
            {
                "problem_id": p.id,
                "prompt": r.text,
                "prefill": r.prefill,
                "messages": messages,
                "completion": f"```python\n{programs[p.id]}```",
                "finish_reason": "stop",
            }
        )
    return rows


def server_view(tok, row: dict) -> tuple[list[int], list[int]]:
    """Ids and loss mask as the server produced the sample: vLLM tokenizes the prompt text (default
    special tokens), the model generates the completion's tokens and stops on EOS."""
    prompt = tok(row["prompt"])["input_ids"]
    completion = tok(row["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return prompt + completion, [0] * len(prompt) + [1] * len(completion)


def ours_tokenized(tok, row: dict, max_seq_len: int) -> tuple[list[int], list[int]]:
    from ssd.distill import TrainingExample
    from ssd.distill_worker import build_example

    b = build_example(
        tok,
        TrainingExample(prompt=row["prompt"], completion=row["completion"], finish_reason=row["finish_reason"]),
        max_seq_len,
    )
    return b.input_ids, [int(x != IGNORE) for x in b.labels]


def first_difference(tok, want: tuple[list[int], list[int]], got: tuple[list[int], list[int]]) -> str | None:
    (wi, wm), (gi, gm) = want, got
    if wi == gi and wm == gm:
        return None
    i = next((k for k in range(min(len(wi), len(gi))) if wi[k] != gi[k] or wm[k] != gm[k]), min(len(wi), len(gi)))

    def show(ids, mask):
        return (
            " ".join(f"{tok.decode([t])!r}{'*' if m else ''}" for t, m in zip(ids[i : i + 4], mask[i : i + 4]))
            or "<end>"
        )

    return (
        f"at token {i} of {len(wi)} (server) / {len(gi)}: server {show(wi, wm)} | arm {show(gi, gm)} (* = carries loss)"
    )


# -- the arms, each in its own process -------------------------------------------------------------


def _timed_train() -> dict:
    """Wrap ``Trainer.train`` (SFTTrainer inherits it) to record its wall and CPU seconds: on a
    shared machine CPU seconds per token stay meaningful when the wall clock does not."""
    from transformers import Trainer

    timing: dict = {}
    original = Trainer.train

    def train(self, *args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            timing.update(
                wall_s=time.perf_counter() - w0,
                cpu_s=time.process_time() - c0,
                tokens_seen=int(self.state.num_input_tokens_seen),
                steps=self.state.global_step,
                losses=[h["loss"] for h in self.state.log_history if "loss" in h],
            )

    Trainer.train = train
    return timing


def ours_child(spec: dict, timing: dict) -> dict:
    """Our worker's code path as the worker process runs it (``ssd.distill_worker.main``)."""
    from ssd import distill_worker
    from ssd.distill import WorkerSpec, base_model_info, read_examples

    work = Path(spec["scratch"])
    work.mkdir(parents=True)
    samples = work / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"prompt": r["prompt"], "completion": r["completion"], "finish_reason": r["finish_reason"]})
            + "\n"
            for r in spec["rows"]
        )
    )
    base = base_model_info(Path(spec["model_dir"]))
    ws = WorkerSpec(
        base_model_dir=spec["model_dir"],
        base_model_name=base.name,
        base_model_hash=base.content_hash,
        samples_path=str(samples),
        data_hash=read_examples(samples)[1],
        out_dir=str(work / "adapter"),
        config=spec["config"],
    )
    (work / "spec.json").write_text(ws.model_dump_json())
    distill_worker.main(["--spec", str(work / "spec.json")])
    return {}


def trl_child(spec: dict, timing: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from ssd.distill import DistillConfig, TrainingExample
    from ssd.distill_worker import build_rows, resolve_target_modules

    cfg = DistillConfig.model_validate(spec["config"])
    torch.set_num_threads(cfg.cpu_threads or 1)
    tok = AutoTokenizer.from_pretrained(spec["model_dir"])
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
    model.config.use_cache = False
    rows = spec["rows"]
    if spec["arm"] == "trl":
        ds = Dataset.from_list(
            [{"prompt": r["messages"], "completion": [{"role": "assistant", "content": r["completion"]}]} for r in rows]
        )
    else:  # our ids and labels, TRL's trainer
        built, _, _ = build_rows(
            tok,
            [
                TrainingExample(prompt=r["prompt"], completion=r["completion"], finish_reason=r["finish_reason"])
                for r in rows
            ],
            cfg,
        )
        ds = Dataset.from_list(built)
    targets = resolve_target_modules(model, cfg.target_modules)
    args = SFTConfig(
        output_dir=spec["scratch"],
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.grad_accum_steps,
        learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps,
        lr_scheduler_type=cfg.lr_schedule,
        warmup_steps=cfg.warmup_ratio,
        optim="adamw_torch",
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=False,
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        gradient_checkpointing=cfg.gradient_checkpointing,  # TRL's default is True; ours False
        max_length=cfg.max_seq_len,
        completion_only_loss=True,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        processing_class=tok,
        peft_config=LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    tokenized = [(list(ex["input_ids"]), [int(x != IGNORE) for x in ex["labels"]]) for ex in trainer.train_dataset]
    trainer.train()
    return {"tokenized": tokenized}


def child(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    timing = _timed_train()
    extra = (ours_child if spec["arm"] == "ours" else trl_child)(spec, timing)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({**timing, **extra, "peak_rss_mib": peak_mib}))


def run_arm(arm: str, mdir: Path, rows: list[dict], cfg, work: Path, k: int) -> dict | None:
    spec = work / f"{arm}-{k}.json"
    spec.write_text(
        json.dumps(
            {
                "arm": arm,
                "model_dir": str(mdir),
                "rows": rows,
                "scratch": str(work / f"{arm}-{k}"),
                "config": json.loads(cfg.model_dump_json()),
            }
        )
    )
    # The thread settings distill() gives its worker, for every arm.
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(cfg.cpu_threads),
        MKL_NUM_THREADS=str(cfg.cpu_threads),
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(spec)], capture_output=True, text=True, env=env, cwd=REPO
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        hint = " (SIGKILL: out of memory? see dmesg)" if proc.returncode == -9 else ""
        print(f"  {arm} run failed (rc {proc.returncode}){hint}; left out:\n{proc.stderr[-1500:]}", flush=True)
        return None
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--examples", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arms", default="ours,trl", help="comma list of ours, trl, trl-ids")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child)
    import structlog
    import trl
    from transformers import AutoTokenizer

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    mdir, cfg, arms = model_dir(), bench_config(a.steps), a.arms.split(",")
    rows = build_data(mdir, a.examples)
    tok = AutoTokenizer.from_pretrained(mdir)
    print(
        f"model {mdir.name}; {len(rows)} examples; LoRA r={cfg.lora_rank} alpha={cfg.lora_alpha} all-linear; "
        f"batch {cfg.per_device_batch_size} x {cfg.max_steps} steps; "
        f"{cfg.cpu_threads} CPU thread(s); trl {trl.__version__}; cores {os.cpu_count()}"
    )
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    loads = []
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = Path(tmp)
        for k in range(a.repeats):
            for arm in arms:
                load0, t0 = os.getloadavg()[0], time.monotonic()
                res = run_arm(arm, mdir, rows, cfg, work, k)
                if res is None:
                    continue
                res["tps"], res["tpcpu"] = res["tokens_seen"] / res["wall_s"], res["tokens_seen"] / res["cpu_s"]
                loads.append(load0)
                results[arm].append(res)
                print(
                    f"  run {k + 1} {arm:8s}: {res['tokens_seen']} tokens, train {res['wall_s']:.1f}s wall "
                    f"{res['cpu_s']:.1f}s CPU = {res['tps']:.0f} tokens/s, {res['tpcpu']:.0f} tokens/CPU-s; "
                    f"peak RSS {res['peak_rss_mib']:.0f} MiB; {res['steps']} steps; "
                    f"loss {res['losses'][0]:.3f} -> {res['losses'][-1]:.3f}; "
                    f"process {time.monotonic() - t0:.0f}s; load {load0:.2f}",
                    flush=True,
                )

    report(tok, rows, cfg, [arm for arm in arms if results[arm]], results, loads)


def report(tok, rows: list[dict], cfg, arms: list[str], results: dict[str, list[dict]], loads: list[float]) -> None:
    print("\ntokenization against the server (prompt as vLLM tokenizes it, completion, EOS):")
    want = [server_view(tok, r) for r in rows]
    tokenized = {"ours": [ours_tokenized(tok, r, cfg.max_seq_len) for r in rows]}
    tokenized.update({arm: [tuple(x) for x in results[arm][0]["tokenized"]] for arm in arms if arm != "ours"})
    identical = {}
    for arm, got in tokenized.items():
        bad = [d for d in (first_difference(tok, w, g) for w, g in zip(want, got)) if d]
        identical[arm] = not bad
        print(f"  {arm:8s}: {len(rows) - len(bad)}/{len(rows)} identical" + (f"; first: {bad[0]}" if bad else ""))

    med: dict[str, dict[str, float]] = {}
    for key, what in (("tps", "tokens/s (wall)"), ("tpcpu", "tokens per CPU-second"), ("peak_rss_mib", "peak RSS MiB")):
        med[key] = {arm: statistics.median(r[key] for r in results[arm]) for arm in arms}
        ratios = "; ".join(
            f"ours / {arm} = {med[key]['ours'] / med[key][arm]:.2f}" for arm in arms if arm != "ours" and "ours" in arms
        )
        print(
            f"median {what}: "
            + ", ".join(f"{arm} {v:.1f}" for arm, v in med[key].items())
            + (f"; {ratios}" if ratios else "")
        )
    print(f"load average (1 min) at run starts: {', '.join(f'{x:.2f}' for x in loads)}; cores: {os.cpu_count()}")
    if "ours" in arms and "trl" in arms:
        speed = med["tpcpu"]["ours"] / med["tpcpu"]["trl"]
        reasons = []
        if not identical["trl"]:
            reasons.append("TRL's tokenization differs from what the server saw")
        if speed > 1.1:
            reasons.append(f"ours does {speed:.2f}x the tokens per CPU-second")
        print(
            "verdict: "
            + (
                "keep ours: " + "; ".join(reasons)
                if reasons
                else "TRL matches the server's tokenization and is not meaningfully slower: adopt SFTTrainer"
            )
        )


if __name__ == "__main__":
    main()
