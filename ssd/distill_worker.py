"""The distillation process: ``python -m ssd.distill_worker --spec SPEC.json``.

Also runs as ``accelerate launch -m ssd.distill_worker --spec SPEC.json`` (one process per GPU;
transformers' Trainer does the data-parallel part; only rank 0 writes). It is a separate process
so the model, optimizer state and allocator caches are all freed when it exits. ``ssd.distill``
starts it; it writes the PEFT adapter and ``ssd_adapter.json`` into the spec's ``out_dir``.

Why the examples are built here rather than by TRL's ``SFTTrainer`` (measured with
``bench/distill_throughput.py``: SmolLM2-135M, 16 starter prompts rendered as the server renders
them, LoRA r16 on all linear projections, 4 steps of batch 4, one CPU thread each, TRL 1.16.0,
transformers 5.19; a 2-core machine shared with other jobs, load average 4-6):

- Tokenization. TRL's conversational prompt-completion data differs from what the server saw in
  16 of 16 examples: the chat template closes the assistant turn with ``<|im_end|>`` *and* a
  newline, and TRL trains on that newline, which the server never generates (it stops at EOS).
  Two kinds of sample cannot be expressed in that format at all: a prompt whose assistant turn we
  prefilled (completion-style prompts), and a sample the token budget cut (``finish_reason:
  "length"``, trained here without EOS). Where a token merges across the prompt/completion
  boundary TRL trains on the merged tokenization; here the prompt keeps the server's tokens.
- Speed and memory. Ours did 1.13x TRL's tokens/s (35.1 vs 31.0; 1.14x per CPU-second, 52.3 vs
  45.9) with 0.92x its peak RSS (7.3 vs 7.9 GiB); TRL's trainer on *our* token ids was no faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog
from transformers import TrainerCallback

from ssd.adapters import (
    MANIFEST,
    PROBE_PROMPT,
    PROBE_TOP_K,
    AdapterManifest,
    ExampleCounts,
    LoraSettings,
    LossPoint,
    ProbePrediction,
    TokenCounts,
    adapter_bytes,
    read_adapter_config,
)
from ssd.atomic_io import write_text_atomic
from ssd.distill import WATCH_PARENT_ENV, DistillConfig, TrainingExample, WorkerSpec, parse_examples, sha256_bytes
from ssd.response_loss import ResponseLossTrainer

log = structlog.get_logger(__name__)

IGNORE_INDEX = -100  # label value cross-entropy skips
# The projections vLLM's LoRA implementation loads for Llama-family models.
VLLM_LLAMA_LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class BuiltExample:
    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    status: str  # "ok" | "truncated" | "dropped"
    boundary_fallback: bool
    eos_appended: bool


def build_example(tokenizer, ex: TrainingExample, max_seq_len: int, overlong: str = "truncate") -> BuiltExample:
    """Token ids and labels for one example; loss only on the response (and its EOS).

    The prompt is tokenized the way the server tokenized it when sampling (default special
    tokens), so training conditions on exactly what the model saw.
    """
    prompt_ids = list(tokenizer(ex.prompt_text)["input_ids"])
    full_ids = list(tokenizer(ex.prompt_text + ex.completion)["input_ids"])
    n = len(prompt_ids)
    if full_ids[:n] == prompt_ids:
        response_ids = full_ids[n:]
        fallback = False
    else:
        # A token merged across the boundary (e.g. prompt ends "\n", completion starts "\n").
        # At sampling time the model was conditioned on prompt_ids and generated the completion
        # after them, so keep prompt_ids verbatim and tokenize the completion on its own.
        response_ids = list(tokenizer(ex.completion, add_special_tokens=False)["input_ids"])
        fallback = True
    eos = ex.finish_reason != "length"
    if eos:
        response_ids = response_ids + [tokenizer.eos_token_id]
    ids = prompt_ids + response_ids
    labels = [IGNORE_INDEX] * n + response_ids
    status = "ok"
    if not response_ids or n >= max_seq_len:
        status = "dropped"
    elif len(ids) > max_seq_len:
        if overlong == "drop":
            status = "dropped"
        else:
            ids, labels, status = ids[:max_seq_len], labels[:max_seq_len], "truncated"
    return BuiltExample(ids, labels, n, status, fallback, eos)


class _ListDataset:
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def _collator(pad_id: int, multiple_of: int | None):
    import torch

    def collate(batch: list[dict]) -> dict:
        longest = max(len(b["input_ids"]) for b in batch)
        if multiple_of:
            longest = -(-longest // multiple_of) * multiple_of
        ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for i, b in enumerate(batch):
            k = len(b["input_ids"])
            ids[i, :k] = torch.tensor(b["input_ids"])
            labels[i, :k] = torch.tensor(b["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def resolve_target_modules(model, requested) -> list[str]:
    """Leaf names of the linear layers LoRA goes on; never the output head (vLLM cannot serve it)."""
    import torch

    linear = sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)} - {"lm_head"}
    )
    if requested == "all-linear":
        names = linear
    else:
        unknown = [n for n in requested if n not in linear]
        if unknown:
            raise ValueError(
                f"target modules {unknown} are not linear layers of {type(model).__name__}; it has {linear}"
            )
        names = list(requested)
    arch = (getattr(model.config, "architectures", None) or [""])[0]
    if "Llama" in arch and not set(names) <= set(VLLM_LLAMA_LORA_MODULES):
        raise ValueError(
            f"target modules {sorted(set(names) - set(VLLM_LLAMA_LORA_MODULES))} "
            f"are not LoRA-servable by vLLM for {arch}"
        )
    return names


def predict_probe(model, tokenizer, precision: str) -> ProbePrediction:
    """What this adapter should make the server say on the fixed probe, and what the base says
    (adapter disabled): the serving side replays the probe after loading to prove these weights
    are the ones applied."""
    import torch

    model.eval()
    enc = tokenizer(PROBE_PROMPT, return_tensors="pt").to(model.device)
    with torch.no_grad():
        tuned = torch.log_softmax(model(**enc).logits[0, -1].float(), dim=-1)
        with model.disable_adapter():
            base = torch.log_softmax(model(**enc).logits[0, -1].float(), dim=-1)
    top, base_top = torch.topk(tuned, PROBE_TOP_K), torch.topk(base, PROBE_TOP_K)
    return ProbePrediction(
        prompt=PROBE_PROMPT,
        adapter_top_logprobs=[round(float(x), 6) for x in top.values],
        base_top_logprobs=[round(float(x), 6) for x in base_top.values],
        adapter_top_token=tokenizer.decode([int(top.indices[0])]),
        precision=precision,
    )


def _versions() -> dict[str, str]:
    import accelerate
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
    }


def read_verified_examples(spec: WorkerSpec) -> list[TrainingExample]:
    """The spec's samples, refusing a file that changed since ``distill()`` hashed it."""
    data = Path(spec.samples_path).read_bytes()
    if sha256_bytes(data) != spec.data_hash:
        raise RuntimeError(
            f"samples file {spec.samples_path} changed after it was validated "
            f"(hash {sha256_bytes(data)} != {spec.data_hash})"
        )
    return parse_examples(data, spec.samples_path)


def build_rows(
    tokenizer, examples: list[TrainingExample], cfg: DistillConfig
) -> tuple[list[dict], ExampleCounts, TokenCounts]:
    """Token ids and labels of every usable example, with what was kept, cut and dropped."""
    counts, tokens, rows = ExampleCounts(rows=len(examples)), TokenCounts(), []
    for ex in examples:
        b = build_example(tokenizer, ex, cfg.max_seq_len, cfg.overlong)
        counts.boundary_fallback += b.boundary_fallback
        counts.no_eos += not b.eos_appended
        if b.status == "dropped":
            counts.dropped += 1
            continue
        counts.truncated += b.status == "truncated"
        counts.used += 1
        tokens.train_tokens += len(b.input_ids)
        tokens.response_tokens += sum(1 for x in b.labels if x != IGNORE_INDEX)
        rows.append({"input_ids": b.input_ids, "labels": b.labels})
    return rows, counts, tokens


def resolve_precision(cfg: DistillConfig, cuda: bool) -> str:
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
    if precision == "bf16" and not cuda:
        log.warning("distill.bf16_on_cpu", note="bf16 autocast on CPU is slow; prefer fp32")
    return precision


def load_model(
    base_model_dir: str, cfg: DistillConfig, init_adapter: str | None, precision: str
) -> tuple[Any, LoraSettings]:
    """The base with the LoRA to train: the adapter at ``init_adapter`` (its weights, rank, alpha,
    dropout and targets; a warning when ``cfg`` asks for others) or a fresh one from ``cfg``."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base: Any = AutoModelForCausalLM.from_pretrained(
        base_model_dir, dtype=torch.bfloat16 if precision == "bf16" else torch.float32
    )
    base.config.use_cache = False  # KV cache is useless in training and clashes with checkpointing
    if init_adapter is None:
        targets = resolve_target_modules(base, cfg.target_modules)
        lora = LoraSettings(rank=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, target_modules=targets)
        return get_peft_model(
            base,
            LoraConfig(
                r=cfg.lora_rank,
                lora_alpha=cfg.lora_alpha,  # type: ignore[arg-type]  # PEFT says int; a float works
                lora_dropout=cfg.lora_dropout,
                target_modules=targets,
                bias="none",
                task_type="CAUSAL_LM",
            ),
        ), lora
    model: Any = PeftModel.from_pretrained(base, init_adapter, is_trainable=True)
    acfg: Any = model.peft_config["default"]
    targets = sorted(acfg.target_modules) if not isinstance(acfg.target_modules, str) else [acfg.target_modules]
    lora = LoraSettings(rank=acfg.r, alpha=acfg.lora_alpha, dropout=acfg.lora_dropout, target_modules=targets)
    asked = (cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout)
    if asked != (lora.rank, lora.alpha, lora.dropout) or cfg.target_modules not in ("all-linear", targets):
        log.warning(
            "distill.init_adapter_settings_win",
            init_adapter=init_adapter,
            used=lora.model_dump(),
            config=dict(zip(("rank", "alpha", "dropout"), asked)),
        )
    return model, lora


class Progress(TrainerCallback):
    """Records the loss curve and logs progress every ``log_every`` steps (rank 0 only)."""

    def __init__(self, log_every: int, wlog, t_start: float):
        self.log_every, self.wlog, self.t_start = log_every, wlog, t_start
        self.loss_curve: list[LossPoint] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        self.loss_curve.append(LossPoint(step=state.global_step, loss=float(logs["loss"])))
        if state.global_step % self.log_every == 0 or state.global_step in (1, state.max_steps):
            self.wlog.info(
                "distill.progress",
                step=state.global_step,
                max_steps=state.max_steps,
                loss=round(float(logs["loss"]), 4),
                lr=logs.get("learning_rate"),
                tokens_seen=state.num_input_tokens_seen,
                elapsed_s=round(time.monotonic() - self.t_start, 1),
            )


def training_args(cfg: DistillConfig, output_dir: Path, precision: str, cuda: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.grad_accum_steps,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        lr_scheduler_type=cfg.lr_schedule,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of total steps
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        adam_beta1=cfg.adam_beta1,
        adam_beta2=cfg.adam_beta2,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        use_cpu=not cuda,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        train_sampling_strategy=cfg.sampling,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )


def prepare_model(spec: WorkerSpec, wlog) -> tuple[Any, LoraSettings, str, bool]:
    """Threads, precision and seed set; the model with the LoRA to train; (model, lora, precision, cuda)."""
    import torch
    from transformers import set_seed

    cfg = spec.config
    cuda = torch.cuda.is_available()
    if not cuda and cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    precision = resolve_precision(cfg, cuda)
    set_seed(cfg.seed)
    model, lora = load_model(spec.base_model_dir, cfg, spec.parent.path if spec.parent else None, precision)
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    trainable, total = model.get_nb_trainable_parameters()
    wlog.info(
        "distill.model",
        precision=precision,
        device="cuda" if cuda else "cpu",
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        threads=torch.get_num_threads(),
        lora_rank=lora.rank,
        targets=lora.target_modules,
        parent=spec.parent.path if spec.parent else None,
        trainable_params=trainable,
        total_params=total,
    )
    return model, lora, precision, cuda


def write_adapter(
    spec: WorkerSpec,
    model,
    tokenizer,
    trainer,
    progress: Progress,
    *,
    lora: LoraSettings,
    counts: ExampleCounts,
    tokens: TokenCounts,
    precision: str,
    t_start: float,
    runtime: float,
) -> AdapterManifest:
    """Save the adapter into ``spec.out_dir``, then its manifest, last and atomically: the
    manifest's presence is what marks the folder complete."""
    out_dir = Path(spec.out_dir)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    read_adapter_config(out_dir)  # fail here, not in the server, if PEFT wrote something odd
    steps = trainer.state.global_step
    manifest = AdapterManifest(
        round_id=spec.round_id,
        base_model_name=spec.base_model_name,
        base_model_path=spec.base_model_dir,
        base_model_hash=spec.base_model_hash,
        parent=spec.parent,
        samples_path=spec.samples_path,
        data_hash=spec.data_hash,
        hyperparameters=json.loads(spec.config.model_dump_json()),
        lora=lora,
        precision=precision,
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        steps=steps,
        epochs=float(trainer.state.epoch or 0.0),
        loss_curve=progress.loss_curve,
        final_loss=progress.loss_curve[-1].loss if progress.loss_curve else None,
        examples=counts,
        tokens=tokens,
        duration_s=round(time.monotonic() - t_start, 2),
        train_runtime_s=round(runtime, 2),
        steps_per_s=round(steps / runtime, 4) if runtime > 0 else 0.0,
        tokens_per_s=round(tokens.tokens_seen / runtime, 1) if runtime > 0 else 0.0,
        adapter_bytes=adapter_bytes(out_dir),
        versions=_versions(),
        created_at=datetime.now(timezone.utc).isoformat(),
        probe=predict_probe(model, tokenizer, precision),
    )
    write_text_atomic(out_dir / MANIFEST, manifest.model_dump_json(indent=2))
    return manifest


def run(spec: WorkerSpec) -> AdapterManifest | None:
    """Train the spec's adapter and write it with its manifest into ``spec.out_dir``.

    Data: the samples file (re-hashed), one example per row, loss on the response tokens and
    EOS only. Model: the base with a fresh LoRA, or continuing ``spec.parent``. Returns the
    manifest on rank 0 (None on other ranks, which write nothing).
    """
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback

    t_start = time.monotonic()
    cfg: DistillConfig = spec.config
    wlog = log.bind(stage="distill", round_id=spec.round_id, rank=int(os.environ.get("RANK", "0")))
    tokenizer = AutoTokenizer.from_pretrained(spec.base_model_dir)
    if tokenizer.eos_token_id is None:
        raise RuntimeError(f"tokenizer of {spec.base_model_dir} has no EOS token")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows, counts, tokens = build_rows(tokenizer, read_verified_examples(spec), cfg)
    wlog.info(
        "distill.data", **counts.model_dump(), train_tokens=tokens.train_tokens, response_tokens=tokens.response_tokens
    )
    if not rows:
        raise RuntimeError(
            f"no usable examples in {spec.samples_path}: all {counts.rows} dropped (max_seq_len={cfg.max_seq_len})"
        )

    model, lora, precision, cuda = prepare_model(spec, wlog)
    progress = Progress(cfg.log_every, wlog, t_start)
    scratch = Path(spec.out_dir) / ".trainer"  # Trainer wants an output_dir; we save nothing there
    trainer = ResponseLossTrainer(
        model=model,
        args=training_args(cfg, scratch, precision, cuda),
        train_dataset=_ListDataset(rows),
        data_collator=_collator(pad_id, 8 if cuda else None),
        processing_class=tokenizer,
        callbacks=[progress],
        response_logits_only=cfg.response_logits_only,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; Progress logs instead
    wlog.info("distill.loss", logits="response" if trainer.response_logits_only else "all", sampling=cfg.sampling)
    result = trainer.train()
    runtime = float(result.metrics.get("train_runtime", time.monotonic() - t_start))
    tokens.tokens_seen = int(trainer.state.num_input_tokens_seen)
    if not trainer.is_world_process_zero():
        return None
    shutil.rmtree(scratch, ignore_errors=True)
    manifest = write_adapter(
        spec,
        model,
        tokenizer,
        trainer,
        progress,
        lora=lora,
        counts=counts,
        tokens=tokens,
        precision=precision,
        t_start=t_start,
        runtime=runtime,
    )
    wlog.info(
        "distill.saved",
        out=spec.out_dir,
        steps=manifest.steps,
        final_loss=manifest.final_loss,
        steps_per_s=manifest.steps_per_s,
        tokens_per_s=manifest.tokens_per_s,
        adapter_bytes=manifest.adapter_bytes,
        duration_s=manifest.duration_s,
    )
    return manifest


def watch_parent() -> None:
    """Under ``distill()``, die with it: its end of our stdin closes when it exits, even on
    SIGKILL; then kill this worker's process group (accelerate's ranks included)."""
    if os.environ.get(WATCH_PARENT_ENV) != "1":
        return

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssd.distill_worker", description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, type=Path, help="WorkerSpec JSON written by ssd.distill")
    args = ap.parse_args(argv)
    watch_parent()
    spec = WorkerSpec.model_validate_json(args.spec.read_text())
    run(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
